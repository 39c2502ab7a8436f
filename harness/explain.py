"""Frames and expectations as short text, for failure messages and ladders in reports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .packets import ArpRequest, Segment, parse
from .peer import MOD, Peer
from .target import Frame

_TIMING_KEYS = ("within", "after", "since", "peer", "sport")


def _signed(value: int) -> int:
    value %= MOD
    return value - MOD if value >= MOD // 2 else value


def segment(seg: Segment, rel_seq: int, rel_ack: int) -> str:
    text = f"{seg.flags or 'none'} seq={_signed(rel_seq)} ack={_signed(rel_ack)} win={seg.win} len={seg.len}"
    if seg.options:
        text += " <" + ",".join(k if v is None else f"{k} {v}" for k, v in seg.options) + ">"
    if not seg.checksum_ok:
        text += f" BAD-CHECKSUM(0x{seg.checksum:04x}, correct 0x{seg.checksum_expected:04x})"
    return text


def spec(fields: Mapping[str, Any]) -> str:
    shown = [f"{k}={v}" for k, v in fields.items() if k not in _TIMING_KEYS]
    return " ".join(shown) or "any segment"


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
        elif isinstance(parsed, ArpRequest):
            text = f"ARP who-has {parsed.target_ip} tell {parsed.sender_ip}"
        elif frame.data[12:14] == b"\x08\x06":
            text = "ARP reply"
        else:
            text = f"{len(frame.data)} bytes {frame.data[:34].hex()}"
        rows.append((frame.time, 0, f"{frame.time - t0:10.3f} {arrow} {text}"))
    rows += [(t, 1, f"{t - t0:10.3f} device   {text}") for t, text in notes]
    return [row[2] for row in sorted(rows, key=lambda r: (r[0], r[1]))]
