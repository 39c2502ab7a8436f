"""summary.json: verdicts, scores per semantic and group, timings, versions, drift and findings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..runner import CaseResult
from ..scoring import Scorecard
from ..semantics import catalogue, group_of
from ..verdicts import Drift, Expected, expected_verdict
from .pcap import pcap_name


def case_entry(result: CaseResult, expected: Mapping[str, Expected]) -> dict[str, Any]:
    want = expected_verdict(result.case.id, expected)
    return {
        "id": result.case.id,
        "title": result.case.title,
        "file": str(result.case.file),
        "line": result.case.line,
        "semantics": list(result.case.semantics),
        "verdict": result.verdict,
        "expected": want.verdict,
        "expected_reason": want.reason or None,
        "message": result.message or None,
        "step": result.step.where if result.step else None,
        "step_line": result.step.line if result.step else None,
        "mismatches": [
            {"field": m.field, "expected": m.expected, "observed": m.observed} for m in result.mismatches
        ],
        "settings": result.settings,
        "wall_time": round(result.wall_time, 6),
        "protocol_time": round(result.protocol_time, 6),
        "frames": len(result.frames),
        "warnings": result.warnings,
        "segments": result.matched,
        "pcap": None if result.verdict == "skip" else f"pcaps/{pcap_name(result.case.id)}",
    }


def findings(results: Sequence[CaseResult], expected: Mapping[str, Expected]) -> list[dict[str, Any]]:
    """Known differences that the run confirmed: FS claims the target does not honour, RFC gaps."""
    out = []
    for result in results:
        want = expected_verdict(result.case.id, expected)
        if want.verdict != "pass" and result.verdict == want.verdict:
            groups = sorted({group_of(s) for s in result.case.semantics})
            out.append(
                {
                    "id": result.case.id,
                    "groups": groups,
                    "semantics": list(result.case.semantics),
                    "verdict": result.verdict,
                    "reason": want.reason,
                }
            )
    return out


def build(
    results: Sequence[CaseResult],
    card: Scorecard,
    expected: Mapping[str, Expected],
    drifted: Sequence[Drift],
    run: Mapping[str, Any],
) -> dict[str, Any]:
    counts = card.overall.as_dict()
    return {
        **run,
        "complete": run.get("complete", False),
        "totals": {**counts, "cases": len(results)},
        "overall": counts,
        "groups": {g: s.as_dict() for g, s in card.per_group.items()},
        "semantics": {sid: {**s.as_dict(), **_measured(sid)} for sid, s in card.per_semantic.items()},
        "drift": [
            {"id": d.case_id, "expected": d.expected, "actual": d.actual, "reason": d.reason or None}
            for d in drifted
        ],
        "findings": findings(results, expected),
        "cases": [case_entry(r, expected) for r in results],
    }


def _measured(semantic_id: str) -> dict[str, str]:
    """The correction the real stack called for to this item's wording, if any (harness/semantics.yaml)."""
    known = catalogue().get(semantic_id)
    return {"measured": known.measured} if known is not None and known.measured else {}
