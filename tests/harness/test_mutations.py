"""Each deliberate fault in the bundled stack must be caught by a case citing a semantic the fault breaks.

"Caught" means: a case that passes on the unmodified stack fails with the switch
on, and cites one of FAULT_SEMANTICS[switch] (harness.mutants, the same code as
`harness mutants`). A switch no case catches fails here (it is never skipped):
the suite has a hole, or the switch does nothing.
"""

from __future__ import annotations

import io

import pytest

from harness import mutants
from harness.cli import main
from harness.model import Case
from harness.runner import CaseResult
from harness.target import TargetConfig, known_targets, load_target
from stack_under_test.faults import FAULT_SEMANTICS

from .paths import SUITE

SWITCHES = list(mutants.SWITCHES)
MIN_SWITCHES = 15


def test_every_switch_declares_its_semantics() -> None:
    assert set(SWITCHES) == set(FAULT_SEMANTICS)


def test_enough_fault_switches() -> None:
    assert len(SWITCHES) >= MIN_SWITCHES


def test_every_forum_semantic_has_a_fault_switch() -> None:
    from harness.semantics import catalogue

    broken = {sid for ids in FAULT_SEMANTICS.values() for sid in ids}
    assert {sid for sid in catalogue() if sid.startswith("FS-")} - broken == set()


@pytest.mark.parametrize("switch", SWITCHES)
def test_switch_is_caught(
    switch: str,
    suite: list[Case],
    inprocess: TargetConfig,
    baseline: dict[str, CaseResult],
    record_property: pytest.RecordProperty,
    mutation_matrix: dict[str, list[str]],
) -> None:
    caught, _ = mutants.catching_cases(switch, suite, inprocess, baseline)
    mutation_matrix[switch] = caught
    record_property("switch", switch)   # the controller's summary reads these (pytest-xdist too)
    record_property("caught_by", " ".join(caught))
    assert caught, (
        f"no case citing {', '.join(FAULT_SEMANTICS.get(switch, ()))} fails with Faults({switch}=True)"
    )


def test_mutation_score_is_100_percent(mutation_matrix: dict[str, list[str]]) -> None:
    # Runs after the parametrized tests (pytest keeps file order), so the matrix is full here.
    if set(mutation_matrix) != set(SWITCHES):
        pytest.skip("run with the whole of test_switch_is_caught to get the score")
    report = mutants.MutationReport({}, dict(mutation_matrix))
    assert report.total >= MIN_SWITCHES
    assert report.score == 1.0, report.missed()


def test_some_switches_only_the_matrix_catches(mutation_matrix: dict[str, list[str]]) -> None:
    """Issue 14 item 4: the generated matrix earns its keep. These two firmware bugs (the model had
    the first until the matrix met the real V4.4.1) slip past every hand-written case."""
    if set(mutation_matrix) != set(SWITCHES):
        pytest.skip("run with the whole of test_switch_is_caught to get the matrix")
    only = mutants.MutationReport({}, dict(mutation_matrix)).only_by()
    assert {"challenge_ack_after_isn", "handshake_rst_keeps_fin"} <= set(only)


def test_render_names_what_only_the_matrix_catches(baseline: dict[str, CaseResult]) -> None:
    cell = next(cid for cid, r in baseline.items() if cid.startswith("matrix/") and r.verdict == "pass")
    hand = next(cid for cid, r in baseline.items() if not cid.startswith("matrix/") and r.verdict == "pass")
    matrix = {s: [] for s in SWITCHES}
    matrix[SWITCHES[0]], matrix[SWITCHES[1]] = [cell], [cell, hand]
    out = io.StringIO()
    mutants.render(mutants.MutationReport(baseline, matrix), out)
    text = out.getvalue()
    assert f"Caught only by the state x segment matrix (matrix/*): {SWITCHES[0]}\n" in text
    assert f"Caught by the matrix at all: 2/{len(SWITCHES)} switches" in text


def test_render_shows_grid_and_score(suite: list[Case], baseline: dict[str, CaseResult]) -> None:
    matrix = {s: [] for s in SWITCHES}
    first = next(cid for cid, r in baseline.items() if r.verdict == "pass")
    matrix[SWITCHES[0]] = [first]
    out = io.StringIO()
    mutants.render(mutants.MutationReport(baseline, matrix), out)
    text = out.getvalue()
    assert f"Mutation score: 1/{len(SWITCHES)} switches caught" in text
    assert "NOT CAUGHT" in text
    assert first in text


def test_cli_mutants_one_switch(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["mutants", "--switch", "close_sends_rst", str(SUITE / "close"), str(SUITE / "keepalive")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Mutation score: 1/1 switches caught (100%)" in out


def test_cli_mutants_rejects_unknown_switch_and_unmutable_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mutants", "--switch", "no_such_fault"]) == 2
    assert "unknown fault switch" in capsys.readouterr().err
    for name in known_targets():
        if name != "inprocess" and load_target(name).driver != load_target("inprocess").driver:
            assert main(["mutants", "--target", name, str(SUITE / "listen")]) == 2
            assert "has no fault switches" in capsys.readouterr().err
