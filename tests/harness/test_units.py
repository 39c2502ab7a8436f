"""Unit tests of the pieces the runner is built from: expressions, matchers, packets, results."""

from __future__ import annotations

import pytest

from harness import expr
from harness.matchers import match_field, match_flags, match_options, match_result, match_timing
from harness.packets import LINUX_SYN_OPTIONS, Endpoints, build_segment, parse, scapy_options
from harness.vocabulary import Result, from_freertos

ENDS = Endpoints("02:74:63:68:00:01", "198.18.0.1", "02:74:63:68:00:02", "198.18.0.2")
NAMES = {"snd.nxt": 10, "rcv.nxt": 1, "profile.x": 2.0}.__getitem__


def ev(value: object) -> object:
    return expr.value_of(value, NAMES)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("snd.nxt-1", 9),
        ("rcv.nxt + 100", 101),
        ("5s", 5.0),
        ("200ms", 0.2),
        ("profile.x + 20s", 22.0),
        ("2**30", 2**30),
        ("1.5min", 90.0),
    ],
)
def test_expressions(text: str, value: float) -> None:
    assert expr.evaluate(text, NAMES) == value


@pytest.mark.parametrize("text", ["__import__('os')", "snd.nxt()", "[1]", "'a'", "lambda: 1", "x.y"])
def test_expressions_refuse_anything_but_arithmetic(text: str) -> None:
    with pytest.raises(expr.ExprError):
        expr.parse(text)


def test_window_value() -> None:
    assert expr.value_of(["profile.x", "profile.x + 20s"], NAMES) == expr.Window(2.0, 22.0)
    with pytest.raises(expr.ExprError):
        expr.evaluate("profile.w + 1", {"profile.w": expr.Window(1, 2)}.__getitem__)


@pytest.mark.parametrize(
    ("spec", "observed", "ok"),
    [
        (5, 5, True),
        (5, 6, False),
        ({"in": [1, 2]}, 2, True),
        ({"in": [1, 2]}, 3, False),
        ({"range": [1, 3]}, 3, True),
        ({"range": [1, 3]}, 4, False),
        ({"not": 1}, 2, True),
        ({"not": 1}, 1, False),
        ({"absent": True}, None, True),
        ({"absent": True}, 7, False),
        ("snd.nxt - 1", 9, True),
        (5, None, False),
    ],
)
def test_match_field(spec: object, observed: object, ok: bool) -> None:
    assert (match_field("f", spec, observed, ev) is None) == ok


def test_sequence_numbers_compare_modulo_2_32() -> None:
    assert match_field("seq", -1, 2**32 - 1, ev, modular=True) is None
    assert match_field("seq", {"range": [-2, 2]}, 2**32 - 1, ev, modular=True) is None
    assert match_field("seq", 0, 1, ev, modular=True) is not None


def test_flags_are_a_set() -> None:
    assert match_flags("AF", "FA") is None
    assert match_flags({"in": ["A", "PA"]}, "PA") is None
    assert match_flags({"not": "R"}, "RA") is None
    assert str(match_flags("S", "SA")) == "flags: expected S, observed SA"


def test_options() -> None:
    seen = (("mss", 1460), ("nop", None), ("wscale", 0), ("sackok", None))
    assert match_options([{"mss": 1460}, "nop", "wscale", "sackok"], seen, ev) is None
    assert match_options([{"mss": 536}, "nop", "wscale", "sackok"], seen, ev) is not None
    assert match_options({"includes": ["mss"], "excludes": ["ts"]}, seen, ev) is None
    assert match_options({"excludes": ["sackok"]}, seen, ev) is not None


def test_timing_with_tolerance() -> None:
    assert match_timing(12.0, 10.0, None, 2.0, 0.005) is None
    assert match_timing(12.1, 10.0, None, 2.0, 0.005) is not None
    assert match_timing(11.0, 10.0, 2.0, None, 0.005) is not None
    window = expr.Window(2.0, 22.0)
    assert match_timing(30.0, 10.0, None, window, 0.005) is None
    assert (
        str(match_timing(11.0, 10.0, None, window, 0.005))
        == "time: expected after 2 s (±0.005), observed at +1.000 s"
    )


def test_results_keep_raw_and_meaning() -> None:
    closed = from_freertos("recv", -128)
    assert (
        (closed.name, closed.raw) == ("ENOTCONN", -128) and closed.means("closed") and closed.means("error")
    )
    idle = from_freertos("recv", 0)
    assert idle.means("nodata") and not idle.means("timeout") and not idle.means("EAGAIN")
    assert from_freertos("recv", 0, blocked=True).means("timeout")
    assert from_freertos("issocketconnected", 1).name is True
    assert from_freertos("connstatus", 10).name == "LAST_ACK"
    assert from_freertos("accept", 0).means("timeout")


@pytest.mark.parametrize(
    ("spec", "ok"),
    [
        (-128, True),
        ("ENOTCONN", True),
        ("closed", True),
        ("ok", False),
        ({"range": [-200, -1]}, True),
        ({"in": ["ok", "closed"]}, True),
        ({"not": "closed"}, False),
        ("pending", False),
    ],
)
def test_match_result(spec: object, ok: bool) -> None:
    result = from_freertos("recv", -128)
    assert (match_result(spec, result, ev) is None) == ok


def test_pending_call() -> None:
    assert match_result("pending", None, ev) is None
    assert match_result("ENOTCONN", None, ev) is not None
    assert match_result(True, Result("issocketconnected", 1, True), ev) is None


def test_default_syn_is_long_enough_to_avoid_fr_hs_4() -> None:
    frame = build_segment(
        ENDS,
        sport=1,
        dport=2,
        seq=0,
        ack=0,
        flags="S",
        win=64240,
        options=scapy_options(list(LINUX_SYN_OPTIONS), 1, 0),
    )
    assert len(frame) >= 66


def test_checksums_are_verified() -> None:
    good = build_segment(ENDS, sport=1, dport=2, seq=7, ack=9, flags="PA", win=100, options=[], payload=b"hi")
    bad = build_segment(
        ENDS,
        sport=1,
        dport=2,
        seq=7,
        ack=9,
        flags="PA",
        win=100,
        options=[],
        payload=b"hi",
        bad_checksum=True,
    )
    assert parse(good).checksum_ok and not parse(bad).checksum_ok
    assert parse(bad).checksum_expected == parse(good).checksum
    padded = good + b"\0" * 10  # Ethernet padding must not count
    assert parse(padded).checksum_ok and parse(padded).payload == b"hi"


def test_a_call_only_some_apis_offer_implies_its_capability(tmp_path) -> None:
    """A case calling connstatus (or a semaphore, select, REUSE_LISTEN_SOCKET) skips where it is missing."""
    from dataclasses import replace

    from harness.loader import load_cases
    from harness.target import load_target

    path = tmp_path / "c.yaml"
    path.write_text(
        "id: t-implied\ntitle: t\nsemantics: [FR-CONN-1]\nsetup:\n  listen: {port: 7000}\nsteps:\n"
        "  - handshake: {accept: true}\n  - call: connstatus\n    returns: ESTABLISHED\n"
        "  - call: setsockopt\n    sock: conn\n    option: REUSE_LISTEN_SOCKET\n    value: true\n",
        encoding="utf-8",
    )
    (case,) = load_cases([path])
    assert case.requires == ("connstatus", "reuse_listen")
    full = load_target("inprocess")
    assert full.plan(case.requires, case.settings)[1] is None
    bare = replace(full, name="bare", capabilities=full.capabilities - {"connstatus"})
    assert bare.plan(case.requires, case.settings)[1] == "bare does not declare connstatus"


def test_repeat_and_size_follow_the_targets_profile(tmp_path) -> None:
    """`repeat` and `size` may be profile expressions: the same case fits stacks that differ."""
    from dataclasses import replace

    from harness.loader import load_cases
    from harness.runner import run_case
    from harness.target import load_target

    path = tmp_path / "c.yaml"
    path.write_text(
        "id: t-probes\ntitle: t\nsemantics: [FR-KA-4]\nrequires: [keepalive]\n"
        "settings: {keepalive: true, keepalive_interval: 2s}\nsetup:\n  listen: {port: 7000}\nsteps:\n"
        "  - handshake: {accept: true}\n  - call: send\n    size: profile.window - 920\n    returns: 2000\n"
        "  - expect: {len: 1460}\n  - expect: {len: 540}\n  - inject: {flags: A, ack: 2001}\n"
        "  - expect: {flags: A, seq: snd.nxt - 1, len: 0, within: profile.keepalive.first_probe}\n"
        "  - expect: {flags: A, seq: snd.nxt - 1, len: 0, within: profile.keepalive.next_probe}\n"
        "    repeat: profile.keepalive.probes - 1\n  - expect_silence: 60s\n",
        encoding="utf-8",
    )
    (case,) = load_cases([path])
    inprocess = load_target("inprocess")
    result = run_case(case, inprocess.open())
    assert result.verdict == "pass", result.message
    # A profile claiming one probe fewer than the stack sends: the 4th probe breaks the silence.
    fewer = replace(inprocess, profile={**inprocess.profile,
                                        "keepalive": {**inprocess.profile["keepalive"], "probes": 3}})
    result = run_case(case, fewer.open())
    assert result.verdict == "fail" and "expected silence" in result.message, result.message
    bad = replace(inprocess, profile={**inprocess.profile,
                                      "keepalive": {**inprocess.profile["keepalive"], "probes": 1.5}})
    result = run_case(case, bad.open())
    assert result.verdict == "error" and "not a whole count" in result.message, result.message
