"""The lwip target: the C agent builds and survives bad input, real lwIP answers real frames on a
tap, and the whole suite's verdicts match targets/lwip.verdicts.yaml (any drift fails).

No mocks: every test here runs Debian's liblwip (2.1.3) in an agent process on a `tch…` tap.
Needs liblwip-dev, pkg-config and gcc (building) and root (the tap); skips, or fails under
TCH_REQUIRE_ALL=1, with the fix named. The suite test takes a few minutes of wall time
(keep-alive and retransmission cases wait for lwIP's real 500 ms timers).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.loader import load_cases
from harness.model import Case
from harness.runner import run_case
from harness.target import TargetConfig, load_target
from harness.wire.links import Link, lower_up, make_tap
from targets.lwip import LwipTarget, agent_env, build_agent, missing_build_tools, missing_requirements
from tests.conftest import require

from .conftest import (
    assert_agent_death_is_an_error,
    assert_connstatus_reports_freertos_names,
    assert_semaphores_are_errors,
    assert_suite_matches_verdicts,
    open_target,
)

DEVICE_IP, DEVICE_MAC = "198.18.0.2", "02:74:63:68:00:02"


@pytest.fixture(scope="module")
def lwip_config() -> TargetConfig:
    return load_target("lwip")


@pytest.fixture
def lwip(lwip_config: TargetConfig) -> Iterator[LwipTarget]:
    yield from open_target(lwip_config, LwipTarget, missing_requirements())


class RawAgent:
    """The agent on a tap, spoken to line by line, bypassing the harness's host side on purpose:
    these tests send what the host side never would."""

    def __init__(self, tap: str):
        # Unbuffered: with a buffered reader, two lines arriving together (a state event, then the
        # answer) leave the answer in Python's buffer where select() cannot see it.
        self.proc = subprocess.Popen([str(build_agent())], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0,
                                     env={**os.environ, **agent_env(tap, DEVICE_IP, DEVICE_MAC)})
        self.ready = self.read()
        assert self.ready.get("event") == "ready", self.ready

    def write(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()

    def read(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next line that is not a state event."""
        assert self.proc.stdout is not None
        end = time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([self.proc.stdout], [], [], max(end - time.monotonic(), 0))
            if not ready:
                raise TimeoutError("the agent said nothing")
            line = self.proc.stdout.readline()
            if not line:
                raise EOFError(f"agent exited {self.proc.wait(2)}: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]
            msg = json.loads(line)
            if msg.get("event") != "state":
                return msg

    def call(self, request_id: int, op: str, **args: Any) -> dict[str, Any]:
        self.write(json.dumps({"id": request_id, "op": op, "args": args}).encode())
        msg = self.read()
        assert msg.get("id") == request_id, msg
        return msg

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def tap() -> Iterator[Link]:
    require(missing_requirements() is None, missing_requirements() or "")
    with make_tap() as link:
        yield link


@pytest.fixture
def agent(tap: Link) -> Iterator[RawAgent]:
    raw = RawAgent(tap.harness_if)
    try:
        yield raw
    finally:
        raw.close()


# ---- building (needs gcc, pkg-config, liblwip-dev; no root) ----------------------------------


def test_agent_builds_once_per_source(tmp_path: Path) -> None:
    require(missing_build_tools() is None, missing_build_tools() or "")
    binary = build_agent(tmp_path)
    assert binary.is_file() and os.access(binary, os.X_OK)
    assert binary.parent == tmp_path and binary.name.startswith("lwip-agent-")
    mtime = binary.stat().st_mtime_ns
    build_agent.cache_clear()
    assert build_agent(tmp_path) == binary, "a new name for an unchanged source"
    assert binary.stat().st_mtime_ns == mtime, "rebuilt an unchanged source"
    assert [p.name for p in tmp_path.iterdir()] == [binary.name], "a temporary file was left behind"


def test_agent_refuses_to_start_without_a_tap_name() -> None:
    # Without PRECONFIGURED_TAPIF, lwIP's tapif would create tap0 and run ifconfig on the host.
    require(missing_build_tools() is None, missing_build_tools() or "")
    env = {k: v for k, v in os.environ.items() if k != "PRECONFIGURED_TAPIF"}
    proc = subprocess.run([str(build_agent())], stdin=subprocess.DEVNULL, capture_output=True, env=env,
                          timeout=10)
    assert proc.returncode == 2 and b"PRECONFIGURED_TAPIF" in proc.stderr and proc.stdout == b""


# ---- the agent on a tap ----------------------------------------------------------------------


def test_agent_comes_up_on_the_tap_with_our_mac(agent: RawAgent, tap: Link) -> None:
    assert agent.ready["mac"] == DEVICE_MAC and agent.ready["ip"] == DEVICE_IP
    assert agent.ready["lwip"] == "2.1.3"
    assert lower_up(tap.harness_if), "the tap has no carrier: lwIP would never see an injected frame"


@pytest.mark.parametrize("line", [
    b"garbage",
    b"{\"id\": 1",
    b"[1, 2]",
    b"{\"id\": 1, \"op\": \"socket\"} trailing",
    b"{\"id\": 0, \"op\": \"socket\"}",
    b"{\"id\": 1.5, \"op\": \"socket\"}",
    b"{\"id\": 1, \"op\": 7}",
    b"{\"id\": 1, \"op\": \"recv\", \"args\": {\"sock\": \"x\"}}",
    b"{\"id\": 1, \"op\": \"recv\", \"args\": {\"sock\": 1, \"len\": 99999999999}}",
    b"{\"id\": 1, \"op\": \"send\", \"args\": {\"sock\": 1, \"data\": \"zz\"}}",
    b"{\"id\": 1, \"op\": \"send\", \"args\": {\"sock\": 1, \"data\": \"abc\"}}",
    b"{\"id\": 1, \"op\": \"bind\", \"args\": {\"sock\": 1, \"port\": 70000}}",
    b"{\"id\": 1, \"op\": \"connect\", \"args\": {\"sock\": 1, \"ip\": \"1.2.3\", \"port\": 1}}",
    b"{\"id\": 1, \"op\": \"recv\", \"args\": {\"sock\": 1, \"flags\": [\"URGENT\"]}}",
    b"{\"id\": 1, \"op\": \"socket\", \"args\": {\"a\": \"\\ud800\"}}",
    b"{\"id\": 1, \"op\": \"socket\", \"args\": " + b"[" * 50 + b"]" * 50 + b"}",
    b"{\"id\": 1, \"op\": \"socket\", \"args\": {\"a\": [" + b"1," * 5000 + b"1]}}",
    b"{\"id\": 1, \"op\": \"socket\", \"args\": {\"n\": 1e999}}",
    b"\xff\xfe{}",
])
def test_malformed_request_gets_an_error_response_and_reading_goes_on(agent: RawAgent, line: bytes) -> None:
    agent.write(line)
    msg = agent.read()
    assert "fatal" in msg and isinstance(msg["fatal"], str), msg
    assert msg["id"] in (None, 1)
    assert agent.call(9, "hello")["raw"] == 0, "the agent stopped answering after a bad line"


def test_an_overlong_line_is_refused_without_storing_it(agent: RawAgent) -> None:
    hex_6mib = b"00" * (3 << 20)                     # over the agent's 4 MiB line limit
    agent.write(b"{\"id\": 1, \"op\": \"send\", \"args\": {\"sock\": 1, \"data\": \"" + hex_6mib + b"\"}}")
    assert "too long" in agent.read(timeout=20)["fatal"]
    assert agent.call(2, "hello")["agent"] == "lwip"


def test_socket_calls_without_traffic(agent: RawAgent) -> None:
    s = agent.call(1, "socket")["raw"]
    assert s >= 1                                     # LWIP_SOCKET_OFFSET 1: not an OS descriptor
    assert agent.call(2, "bind", sock=s, port=7000)["raw"] == 0
    assert agent.call(3, "listen", sock=s, backlog=4)["raw"] == 0
    assert agent.call(4, "tcpstate", sock=s)["state"] == "LISTEN"
    assert agent.call(5, "issocketconnected", sock=s)["raw"] == 0
    nodata = agent.call(6, "recv", sock=s, len=10, flags=["DONTWAIT"])
    assert (nodata["raw"], nodata["errname"], nodata["data"]) == (-1, "ENOTCONN", "")
    fresh = agent.call(12, "socket")["raw"]
    assert agent.call(7, "setsockopt", sock=fresh, option="KEEPIDLE", value=5)["raw"] == 0
    assert agent.call(13, "getsockopt", sock=fresh, option="KEEPIDLE")["value"] == 5
    # A listening pcb has no keep-alive fields: lwIP refuses rather than pretends.
    assert agent.call(14, "setsockopt", sock=s, option="KEEPIDLE", value=5)["errname"] == "EINVAL"
    refused = agent.call(8, "setsockopt", sock=s, option="REUSE_LISTEN_SOCKET", value=True)
    assert (refused["raw"], refused["errname"]) == (-1, "ENOPROTOOPT")
    unknown = agent.call(9, "select", sock=s)
    assert (unknown["raw"], unknown["errname"]) == (-1, "ENOSYS")
    assert agent.call(10, "closesocket", sock=s)["raw"] == 0
    gone = agent.call(11, "recv", sock=s, len=10)
    assert (gone["raw"], gone["errname"]) == (-1, "EBADF")


def test_calls_run_side_by_side_and_are_stamped_on_the_wall_clock(agent: RawAgent) -> None:
    before = time.time()
    agent.write(json.dumps({"id": 1, "op": "sleep", "args": {"seconds": 0.3}}).encode())
    quick = agent.call(2, "hello")                     # answered while the sleep is still pending
    slow = agent.read()
    assert slow["id"] == 1
    assert before <= quick["t0"] <= quick["t"] < slow["t"] <= time.time()
    assert 0.29 < slow["t"] - slow["t0"] < 0.5


# ---- real frames through the harness ---------------------------------------------------------


# lwIP's own orderly conversation, written for this test: nothing in the shared suite (which scores
# FreeRTOS and RFC claims) passes on lwIP with a handshake, data both ways and a close.
LWIP_CONVERSATION = """
id: lwip/handshake-data-close
title: lwIP - handshake, data both ways, the peer's FIN, recv 0, close sends FIN|ACK
semantics: [RFC-CHECKSUM]
source: tests/targets/test_lwip.py
setup:
  listen: {port: 7000}
steps:
  - handshake: {accept: true}
  - inject: {flags: PA, payload: "hello lwip"}
  - expect: {flags: A, ack: 11, after: 0s, within: profile.delayed_ack}
  - call: recv
    returns: 10
    data: hello lwip
  - call: send
    data: "hi"
    returns: 2
  - expect: {flags: PA, seq: 1, ack: 11, len: 2, within: 0.1s}
  - inject: {flags: A, ack: 3}
  - inject: {flags: FA, ack: 3}
  - expect: {flags: A, seq: 3, ack: 12, within: 0.1s}
  - call: recv
    returns: eof
  - call: closesocket
    returns: ok
  - expect: {flags: FA, seq: 3, ack: 12, within: 0.1s}
  - inject: {flags: A, ack: 4}
  - expect_silence: 0.5s
"""


def test_handshake_data_and_close_case_passes(lwip: LwipTarget, tmp_path: Path) -> None:
    (tmp_path / "lwip").mkdir()
    (tmp_path / "lwip" / "conversation.yaml").write_text(LWIP_CONVERSATION, encoding="utf-8")
    (case,) = load_cases([tmp_path / "lwip"])
    result = run_case(case, lwip)
    assert result.verdict == "pass", (result.message, result.log)
    assert any(f.outbound for f in result.frames) and any(not f.outbound for f in result.frames)
    assert any("ESTABLISHED -> CLOSE_WAIT" in line for line in result.log), "no lwIP state note in the ladder"


FULL_SIZE_FRAMES = """\
id: lwip/full-size-frames
title: Frames up to 1514 bytes, then a big read and a second client
semantics: [FR-ACCEPT-1]
setup:
  listen: {port: 7000, backlog: 4}
steps:
  - handshake: {accept: true}
  - fuzz: {seed: 7, count: 30, mutate: [oversize]}
  - call: recv
    size: 100000
    flags: [DONTWAIT]
  - handshake: {peer: b, accept: true}
"""


def test_frames_longer_than_600_bytes_leave_the_heap_alone(lwip: LwipTarget, tmp_path: Path) -> None:
    # Debian's liblwip sizes PBUF_POOL blocks for a 536-byte MSS and fills them for 1460: through the
    # unix port's tapif, three such frames were enough for the next malloc to abort ("corrupted top
    # size"). The agent's own tap reader puts each frame in a PBUF_RAM pbuf of its length.
    (tmp_path / "lwip").mkdir()
    (tmp_path / "lwip" / "frames.yaml").write_text(FULL_SIZE_FRAMES, encoding="utf-8")
    (case,) = load_cases([tmp_path / "lwip"])
    result = run_case(case, lwip)
    assert result.verdict == "pass", (result.message, result.log[-5:])


def test_keepalive_settings_reach_the_socket(lwip: LwipTarget, cases: dict[str, Case]) -> None:
    # Answered probes every ~2 s only happen if the agent applied SO_KEEPALIVE and TCP_KEEPIDLE to
    # the accepted socket (lwIP's default idle is 2 h, and the listener's idle is not inherited).
    result = run_case(cases["keepalive/answered-probes-keep-connection"], lwip)
    assert result.verdict == "pass", result.message


def test_agent_death_is_an_error_with_its_stderr(lwip: LwipTarget) -> None:
    assert_agent_death_is_an_error(lwip)


def test_unsupported_freertos_calls_are_errors_not_results(lwip: LwipTarget) -> None:
    assert_semaphores_are_errors(lwip)


def test_connstatus_is_the_stacks_own_state_under_freertos_names(lwip: LwipTarget) -> None:
    assert_connstatus_reports_freertos_names(lwip, native_listen="LISTEN")


def test_suite_verdicts_match_lwip_verdicts_yaml(lwip: LwipTarget, lwip_config: TargetConfig,
                                                cases: dict[str, Case]) -> None:
    assert_suite_matches_verdicts(lwip, lwip_config, cases)
