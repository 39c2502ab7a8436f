"""The harness's side of the wire (issue 13 item 5): the options and window it sends follow the
RFCs, and what it says about the device's segments (ladders, timing) holds no impossible numbers."""

from __future__ import annotations

from pathlib import Path

from harness.explain import segment
from harness.loader import load_cases
from harness.matchers import match_timing
from harness.packets import LINUX_SYN_OPTIONS, Endpoints, Segment, build_segment, parse, synack_options
from harness.peer import Peer
from harness.runner import CaseResult, run_case
from harness.target import load_target

ENDS = Endpoints("02:00:00:00:00:01", "198.18.0.1", "02:00:00:00:00:02", "198.18.0.2")


def _device_segment(flags: str, options: list, ack: int = 0) -> Segment:
    """A segment as the device would send it (device -> harness)."""
    frame = build_segment(Endpoints(ENDS.device_mac, ENDS.device_ip, ENDS.harness_mac, ENDS.harness_ip),
                          sport=7000, dport=40000, seq=5000, ack=ack, flags=flags, win=1000, options=options)
    parsed = parse(frame)
    assert isinstance(parsed, Segment)
    return parsed


def _run(tmp_path: Path, steps: str, setup: str = "setup:\n  listen: {port: 7000}\n") -> CaseResult:
    path = tmp_path / "case.yaml"
    path.write_text(f"id: t-peer\ntitle: t\nsemantics: [FR-HS-1]\n{setup}steps:\n{steps}", encoding="utf-8")
    return run_case(load_cases([path])[0], load_target("inprocess").open())


def _sent(result: CaseResult) -> list[Segment]:
    return [s for f in result.frames if not f.outbound and isinstance(s := parse(f.data), Segment)]


def test_timestamps_only_when_both_syns_carried_them() -> None:
    """RFC 7323 3.2: the device's SYN offering timestamps is not enough; the harness's own SYN|ACK
    must have carried them too (it used to add them whenever the device's SYN had them)."""
    peer = Peer("a", hport=40000, isn=1000)
    peer.capture(object(), _device_segment("S", [("MSS", 1460), ("Timestamp", (77, 0))]))  # type: ignore[arg-type]
    peer.offered({"mss": 1460})
    assert not peer.ts_ok
    peer.offered({"mss": 1460, "ts": (1, 77)})
    assert peer.ts_ok
    peer.restart(2000)
    peer.offered({"ts": (1, 0)})
    peer.capture(object(), _device_segment("SA", [("MSS", 1460)], ack=2001))  # type: ignore[arg-type]
    assert not peer.ts_ok, "the device's SYN|ACK did not carry timestamps"


def test_the_synack_offers_only_what_the_syn_did() -> None:
    assert synack_options(frozenset({"mss", "sackok", "wscale"})) == ("mss", "sackok", "nop", "wscale")
    assert synack_options(frozenset({"mss"})) == ("mss",)
    assert synack_options(None) == LINUX_SYN_OPTIONS


def test_window_is_scaled_once_both_syns_offered_window_scale(tmp_path: Path) -> None:
    """A raw 64240 after offering scale 7 advertised an 8 MB window (Wireshark said so); the SYN's own
    window is never scaled (RFC 7323 2.2)."""
    result = _run(tmp_path, "  - handshake: {accept: true}\n  - inject: {flags: PA, payload: hi}\n"
                            "  - expect: {flags: A, ack: 3}\n")
    assert result.verdict == "pass", result.message
    sent = _sent(result)
    synack = next(s for s in (parse(f.data) for f in result.frames if f.outbound) if isinstance(s, Segment))
    assert synack.option("wscale") is not None, "the model's SYN|ACK offers window scale"
    assert [s.win for s in sent] == [64240, 502, 502], "64240 bytes is 502 << 7"


def test_without_window_scale_from_the_harness_the_window_is_not_shifted(tmp_path: Path) -> None:
    """The model's SYN|ACK offers scale 0 whatever the SYN said (as V4.4.1 does); with no scale in
    the harness's SYN there is none in force. (MSS, SACK-permitted and timestamps keep the SYN at 70
    bytes, clear of FR-HS-4.)"""
    result = _run(tmp_path, "  - handshake: {accept: true, options: [mss, sackok, ts]}\n"
                            "  - inject: {flags: PA, payload: hi}\n  - expect: {flags: A, ack: 3}\n")
    assert result.verdict == "pass", result.message
    assert [s.win for s in _sent(result)] == [64240, 64240, 64240]


def test_a_segment_without_ack_shows_no_relative_ack() -> None:
    assert "ack=" not in segment(_device_segment("R", []), 0, -5000)
    assert "ack=raw 99" in segment(_device_segment("R", [], ack=99), 0, -5000)
    assert "ack=7" in segment(_device_segment("RA", [], ack=99), 0, 7)


def test_a_segment_before_the_reference_time_says_so() -> None:
    assert str(match_timing(9.984, 10.0, 0.5, None, 0.005)).endswith("observed 0.016 s before it")


def test_a_missed_within_says_when_the_segment_did_come(tmp_path: Path) -> None:
    """The second SYN of an unanswered connect comes at +3 s (FR-CONNECT-1): a `within: 2.5s` misses
    it, and the failure says when it came instead of only "nothing came"."""
    steps = ("  - call: socket\n    save: c\n  - call: connect\n    sock: c\n    port: 502\n"
             "    background: true\n    as: conn\n  - expect: {flags: S, seq: 0}\n"
             "  - expect: {flags: S, seq: 0, within: 2.5s}\n")
    result = _run(tmp_path, steps, setup="")
    assert result.verdict == "fail"
    message = result.message
    assert "nothing came within 2.5" in message and "came at +3.000 s" in message, message


def test_ip_header_fields_on_inject_and_expect(tmp_path: Path) -> None:
    """TOS/ECN, TTL and DF go out as a case gives them, and an expect checks the device's (the
    model, as FreeRTOS+TCP, sends TTL 128 without DF)."""
    result = _run(tmp_path, "  - handshake: {accept: true}\n"
                            "  - inject: {flags: PA, payload: hi, tos: 0xb8, ecn: 1, ttl: 3, df: false}\n"
                            "  - expect: {flags: A, ack: 3, df: false, tos: 0, ecn: 0, ttl: 128}\n")
    assert result.verdict == "pass", result.message
    data = [s for s in _sent(result) if s.len]
    assert [(s.tos, s.ecn, s.ttl, s.df) for s in data] == [(0xb9, 1, 3, False)]
    failed = _run(tmp_path, "  - handshake: {accept: true}\n  - inject: {flags: PA, payload: hi}\n"
                            "  - expect: {flags: A, ack: 3, df: true, ecn: 2}\n")
    assert failed.verdict == "fail"
    said = {str(m) for m in failed.mismatches}
    assert said == {"ecn: expected 2, observed 0", "df: expected DF set, observed clear"}
