"""The mutation matrix: the suite once per fault switch of the bundled stack, and which cases caught each.

A case *catches* a switch when it passes on the unmodified stack, fails with the
switch on, and cites one of the semantic IDs the switch breaks
(`stack_under_test.faults.FAULT_SEMANTICS`). The mutation score is the share of
switches caught by at least one case. `harness mutants` prints the matrix and
the project's tests (tests/harness/test_mutations.py) require a score of 100 %;
both use this module.

Fault switches exist only in the in-process target, and only in code: a target
whose driver takes no `faults` argument cannot be mutated.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TextIO

from stack_under_test.faults import FAULT_SEMANTICS, Faults

from .matrix import ID_PREFIX
from .model import Case
from .runner import CaseResult, run_cases
from .target import TargetConfig

SWITCHES: tuple[str, ...] = tuple(f.name for f in fields(Faults))
MATRIX = ID_PREFIX  # the ids of the state x segment cases generated from harness/matrix/table.yaml


class NotMutable(Exception):
    """The target's driver takes no fault switches."""


@dataclass
class MutationReport:
    baseline: dict[str, CaseResult]
    # switch -> ids of the cases that caught it (in suite order); empty means not caught
    matrix: dict[str, list[str]] = field(default_factory=dict)
    # switch -> ids of cases that failed with it on but cite none of its semantics (not counted)
    uncited: dict[str, list[str]] = field(default_factory=dict)

    @property
    def caught(self) -> int:
        return sum(1 for ids in self.matrix.values() if ids)

    @property
    def total(self) -> int:
        return len(self.matrix)

    @property
    def score(self) -> float:
        return self.caught / self.total if self.total else 0.0

    def missed(self) -> list[str]:
        return [s for s, ids in self.matrix.items() if not ids]

    def only_by(self, prefix: str = MATRIX) -> list[str]:
        """The switches that only cases whose id starts with `prefix` catch (the generated matrix's)."""
        return [s for s, ids in self.matrix.items() if ids and all(i.startswith(prefix) for i in ids)]


def check_mutable(config: TargetConfig) -> None:
    module_name, _, class_name = config.driver.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if "faults" not in inspect.signature(cls.__init__).parameters:
        raise NotMutable(f"target {config.name!r} has no fault switches (only the in-process target has)")


def catching_cases(
    switch: str, cases: Sequence[Case], config: TargetConfig, baseline: Mapping[str, CaseResult]
) -> tuple[list[str], list[str]]:
    """(cases that caught `switch`, cases that failed with it on without citing its semantics)."""
    target = config.open(faults=Faults(**{switch: True}))
    cited = set(FAULT_SEMANTICS.get(switch, ()))
    caught, uncited = [], []
    try:
        for result in run_cases(cases, target):
            if baseline[result.case.id].verdict != "pass" or result.verdict != "fail":
                continue
            (caught if cited & set(result.case.semantics) else uncited).append(result.case.id)
    finally:
        target.close()
    return caught, uncited


def run_baseline(cases: Sequence[Case], config: TargetConfig) -> dict[str, CaseResult]:
    target = config.open()
    try:
        return {r.case.id: r for r in run_cases(cases, target)}
    finally:
        target.close()


def mutation_matrix(
    cases: Sequence[Case],
    config: TargetConfig,
    switches: Sequence[str] = SWITCHES,
    baseline: Mapping[str, CaseResult] | None = None,
    on_switch: Callable[[str, list[str]], None] | None = None,
) -> MutationReport:
    check_mutable(config)
    base = dict(baseline) if baseline is not None else run_baseline(cases, config)
    report = MutationReport(base)
    for switch in switches:
        caught, uncited = catching_cases(switch, cases, config, base)
        report.matrix[switch], report.uncited[switch] = caught, uncited
        if on_switch:
            on_switch(switch, caught)
    return report


def render(report: MutationReport, out: TextIO) -> None:
    """A grid (one row per catching case, one column per switch) and one line per switch."""
    switches = list(report.matrix)
    catchers = [cid for cid in report.baseline if any(cid in ids for ids in report.matrix.values())]
    width = max([len(c) for c in catchers] + [10])
    print("Fault switches:", file=out)
    for i, switch in enumerate(switches, 1):
        cites = ", ".join(FAULT_SEMANTICS.get(switch, ()))
        print(f"  {i:2} {switch:32} breaks {cites}", file=out)
    print(f"\n{'case':{width}} " + "".join(f"{i:>3}" for i in range(1, len(switches) + 1)), file=out)
    for cid in catchers:
        marks = "".join(f"{'X' if cid in report.matrix[s] else '.':>3}" for s in switches)
        print(f"{cid:{width}} {marks}", file=out)
    print(f"{'cases catching':{width}} " + "".join(f"{len(report.matrix[s]):>3}" for s in switches), file=out)
    print("", file=out)
    for switch in switches:
        ids = report.matrix[switch]
        shown = f"caught by {len(ids)}: {', '.join(ids)}" if ids else "NOT CAUGHT"
        print(f"  {switch:32} {shown}", file=out)
    if any(cid.startswith(MATRIX) for cid in report.baseline):
        only = report.only_by()
        also = sum(1 for ids in report.matrix.values() if any(i.startswith(MATRIX) for i in ids))
        print(f"\nCaught only by the state x segment matrix ({MATRIX}*): {', '.join(only) or 'none'}",
              file=out)
        print(f"Caught by the matrix at all: {also}/{report.total} switches", file=out)
    not_passing = sum(1 for r in report.baseline.values() if r.verdict != "pass")
    print(
        f"\nMutation score: {report.caught}/{report.total} switches caught ({report.score:.0%}); "
        f"{len(report.baseline)} cases, {not_passing} not passing on the unmodified stack (never counted)",
        file=out,
    )
