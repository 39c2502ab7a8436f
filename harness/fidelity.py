"""Two targets' runs of the same cases, compared case by case: verdict, failing step, and every
segment an expect matched (flags, relative seq/ack, window, length, options, checksum validity).

The model (`inprocess`) answers to the real stack (`freertos-posix`) this way. A difference the
project knows and accepts is listed with its reason in `targets/<name>.fidelity.yaml`:

    retransmission/some-case: {"segments[2].win": "why the two differ"}

A field name covers itself and everything under it (`segments[2]` covers `segments[2].win`;
`*` covers the whole case). A listed difference that no longer occurs is reported too, so the
file never keeps an excuse nobody needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .runner import CaseResult
from .validation import validate
from .yamlsrc import InputError, read_documents

SEGMENT_FIELDS = ("flags", "seq", "ack", "win", "len", "options", "checksum_ok")

_SCHEMA = {
    "type": ["object", "null"],
    "additionalProperties": {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {"type": "string", "minLength": 1},
    },
}


@dataclass(frozen=True)
class Difference:
    case_id: str
    field: str
    left: Any
    right: Any

    def __str__(self) -> str:
        return f"{self.case_id}: {self.field}: {self.left!r} vs {self.right!r}"


def _verdict_step(result: CaseResult) -> tuple[str, str | None]:
    return result.verdict, result.step.where if result.verdict == "fail" and result.step else None


def compare_case(left: CaseResult, right: CaseResult) -> list[Difference]:
    """Where two runs of one case differ (the first run's values on the left)."""
    cid = left.case.id
    out: list[Difference] = []
    (lv, ls), (rv, rs) = _verdict_step(left), _verdict_step(right)
    if lv != rv:
        out.append(Difference(cid, "verdict", lv, rv))
    elif ls != rs:
        out.append(Difference(cid, "step", ls, rs))
    if "skip" in (lv, rv):
        return out
    if len(left.matched) != len(right.matched):
        out.append(Difference(cid, "segments", len(left.matched), len(right.matched)))
    for i, (a, b) in enumerate(zip(left.matched, right.matched, strict=False)):
        for name in SEGMENT_FIELDS:
            if a.get(name) != b.get(name):
                out.append(Difference(cid, f"segments[{i}].{name}", a.get(name), b.get(name)))
    return out


def compare(left: Sequence[CaseResult], right: Sequence[CaseResult]) -> list[Difference]:
    """Every difference between two runs, over the cases both ran."""
    by_id = {r.case.id: r for r in right}
    out: list[Difference] = []
    for result in left:
        if result.case.id in by_id:
            out.extend(compare_case(result, by_id[result.case.id]))
    return out


def load_listed(path: Path | None) -> dict[str, dict[str, str]]:
    """The fidelity file: case id -> {field: reason}."""
    if path is None or not path.is_file():
        return {}
    docs = list(read_documents(path))
    problems = validate(docs[0], _SCHEMA) if docs else []
    if problems:
        raise InputError(problems)
    data = docs[0].data if docs else None
    return {cid: dict(fields) for cid, fields in (data or {}).items()}


def _covers(listed: str, field: str) -> bool:
    return listed == "*" or field == listed or field.startswith((listed + ".", listed + "["))


def unexplained(differences: Sequence[Difference], listed: Mapping[str, Mapping[str, str]]
                ) -> list[Difference]:
    return [d for d in differences if not any(_covers(f, d.field) for f in listed.get(d.case_id, {}))]


def unneeded(differences: Sequence[Difference], listed: Mapping[str, Mapping[str, str]],
             ran: Sequence[str]) -> list[str]:
    """Listed entries (case: field) that explain no difference of this run, for cases that ran."""
    out = []
    for cid, fields in listed.items():
        if cid not in ran:
            continue
        for f in fields:
            if not any(d.case_id == cid and _covers(f, d.field) for d in differences):
                out.append(f"{cid}: {f}")
    return out
