"""Expected verdicts per target, and the drift of a run from them.

`targets/<name>.verdicts.yaml` maps a case id to the verdict the target is known
to give when it is not `pass`, with the reason, one line each:

    close/fs8-recv-enotconn-at-once: {fail: "FR-RECV-3: recv blocks in LAST_ACK"}

A run whose verdict differs from this (a new failure, or a known failure that now
passes) has drifted; the CLI exits 1 and the project's tests fail on drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .validation import validate
from .yamlsrc import InputError, read_documents

if TYPE_CHECKING:
    from .runner import CaseResult

_SCHEMA = {
    "type": ["object", "null"],
    "additionalProperties": {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": False,
        "properties": {
            "fail": {"type": "string", "minLength": 1},
            "error": {"type": "string", "minLength": 1},
            "skip": {"type": "string", "minLength": 1},
        },
    },
}


@dataclass(frozen=True)
class Expected:
    verdict: str
    reason: str


@dataclass(frozen=True)
class Drift:
    case_id: str
    expected: str
    actual: str
    reason: str

    def __str__(self) -> str:
        why = f" (listed because: {self.reason})" if self.reason else ""
        kind = "now passes" if self.actual == "pass" else f"gives {self.actual}"
        return f"{self.case_id}: expected {self.expected}, {kind}{why}"


def load_expected(path: Path | None) -> dict[str, Expected]:
    if path is None:
        return {}
    docs = list(read_documents(path))
    data = docs[0].data if docs else None
    problems = validate(docs[0], _SCHEMA) if docs else []
    if problems:
        raise InputError(problems)
    return {case_id: Expected(*next(iter(entry.items()))) for case_id, entry in (data or {}).items()}


def expected_verdict(case_id: str, expected: Mapping[str, Expected]) -> Expected:
    return expected.get(case_id, Expected("pass", ""))


def drifts(actual: str, wanted: str) -> bool:
    # Skips are reported apart; only a listed verdict makes a skip drift.
    return actual != wanted and not (actual == "skip" and wanted == "pass")


def drift(results: Iterable[CaseResult], expected: Mapping[str, Expected]) -> list[Drift]:
    out = []
    for result in results:
        want = expected_verdict(result.case.id, expected)
        if drifts(result.verdict, want.verdict):
            out.append(Drift(result.case.id, want.verdict, result.verdict, want.reason))
    return out
