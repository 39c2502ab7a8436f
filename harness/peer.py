"""The harness's side of each TCP conversation: its ports, both ISNs, and what each side has sent.

Cases write sequence numbers relative to each side's ISN, as in packetdrill:
`snd.nxt` is the device's next sequence number, `rcv.nxt` the next one the
device should expect from this peer. A Peer keeps those up to date from the
frames going each way; every captured segment keeps a snapshot of them as they
were just before it, so an expect step compares against the state that segment
was sent in, however long it waited in the queue.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .packets import Segment
from .target import Frame

MOD = 2**32


def _after(a: int, b: int) -> bool:
    """a is later than b in sequence space."""
    return 0 < (a - b) % MOD < MOD // 2


@dataclass
class Captured:
    frame: Frame
    seg: Segment
    rel_seq: int
    rel_ack: int
    snd_nxt: int  # device's next sequence number just before this segment
    rcv_nxt: int  # what the device should expect from the peer just before it
    rel_options: tuple[tuple[str, Any], ...] = ()  # the options with SACK blocks relative

    def names(self) -> dict[str, int]:
        return {"snd.nxt": self.snd_nxt, "rcv.nxt": self.rcv_nxt}


@dataclass
class Peer:
    name: str
    hport: int  # the harness's port
    isn: int  # the harness's ISN (absolute)
    dport: int | None = None  # the device's port, once known
    win: int = 64240
    snd_nxt: int = 0  # harness's next sequence number, relative to isn
    dev_isn: int | None = None  # the device's ISN, learned from its SYN
    dev_snd_nxt: int = 0  # device's next sequence number, relative to dev_isn
    ts_recent: int = 0
    # What each side's SYN (or SYN|ACK) offered in this connection: the harness's own, as it sent
    # it, and the device's (None: no SYN from the device yet).
    ts_sent: bool = False
    wscale_sent: int | None = None
    dev_offered: frozenset[str] | None = None
    queue: deque[Captured] = field(default_factory=deque)

    def names(self) -> dict[str, int]:
        return {"snd.nxt": self.dev_snd_nxt, "rcv.nxt": self.snd_nxt}

    def restart(self, isn: int) -> None:
        """A new connection from this peer (the same port, new sequence numbers)."""
        self.isn, self.snd_nxt, self.dev_isn, self.dev_snd_nxt = isn % MOD, 0, None, 0
        self.ts_sent, self.wscale_sent, self.dev_offered = False, None, None

    @property
    def ts_ok(self) -> bool:
        """Timestamps go on later segments only when both SYNs carried them (RFC 7323 section 3.2)."""
        return self.ts_sent and self.dev_offered is not None and "ts" in self.dev_offered

    def raw_window(self) -> int:
        """The window field that advertises `win` bytes on a segment other than a SYN: shifted by
        the harness's window scale once both SYNs offered one (RFC 7323 section 2.3); a SYN's
        window is never scaled."""
        shift = (self.wscale_sent or 0) if "wscale" in (self.dev_offered or ()) else 0
        return min(-(-self.win >> shift), 0xFFFF)

    def offered(self, kinds: dict[str, Any]) -> None:
        """The harness's own SYN or SYN|ACK went out with these options (case names -> values)."""
        self.ts_sent = "ts" in kinds
        self.wscale_sent = min(int(kinds["wscale"]), 14) if "wscale" in kinds else None

    def dev_abs(self, rel: int) -> int:
        return ((self.dev_isn or 0) + rel) % MOD

    def sent(self, rel_seq: int, seq_space: int, syn: bool) -> None:
        """The harness injected a segment at rel_seq occupying seq_space numbers."""
        if syn and rel_seq % MOD == 0:
            self.snd_nxt = seq_space
        elif rel_seq % MOD == self.snd_nxt % MOD:
            self.snd_nxt = (self.snd_nxt + seq_space) % MOD

    def capture(self, frame: Frame, seg: Segment) -> Captured:
        """Record a device segment for this peer and update the tracked state."""
        before = self.dev_snd_nxt
        if "S" in seg.flags and "R" not in seg.flags:  # a SYN|RST (FR-HS-3) opens nothing
            self.dev_isn = seg.seq
            self.dev_snd_nxt = before = 0
            self.dev_offered = frozenset(kind for kind, _ in seg.options)
        rel_seq = (seg.seq - (self.dev_isn or 0)) % MOD
        end = (rel_seq + seg.seq_space) % MOD
        if _after(end, self.dev_snd_nxt):
            self.dev_snd_nxt = end
        if seg.option("ts") is not None:
            self.ts_recent = seg.option("ts")[0]
        captured = Captured(
            frame, seg, rel_seq, (seg.ack - self.isn) % MOD, before, self.snd_nxt,
            relative_sack(seg.options, self.isn),
        )
        self.queue.append(captured)
        return captured


def relative_sack(options: tuple[tuple[str, Any], ...], isn: int) -> tuple[tuple[str, Any], ...]:
    """Options as a case writes them: the device's SACK blocks acknowledge the harness's data, so
    they count from the harness's ISN, as the device's `ack` does."""
    return tuple(
        (kind, [[(v - isn) % MOD for v in block] for block in value]) if kind == "sack" else (kind, value)
        for kind, value in options
    )


def segment_record(where: str, peer: Peer, captured: Captured, t0: float) -> dict[str, Any]:
    """A device segment in the form two targets can be compared on: numbers relative to the
    connection's ISNs, SACK blocks relative to the harness's ISN, timestamps without their values
    (each stack keeps its own clock), and the time from the case's start."""
    seg = captured.seg
    options: list[Any] = []
    for kind, value in captured.rel_options:
        if kind == "ts":
            options.append(kind)
        elif kind == "sack":
            options.append([kind, [v for block in value for v in block]])
        elif value is None or kind in ("nop", "eol", "sackok"):
            options.append(kind)
        else:
            options.append([kind, value])
    return {
        "step": where,
        "flags": seg.flags,
        "seq": captured.rel_seq,
        "ack": captured.rel_ack if "A" in seg.flags else None,
        "win": seg.win,
        "len": seg.len,
        "options": options,
        "checksum_ok": seg.checksum_ok,
        "at": round(captured.frame.time - t0, 6),
    }
