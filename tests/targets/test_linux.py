"""The linux target: a handshake case passes, results keep BSD and FreeRTOS apart, and the whole
suite's verdicts match targets/linux.verdicts.yaml (any drift fails).

Needs root, iproute2 and ethtool; skips (or fails under TCH_REQUIRE_ALL=1) with the fix named.
The suite test takes a few minutes of wall time (keep-alive cases wait for real probes, one case
idles 60 s; connect gives up after 3 s: targets/linux.yaml sets tcp_syn_retries 1).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from harness.cli import main
from harness.model import Case
from harness.runner import run_case
from harness.target import TargetConfig, TargetUnavailable, load_target
from harness.vocabulary_bsd import from_bsd
from harness.wire.links import SysctlRefused, missing_requirements
from targets.linux import LinuxTarget
from tests.conftest import require

from .conftest import (
    assert_agent_death_is_an_error,
    assert_connstatus_reports_freertos_names,
    assert_semaphores_are_errors,
    assert_suite_matches_verdicts,
    open_target,
)


@pytest.fixture(scope="module")
def linux_config() -> TargetConfig:
    return load_target("linux")


@pytest.fixture
def linux(linux_config: TargetConfig) -> Iterator[LinuxTarget]:
    yield from open_target(linux_config, LinuxTarget, missing_requirements())


# ---- the BSD mapping (no root needed) --------------------------------------------------------


def test_bsd_recv_zero_is_end_of_stream_not_no_data() -> None:
    eof = from_bsd("recv", 0)
    assert eof.means("closed") and eof.means("eof") and not eof.means("nodata")
    again = from_bsd("recv", -1, "EAGAIN")
    assert again.means("nodata") and not again.means("closed") and not again.means("timeout")
    assert from_bsd("recv", -1, "EAGAIN", blocked=True).means("timeout")


@pytest.mark.parametrize("name", ["ECONNRESET", "ETIMEDOUT", "ECONNABORTED"])
def test_bsd_connection_errors_keep_their_own_names(name: str) -> None:
    result = from_bsd("recv", -1, name)
    assert result.name == name and result.raw == -1
    assert result.means("closed") and result.means("error") and not result.means("ENOTCONN")


# ---- on the wire -----------------------------------------------------------------------------


def test_a_handshake_case_passes(linux: LinuxTarget, cases: dict[str, Case]) -> None:
    result = run_case(cases["handshake/bad-checksum-segment-discarded"], linux)
    assert result.verdict == "pass", result.message
    assert any(f.outbound for f in result.frames) and any(not f.outbound for f in result.frames)


def test_keepalive_settings_reach_the_socket(linux: LinuxTarget, cases: dict[str, Case]) -> None:
    # keepalive_interval 2 s: answered probes come every ~2 s, which only happens if the agent
    # applied SO_KEEPALIVE/TCP_KEEPIDLE/TCP_KEEPINTVL (Linux's default idle is 7200 s).
    result = run_case(cases["keepalive/answered-probes-keep-connection"], linux)
    assert result.verdict == "pass", result.message


# ---- the kernel's own knobs (sysctl.* settings) ------------------------------------------------

SYN_RETRIES = "sysctl.net.ipv4.tcp_syn_retries"
# More SYN retries than targets/linux.yaml's 1: SYNs at 0, 1, 2, 3, 4, 5 s and ETIMEDOUT at ~7.1 s;
# with the file's 1 connect fails at ~3.1 s after three SYNs, and the case with it.
MORE_RETRIES_CASE = f"""\
id: linux/more-syn-retries-more-syns
title: A case that asks for tcp_syn_retries 2 has its connect send a fourth SYN before it gives up
semantics: [RFC-RTO]
settings: {{{SYN_RETRIES}: 2, sysctl.net.ipv4.tcp_rmem: 4096 8192 16384}}
steps:
  - call: socket
    save: c
  - call: connect
    sock: c
    port: 502
    background: true
    as: conn
  - expect: {{flags: S, seq: 0}}
  - expect: {{flags: S, seq: 0, within: 1.5s}}
    repeat: 5
  - await: conn
    returns: ETIMEDOUT
    within: 3s
  - expect_silence: 1s
"""


def _in_namespace(target: LinuxTarget, *names: str) -> list[str]:
    assert target.link is not None and target.link.netns
    out = subprocess.run(["ip", "netns", "exec", target.link.netns, "sysctl", "-n", *names],
                         capture_output=True, text=True, check=True).stdout
    return [" ".join(line.split()) for line in out.splitlines()]


def test_sysctl_settings_reach_each_cases_namespace(linux: LinuxTarget) -> None:
    settings, why = linux.config.settings_plan({SYN_RETRIES: 3,
                                                "sysctl.net.ipv4.tcp_rmem": "4096 8192 16384"})
    assert why is None
    linux.reset(settings)
    assert _in_namespace(linux, "net.ipv4.tcp_syn_retries", "net.ipv4.tcp_rmem") == ["3", "4096 8192 16384"]
    assert "net.ipv4.tcp_syn_retries=3" in linux.notes()[0][1]          # the ladder's first line
    linux.reset({})                            # the next case: the file's own (planned or not)
    assert _in_namespace(linux, "net.ipv4.tcp_syn_retries") == ["1"]


def test_a_cases_sysctl_changes_the_stack_and_is_in_its_summary(tmp_path: Path) -> None:
    require(missing_requirements() is None, missing_requirements() or "")
    case_file = tmp_path / "linux" / "more.yaml"
    case_file.parent.mkdir()
    case_file.write_text(MORE_RETRIES_CASE, encoding="utf-8")
    assert main(["run", "--target", "linux", "--results", str(tmp_path / "out"), "-q", str(case_file)]) == 0
    (entry,) = json.loads((tmp_path / "out" / "summary.json").read_text())["cases"]
    assert entry["verdict"] == "pass", entry["message"]
    assert entry["settings"][SYN_RETRIES] == 2
    assert entry["settings"]["sysctl.net.ipv4.tcp_rmem"] == "4096 8192 16384"
    assert 7 < entry["protocol_time"] < 12


def test_a_sysctl_the_kernel_refuses_is_an_error_naming_it(linux: LinuxTarget,
                                                            cases: dict[str, Case]) -> None:
    refused = "net.ipv4.tcp_syn_retries=0 refused by the kernel: Invalid argument"
    settings, _ = linux.config.settings_plan({SYN_RETRIES: 0})
    with pytest.raises(SysctlRefused, match=f"^{refused}$"):
        linux.reset(settings)
    settings, _ = linux.config.settings_plan({"sysctl.net.core.no_such_knob": 1})
    with pytest.raises(SysctlRefused, match="^net.core.no_such_knob: no such sysctl in a network namespace "):
        linux.reset(settings)
    # In a run: the case's error verdict, its first line naming the sysctl (the run goes on).
    case = replace(cases["handshake/bad-checksum-segment-discarded"], settings={SYN_RETRIES: 0})
    result = run_case(case, linux)
    assert (result.verdict, result.message.splitlines()[0]) == ("error", f"SysctlRefused: {refused}")


def test_a_target_file_sysctl_the_kernel_refuses_stops_the_run_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require(missing_requirements() is None, missing_requirements() or "")
    text = (Path(__file__).resolve().parents[2] / "targets" / "linux.yaml").read_text(encoding="utf-8")
    path = tmp_path / "linux-bad.yaml"
    path.write_text(text.replace(f"    {SYN_RETRIES}: 1", f"    {SYN_RETRIES}: 200"), encoding="utf-8")
    target = load_target(str(path)).open()
    with pytest.raises(TargetUnavailable):
        target.preflight()
    target.close()
    assert main(["run", "--target", str(path), "--results", str(tmp_path / "out"), "-q"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"harness: target linux: net.ipv4.tcp_syn_retries=200 refused by the kernel: Invalid argument: "
        f"fix settings in {path}"
    ]


def test_agent_death_is_an_error_with_its_stderr(linux: LinuxTarget) -> None:
    assert_agent_death_is_an_error(linux)


def test_unsupported_freertos_calls_are_errors_not_results(linux: LinuxTarget) -> None:
    assert_semaphores_are_errors(linux)


def test_connstatus_is_the_stacks_own_state_under_freertos_names(linux: LinuxTarget) -> None:
    assert_connstatus_reports_freertos_names(linux, native_listen="LISTEN")


def test_suite_verdicts_match_linux_verdicts_yaml(linux: LinuxTarget, linux_config: TargetConfig,
                                                 cases: dict[str, Case]) -> None:
    assert_suite_matches_verdicts(linux, linux_config, cases)


def test_without_root_the_run_stops_before_any_case(linux_config: TargetConfig,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.target import TargetUnavailable

    monkeypatch.setattr("os.geteuid", lambda: 1000)
    target = linux_config.open()
    with pytest.raises(TargetUnavailable, match="needs root: run as root or with CAP_NET_ADMIN"):
        target.preflight()
    target.close()


def test_report_shows_the_model_and_the_kernel_side_by_side(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    require(missing_requirements() is None, missing_requirements() or "")
    model, kernel = tmp_path / "inprocess", tmp_path / "linux"
    assert main(["run", "-q", "--results", str(model), "testcases/listen"]) == 0
    assert main(["run", "-q", "--target", "linux", "--results", str(kernel), "testcases/listen"]) == 0
    capsys.readouterr()
    assert main(["report", str(model), str(kernel), "--out", str(tmp_path / "matrix")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert next(line for line in lines if line.startswith("case")).split() == ["case", "inprocess", "linux"]
    data = json.loads((tmp_path / "matrix" / "matrix.json").read_text())
    kernel_cells = [c["cells"]["linux"] for c in data["cases"]]
    assert len(kernel_cells) == len(data["cases"]) and any(c["verdict"] == "skip" for c in kernel_cells)
    skipped = next(c for c in kernel_cells if c["verdict"] == "skip")
    assert skipped["reason"].startswith("linux does not declare")
