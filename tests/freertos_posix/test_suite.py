"""The whole suite on the real FreeRTOS+TCP (freertos-posix): no drift from
targets/freertos-posix.verdicts.yaml, and the model (inprocess) held to it case by case: the same
verdict, the same failing step, and every matched segment's flags, relative seq/ack, window,
length, options and checksum validity; any difference fails unless
targets/freertos-posix.fidelity.yaml lists it with a reason (and a listed one that no longer
occurs fails too, so the file stays current).

Needs root, gcc, libpcap-dev and the FreeRTOS sources (../shared/third_party or
TCH_FREERTOS_PLUS_TCP/TCH_FREERTOS_KERNEL); skips naming the fix, fails under TCH_REQUIRE_ALL=1.
About 4.5 minutes of wall time with 8 workers on 2 cores (33 serially): the keep-alive and
hang-protection cases wait for real timers.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.fidelity import compare, load_listed, unexplained, unneeded
from harness.loader import load_cases
from harness.model import Case
from harness.parallel import run_all
from harness.runner import CaseResult
from harness.target import load_target
from harness.verdicts import drift, load_expected
from harness.wire.links import missing_requirements, owned_names
from targets.freertos_posix.build import BuildError, missing_build_tools, resolve_sources
from tests.conftest import require
from tests.targets.conftest import orphans

REPO = Path(__file__).resolve().parents[2]
FIDELITY = REPO / "targets" / "freertos-posix.fidelity.yaml"


def _missing() -> str | None:
    why = missing_requirements() or missing_build_tools()
    if why:
        return why
    try:
        resolve_sources()
    except BuildError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return load_cases([REPO / "testcases"])


@pytest.fixture(scope="module")
def model_results(cases: list[Case]) -> list[CaseResult]:
    return run_all(cases, load_target("inprocess"))


@pytest.fixture(scope="module")
def posix_results(cases: list[Case], model_results: list[CaseResult]) -> list[CaseResult]:
    why = _missing()
    require(why is None, why or "")
    # As `harness run` does it: the target's default workers, each with its own veth pair and processes.
    # Longest first: the model's protocol time is a close guess of each case's wall time here.
    guess = {r.case.id: r.protocol_time for r in model_results}
    results = run_all(cases, load_target("freertos-posix"), previous=guess)
    assert orphans() == [], "a worker left a tch link behind"
    return results


def test_suite_verdicts_match_freertos_posix_verdicts_yaml(posix_results: list[CaseResult]) -> None:
    config = load_target("freertos-posix")
    expected = load_expected(config.verdicts_path)
    assert set(expected) <= {r.case.id for r in posix_results}, "the verdicts file names unknown cases"
    drifted = drift(posix_results, expected)
    by_id = {r.case.id: r for r in posix_results}
    assert not drifted, {d.case_id: (str(d), by_id[d.case_id].message.splitlines()[:1]) for d in drifted}
    errors = [r.case.id for r in posix_results if r.verdict == "error"]
    assert not errors, f"error verdicts on the real stack: {errors}"


def test_the_model_agrees_with_the_real_stack(posix_results: list[CaseResult],
                                              model_results: list[CaseResult]) -> None:
    differences = compare(model_results, posix_results)
    listed = load_listed(FIDELITY)
    assert set(listed) <= {r.case.id for r in posix_results}, "the fidelity file names unknown cases"
    missing = unexplained(differences, listed)
    assert not missing, "model (left) vs real FreeRTOS+TCP (right), not in the fidelity file:\n" + "\n".join(
        map(str, missing))
    stale = unneeded(differences, listed, [r.case.id for r in posix_results])
    assert not stale, f"listed in {FIDELITY.name} but no longer different: {stale}"


def test_every_case_ran_and_compared_segments(posix_results: list[CaseResult]) -> None:
    # The comparison must have something to compare: a run that skipped everything or matched no
    # segment would agree with anything.
    ran = [r for r in posix_results if r.verdict != "skip"]
    assert len(ran) >= 0.9 * len(posix_results), [r.case.id for r in posix_results if r.verdict == "skip"]
    # Every passing case that expects a segment of the device (an expect step, or a handshake's
    # SYN|ACK) compared at least one; 2.5 per case over the suite when this was written.
    expecting = [r for r in ran if r.verdict == "pass"
                 and any(s.action in ("expect", "handshake") for s in (*r.case.setup, *r.case.steps))]
    assert [r.case.id for r in expecting if not r.matched] == []
    assert sum(len(r.matched) for r in ran) >= 2 * len(ran)


def test_no_tch_object_left_after_the_run(posix_results: list[CaseResult]) -> None:
    pid = os.getpid()
    names = owned_names()
    left = [n for kind in names.values() for n in kind if n.startswith(f"tch{pid}")]
    assert left == [], f"the freertos-posix target left {left} behind"


def test_case_logs_carry_the_agents_rtt_and_the_process_output(posix_results: list[CaseResult]) -> None:
    # The agent's RTT log (read from the process's memory, as over SWD on a board) and the
    # process's own output, each under its own label.
    log = "\n".join(line for r in posix_results for line in r.log)
    assert "rtt: " in log and "stdout: " in log
    assert "rtt: stdout:" not in log
