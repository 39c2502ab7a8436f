"""Scores: cases passed over cases run, per semantic, per group (FS, FR, RFC) and overall.

Skipped cases are counted apart and never in the denominator. The same numbers
feed the terminal table, summary.json and the JUnit properties.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .semantics import GROUPS, group_of

if TYPE_CHECKING:
    from .runner import CaseResult


@dataclass
class Score:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    @property
    def run(self) -> int:
        return self.passed + self.failed + self.errors

    @property
    def ratio(self) -> float | None:
        return self.passed / self.run if self.run else None

    def add(self, verdict: str) -> None:
        attr = {"pass": "passed", "fail": "failed", "error": "errors", "skip": "skipped"}[verdict]
        setattr(self, attr, getattr(self, attr) + 1)

    def as_dict(self) -> dict[str, int | float | None]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "run": self.run,
            "score": None if self.ratio is None else round(self.ratio, 4),
        }

    def text(self) -> str:
        shown = f"{self.passed}/{self.run}" + (f" ({self.ratio:.0%})" if self.run else "")
        return shown + (f", {self.skipped} skipped" if self.skipped else "")


@dataclass
class Scorecard:
    per_semantic: dict[str, Score]
    per_group: dict[str, Score]
    overall: Score


def score(results: Iterable[CaseResult]) -> Scorecard:
    return score_of((r.verdict, r.case.semantics) for r in results)


def score_of(outcomes: Iterable[tuple[str, Sequence[str]]]) -> Scorecard:
    """Scores from (verdict, semantics cited) pairs: live results and journal records alike."""
    per_semantic: dict[str, Score] = {}
    per_group = {g: Score() for g in GROUPS}
    overall = Score()
    for verdict, semantics in outcomes:
        overall.add(verdict)
        for sid in semantics:
            per_semantic.setdefault(sid, Score()).add(verdict)
        # A case counts once per group it touches, however many of the group's IDs it cites.
        for group in sorted({group_of(s) for s in semantics}):
            per_group.setdefault(group, Score()).add(verdict)
    order = {g: i for i, g in enumerate(GROUPS)}
    ordered = dict(
        sorted(per_semantic.items(), key=lambda kv: (order.get(group_of(kv[0]), 9), _natural(kv[0])))
    )
    return Scorecard(ordered, per_group, overall)


def _natural(sid: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in sid.split("-")]
