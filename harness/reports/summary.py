"""summary.json: verdicts, scores per semantic and group, timings, versions, drift and findings.

Built from journal records (harness/reports/journal.py), which carry each case's expected verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..scoring import Scorecard
from ..semantics import catalogue, group_of
from ..verdicts import drifts

# Record fields that junit.xml and the journal need but summary.json leaves out.
_NOT_SUMMARISED = ("index", "area", "target", "where", "step_action", "log", "ladder")


def findings(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Known differences that the run confirmed: FS claims the target does not honour, RFC gaps."""
    return [
        {
            "id": r["id"],
            "groups": sorted({group_of(s) for s in r["semantics"]}),
            "semantics": list(r["semantics"]),
            "verdict": r["verdict"],
            "reason": r["expected_reason"] or "",
        }
        for r in records
        if r["expected"] != "pass" and r["verdict"] == r["expected"]
    ]


def drift(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"id": r["id"], "expected": r["expected"], "actual": r["verdict"], "reason": r["expected_reason"]}
        for r in records
        if drifts(r["verdict"], r["expected"])
    ]


def build(records: Sequence[Mapping[str, Any]], card: Scorecard, run: Mapping[str, Any]) -> dict[str, Any]:
    counts = card.overall.as_dict()
    return {
        **run,
        "complete": run.get("complete", False),
        "totals": {**counts, "cases": len(records)},
        "overall": counts,
        "groups": {g: s.as_dict() for g, s in card.per_group.items()},
        "semantics": {sid: {**s.as_dict(), **_measured(sid)} for sid, s in card.per_semantic.items()},
        "drift": drift(records),
        "findings": findings(records),
        "cases": [{k: v for k, v in r.items() if k not in _NOT_SUMMARISED} for r in records],
    }


def _measured(semantic_id: str) -> dict[str, str]:
    """The correction the real stack called for to this item's wording, if any (harness/semantics.yaml)."""
    known = catalogue().get(semantic_id)
    return {"measured": known.measured} if known is not None and known.measured else {}
