"""Geometry of a case's ladder diagram: where each row of the structured ladder goes.

The journal's `ladder` entries (harness/explain.py `ladder_entries`) become rows with
coordinates and short labels; templates/ladder.svg.j2 turns them into SVG. Time goes down one
row per event, not to scale: a case can span minutes of protocol time or a whole exchange in
one instant of a virtual clock, so each row carries its time as a label instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

WIDTH = 1020
HARNESS_X = 130
DEVICE_X = 610
SIDE_X = 628  # device-side text: calls, notes
TOP = 34
LABEL_CHARS = 74  # what fits between the columns at the stylesheet's font size
SIDE_CHARS = 58
_HEAD = 8.0  # arrowhead length and half width, px
_HALF = 4.0


@dataclass
class Row:
    kind: str  # frame, call, return, note, expected, expected-box, failure
    y: float
    height: float
    time: str = ""  # shown only where it changes
    css: str = ""
    label: str = ""
    sub: str = ""  # a second line: the options
    lines: list[str] = field(default_factory=list)
    bad: str = ""  # the bad-checksum mark
    title: str = ""  # the whole text, as a tooltip
    line: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # x1 y1 x2 y2
    head: str = ""  # the arrowhead's polygon points
    bar: tuple[float, float] | None = None  # a blocked call's span, y from and to


@dataclass
class Ladder:
    width: int
    height: float
    rows: list[Row]
    frames: int


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _head(x1: float, y1: float, x2: float, y2: float) -> str:
    length = math.hypot(x2 - x1, y2 - y1) or 1.0
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    bx, by = x2 - ux * _HEAD, y2 - uy * _HEAD
    return (f"{x2:.1f},{y2:.1f} {bx - uy * _HALF:.1f},{by + ux * _HALF:.1f} "
            f"{bx + uy * _HALF:.1f},{by - ux * _HALF:.1f}")


def _arrow(row: Row, outbound: bool, top: float) -> None:
    x1, x2 = (DEVICE_X, HARNESS_X) if outbound else (HARNESS_X, DEVICE_X)
    y1, y2 = top, top + 8
    row.line = (x1, y1, x2, y2)
    row.head = _head(x1, y1, x2, y2)


def _segment_label(entry: Mapping[str, Any], ports: bool) -> str:
    ack = "" if entry["ack"] is None else f" ack={entry['ack']}"
    prefix = f"{entry['sport']}→{entry['dport']} " if ports else ""
    return f"{prefix}{entry['flags']} seq={entry['seq']}{ack} len={entry['len']} win={entry['win']}"


def _frame(entry: Mapping[str, Any], y: float, ports: bool) -> Row:
    outbound = entry["dir"] == "out"
    way = "device → harness" if outbound else "harness → device"
    row = Row("frame", y, 30, css="out" if outbound else "in")
    if "flags" in entry:
        row.label = _segment_label(entry, ports)
        opts = entry["options"]
        row.sub = _cut("<" + ", ".join(opts) + ">", LABEL_CHARS + 8) if opts else ""
        if not entry["checksum_ok"]:
            row.bad = (f"bad checksum 0x{entry['checksum']:04x} "
                       f"(correct 0x{entry['checksum_expected']:04x})")
            row.css += " badsum"
        row.title = " ".join(filter(None, [f"+{entry['t']:.6f} s {way}:", row.label,
                                           " ".join(opts), row.bad.upper()]))
    else:
        row.label, row.css = entry["text"], row.css + " other"
        row.title = f"+{entry['t']:.6f} s {way}: {entry['text']}"
    if entry.get("failed"):
        row.css += " failed"
    if row.sub:
        row.height = 40
    _arrow(row, outbound, y + row.height - 12)
    return row


def _call(entry: Mapping[str, Any], y: float) -> Row:
    made = f"{entry['op']}({entry['args']})"
    if entry["result"] is None:
        shown = f"{made} … still pending"
    elif entry["returned"] is not None and entry["returned"] > entry["t"]:
        shown = f"{made} … blocks"
    else:
        shown = f"{made} → {entry['result']}"
    title = f"+{entry['t']:.6f} s {entry['step']}: {made} → {entry['result'] or 'pending'}"
    return Row("call", y, 18, css="call", label=_cut(shown, SIDE_CHARS), title=title)


def _failure(entry: Mapping[str, Any], y: float) -> Row:
    where = f"{entry['step']}, line {entry['line']}"
    mismatches = [f"{m['field']}: expected {m['expected']}, observed {m['observed']}"
                  for m in entry["mismatches"]]
    if entry["expects"] == "segment":
        row = Row("expected", y, 0, css="expected", label=_cut(f"expected ({where}): {entry['expected']}",
                                                               LABEL_CHARS))
        limit = LABEL_CHARS
    elif entry["expects"] in ("call", "silence"):
        row = Row("expected-box", y, 0, css=f"expected {entry['expects']}",
                  label=_cut(f"expected ({where}): {entry['expected']}", SIDE_CHARS))
        limit = SIDE_CHARS
    else:
        row = Row("failure", y, 0, css=entry["verdict"],
                  label=_cut(f"{entry['verdict']} at {where} ({entry['action']})", LABEL_CHARS))
        limit = LABEL_CHARS
    # Without field mismatches (nothing came, silence broken, an error) the message says what happened.
    row.lines = [_cut(m, limit) for m in mismatches or [entry["message"]]]
    row.title = "\n".join([row.label, *mismatches, entry["message"]])
    row.height = 22 + 13 * len(row.lines) + (10 if row.kind == "expected" else 0)
    if row.kind == "expected":
        _arrow(row, True, y + row.height - 10)
    return row


def layout(entries: Sequence[Mapping[str, Any]]) -> Ladder:
    """Rows with coordinates for templates/ladder.svg.j2, top to bottom in the entries' order."""
    pairs = {(e["sport"], e["dport"]) if e["dir"] == "in" else (e["dport"], e["sport"])
             for e in entries if e["kind"] == "frame" and "sport" in e}
    ports = len(pairs) > 1  # one connection: its ports would only repeat on every row
    rows: list[Row] = []
    by_entry: dict[int, Row] = {}
    y = float(TOP)
    last_time = ""
    frames = 0
    for index, entry in enumerate(entries):
        kind = entry["kind"]
        if kind == "frame":
            row = _frame(entry, y, ports)
            frames += 1
        elif kind == "call":
            row = _call(entry, y)
        elif kind == "return":
            row = Row("return", y, 18, css="call")
            row.label = _cut(f"↳ {entry['op']} → {entry['result']}", SIDE_CHARS)
            row.title = f"+{entry['t']:.6f} s {entry['op']} returned {entry['result']}"
            start = by_entry.get(entry["call"])
            if start is not None:
                row.bar = (start.y + 9, y + 9)
        elif kind == "note":
            row = Row("note", y, 15, css="note", label=_cut(entry["text"], SIDE_CHARS), title=entry["text"])
        elif kind == "failure":
            row = _failure(entry, y)
        else:
            continue
        shown = f"+{entry['t']:.3f}"
        if shown != last_time:
            row.time = last_time = shown
        by_entry[index] = row
        rows.append(row)
        y += row.height
    return Ladder(WIDTH, y + 12, rows, frames)
