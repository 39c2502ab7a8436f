"""The suite on the in-process target: verdicts exactly as targets/inprocess.verdicts.yaml says, and fast."""

from __future__ import annotations

from harness.model import Case
from harness.runner import CaseResult, run_cases
from harness.semantics import catalogue
from harness.target import TargetConfig
from harness.verdicts import Expected, drift


def test_no_drift_from_expected_verdicts(
    baseline: dict[str, CaseResult], inprocess_expected: dict[str, Expected]
) -> None:
    drifted = drift(baseline.values(), inprocess_expected)
    details = {d.case_id: (d, baseline[d.case_id].message) for d in drifted}
    assert not drifted, details


def test_expected_verdicts_name_existing_cases(
    suite: list[Case], inprocess_expected: dict[str, Expected]
) -> None:
    assert set(inprocess_expected) <= {c.id for c in suite}


def test_nothing_errors_or_skips(baseline: dict[str, CaseResult]) -> None:
    assert {r.case.id: r.message for r in baseline.values() if r.verdict in ("error", "skip")} == {}


def test_every_fs_item_has_a_case(suite: list[Case]) -> None:
    cited = {sid for case in suite for sid in case.semantics}
    fs = {sid for sid in catalogue() if sid.startswith("FS-")}
    assert fs - cited == set()


def test_fs_cases_expected_to_fail_cite_no_fr_item(
    suite: list[Case], inprocess_expected: dict[str, Expected]
) -> None:
    # The model implements FR; a case it is expected to fail must not drag an FR score down.
    offenders = {
        c.id for c in suite if c.id in inprocess_expected and any(s.startswith("FR-") for s in c.semantics)
    }
    assert offenders == set()


def test_virtual_clock_spans_minutes_of_protocol_time(suite: list[Case], inprocess: TargetConfig) -> None:
    # Wall-time goals live in bench/suite.py, not in a timed test; here only the virtual clock is checked.
    results = run_cases(suite, inprocess.open())
    assert sum(r.protocol_time for r in results) > 600
