"""Issue 14 item 3: the forms an expect can take beyond one segment in order, and a case's own
timing tolerance."""

from __future__ import annotations

from itertools import permutations
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.grouping import max_matching
from harness.loader import load_cases
from harness.packets import Segment, parse
from harness.runner import CaseResult, run_case
from harness.target import load_target
from harness.yamlsrc import InputError

SEND_TEN = """\
  - handshake: {accept: true}
  - call: send
    data: "0123456789"
    returns: 10
"""


def _write(tmp_path: Path, body: str, head: str = "") -> Path:
    path = tmp_path / "case.yaml"
    path.write_text(
        f"id: t-forms\ntitle: t\nsemantics: [FR-HS-1]\n{head}"
        f"setup:\n  listen: {{port: 7000}}\nsteps:\n{body}",
        encoding="utf-8",
    )
    return path


def _run(tmp_path: Path, body: str, head: str = "") -> CaseResult:
    return run_case(load_cases([_write(tmp_path, body, head)])[0], load_target("inprocess").open())


@pytest.mark.parametrize(
    ("tolerance", "verdict"),
    [("", "fail"), ("tolerance: 50ms\n", "pass"), ("tolerance: profile.timing.tolerance * 10\n", "pass")],
)
def test_a_case_may_widen_the_tolerance(tmp_path: Path, tolerance: str, verdict: str) -> None:
    """The data leaves at once; expecting it 40 ms later fails on the profile's 5 ms, passes on 50 ms."""
    body = SEND_TEN + "  - expect: {flags: PA, seq: 1, len: 10, within: [40ms, 40ms]}\n"
    result = _run(tmp_path, body, tolerance)
    assert result.verdict == verdict, result.message
    if verdict == "fail":
        assert result.mismatches[0].expected == "after 0.04 s (±0.005)"


def test_a_case_cannot_narrow_the_tolerance(tmp_path: Path) -> None:
    """The profile's tolerance is what the target measured: a case asking for less gets the profile's."""
    body = SEND_TEN + "  - expect: {flags: PA, seq: 1, len: 10, within: [4ms, 4ms]}\n"
    assert _run(tmp_path, body, "tolerance: 1ms\n").verdict == "pass"


@pytest.mark.parametrize(
    ("value", "message"),
    [("20", "out of range for a timing tolerance"), ("-1ms", "out of range"), ("[1s, 2s]", "tolerance")],
)
def test_a_bad_tolerance_is_one_line_at_load(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        load_cases([_write(tmp_path, SEND_TEN, f"tolerance: {value}\n")])
    text = str(caught.value)
    assert "case.yaml:4" in text and message in text, text


def _frames(result: CaseResult, from_device: bool) -> list[Segment]:
    return [s for f in result.frames if f.outbound == from_device and isinstance(s := parse(f.data), Segment)]


def test_isn_written_relative_to_the_peers_previous_isn(tmp_path: Path) -> None:
    """A rebooted peer comes back with a new ISN; `peer.isn + 1000` writes it from the old one."""
    body = """\
  - handshake: {}
  - inject: {flags: RA}
  - handshake: {isn: peer.isn + 1000, accept: true}
"""
    result = _run(tmp_path, body)
    assert result.verdict == "pass", result.message
    syns = [s.seq for s in _frames(result, from_device=False) if s.flags == "S"]
    assert syns[1] - syns[0] == 1000


def test_peer_isn_is_refused_outside_an_isn(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_cases([_write(tmp_path, SEND_TEN + "  - expect: {flags: PA, seq: peer.isn}\n")])
    assert "seq: peer.isn (the peer's ISN so far) may only be named" in str(caught.value)


OUT_OF_ORDER = """\
  - handshake: {accept: true}
  - inject: {flags: PA, seq: 101, payload: "%s"}
""" % ("x" * 100)


def test_sack_blocks_in_an_expect_count_from_the_harness_isn(tmp_path: Path) -> None:
    body = OUT_OF_ORDER + "  - expect: {flags: A, ack: 1, options: {includes: [{sack: [[101, 201]]}]}}\n"
    assert _run(tmp_path, body).verdict == "pass"
    wrong_body = OUT_OF_ORDER + "  - expect: {flags: A, options: {includes: [{sack: [[100, 200]]}]}}\n"
    wrong = _run(tmp_path, wrong_body)
    assert wrong.verdict == "fail"
    assert "sack [[101, 201]]" in wrong.mismatches[0].observed


def test_sack_blocks_in_an_inject_count_from_the_device_isn(tmp_path: Path) -> None:
    body = SEND_TEN + """\
  - expect: {flags: PA, seq: 1, len: 10}
  - inject: {flags: A, ack: 1, options: [nop, nop, {sack: [[6, 11]]}]}
"""
    result = _run(tmp_path, body)
    assert result.verdict == "pass", result.message
    device_isn = next(s.seq for s in _frames(result, from_device=True) if s.flags == "SA")
    sack = next(s.option("sack") for s in _frames(result, from_device=False) if s.option("sack"))
    assert sack == [[device_isn + 6, device_isn + 11]]


# FreeRTOS+TCP sends its FIN once the data before it is acknowledged: ack it before the shutdown,
# so the data and the FIN are both queued when the group looks.
SEND_THEN_SHUTDOWN = SEND_TEN + """\
  - inject: {flags: A, ack: 11}
  - call: shutdown
    returns: 0
"""


@pytest.mark.parametrize(
    "group",
    [
        "[{flags: FA, seq: 11}, {flags: PA, seq: 1, len: 10}]",
        # Greedy would give the data to the first spec and leave the second nothing.
        "[{flags: {in: [PA, FA]}}, {flags: PA, len: 10}]",
    ],
)
def test_an_unordered_group_matches_in_any_order(tmp_path: Path, group: str) -> None:
    result = _run(tmp_path, SEND_THEN_SHUTDOWN + f"  - expect_unordered: {group}\n  - expect_silence: 0.5s\n")
    assert result.verdict == "pass", result.message


def test_an_unordered_group_that_cannot_be_matched_names_what_is_left(tmp_path: Path) -> None:
    result = _run(tmp_path, SEND_THEN_SHUTDOWN + "  - expect_unordered: [{flags: FA}, {flags: R}]\n")
    assert result.verdict == "fail"
    assert "observed PA seq=1" in result.message and "nothing left for flags=R" in result.message
    assert result.mismatches and result.mismatches[0].field == "flags"


def test_an_unordered_group_short_of_segments_says_how_many_came(tmp_path: Path) -> None:
    group = "[{flags: PA, within: 0.5s}, {flags: FA, within: 0.5s}]"
    result = _run(tmp_path, SEND_TEN + f"  - expect_unordered: {group}\n")
    assert result.verdict == "fail"
    assert "1 came within 0.505 s: PA seq=1" in result.message, result.message


def test_an_optional_expect_leaves_a_segment_it_does_not_match(tmp_path: Path) -> None:
    body = SEND_TEN + """\
  - expect: {flags: A, len: 0, optional: true, within: 10ms}
  - expect: {flags: PA, seq: 1, len: 10}
  - expect: {flags: FA, optional: true, within: 100ms}
  - expect_silence: 0.2s
"""
    assert _run(tmp_path, body).verdict == "pass"


def test_an_optional_expect_takes_a_segment_it_matches(tmp_path: Path) -> None:
    body = SEND_TEN + "  - expect: {flags: PA, optional: true, within: 10ms}\n  - expect_silence: 0.2s\n"
    assert _run(tmp_path, body).verdict == "pass"
    without = SEND_TEN + "  - expect_silence: 0.2s\n"
    assert _run(tmp_path, without).verdict == "fail"


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ("[{flags: A, optional: true}, {flags: FA}]", "[0].optional: an expect in an unordered group"),
        ("[{flags: A}]", "expect_unordered: expected at least 2 item(s), got 1"),
        ("[" + ", ".join(["{flags: A}"] * 9) + "]", "expect_unordered: expected at most 8 item(s), got 9"),
        ("[{flags: A, since: nowhere}, {flags: FA}]", "no step labelled 'nowhere'"),
    ],
)
def test_a_bad_unordered_group_is_one_line_at_load(tmp_path: Path, group: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        load_cases([_write(tmp_path, SEND_TEN + f"  - expect_unordered: {group}\n")])
    assert message in str(caught.value), str(caught.value)


@given(st.lists(st.lists(st.integers(0, 5), max_size=6, unique=True), max_size=6))
def test_the_matching_is_as_large_as_any_assignment(fits: list[list[int]]) -> None:
    assigned = max_matching(fits, 6)
    got = [s for s in assigned if s is not None]
    assert len(got) == len(set(got)) and all(s in fits[i] for i, s in enumerate(assigned) if s is not None)
    best = max(
        (sum(1 for i, s in enumerate(perm[: len(fits)]) if s in fits[i]) for perm in permutations(range(6))),
        default=0,
    )
    assert len(got) == best


def test_a_case_marked_alone_runs_after_the_others_with_none_beside_it(tmp_path: Path) -> None:
    from harness.parallel import run_each
    from harness.target import load_target as config_of

    docs = []
    for name, alone in (("t-first", "alone: true\n"), ("t-second", ""), ("t-third", "")):
        docs.append(f"id: {name}\ntitle: t\nsemantics: [FR-HS-1]\n{alone}setup:\n  listen: {{port: 7000}}\n"
                    f"steps:\n  - handshake: {{accept: true}}\n")
    path = tmp_path / "cases.yaml"
    path.write_text("---\n".join(docs), encoding="utf-8")
    cases = load_cases([path])
    assert [c.alone for c in cases] == [True, False, False]
    started, finished = [], []
    run_each(cases, config_of("inprocess"), 2, lambda i, r: finished.append((i, r.verdict)), None, None,
             started.append)
    assert started[-1] == 0 and finished[-1] == (0, "pass")     # after the others had finished
    assert sorted(finished) == [(0, "pass"), (1, "pass"), (2, "pass")]


def test_an_mss_option_may_be_an_expression(tmp_path: Path) -> None:
    """The device's MSS follows its settings (a user's FreeRTOSIPConfig.h on freertos-posix), so an
    expect may say `mss: profile.mss`; an inject's MSS is evaluated too, and the device adopts it."""
    synack = "  - inject: {flags: S, seq: 0}\n" \
             "  - expect: {flags: SA, seq: 0, ack: 1, options: {includes: [{mss: profile.mss}]}}\n"
    assert _run(tmp_path, synack).verdict == "pass"
    wrong = _run(tmp_path, synack.replace("{mss: profile.mss}", "{mss: profile.mss + 1}"))
    assert wrong.verdict == "fail" and wrong.mismatches[0].expected == "including [mss 1461]"
    # The peer's 1000-byte MSS (1460 - 460) cuts 1200 bytes into 1000 + 200.
    body = ("  - handshake: {accept: true, options: [{mss: profile.mss - 460}, sackok, ts]}\n"
            "  - call: send\n    size: 1200\n    returns: 1200\n"
            "  - expect: {flags: {in: [A, PA]}, seq: 1, len: 1000}\n"
            "  - expect: {flags: PA, seq: 1001, len: 200}\n")
    result = _run(tmp_path, body)
    assert result.verdict == "pass", result.message
    where = r"case.yaml:7: steps\[0\].inject.options\[0\].mss: bad expression 'bogus \+ 1': unknown name"
    with pytest.raises(InputError, match=where):
        load_cases([_write(tmp_path, "  - inject: {flags: S, seq: 0, options: [{mss: bogus + 1}]}\n")])
