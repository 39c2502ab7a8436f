"""Frames and expectations as short text, for failure messages and ladders in reports.

Two ladders: `ladder` is text lines (the journal's `log`), `ladder_entries` the same exchange as
data (the journal's `ladder`), with the socket calls and the failed step, for report.html to draw.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .packets import ArpRequest, Segment, parse
from .peer import MOD, Peer
from .target import CallHandle, Frame

_TIMING_KEYS = ("within", "after", "since", "peer", "sport")
_SHORT_DATA = 16  # call data up to this many bytes is shown as it is, longer only as its length


def _signed(value: int) -> int:
    value %= MOD
    return value - MOD if value >= MOD // 2 else value


def _ack(seg: Segment, rel_ack: int) -> int | str | None:
    """What a segment acknowledges, relative, when ACK is set. Without ACK the field acknowledges
    nothing, so no relative number is made of it: left out when zero, else shown raw (a RST that
    should not carry it, FR-RST-2)."""
    if "A" in seg.flags:
        return _signed(rel_ack)
    return f"raw {seg.ack}" if seg.ack else None


def segment(seg: Segment, rel_seq: int, rel_ack: int) -> str:
    ack = _ack(seg, rel_ack)
    text = f"{seg.flags or 'none'} seq={_signed(rel_seq)}{'' if ack is None else f' ack={ack}'}"
    text += f" win={seg.win} len={seg.len}"
    if seg.options:
        text += " <" + ",".join(options(seg)) + ">"
    if not seg.checksum_ok:
        text += f" BAD-CHECKSUM(0x{seg.checksum:04x}, correct 0x{seg.checksum_expected:04x})"
    return text


def options(seg: Segment) -> list[str]:
    return [k if v is None else f"{k} {v}" for k, v in seg.options]


def spec(fields: Mapping[str, Any]) -> str:
    shown = [f"{k}={v}" for k, v in fields.items() if k not in _TIMING_KEYS]
    return " ".join(shown) or "any segment"


def expectation(fields: Mapping[str, Any]) -> str:
    """`spec` with its timing and peer, for the expected segment drawn in a report's ladder."""
    timing = [f"{k} {fields[k]}" for k in _TIMING_KEYS if k in fields]
    return " ".join([spec(fields), *timing])


def _relative(seg: Segment, outbound: bool, peers: Iterable[Peer]) -> tuple[int, int]:
    for peer in peers:
        port = seg.dport if outbound else seg.sport
        if port == peer.hport:
            dev_isn = peer.dev_isn or 0
            return (
                (seg.seq - dev_isn, seg.ack - peer.isn)
                if outbound
                else (seg.seq - peer.isn, seg.ack - dev_isn)
            )
    return seg.seq, seg.ack


def ladder(
    frames: Iterable[Frame], notes: Iterable[tuple[float, str]], peers: Iterable[Peer], t0: float
) -> list[str]:
    """Every frame (seq/ack relative to the peers' final ISNs) and device note, in time order."""
    peers = list(peers)
    rows: list[tuple[float, int, str]] = []
    for frame in frames:
        parsed = parse(frame.data)
        arrow = "dev->har" if frame.outbound else "har->dev"
        if isinstance(parsed, Segment):
            text = f"{parsed.sport}>{parsed.dport} " + segment(
                parsed, *_relative(parsed, frame.outbound, peers)
            )
        else:
            text = _not_a_segment(parsed, frame.data)
        rows.append((frame.time, 0, f"{frame.time - t0:10.3f} {arrow} {text}"))
    rows += [(t, 1, f"{t - t0:10.3f} device   {text}") for t, text in notes]
    return [row[2] for row in sorted(rows, key=lambda r: (r[0], r[1]))]


# ---- the ladder as data ------------------------------------------------------------------------


@dataclass
class CallMade:
    """A socket call as the runner made it. `order` and `seen` count the frames sent or captured
    before it started and before the runner saw it return: on a virtual clock whole exchanges
    happen at one instant, and only that order says what came first."""

    step: str
    op: str
    args: str
    handle: CallHandle
    order: int
    seen: int | None = None


@dataclass(frozen=True)
class FailurePoint:
    """Where a case stopped with fail or error: its step, what it expected, what it saw instead."""

    verdict: str
    at: float  # the target's clock
    step: str
    line: int
    action: str
    message: str
    expected: str = ""  # the expected segment, call result or silence, as text
    expects: str = ""  # what `expected` describes: segment, call, silence (or "")
    mismatches: Sequence[Mapping[str, str]] = ()
    frames: Sequence[Frame] = ()  # the device's frames it failed on


def call_args(args: Mapping[str, Any], names: Mapping[str, Any]) -> str:
    """A call's arguments as the case wrote them: sockets by their saved name, flags by name,
    data by its text when short, else by its length."""
    shown = []
    for key, value in args.items():
        if key in names:
            named = names[key]
            value = "|".join(map(str, named)) if isinstance(named, list | tuple) else named
        elif isinstance(value, bytes):
            value = repr(value) if len(value) <= _SHORT_DATA else f"{len(value)} bytes"
        elif key in ("flags", "events") and not value:
            continue
        shown.append(f"{key}={value}")
    return ", ".join(shown)


def _call_result(handle: CallHandle) -> tuple[float | None, str | None]:
    """When the call returned and what, or (None, None) while it is pending."""
    try:
        if not handle.done:
            return None, None
        result = handle.result()
    except Exception as exc:  # a target whose call broke: say so in the ladder, as the verdict does
        return handle.finished, f"{type(exc).__name__}: {exc}"
    if result is None:
        return handle.finished, None
    text = result.describe()
    if result.data:
        data = result.data
        text += " " + (repr(data) if len(data) <= _SHORT_DATA else f"{len(data)} bytes")
    return handle.finished, text


def _frame_entry(frame: Frame, peers: list[Peer]) -> dict[str, Any]:
    parsed = parse(frame.data)
    entry: dict[str, Any] = {"kind": "frame", "dir": "out" if frame.outbound else "in"}
    if isinstance(parsed, Segment):
        seq, ack = _relative(parsed, frame.outbound, peers)
        entry.update(
            sport=parsed.sport,
            dport=parsed.dport,
            flags=parsed.flags or "none",
            seq=_signed(seq),
            ack=_ack(parsed, ack),
            len=parsed.len,
            win=parsed.win,
            options=options(parsed),
            checksum_ok=parsed.checksum_ok,
        )
        if not parsed.checksum_ok:
            entry.update(checksum=parsed.checksum, checksum_expected=parsed.checksum_expected)
    else:
        entry["text"] = _not_a_segment(parsed, frame.data)
    return entry


def _not_a_segment(parsed: object, data: bytes) -> str:
    """A frame that is not TCP, as both ladders show it."""
    if isinstance(parsed, ArpRequest):
        return f"ARP who-has {parsed.target_ip} tell {parsed.sender_ip}"
    if data[12:14] == b"\x08\x06":
        return "ARP reply"
    return f"{len(data)} bytes {data[:34].hex()}"


def ladder_entries(
    frames: Sequence[Frame],
    notes: Iterable[tuple[float, str]],
    calls: Iterable[CallMade],
    peers: Iterable[Peer],
    t0: float,
    failure: FailurePoint | None = None,
    note_marks: Sequence[tuple[float, int]] = (),
) -> list[dict[str, Any]]:
    """The case as plain data in time order: `frames` in the order the runner sent or captured
    them, with seq/ack relative to the peers' final ISNs as in `ladder`; device notes; each call
    (and its return, as a row of its own when it blocked); and the failed step, just after the
    frame it failed on. Times are seconds from the case's start. `note_marks` are (place, notes
    so far) after each event, for notes that share an instant with frames (a virtual clock)."""
    peers = list(peers)
    failed = {id(f) for f in (failure.frames if failure else ())}
    # Sort keys: (time, place). Frame i has place 2i; a call, a return, a note or the failure has a
    # place between two frames' (or after all of them), which orders what shares one instant.
    rows: list[tuple[float, float, dict[str, Any]]] = []
    for index, frame in enumerate(frames):
        entry = _frame_entry(frame, peers)
        if id(frame) in failed:
            entry["failed"] = True
        rows.append((frame.time, 2 * index, entry))
    after_all = 2 * len(frames) + 1
    counts = [count for _, count in note_marks]
    for i, (t, text) in enumerate(notes):
        mark = bisect_right(counts, i)  # the first event after which note i existed
        place = note_marks[mark][0] if mark < len(note_marks) else after_all
        rows.append((t, place, {"kind": "note", "text": text}))
    for call in calls:
        returned, text = _call_result(call.handle)
        entry = {"kind": "call", "step": call.step, "op": call.op, "args": call.args,
                 "returned": None if returned is None else round(returned - t0, 6), "result": text}
        rows.append((call.handle.started, 2 * call.order - 1, entry))
        seen = len(frames) if call.seen is None else call.seen
        if returned is not None and (returned > call.handle.started or seen > call.order):
            rows.append((returned, 2 * seen - 1, {"kind": "return", "op": call.op, "result": text,
                                                  "call": entry}))
    if failure is not None:
        where = [2 * i + 1 for i, f in enumerate(frames) if id(f) in failed]
        at = max(f.time for f in failure.frames) if failure.frames else failure.at
        rows.append((at, max(where) if where else after_all + 1, {
            "kind": "failure", "verdict": failure.verdict, "step": failure.step, "line": failure.line,
            "action": failure.action, "expected": failure.expected, "expects": failure.expects,
            "message": failure.message, "mismatches": [dict(m) for m in failure.mismatches],
        }))
    rows.sort(key=lambda r: (r[0], r[1]))
    out = []
    for t, _, entry in rows:
        entry["t"] = round(t - t0, 6)
        out.append(entry)
    # A return names its call by place in the list: the entries stay plain JSON data.
    place = {id(entry): i for i, entry in enumerate(out)}
    for entry in out:
        if entry["kind"] == "return":
            entry["call"] = place[id(entry["call"])]
    return out
