"""The `fuzz` step's segments: one template frame, patched at byte level from a seed.

Building each segment with scapy would cap a campaign at a few thousand a second; a template
copied and patched in place (then its TCP checksum recomputed, unless the checksum is what is
being broken) costs microseconds, so the bundled stack, not the harness, sets the pace. The same
seed gives the same segments on every target: segment i of a campaign is `mutant(template, seed, i)`.
The frame's addresses are never touched: every mutant goes to the device the case talks to.
"""

from __future__ import annotations

import random
import socket
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .packets import ones_complement_sum, tcp_checksum

# What a mutant breaks; a campaign draws one per segment (the step's `mutate:` picks a subset).
KINDS = ("flags", "seq", "ack", "offset", "options", "truncate", "checksum", "ip", "oversize")

_ETH = 14
_IP = _ETH           # the harness's frames carry no IP options
_TCP = _IP + 20
_SEQ, _ACK, _OFF, _FLAGS, _SUM = _TCP + 4, _TCP + 8, _TCP + 12, _TCP + 13, _TCP + 16
_MAX_FRAME = 1514    # what a veth or tap carries: the same seed must work on every target
_MOD = 1 << 32
_OPTION_KINDS = (0, 1, 2, 3, 4, 5, 8, 30, 254, 255)
_BATCH = 32


@dataclass(frozen=True)
class Edges:
    """Where the window's edges are, as absolute numbers: seq and ack mutations aim near them."""

    rcv_nxt: int      # the device's RCV.NXT: the seq it wants next
    snd_nxt: int      # the device's SND.NXT: the highest ack it can take
    window: int       # the device's receive window


@dataclass
class Campaign:
    """What a fuzz step did: enough to repeat it (seed, count, kinds) and to see what came back."""

    seed: int
    count: int
    template: bytes = b""
    edges: Edges = Edges(0, 0, 0)
    kinds: Counter[str] = field(default_factory=Counter)
    replies: Counter[str] = field(default_factory=Counter)   # the device's answers, by TCP flags

    def describe(self) -> str:
        made = ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items()))
        answered = ", ".join(f"{k or 'none'} {n}" for k, n in self.replies.most_common()) or "nothing"
        return f"fuzz: {self.count} segments from seed {self.seed} ({made}); the device answered: {answered}"


def mutant(template: bytes, seed: int, index: int, kinds: Sequence[str], edges: Edges) -> tuple[str, bytes]:
    """Segment `index` of the campaign `seed`: which kind of damage, and the frame."""
    rng = random.Random(seed * 1_000_003 + index)
    kind = kinds[rng.randrange(len(kinds))]
    buf = bytearray(template)
    fix_tcp = _PATCH[kind](buf, rng, edges)
    if fix_tcp:
        _fix_tcp_checksum(buf)
    return kind, bytes(buf)


def run(
    template: bytes,
    seed: int,
    count: int,
    kinds: Sequence[str],
    edges: Edges,
    inject: Callable[[bytes], object],
    drain: Callable[[], Iterable[bytes]],
    keep: Callable[[bytes, bool], None],
    kept: int = 50,
) -> Campaign:
    """Inject `count` mutants, draining the device's answers after each; `keep` sees the first
    `kept` mutants and answers (for the pcap). An exception names the segment that raised it."""
    campaign = Campaign(seed, count, template, edges)
    for index in range(count):
        kind, frame = mutant(template, seed, index, kinds, edges)
        campaign.kinds[kind] += 1
        try:
            inject(frame)
            # Past the kept ones, answers are only counted: collecting them in batches costs the
            # target one look at its clock and queues per batch instead of per segment.
            look = index < kept or index % _BATCH == _BATCH - 1 or index == count - 1
            answers = list(drain()) if look else []
        except Exception as exc:
            raise FuzzError(f"fuzz segment {index} of seed {seed} ({kind}: {frame.hex()}): {exc}") from exc
        for answer in answers:
            campaign.replies[_flags(answer)] += 1
        if index < kept:
            keep(frame, False)
            for answer in answers:
                keep(answer, True)
    return campaign


class FuzzError(RuntimeError):
    """The target failed on a mutant; the message holds the seed, the index and the bytes."""


def _flags(frame: bytes) -> str:
    if len(frame) <= _FLAGS or frame[12:14] != b"\x08\x00" or frame[_IP + 9] != 6:
        return "not TCP"
    ihl = (frame[_IP] & 0x0F) * 4
    bits = frame[_IP + ihl + 13] if len(frame) > _IP + ihl + 13 else 0
    return "".join(c for i, c in enumerate("FSRPAUEC") if bits & (1 << i))


def _near(rng: random.Random, base: int, window: int) -> int:
    delta = rng.choice((0, -1, 1, window - 1, window, window + 1, -window, 1 << 31, rng.randrange(_MOD)))
    return (base + delta) % _MOD


def _flags_patch(buf: bytearray, rng: random.Random, edges: Edges) -> bool:
    buf[_FLAGS] = rng.randrange(256)
    return True


def _seq_patch(buf: bytearray, rng: random.Random, edges: Edges) -> bool:
    struct.pack_into("!I", buf, _SEQ, _near(rng, edges.rcv_nxt, edges.window))
    return True


def _ack_patch(buf: bytearray, rng: random.Random, edges: Edges) -> bool:
    struct.pack_into("!I", buf, _ACK, _near(rng, edges.snd_nxt, edges.window))
    return True


def _offset_patch(buf: bytearray, rng: random.Random, edges: Edges) -> bool:
    buf[_OFF] = (rng.randrange(16) << 4) | (buf[_OFF] & 0x0F)
    return True


def _options_patch(buf: bytearray, rng: random.Random, edges: Edges) -> bool:
    start, end = _TCP + 20, _TCP + (buf[_OFF] >> 4) * 4
    if end - start < 2:  # no options in the template: make room for some in place of the payload
        end = min(len(buf), start + 12)
        buf[_OFF] = ((end - _TCP) // 4) << 4 | (buf[_OFF] & 0x0F)
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(start, max(start + 1, end - 1))
        buf[at] = rng.choice(_OPTION_KINDS)
        if at + 1 < end:
            buf[at + 1] = rng.choice((0, 1, 2, 3, 10, 40, 255, rng.randrange(256)))
    return True


def _truncate_patch(buf: bytearray, rng: random.Random, edges: Edges) -> bool:
    cut = rng.randrange(_ETH, len(buf))
    del buf[cut:]
    if rng.random() < 0.5 and cut >= _IP + 4:  # a header that agrees with the cut, half of the time
        struct.pack_into("!H", buf, _IP + 2, cut - _IP)
        if cut >= _IP + 20:
            _fix_ip_checksum(buf)
    return False


def _checksum_patch(buf: bytearray, rng: random.Random, edges: Edges) -> bool:
    _fix_tcp_checksum(buf)
    struct.pack_into("!H", buf, _SUM, struct.unpack_from("!H", buf, _SUM)[0] ^ (1 + rng.randrange(0xFFFF)))
    return False


def _ip_patch(buf: bytearray, rng: random.Random, edges: Edges) -> bool:
    where = rng.choice((0, 2, 3, 6, 7, 8, 9, 10))
    if where == 0:
        buf[_IP] = rng.choice((0x45, 0x46, 0x4F, 0x44, 0x65, 0x05, rng.randrange(256)))
    elif where in (2, 3):
        struct.pack_into("!H", buf, _IP + 2, rng.choice((0, 20, 39, len(buf) - _IP + 1, 0xFFFF)))
    elif where in (6, 7):
        struct.pack_into("!H", buf, _IP + 6, rng.choice((0x2000, 0x0001, 0x3FFF, 0x4000 | 0x0100)))
    else:
        buf[_IP + where] = rng.randrange(256)  # TTL, protocol, or the header checksum itself
    if where != 10 and rng.random() < 0.7:
        _fix_ip_checksum(buf)
    return True


def _oversize_patch(buf: bytearray, rng: random.Random, edges: Edges) -> bool:
    grow = rng.randrange(1, _MAX_FRAME - len(buf) + 1) if len(buf) < _MAX_FRAME else 0
    buf.extend(rng.randbytes(grow))
    struct.pack_into("!H", buf, _IP + 2, len(buf) - _IP)
    _fix_ip_checksum(buf)
    return True


_PATCH: dict[str, Callable[[bytearray, random.Random, Edges], bool]] = {
    "flags": _flags_patch,
    "seq": _seq_patch,
    "ack": _ack_patch,
    "offset": _offset_patch,
    "options": _options_patch,
    "truncate": _truncate_patch,
    "checksum": _checksum_patch,
    "ip": _ip_patch,
    "oversize": _oversize_patch,
}


def _fix_tcp_checksum(buf: bytearray) -> None:
    if len(buf) < _SUM + 2:
        return
    src, dst = (socket.inet_ntoa(bytes(buf[_IP + at : _IP + at + 4])) for at in (12, 16))
    struct.pack_into("!H", buf, _SUM, tcp_checksum(src, dst, bytes(buf[_TCP:])))


def _fix_ip_checksum(buf: bytearray) -> None:
    if len(buf) < _IP + 20:
        return
    buf[_IP + 10 : _IP + 12] = b"\0\0"
    struct.pack_into("!H", buf, _IP + 10, ~ones_complement_sum(bytes(buf[_IP : _IP + 20])) & 0xFFFF)
