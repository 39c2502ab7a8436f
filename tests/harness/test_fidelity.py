"""harness.fidelity: two runs of the same cases compared on verdicts, failing steps and every
matched segment; a fidelity file explains listed differences, and an entry that explains
nothing is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.fidelity import compare, load_listed, unexplained, unneeded
from harness.loader import load_cases
from harness.runner import CaseResult, run_cases
from harness.target import load_target
from harness.yamlsrc import InputError
from stack_under_test.faults import Faults

from .paths import SUITE


def _run(faults: Faults | None = None) -> list[CaseResult]:
    cases = [c for c in load_cases([SUITE / "keepalive"]) if c.id.startswith("keepalive/")]
    target = load_target("inprocess").open(faults=faults or Faults())
    try:
        return run_cases(cases, target)
    finally:
        target.close()


@pytest.fixture(scope="module")
def baseline() -> list[CaseResult]:
    return _run()


def test_a_run_agrees_with_itself_and_records_segments(baseline: list[CaseResult]) -> None:
    assert compare(baseline, _run()) == []
    segments = [s for r in baseline for s in r.matched]
    assert segments and {"flags", "seq", "ack", "win", "len", "options", "checksum_ok"} <= set(segments[0])


def test_a_changed_probe_is_a_segment_difference(baseline: list[CaseResult]) -> None:
    # The probe carrying snd.nxt instead of snd.nxt - 1 changes a matched segment's seq (and
    # the verdict of the cases that check it).
    diffs = compare(baseline, _run(Faults(keepalive_probe_seq_nxt=True)))
    fields = {d.field for d in diffs}
    assert "verdict" in fields or any(f.endswith(".seq") for f in fields), diffs
    assert all(d.case_id.startswith("keepalive/") for d in diffs)


def test_listed_differences_are_explained_and_stale_entries_reported(tmp_path: Path,
                                                                     baseline: list[CaseResult]) -> None:
    diffs = compare(baseline, _run(Faults(keepalive_probe_seq_nxt=True)))
    first = diffs[0]
    listing = tmp_path / "x.fidelity.yaml"
    other = next(r.case.id for r in baseline if r.case.id != first.case_id)
    listing.write_text(f'{first.case_id}: {{"*": "because"}}\n'
                       f'{other}: {{"segments[0].win": "never differs"}}\n')
    listed = load_listed(listing)
    left = unexplained(diffs, listed)
    assert first not in left and len(left) == len([d for d in diffs if d.case_id != first.case_id])
    stale = unneeded(diffs, listed, [r.case.id for r in baseline])
    assert any(s.endswith(": segments[0].win") for s in stale)


def test_a_malformed_fidelity_file_is_a_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.fidelity.yaml"
    bad.write_text("some/case: {verdict: 3}\n")
    with pytest.raises(InputError) as err:
        load_listed(bad)
    assert "bad.fidelity.yaml:1" in str(err.value)
