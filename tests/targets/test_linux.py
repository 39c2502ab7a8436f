"""The linux target: a handshake case passes, results keep BSD and FreeRTOS apart, and the whole
suite's verdicts match targets/linux.verdicts.yaml (any drift fails).

Needs root, iproute2 and ethtool; skips (or fails under TCH_REQUIRE_ALL=1) with the fix named.
The suite test takes about ten minutes of wall time (keep-alive cases wait for real probes, and
Linux's connect gives up after 133 s).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.model import Case
from harness.runner import run_case
from harness.target import TargetConfig, load_target
from harness.vocabulary_bsd import from_bsd
from harness.wire.links import missing_requirements
from targets.linux import LinuxTarget

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
