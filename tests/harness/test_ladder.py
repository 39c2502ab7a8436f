"""The structured ladder (CaseResult.ladder, the journal's `ladder`): what report.html draws.

Cases run on the in-process target, whose virtual clock puts whole exchanges at one instant, so
these also check that frames, calls and the device's notes keep the order they happened in.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

from harness.loader import load_cases
from harness.reports import ladder_svg
from harness.reports.journal import record
from harness.runner import CaseResult, run_case
from harness.target import load_target

HEAD = "id: t-ladder\ntitle: t\nsemantics: [FR-HS-1]\nsetup:\n  listen: {port: 7000}\nsteps:\n"

DATA = HEAD + """\
  - handshake: {accept: true}
  - call: recv
    background: true
    as: r1
  - wait: 1s
  - inject: {flags: PA, payload: "hello"}
  - await: r1
    returns: 5
    data: hello
  - expect: {flags: A, ack: 6}
"""


def _run(tmp_path: Path, text: str) -> CaseResult:
    path = tmp_path / "case.yaml"
    path.write_text(text, encoding="utf-8")
    return run_case(load_cases([path])[0], load_target("inprocess").open())


def _frames(result: CaseResult) -> list[dict[str, Any]]:
    return [e for e in result.ladder if e["kind"] == "frame" and "flags" in e]


def _only(entries: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [e for e in entries if e["kind"] == kind]
    assert len(found) == 1, found
    return found[0]


def test_segments_carry_relative_numbers_direction_and_options(tmp_path: Path) -> None:
    result = _run(tmp_path, DATA)
    assert result.verdict == "pass", result.message
    shown = [(e["dir"], e["flags"], e["seq"], e["ack"], e["len"]) for e in _frames(result)]
    assert shown == [
        ("in", "S", 0, None, 0),        # a SYN without ACK: no ack to show
        ("out", "SA", 0, 1, 0),
        ("in", "A", 1, 1, 0),
        ("in", "PA", 1, 1, 5),
        ("out", "A", 1, 6, 0),
    ]
    syn, synack = _frames(result)[:2]
    assert syn["options"][0] == "mss 1460" and "wscale 7" in syn["options"]
    assert synack["win"] == 2920 and (synack["sport"], synack["dport"]) == (7000, 40001)
    assert all(e["checksum_ok"] for e in _frames(result))
    assert [e["t"] for e in _frames(result)][3] == 1.0       # seconds from the case's start


def test_calls_with_their_arguments_results_and_the_return_of_a_blocking_one(tmp_path: Path) -> None:
    result = _run(tmp_path, DATA)
    calls = [e for e in result.ladder if e["kind"] == "call"]
    assert [(c["step"], c["op"], c["args"]) for c in calls] == [
        ("setup", "socket", ""),
        ("setup", "bind", "sock=listener, port=7000"),
        ("setup", "listen", "sock=listener, backlog=4"),
        ("steps[0]", "accept", "sock=listener"),
        ("steps[1]", "recv", "sock=conn, size=5840"),
    ]
    assert calls[0]["result"] == "socket (raw 1) [ok, socket]"
    recv = calls[-1]
    assert (recv["t"], recv["returned"]) == (0.0, 1.0)
    assert recv["result"] == "5 (raw 5) [data, ok] b'hello'"
    back = _only(result.ladder, "return")
    assert result.ladder[back["call"]] is recv and back["t"] == 1.0
    # The return is drawn right after the data that woke the call, before the device's ACK.
    kinds = [(e["kind"], e.get("flags")) for e in result.ladder if e["kind"] in ("frame", "return")]
    assert kinds[-3:] == [("frame", "PA"), ("return", None), ("frame", "A")]


def test_one_instant_keeps_the_order_things_happened_in(tmp_path: Path) -> None:
    result = _run(tmp_path, DATA)
    order = [e.get("op") or e.get("flags") or e.get("text") for e in result.ladder if e["t"] == 0.0]
    # listen's calls before the SYN; each state change after the frame that caused it.
    assert order.index("listen") < order.index("S")
    assert order.index("socket 2: SYN_FIRST -> SYN_RECEIVED") > order.index("S")
    established = order.index("socket 2: SYN_RECEIVED -> ESTABLISHED")
    assert order.index("A") < established < order.index("accept")


def test_a_failed_expect_draws_the_expected_segment_after_the_one_observed(tmp_path: Path) -> None:
    result = _run(tmp_path, HEAD + "  - inject: {flags: S, seq: 0}\n  - expect: {flags: SA, win: 1}\n")
    assert result.verdict == "fail"
    failure = _only(result.ladder, "failure")
    assert failure == {
        "kind": "failure", "verdict": "fail", "step": "steps[1]", "line": 8, "action": "expect",
        "expected": "flags=SA win=1", "expects": "segment", "message": result.message,
        "mismatches": [{"field": "win", "expected": "1", "observed": "2920"}], "t": 0.0,
    }
    before = result.ladder[result.ladder.index(failure) - 1]
    assert before["flags"] == "SA" and before["failed"] is True
    assert sum(1 for e in result.ladder if e.get("failed")) == 1


def test_nothing_came_failure_has_the_expected_spec_with_its_timing(tmp_path: Path) -> None:
    result = _run(tmp_path, HEAD + "  - handshake: {}\n  - expect: {flags: R, within: 1s}\n")
    failure = _only(result.ladder, "failure")
    assert (failure["expected"], failure["expects"], failure["line"]) == ("flags=R within 1s", "segment", 8)
    assert failure["mismatches"] == [] and failure["t"] >= 1.0
    last_frame = max(i for i, e in enumerate(result.ladder) if e["kind"] == "frame")
    assert result.ladder.index(failure) > last_frame       # where the wait ended: after everything
    assert not any(e.get("failed") for e in result.ladder)


def test_a_call_that_returned_the_wrong_thing(tmp_path: Path) -> None:
    text = HEAD + "  - call: socket\n    save: s\n  - call: bind\n    sock: s\n    port: 7100\n"
    text += "    returns: EINVAL\n"
    result = _run(tmp_path, text)
    failure = _only(result.ladder, "failure")
    assert (failure["expects"], failure["expected"]) == ("call", "bind returns EINVAL")
    assert failure["step"] == "steps[1]"
    assert failure["mismatches"][0]["field"] == "returns"
    bind = [e for e in result.ladder if e["kind"] == "call" and e["op"] == "bind"][-1]
    assert bind["args"] == "sock=s, port=7100" and bind["result"] == "ok (raw 0) [ok]"


def test_broken_silence_marks_the_frames_that_broke_it(tmp_path: Path) -> None:
    text = HEAD + '  - handshake: {}\n  - inject: {flags: PA, payload: "x"}\n  - expect_silence: 1s\n'
    result = _run(tmp_path, text)
    failure = _only(result.ladder, "failure")
    assert (failure["expects"], failure["expected"]) == ("silence", "silence for 1 s")
    marked = [e for e in result.ladder if e.get("failed")]
    assert [(e["flags"], e["ack"]) for e in marked] == [("A", 2)]


def test_a_bad_checksum_is_in_the_entry(tmp_path: Path) -> None:
    # FR-HS-4: a SYN frame shorter than 66 bytes draws a SYN|ACK with a wrong checksum.
    short_syn = "  - inject: {flags: S, seq: 0, options: [mss]}\n  - expect: {flags: SA}\n"
    result = _run(tmp_path, HEAD + short_syn)
    synack = next(e for e in _frames(result) if e["flags"] == "SA")
    assert synack["checksum_ok"] is False
    assert synack["checksum"] != synack["checksum_expected"]


def test_the_ladder_crosses_process_pipes_and_lands_in_the_journal(tmp_path: Path) -> None:
    result = _run(tmp_path, DATA)
    assert pickle.loads(pickle.dumps(result)).ladder == result.ladder   # harness/parallel.py pickles it
    entry = record(result, {}, 0)
    assert json.loads(json.dumps(entry))["ladder"] == result.ladder


def test_layout_has_an_arrow_per_frame_and_the_expected_one_after_the_observed(tmp_path: Path) -> None:
    result = _run(tmp_path, HEAD + "  - inject: {flags: S, seq: 0}\n  - expect: {flags: SA, win: 1}\n")
    drawing = ladder_svg.layout(result.ladder)
    frames = [r for r in drawing.rows if r.kind == "frame"]
    assert drawing.frames == len(frames) == len(result.frames)
    observed = next(r for r in frames if "failed" in r.css)
    expected = drawing.rows[drawing.rows.index(observed) + 1]
    assert expected.kind == "expected" and expected.label == "expected (steps[1], line 8): flags=SA win=1"
    assert expected.lines == ["win: expected 1, observed 2920"]
    assert expected.line[0] == ladder_svg.DEVICE_X and expected.line[2] == ladder_svg.HARNESS_X
    assert [r.time for r in drawing.rows if r.time] == ["+0.000"]    # a time is shown where it changes
    tops = [r.y for r in drawing.rows]
    assert tops == sorted(tops) and drawing.height > tops[-1]


def test_layout_of_a_blocking_call_spans_from_call_to_return(tmp_path: Path) -> None:
    drawing = ladder_svg.layout(_run(tmp_path, DATA).ladder)
    call = next(r for r in drawing.rows if r.kind == "call" and r.label.startswith("recv("))
    back = next(r for r in drawing.rows if r.kind == "return")
    assert call.label == "recv(sock=conn, size=5840) … blocks"
    assert back.bar == (call.y + 9, back.y + 9)
    assert [r.time for r in drawing.rows if r.time] == ["+0.000", "+1.000"]
