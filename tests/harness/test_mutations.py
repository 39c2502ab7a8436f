"""Each deliberate fault in the bundled stack must be caught by a case citing a semantic the fault breaks.

"Caught" means: a case that passes on the unmodified stack fails with the switch
on, and cites one of FAULT_SEMANTICS[switch]. A switch no case catches fails
here (it is never skipped): the suite has a hole, or the switch does nothing.
"""

from __future__ import annotations

from dataclasses import fields

import pytest

from harness.model import Case
from harness.runner import CaseResult, run_cases
from harness.target import TargetConfig
from stack_under_test.faults import FAULT_SEMANTICS, Faults

SWITCHES = [f.name for f in fields(Faults)]


def catching_cases(
    switch: str, suite: list[Case], inprocess: TargetConfig, baseline: dict[str, CaseResult]
) -> list[str]:
    broken = inprocess.open(faults=Faults(**{switch: True}))
    cited = set(FAULT_SEMANTICS.get(switch, ()))
    return [
        r.case.id
        for r in run_cases(suite, broken)
        if baseline[r.case.id].verdict == "pass" and r.verdict == "fail" and cited & set(r.case.semantics)
    ]


def test_every_switch_declares_its_semantics() -> None:
    assert set(SWITCHES) == set(FAULT_SEMANTICS)


@pytest.mark.parametrize("switch", SWITCHES)
def test_switch_is_caught(
    switch: str,
    suite: list[Case],
    inprocess: TargetConfig,
    baseline: dict[str, CaseResult],
    record_property: pytest.RecordProperty,
    mutation_matrix: dict[str, list[str]],
) -> None:
    caught = catching_cases(switch, suite, inprocess, baseline)
    mutation_matrix[switch] = caught
    record_property("caught_by", " ".join(caught))
    assert caught, (
        f"no case citing {', '.join(FAULT_SEMANTICS.get(switch, ()))} fails with Faults({switch}=True)"
    )
