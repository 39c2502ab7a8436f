"""A run's reports survive however it ends (finished, Ctrl-C, SIGTERM, a crash, SIGKILL before
rendering), and `-j` gives the serial run's verdicts in case order, an error verdict for a case
whose worker died, and no worker left behind.

The `harness run` processes here run a target file that is the in-process target with trouble on
demand (tests/harness/trouble_target.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.loader import load_cases
from harness.model import Case
from harness.parallel import default_workers, run_all
from harness.reports import ResultsWriter, render_from_journal
from harness.reports.journal import JOURNAL
from harness.runner import CaseResult
from harness.target import TargetConfig, load_target
from tests.conftest import DUMP_ON_ABORT, where_it_hangs

from .paths import trouble_pythonpath

REPO = Path(__file__).resolve().parents[2]
SUBSET = ["testcases/close", "testcases/listen"]   # enough cases for a run to be caught in the middle


def _harness(target: Path, results: Path, trouble: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, **DUMP_ON_ABORT, "TCH_TROUBLE": f"{trouble}:{results.parent}",
           "PYTHONPATH": trouble_pythonpath(target)}
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "-q", "--target", str(target), "--results", str(results),
         *extra, *SUBSET],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _claimed(folder: Path, proc: subprocess.Popen[str], timeout: float = 30.0) -> int:
    """The pid that claimed the trouble, once it has (the run is then inside that case)."""
    marker = folder / "claimed"
    end = time.monotonic() + timeout
    while not (marker.exists() and marker.read_text()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the trouble never started"
        time.sleep(0.02)
    return int(marker.read_text())


def _reports(results: Path) -> tuple[dict, list[str]]:
    summary = json.loads((results / "summary.json").read_text())
    junit = [tc.get("name") for tc in ET.parse(results / "junit.xml").getroot().iter("testcase")]
    assert [c["id"] for c in summary["cases"]] == junit
    assert not list(results.rglob("*.tmp"))
    return summary, junit


def _journal_lines(results: Path) -> list[dict]:
    return [json.loads(line) for line in (results / JOURNAL).read_text().splitlines()]


@pytest.mark.parametrize(("sig", "code", "ended"), [
    (signal.SIGTERM, 128 + signal.SIGTERM, "terminated"),
    (signal.SIGINT, 130, "interrupted (Ctrl-C)"),
])
def test_a_signal_mid_run_leaves_reports_of_the_finished_cases(
    tmp_path: Path, trouble_target: Path, sig: signal.Signals, code: int, ended: str
) -> None:
    results = tmp_path / "results"
    proc = _harness(trouble_target, results, "sleep:4")
    _claimed(tmp_path, proc)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running 60 s after {sig.name}; its stacks:\n{where_it_hangs(proc)}")
    assert proc.returncode == code, err
    assert "Traceback" not in err
    summary, junit = _reports(results)
    assert summary["complete"] is False and summary["ended"].startswith(ended)
    assert len(junit) == 3 == summary["totals"]["cases"]      # the three cases before the fourth
    assert [r["id"] for r in _journal_lines(results)[1:]] == junit


def test_a_crash_still_renders_the_reports(tmp_path: Path, trouble_target: Path) -> None:
    results = tmp_path / "results"
    proc = _harness(trouble_target, results, "crash:2")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "Crash: trouble_target crashed on purpose" in err
    summary, junit = _reports(results)
    assert summary["ended"] == "crashed: Crash: trouble_target crashed on purpose"
    assert len(junit) == 1


def test_stopped_before_the_first_case_leaves_valid_empty_reports(tmp_path: Path, trouble_target: Path
                                                                  ) -> None:
    results = tmp_path / "results"
    proc = _harness(trouble_target, results, "sleep:1")
    _claimed(tmp_path, proc)
    proc.terminate()
    proc.communicate(timeout=30)
    summary, junit = _reports(results)
    assert junit == [] and summary["totals"]["cases"] == 0 and summary["complete"] is False


def test_killed_outright_the_journal_renders_afterwards(tmp_path: Path, trouble_target: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "summary.json").write_text('{"stale": "from a previous run"}')
    proc = _harness(trouble_target, results, "sleep:3")
    _claimed(tmp_path, proc)
    proc.kill()
    proc.communicate(timeout=30)
    summary, junit = _reports(results)         # what SIGKILL left: valid, empty, never the stale one
    assert junit == [] and summary["ended"] == "running"
    with (results / JOURNAL).open("a") as journal:
        journal.write('{"index": 7, "id": "cut short by the ki')   # a line the kill interrupted
    out = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(results)], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    summary, junit = _reports(results)
    assert len(junit) == 2 and summary["ended"] == "rendered afterwards from the journal"


def test_report_without_a_journal_is_a_one_line_error(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and "journal" in out.stderr


def test_each_finished_case_is_on_disk_at_once(
    tmp_path: Path, inprocess: TargetConfig, baseline: dict[str, CaseResult]
) -> None:
    with ResultsWriter(tmp_path, inprocess, {}, planned=5) as writer:
        for n, result in enumerate(list(baseline.values())[:3], start=1):
            writer.add(result)
            lines = _journal_lines(tmp_path)
            assert len(lines) == n + 1 and lines[-1]["id"] == result.case.id
    summary, junit = _reports(tmp_path)
    assert len(junit) == 3 and summary["complete"] is False     # planned 5, left after 3
    assert render_from_journal(tmp_path)["complete"] is False


# ---- -j ---------------------------------------------------------------------------------------


def test_parallel_results_equal_serial_ones(suite: list[Case], inprocess: TargetConfig) -> None:
    serial = run_all(suite, inprocess, 1)
    parallel = run_all(suite, inprocess, 3)
    assert [r.case.id for r in parallel] == [c.id for c in suite]
    for a, b in zip(serial, parallel, strict=True):
        assert (a.verdict, a.message, a.matched, len(a.frames)) == (b.verdict, b.message, b.matched,
                                                                     len(b.frames)), a.case.id


def test_parallel_reports_are_in_case_order(tmp_path: Path) -> None:
    runs = {}
    for jobs in ("1", "3"):
        out = subprocess.run([sys.executable, "-m", "harness.cli", "run", "-q", "-j", jobs, "--results",
                              str(tmp_path / jobs), *SUBSET], cwd=REPO, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        summary, junit = _reports(tmp_path / jobs)
        runs[jobs] = [(c["id"], c["verdict"], c["segments"]) for c in summary["cases"]]
        assert f"{len(junit)} cases, " + ("3 workers" if jobs == "3" else "serially") in out.stdout
    assert runs["1"] == runs["3"]


def test_a_worker_that_dies_costs_one_case_an_error(tmp_path: Path, trouble_target: Path) -> None:
    results = tmp_path / "results"
    proc = _harness(trouble_target, results, "die:2", "-j", "2")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err                      # the error is drift from the verdicts file
    summary, _ = _reports(results)
    errors = [c for c in summary["cases"] if c["verdict"] == "error"]
    assert len(errors) == 1 and errors[0]["message"] == "the worker running this case died (exit status 9)"
    assert summary["complete"] is True
    assert [c["id"] for c in summary["cases"]] == [c.id for c in load_cases([REPO / p for p in SUBSET])]


def test_sigterm_stops_every_worker(tmp_path: Path, trouble_target: Path) -> None:
    results = tmp_path / "results"
    proc = _harness(trouble_target, results, "sleep:2", "-j", "2")
    worker = _claimed(tmp_path, proc)
    assert worker != proc.pid
    proc.terminate()
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert not Path(f"/proc/{worker}").exists(), "a worker outlived the run"
    summary, _ = _reports(results)
    assert summary["ended"].startswith("terminated")


def test_workers_of_a_sigkilled_run_stop_too(tmp_path: Path, trouble_target: Path) -> None:
    results = tmp_path / "results"
    proc = _harness(trouble_target, results, "sleep:2", "-j", "2")
    worker = _claimed(tmp_path, proc)
    proc.kill()
    proc.communicate(timeout=30)
    end = time.monotonic() + 15
    while Path(f"/proc/{worker}").exists() and time.monotonic() < end:
        time.sleep(0.05)
    assert not Path(f"/proc/{worker}").exists(), "a worker outlived its SIGKILLed run"


@pytest.mark.parametrize(("name", "per_core"), [("lwip", 4), ("linux", 4), ("freertos-posix", 4),
                                                ("inprocess", 0), ("sam4e", 0)])
def test_default_workers_scale_with_the_cores(monkeypatch: pytest.MonkeyPatch, name: str, per_core: int
                                              ) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert default_workers(load_target(name)) == max(1, 3 * per_core)


def test_j_on_a_one_board_target_is_a_one_line_error() -> None:
    out = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--target", "sam4e", "-j", "2"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == "-j: argument: sam4e can not run cases in parallel: it drives one board"
