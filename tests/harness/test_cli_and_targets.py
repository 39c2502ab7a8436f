"""The command line, target selection, skips, and a target that breaks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.loader import load_cases
from harness.model import Case
from harness.runner import run_case
from harness.target import known_targets, load_target
from harness.verdicts import Expected

from .paths import REPO, SUITE


def test_unknown_target_lists_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--target", "nosuch"]) == 2
    known = ", ".join(known_targets())
    assert "inprocess" in known
    assert capsys.readouterr().err.strip() == f"--target: nosuch: unknown target (known: {known})"


def test_known_targets_are_the_target_files_not_their_companions() -> None:
    assert known_targets() == ["freertos-posix", "inprocess", "linux", "lwip", "sam4e"]
    for name in known_targets():
        assert load_target(name).name == name      # each one loads as a target file


def test_list_and_select(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "-k", "keepalive and not fs5", "--semantic", "FR-KA-4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"{len(out) - 1} cases"
    assert all("keepalive" in line or "FR-KA-4" in line for line in out[:-1])
    assert not any("fs5" in line for line in out)


def test_unknown_semantic_filter_is_an_input_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--semantic", "FS-77"]) == 2
    assert "unknown semantic ID 'FS-77'" in capsys.readouterr().err


def test_run_selected_cases_exit_zero(tmp_path: Path) -> None:
    assert main(["run", "-q", "--results", str(tmp_path), "-k", "reset"]) == 0
    assert (tmp_path / "junit.xml").is_file()


WRONG_WINDOW = (
    "id: t-wrong\ntitle: t\nsemantics: [FR-HS-1]\nsetup:\n  listen: {port: 7000}\nsteps:\n"
    "  - inject: {flags: S, seq: 0}\n  - expect: {flags: SA, win: 1}\n"
)


def _case_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "case.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unexpected_failure_exits_one(tmp_path: Path) -> None:
    case = _case_file(tmp_path, WRONG_WINDOW)
    assert main(["run", "-q", "--results", str(tmp_path / "r"), str(case)]) == 1


def _target_file(tmp_path: Path, extra: str) -> Path:
    text = (REPO / "targets" / "inprocess.yaml").read_text(encoding="utf-8")
    text = text.replace("name: inprocess", "name: firmware").replace("settings:\n", "settings:\n" + extra, 1)
    path = tmp_path / "firmware.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_target_built_with_fixed_settings_skips_cases_that_need_others(tmp_path: Path) -> None:
    path = _target_file(tmp_path, "  fixed: {keepalive: true, keepalive_interval: 2s}\n")
    text = path.read_text().replace("runtime: [keepalive, keepalive_interval, ", "runtime: [")
    path.write_text(text)
    config = load_target(str(path))
    cases = {c.id: c for c in load_cases([SUITE / "keepalive"])}
    target = config.open()
    runs = run_case(cases["keepalive/unanswered-probes-drop-silently"], target)
    assert runs.verdict == "pass"
    skipped = run_case(cases["keepalive/received-data-resets-idle-time"], target)
    assert (skipped.verdict, skipped.message) == (
        "skip",
        "needs keepalive_interval=20; firmware is built with keepalive_interval=2",
    )


def test_missing_capability_skips(tmp_path: Path) -> None:
    path = _target_file(tmp_path, "")
    path.write_text(
        path.read_text().replace("capabilities: [connstatus, keepalive, ", "capabilities: [connstatus, ")
    )
    case = next(
        c for c in load_cases([SUITE / "keepalive"]) if c.id == "keepalive/answered-probes-keep-connection"
    )
    result = run_case(case, load_target(str(path)).open())
    assert (result.verdict, result.message) == ("skip", "firmware does not declare keepalive")


def test_a_target_that_breaks_gives_error_and_the_run_goes_on(suite: list[Case]) -> None:
    target = load_target("inprocess").open()
    real_call = target.call

    def flaky(op: str, **args: Any) -> Any:
        if op == "accept":
            raise ConnectionError("agent went away")
        return real_call(op, **args)

    target.call = flaky  # type: ignore[method-assign]
    by_id = {c.id: c for c in suite}
    broken = run_case(by_id["listen/accept-returns-new-socket"], target)
    assert broken.verdict == "error" and "ConnectionError: agent went away" in broken.message
    assert run_case(by_id["reset/closed-port-syn"], target).verdict == "pass"


def test_failure_names_the_step_line_and_both_sides(tmp_path: Path) -> None:
    case_file = _case_file(tmp_path, WRONG_WINDOW)
    result = run_case(load_cases([case_file])[0], load_target("inprocess").open())
    assert result.verdict == "fail"
    assert result.where == f"{case_file}:8"
    assert [str(m) for m in result.mismatches] == ["win: expected 1, observed 2920"]
    assert any("dev->har" in line and "SA seq=0 ack=1" in line for line in result.log)


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO)


def test_pytest_plugin_runs_cases_with_expected_failures_as_xfail(
    inprocess_expected: dict[str, Expected],
) -> None:
    run = _pytest("--target", "inprocess", str(SUITE / "close"))
    assert run.returncode == 0, run.stdout + run.stderr
    known = sum(1 for case_id in inprocess_expected if case_id.startswith("close/"))
    assert f"{known} xfailed" in run.stdout and " passed" in run.stdout


def test_pytest_plugin_leaves_the_projects_own_tests_alone() -> None:
    # --target given, yet only files under testcases/ become case items.
    own = _pytest("--collect-only", "--target", "inprocess", str(REPO / "tests" / "harness"))
    assert own.returncode == 0, own.stdout + own.stderr
    assert ".yaml" not in own.stdout
    assert "tests/harness/test_units.py::" in own.stdout


def test_a_target_that_can_not_run_here_stops_the_run_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No NIC (or board, root, package): one line naming the fix, exit 2, no case reported."""
    text = (REPO / "targets" / "sam4e.yaml").read_text(encoding="utf-8").replace("nic: eth1", "nic: tchnone0")
    target_file = tmp_path / "sam4e-nonic.yaml"
    target_file.write_text(text, encoding="utf-8")
    earlier = tmp_path / "out" / "pcaps" / "earlier-run.pcap"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"kept")
    code = main(["run", "--target", str(target_file), "--results", str(tmp_path / "out"),
                 str(SUITE / "handshake")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"harness: target sam4e: network interface tchnone0 does not exist: fix nic: in {target_file} "
        "(ip link lists them)"
    ]
    assert not (tmp_path / "out" / "junit.xml").exists()
    assert earlier.read_bytes() == b"kept", "a run that could not start removed an earlier run's pcap"


def test_the_readme_says_where_the_harness_command_is() -> None:
    """README: after the tox commands, `harness` is in the tox environment's bin/ (this test runs
    in one); the path it names must be that one."""
    import sys

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    env = Path(sys.prefix)
    if env.parent.name != ".tox":
        pytest.skip("not running in a tox environment")
    assert (env / "bin" / "harness").is_file()
    assert f"`.tox/{env.name}/bin/harness`" in readme
