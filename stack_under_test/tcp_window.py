"""Transmit and receive bookkeeping of one connection (FreeRTOS_TCP_WIN.c).

Sequence numbers are absolute 32-bit values; every comparison goes through
``seq_lt``/``seq_le`` so wrap-around is handled once, here.
"""

from __future__ import annotations

from dataclasses import dataclass

MOD = 1 << 32


def seq_add(a: int, b: int) -> int:
    return (a + b) % MOD


def seq_diff(a: int, b: int) -> int:
    """a - b as a signed distance in sequence space."""
    d = (a - b) % MOD
    return d - MOD if d >= MOD // 2 else d


def _ticks(seconds: float) -> int:
    """A duration in whole 1 ms ticks, as ulTimerGetAge and lSRTT hold it (configTICK_RATE_HZ 1000)."""
    return int(round(seconds * 1000))


def seq_lt(a: int, b: int) -> bool:
    return seq_diff(a, b) < 0


def seq_le(a: int, b: int) -> bool:
    return seq_diff(a, b) <= 0


@dataclass
class TxSegment:
    seq: int
    length: int
    sent_at: float = 0.0
    first_sent_at: float = 0.0
    transmissions: int = 0
    sacked: bool = False
    sack_hits: int = 0
    priority: bool = False

    @property
    def end(self) -> int:
        return seq_add(self.seq, self.length)


class TxWindow:
    """The transmit stream plus the segments carved from it.

    ``data`` holds every byte from ``snd_una`` on: sent-unacknowledged first,
    then queued. Segments are cut lazily, at most one MSS each, and never split
    once sent (FreeRTOS retransmits whole segments).
    """

    def __init__(self, isn: int, capacity: int, mss: int, window: int, srtt: float, srtt_min: float):
        self.snd_una = seq_add(isn, 1)
        self.snd_nxt = self.snd_una          # first byte never yet sent
        self.data = bytearray()
        self.capacity = capacity
        self.mss = mss
        self.window = window                 # our own transmit window (ulTxWindowLength)
        self.segments: list[TxSegment] = []  # sent, not yet acknowledged, in order
        self.srtt = srtt
        self.srtt_min = srtt_min

    # -- the application side ------------------------------------------------
    def space(self) -> int:
        return max(0, self.capacity - len(self.data))

    def queue(self, payload: bytes) -> int:
        n = min(len(payload), self.space())
        self.data += payload[:n]
        return n

    def unsent(self) -> int:
        return len(self.data) - self.outstanding()

    def outstanding(self) -> int:
        return seq_diff(self.snd_nxt, self.snd_una)

    def done(self) -> bool:
        """xTCPWindowTxDone: nothing queued and nothing unacknowledged."""
        return not self.data

    # -- the wire side ---------------------------------------------------------
    def _rto(self, seg: TxSegment) -> float:
        return (1 << seg.transmissions) * self.srtt

    def next_to_send(self, peer_window: int, now: float) -> TxSegment | None:
        """ulTCPWindowTxGet: a SACK-driven retransmission, then an expired one, then new data.

        Expired means older than 2^transmissions x SRTT by at least a tick (pxTCPWindowTx_GetWaitQueue's
        `ulTimerGetAge() > ulMaxTime`, FreeRTOS_TCP_WIN.c 1692): the timer set for the exact
        instant finds it not yet due, prvTCPNextTimeout then waits 1 tick, so a retransmission
        leaves 1 ms after its nominal time, or later if a keep-alive probe took that wake-up.
        """
        for seg in self.segments:
            if seg.priority and not seg.sacked:
                seg.priority = False
                return self._mark_sent(seg, now)
        if self.segments:
            oldest = next((s for s in self.segments if not s.sacked), None)
            if oldest is not None and _ticks(now - oldest.sent_at) > _ticks(self._rto(oldest)):
                return self._mark_sent(oldest, now)
        unsent = self.unsent()
        if unsent <= 0:
            return None
        length = min(unsent, self.mss)
        outstanding = self.outstanding()
        # FreeRTOS never splits a segment to fit a small window and never probes a zero window.
        if outstanding + length > min(peer_window, self.window):
            return None
        seg = TxSegment(seq=self.snd_nxt, length=length, first_sent_at=now)
        self.segments.append(seg)
        self.snd_nxt = seq_add(self.snd_nxt, length)
        return self._mark_sent(seg, now)

    def _mark_sent(self, seg: TxSegment, now: float) -> TxSegment:
        seg.transmissions += 1
        seg.sent_at = now
        if seg.transmissions == 4:
            # After a segment's 4th transmission the window shrinks to 2 MSS.
            self.window = min(self.window, 2 * self.mss)
        return seg

    def payload(self, seg: TxSegment) -> bytes:
        off = seq_diff(seg.seq, self.snd_una)
        return bytes(self.data[off:off + seg.length])

    def retransmit_delay(self, peer_window: int, now: float) -> float | None:
        """xTCPWindowTxHasData: 0 if something can go now, else the wait for a retransmission."""
        if any(s.priority and not s.sacked for s in self.segments):
            return 0.0
        unsent = self.unsent()
        if unsent > 0 and self.outstanding() + min(unsent, self.mss) <= min(peer_window, self.window):
            return 0.0
        oldest = next((s for s in self.segments if not s.sacked), None)
        if oldest is None:
            return None
        return max(0.0, oldest.sent_at + self._rto(oldest) - now)

    def ack(self, ack: int, now: float) -> int:
        """ulTCPWindowTxAck: free fully acknowledged segments; returns bytes released."""
        if not self.segments or seq_le(ack, self.snd_una) or seq_lt(self.snd_nxt, ack):
            return 0
        released = 0
        while self.segments and seq_le(self.segments[0].end, ack):
            seg = self.segments.pop(0)
            if seg.transmissions == 1 and not seg.sacked:
                self._update_srtt(now - seg.first_sent_at)
            released += seg.length
        if released:
            del self.data[:released]
            self.snd_una = seq_add(self.snd_una, released)
        return released

    def sack(self, blocks: list[tuple[int, int]]) -> None:
        """ulTCPWindowTxSack: mark SACKed segments; three SACKs past a hole trigger fast retransmit."""
        for left, right in blocks:
            for seg in self.segments:
                if not seg.sacked and seq_le(left, seg.seq) and seq_le(seg.end, right):
                    seg.sacked = True
                    for hole in self.segments:
                        if hole is seg:
                            break
                        if not hole.sacked:
                            hole.sack_hits += 1
                            if hole.sack_hits == 3:
                                hole.priority = True

    def _update_srtt(self, rtt: float) -> None:
        if rtt > self.srtt:
            self.srtt = (6 * self.srtt + 2 * rtt) / 8
        else:
            self.srtt = (7 * self.srtt + rtt) / 8
        self.srtt = max(self.srtt, self.srtt_min)


class RxWindow:
    """The receive stream: in-order bytes for the application, plus stored out-of-order data."""

    def __init__(self, irs: int, capacity: int, window: int):
        self.rcv_nxt = seq_add(irs, 1)
        self.data = bytearray()
        self.capacity = capacity
        self.window = window                     # xSize.ulRxWindowLength
        self.ooo: dict[int, bytes] = {}          # seq -> payload, beyond rcv_nxt
        self.low_water = False

    def free(self) -> int:
        return self.capacity - len(self.data) - sum(len(v) for v in self.ooo.values())

    def check(self, seq: int, payload: bytes) -> tuple[str, list[tuple[int, int]]]:
        """lTCPWindowRxCheck + lTCPAddRxdata.

        Returns (what happened, SACK blocks to report): "stored" (in order),
        "ooo" (stored ahead of a gap), "keepalive", "refused", "old".
        """
        length = len(payload)
        d = seq_diff(seq, self.rcv_nxt)
        if d == -1 and length <= 1:
            return "keepalive", []
        if d < 0:
            if d + length <= 0:
                return "old", []
            payload = payload[-d:]
            seq, d, length = self.rcv_nxt, 0, len(payload)
        if d == 0:
            if length > self.capacity - len(self.data):
                return "refused", []
            self.data += payload
            self.rcv_nxt = seq_add(self.rcv_nxt, length)
            self._pull_ooo()
            return "stored", []
        if d + length > self.free() + 0 or d >= self.window + self.capacity:
            return "refused", []
        self.ooo[seq] = bytes(payload)
        return "ooo", [(seq, seq_add(seq, length))]

    def _pull_ooo(self) -> None:
        moved = True
        while moved and self.ooo:
            moved = False
            for seq in sorted(self.ooo, key=lambda s: seq_diff(s, self.rcv_nxt)):
                d = seq_diff(seq, self.rcv_nxt)
                chunk = self.ooo[seq]
                if d <= 0:
                    del self.ooo[seq]
                    tail = chunk[-d:] if -d < len(chunk) else b""
                    if tail:
                        self.data += tail
                        self.rcv_nxt = seq_add(self.rcv_nxt, len(tail))
                    moved = True
                    break

    def has_gap(self) -> bool:
        return bool(self.ooo)

    def read(self, n: int, peek: bool = False) -> bytes:
        out = bytes(self.data[:n])
        if not peek:
            del self.data[:n]
        return out

    def advertised(self, mss: int) -> int:
        """prvTCPReturn_CheckTCPWindow, before scaling."""
        free = self.capacity - len(self.data)
        if self.low_water:
            return 0
        space = min(self.window, free)
        if space < mss <= free:
            space = mss
        return space

    def update_low_water(self) -> bool:
        """Set at <= 25 % free, cleared only at 100 % free; returns True when it just cleared."""
        free = self.capacity - len(self.data)
        if not self.low_water and free <= self.capacity // 4:
            self.low_water = True
        elif self.low_water and free >= self.capacity:
            self.low_water = False
            return True
        return False
