"""Frames the harness builds and frames it reads back, through scapy.

Device frames are parsed into `Segment`s (plain values the matchers compare) and
their TCP checksum is recomputed here from the raw bytes, because a wrong
checksum is itself a finding (RFC-CHECKSUM; FR-HS-4: V4.4.1 sends SYN|ACKs with
a wrong checksum when the SYN frame is shorter than 66 bytes).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

FLAG_ORDER = "FSRPAUEC"

# Case names for options, and scapy's.
_TO_SCAPY = {
    "mss": "MSS",
    "wscale": "WScale",
    "sackok": "SAckOK",
    "ts": "Timestamp",
    "nop": "NOP",
    "eol": "EOL",
    "sack": "SAck",
}
_FROM_SCAPY = {v: k for k, v in _TO_SCAPY.items()}
# What a bare option name means when the harness sends it: Linux's values.
_OPTION_DEFAULTS = {"mss": 1460, "wscale": 7, "sackok": b"", "nop": None, "eol": None}
# Linux's SYN options: MSS, SACK-permitted, timestamps, NOP, window scale (40-byte header, 74-byte
# frame). Anything shorter than 66 bytes would trip FR-HS-4 in every case, so this is the default.
LINUX_SYN_OPTIONS = ("mss", "sackok", "ts", "nop", "wscale")


def synack_options(offered: frozenset[str] | None) -> tuple[str, ...]:
    """Linux's answer to a SYN: its SYN options less those the SYN did not offer (RFC 7323 section
    3.2 for timestamps and 2.2 for window scale, RFC 2018 for SACK-permitted); all of them before
    the device has sent a SYN."""
    if offered is None:
        return LINUX_SYN_OPTIONS
    keep = {"mss", *offered, *(("nop",) if "wscale" in offered else ())}
    return tuple(kind for kind in LINUX_SYN_OPTIONS if kind in keep)


def option_kinds(options: list[tuple[Any, Any]]) -> dict[str, Any]:
    """Scapy options as case names -> values (options given as raw bytes left out)."""
    return {_FROM_SCAPY[kind]: value for kind, value in options if kind in _FROM_SCAPY}


def payload_bytes(text: str) -> bytes:
    """Case text as bytes; YAML escapes ("\\x00") arrive as code points below 256, kept byte for byte."""
    return text.encode("latin-1") if all(ord(c) < 256 for c in text) else text.encode("utf-8")


def canonical_flags(letters: str) -> str:
    return "".join(c for c in FLAG_ORDER if c in letters.upper())


def flag_bits(letters: str) -> int:
    return sum(1 << FLAG_ORDER.index(c) for c in set(letters.upper()))


def bits_to_flags(bits: int) -> str:
    return "".join(c for i, c in enumerate(FLAG_ORDER) if bits & (1 << i))


def scapy_options(items: list[Any], tsval: int, tsecr: int) -> list[tuple[str, Any]]:
    """Case option items (`mss`, `{mss: 536}`, `{ts: [1, 0]}`, `{raw: "0402"}`) as scapy options."""
    out: list[tuple[str, Any]] = []
    for item in items:
        if isinstance(item, str):
            kind, value = item, _OPTION_DEFAULTS.get(item)
            if kind == "ts":
                value = (tsval, tsecr)
            elif kind == "sack":
                value = ()
        else:
            ((kind, value),) = item.items()
            if kind == "ts":
                value = tuple(value)
            elif kind == "sack":
                value = tuple(v for block in value for v in block)
            elif kind == "raw":
                raw = bytes.fromhex(value)
                out.append((raw[0], raw[2:]))
                continue
        out.append((_TO_SCAPY[kind], value))
    return out


@dataclass(frozen=True)
class Endpoints:
    harness_mac: str
    harness_ip: str
    device_mac: str
    device_ip: str


def build_segment(
    ends: Endpoints,
    *,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: str,
    win: int,
    options: list[tuple[str, Any]],
    payload: bytes = b"",
    urg: int = 0,
    ttl: int = 64,
    bad_checksum: bool = False,
    tos: int = 0,
    df: bool = True,
) -> bytes:
    args = (ends, sport, dport, seq % 2**32, ack % 2**32, flags, win, tuple(options), payload, urg, ttl,
            bad_checksum, tos, df)
    try:
        return _built(*args)
    except TypeError:  # an unhashable option value: build without the memo
        return _build_segment(*args)


def _build_segment(
    ends: Endpoints,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: str,
    win: int,
    options: tuple[tuple[str, Any], ...],
    payload: bytes,
    urg: int,
    ttl: int,
    bad_checksum: bool,
    tos: int,
    df: bool,
) -> bytes:
    tcp = TCP(
        sport=sport,
        dport=dport,
        seq=seq % 2**32,
        ack=ack % 2**32,
        flags=flag_bits(flags),
        window=win,
        urgptr=urg,
        options=list(options),
    )
    pkt = (
        Ether(src=ends.harness_mac, dst=ends.device_mac)
        / IP(src=ends.harness_ip, dst=ends.device_ip, ttl=ttl, tos=tos, flags="DF" if df else 0)
        / tcp
        / Raw(payload)
    )
    frame = bytes(pkt)
    if bad_checksum:
        # Flip the checksum's low byte: still a well-formed frame, just not a valid segment.
        at = 14 + 20 + 16
        frame = frame[:at] + bytes([frame[at], frame[at + 1] ^ 0xFF]) + frame[at + 2 :]
    return frame


# Frames already built: cases repeat the same handshakes, and scapy's build is slow.
_built = lru_cache(maxsize=4096)(_build_segment)


@lru_cache(maxsize=64)
def build_arp_reply(ends: Endpoints, asked_by_mac: str, asked_by_ip: str) -> bytes:
    return bytes(
        Ether(src=ends.harness_mac, dst=asked_by_mac)
        / ARP(op=2, hwsrc=ends.harness_mac, psrc=ends.harness_ip, hwdst=asked_by_mac, pdst=asked_by_ip)
    )


@dataclass(frozen=True)
class Segment:
    """A TCP segment read from a frame (either direction); seq/ack are the absolute wire values."""

    src_ip: str
    dst_ip: str
    sport: int
    dport: int
    seq: int
    ack: int
    flags: str
    win: int
    urg: int
    ttl: int
    tos: int  # the whole byte: DSCP << 2 | ECN
    df: bool
    payload: bytes
    options: tuple[tuple[str, Any], ...]
    checksum: int
    checksum_expected: int
    checksum_ok: bool
    frame_len: int

    @property
    def len(self) -> int:
        return len(self.payload)

    @property
    def ecn(self) -> int:
        return self.tos & 3

    @property
    def seq_space(self) -> int:
        """Sequence numbers this segment occupies (SYN and FIN count one each)."""
        return self.len + ("S" in self.flags) + ("F" in self.flags)

    def option(self, kind: str) -> Any:
        for k, v in self.options:
            if k == kind:
                return v
        return None


@dataclass(frozen=True)
class ArpRequest:
    sender_mac: str
    sender_ip: str
    target_ip: str


@lru_cache(maxsize=4096)
def parse(frame: bytes) -> Segment | ArpRequest | None:
    """A TCP segment, an ARP request, or None for anything else.

    Memoised: a case parses each frame when it is captured and again for its ladder, and
    scapy's dissection is most of the harness's wall time. The results are frozen values.
    """
    pkt = Ether(frame)
    if ARP in pkt:
        arp = pkt[ARP]
        return ArpRequest(arp.hwsrc, arp.psrc, arp.pdst) if arp.op == 1 else None
    if IP not in pkt or TCP not in pkt:
        return None
    ip, tcp = pkt[IP], pkt[TCP]
    ip_bytes = frame[14 : 14 + ip.len]
    segment = ip_bytes[ip.ihl * 4 :]
    payload = segment[tcp.dataofs * 4 :]
    return Segment(
        src_ip=ip.src,
        dst_ip=ip.dst,
        sport=tcp.sport,
        dport=tcp.dport,
        seq=tcp.seq,
        ack=tcp.ack,
        flags=bits_to_flags(int(tcp.flags)),
        win=tcp.window,
        urg=tcp.urgptr,
        ttl=ip.ttl,
        tos=ip.tos,
        df=bool(int(ip.flags) & 2),
        payload=bytes(payload),
        options=tuple(_case_option(o) for o in tcp.options),
        checksum=tcp.chksum,
        checksum_expected=tcp_checksum(ip.src, ip.dst, segment),
        checksum_ok=tcp_checksum_ok(ip.src, ip.dst, segment),
        frame_len=len(frame),
    )


def _case_option(option: tuple[Any, Any]) -> tuple[str, Any]:
    kind, value = option
    name = _FROM_SCAPY.get(kind, str(kind))
    if name == "sackok":
        value = None
    elif name == "sack":
        value = [list(value[i : i + 2]) for i in range(0, len(value), 2)]
    elif name == "ts":
        value = list(value)
    return name, value


def ones_complement_sum(data: bytes) -> int:
    """RFC 1071's 16-bit sum with end-around carry (the fuzz step patches checksums with it too)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _pseudo_header(src_ip: str, dst_ip: str, length: int) -> bytes:
    return (
        bytes(map(int, src_ip.split(".")))
        + bytes(map(int, dst_ip.split(".")))
        + struct.pack("!BBH", 0, 6, length)
    )


def tcp_checksum(src_ip: str, dst_ip: str, segment: bytes) -> int:
    """The checksum `segment` should carry (its own checksum field is ignored)."""
    zeroed = segment[:16] + b"\0\0" + segment[18:]
    return 0xFFFF - ones_complement_sum(_pseudo_header(src_ip, dst_ip, len(segment)) + zeroed)


def tcp_checksum_ok(src_ip: str, dst_ip: str, segment: bytes) -> bool:
    # Summing with the checksum in place must give all ones (0x0000 and 0xFFFF are the same value).
    return ones_complement_sum(_pseudo_header(src_ip, dst_ip, len(segment)) + segment) == 0xFFFF
