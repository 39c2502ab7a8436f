"""results/journal.jsonl: the run as it happens, one flushed line per finished case.

The first line is the run's header; each later line is one case's record (everything the
reports show about it, its expected verdict included). junit.xml and summary.json are
rendered from these records, so a run that was killed outright (SIGKILL, a power cut)
can still be rendered afterwards from its journal (`harness report`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ..runner import CaseResult
from ..verdicts import Expected, expected_verdict
from .pcap import pcap_name

JOURNAL = "journal.jsonl"


def record(result: CaseResult, expected: Mapping[str, Expected], index: int) -> dict[str, Any]:
    """A finished case as plain JSON data: what summary.json and junit.xml say about it."""
    want = expected_verdict(result.case.id, expected)
    return {
        "index": index,
        "id": result.case.id,
        "title": result.case.title,
        "area": result.case.area,
        "target": result.target,
        "file": str(result.case.file),
        "line": result.case.line,
        "semantics": list(result.case.semantics),
        "verdict": result.verdict,
        "expected": want.verdict,
        "expected_reason": want.reason or None,
        "message": result.message or None,
        "where": result.where,
        "step": result.step.where if result.step else None,
        "step_line": result.step.line if result.step else None,
        "step_action": result.step.action if result.step else None,
        "mismatches": [
            {"field": m.field, "expected": m.expected, "observed": m.observed} for m in result.mismatches
        ],
        "settings": result.settings,
        "wall_time": round(result.wall_time, 6),
        "protocol_time": round(result.protocol_time, 6),
        "frames": len(result.frames),
        "warnings": result.warnings,
        # Each fuzz step's campaign: the seed and count repeat it on any target.
        "fuzz": [
            {"seed": c.seed, "count": c.count, "kinds": dict(c.kinds), "answers": dict(c.replies),
             "text": c.describe()}
            for c in result.campaigns
        ],
        "segments": result.matched,
        "pcap": None if result.verdict == "skip" else f"pcaps/{pcap_name(result.case.id)}",
        "log": result.log,
        "ladder": result.ladder,  # for report.html's diagram (harness/explain.py ladder_entries)
    }


class Journal:
    """Appends lines and flushes each, so a line is on disk once `write` returns."""

    def __init__(self, path: Path, header: Mapping[str, Any]):
        self.path = path
        self._file: IO[str] | None = path.open("w", encoding="utf-8")
        self.write({"run": dict(header)})

    def write(self, data: Mapping[str, Any]) -> None:
        assert self._file is not None, "journal closed"
        self._file.write(json.dumps(data, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_journal(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the case records; a last line cut short by a kill is left out."""
    header: dict[str, Any] = {}
    records = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue  # only the line being written when the process died can be cut short
            if "run" in data:
                header = data["run"]
            else:
                records.append(data)
    return header, records
