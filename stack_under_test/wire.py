"""Parse and build Ethernet II, ARP, IPv4, ICMP echo and TCP bytes with ``struct`` only.

A real stack carries its own parser, so this one does too: scapy appears only in
the tests, as an independent cross-check. IPv4 addresses are host-order ints
inside the stack (cheap to mask and compare); MACs are 6-byte ``bytes``.

Every ``parse_*`` function takes arbitrary bytes and never raises: it returns
``None`` when the header cannot be read at all, and flags softer problems (bad
checksum, malformed TCP options) in the result so the caller can count them.
Builders may raise ``ValueError``/``struct.error`` on impossible arguments,
which is a bug in the caller, not hostile input.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_HEADER_LEN = 14
ETH_MIN_FRAME = 60           # without the FCS, which the NIC adds and strips
BROADCAST_MAC = b"\xff" * 6
ZERO_MAC = b"\x00" * 6

ARP_REQUEST = 1
ARP_REPLY = 2
ARP_LEN = 28

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPV4_HEADER_LEN = 20
IP_FLAG_DF = 0x2
IP_FLAG_MF = 0x1

ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8
ICMP_HEADER_LEN = 8

TCP_HEADER_LEN = 20
TCP_MAX_OPTIONS = 40

TCPOPT_EOL = 0
TCPOPT_NOP = 1
TCPOPT_MSS = 2
TCPOPT_WSCALE = 3
TCPOPT_SACK_PERMITTED = 4
TCPOPT_SACK = 5
TCPOPT_TIMESTAMP = 8


# --------------------------------------------------------------- addresses
def ip_to_int(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def int_to_ip(value: int) -> str:
    return str(ipaddress.IPv4Address(value & 0xFFFFFFFF))


def mac_to_bytes(text: str) -> bytes:
    raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return raw


def bytes_to_mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


# ---------------------------------------------------------------- checksum
def _ones_sum(data: bytes) -> int:
    """RFC 1071's sum of 16-bit words with end-around carry: 2^16 is 1 modulo 0xFFFF, so the
    whole buffer read as one big number, modulo 0xFFFF, is that sum (0xFFFF where it is 0 but
    the data is not)."""
    if len(data) % 2:
        data += b"\x00"
    number = int.from_bytes(data, "big")
    total = number % 0xFFFF
    return total if total or not number else 0xFFFF


def inet_checksum(data: bytes) -> int:
    """RFC 1071 checksum. Over data that already holds a correct checksum it is 0."""
    return ~_ones_sum(data) & 0xFFFF


def _pseudo_header(src_ip: int, dst_ip: int, proto: int, length: int) -> bytes:
    return struct.pack("!IIBBH", src_ip & 0xFFFFFFFF, dst_ip & 0xFFFFFFFF, 0, proto, length & 0xFFFF)


# ---------------------------------------------------------------- Ethernet
@dataclass(frozen=True)
class EthFrame:
    dst: bytes
    src: bytes
    ethertype: int        # < 0x0600 means an 802.3 length field, not a type
    payload: bytes        # includes any padding up to the 60-byte minimum


def parse_ethernet(frame: bytes) -> EthFrame | None:
    if len(frame) < ETH_HEADER_LEN:
        return None
    (ethertype,) = struct.unpack_from("!H", frame, 12)
    return EthFrame(bytes(frame[0:6]), bytes(frame[6:12]), ethertype, bytes(frame[ETH_HEADER_LEN:]))


def build_ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    if len(dst) != 6 or len(src) != 6:
        raise ValueError("MAC addresses must be 6 bytes")
    frame = dst + src + struct.pack("!H", ethertype) + payload
    return frame.ljust(ETH_MIN_FRAME, b"\x00")


# --------------------------------------------------------------------- ARP
@dataclass(frozen=True)
class ArpPacket:
    op: int
    sender_mac: bytes
    sender_ip: int
    target_mac: bytes
    target_ip: int


def parse_arp(data: bytes) -> ArpPacket | None:
    """Ethernet/IPv4 ARP only (htype 1, ptype 0x0800, hlen 6, plen 4), as FreeRTOS accepts."""
    if len(data) < ARP_LEN:
        return None
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", data)
    if htype != 1 or ptype != ETH_P_IP or hlen != 6 or plen != 4:
        return None
    sha, spa, tha, tpa = struct.unpack_from("!6sI6sI", data, 8)
    return ArpPacket(op, sha, spa, tha, tpa)


def build_arp(op: int, sender_mac: bytes, sender_ip: int, target_mac: bytes, target_ip: int) -> bytes:
    return struct.pack("!HHBBH6sI6sI", 1, ETH_P_IP, 6, 4, op, sender_mac, sender_ip, target_mac, target_ip)


# -------------------------------------------------------------------- IPv4
@dataclass(frozen=True)
class Ipv4Packet:
    src: int
    dst: int
    proto: int
    ttl: int
    ident: int
    flags: int            # 3 bits: reserved, DF, MF
    frag_offset: int      # in 8-byte units
    tos: int
    header_len: int
    total_len: int
    checksum: int
    checksum_ok: bool
    options: bytes
    payload: bytes        # trimmed to total_len, so Ethernet padding is gone

    @property
    def df(self) -> bool:
        return bool(self.flags & IP_FLAG_DF)

    @property
    def mf(self) -> bool:
        return bool(self.flags & IP_FLAG_MF)

    @property
    def is_fragment(self) -> bool:
        # The first fragment has MF set, the last a non-zero offset: both are fragments.
        return self.mf or self.frag_offset != 0


def parse_ipv4(data: bytes) -> Ipv4Packet | None:
    """None unless version 4, IHL >= 5 and the header and total length fit in ``data``."""
    if len(data) < IPV4_HEADER_LEN:
        return None
    vihl, tos, total_len, ident, frag, ttl, proto, checksum, src, dst = struct.unpack_from(
        "!BBHHHBBHII", data)
    header_len = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or header_len < IPV4_HEADER_LEN or header_len > len(data):
        return None
    if total_len < header_len or total_len > len(data):
        return None
    return Ipv4Packet(
        src=src, dst=dst, proto=proto, ttl=ttl, ident=ident, flags=frag >> 13,
        frag_offset=frag & 0x1FFF, tos=tos, header_len=header_len, total_len=total_len,
        checksum=checksum, checksum_ok=inet_checksum(bytes(data[:header_len])) == 0,
        options=bytes(data[IPV4_HEADER_LEN:header_len]), payload=bytes(data[header_len:total_len]))


def build_ipv4(src: int, dst: int, proto: int, payload: bytes, ident: int, ttl: int, df: bool = False,
               *, tos: int = 0, options: bytes = b"") -> bytes:
    if len(options) % 4 or len(options) > 40:
        raise ValueError("IPv4 options must be padded to 4 bytes and at most 40")
    header_len = IPV4_HEADER_LEN + len(options)
    frag = IP_FLAG_DF << 13 if df else 0
    header = struct.pack("!BBHHHBBHII", 0x40 | header_len // 4, tos, header_len + len(payload),
                         ident & 0xFFFF, frag, ttl, proto, 0, src, dst) + options
    checksum = inet_checksum(header)
    return header[:10] + struct.pack("!H", checksum) + header[12:] + payload


# -------------------------------------------------------------------- ICMP
@dataclass(frozen=True)
class IcmpMessage:
    type: int
    code: int
    checksum: int
    checksum_ok: bool
    ident: int            # meaningful for echo request/reply only
    seq: int
    payload: bytes


def parse_icmp(data: bytes) -> IcmpMessage | None:
    if len(data) < ICMP_HEADER_LEN:
        return None
    icmp_type, code, checksum, ident, seq = struct.unpack_from("!BBHHH", data)
    return IcmpMessage(icmp_type, code, checksum, inet_checksum(bytes(data)) == 0, ident, seq,
                       bytes(data[ICMP_HEADER_LEN:]))


def build_icmp_echo(icmp_type: int, ident: int, seq: int, payload: bytes, code: int = 0) -> bytes:
    header = struct.pack("!BBHHH", icmp_type, code, 0, ident & 0xFFFF, seq & 0xFFFF)
    checksum = inet_checksum(header + payload)
    return header[:2] + struct.pack("!H", checksum) + header[4:] + payload


def echo_reply_for(request: IcmpMessage) -> bytes:
    """FreeRTOS only flips the type, so code, id, sequence and data come back unchanged."""
    return build_icmp_echo(ICMP_ECHO_REPLY, request.ident, request.seq, request.payload, request.code)


# --------------------------------------------------------------------- TCP
@dataclass
class TcpOptions:
    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    sack_blocks: list[tuple[int, int]] = field(default_factory=list)
    timestamp: tuple[int, int] | None = None
    malformed: bool = False


def parse_tcp_options(raw: bytes) -> TcpOptions:
    """Walk the option list the way prvCheckOptions does.

    ``malformed`` follows FreeRTOS's reasons to reject a segment: a length byte
    below 2, an option running past the header, a kind with no room for its
    length byte, or an MSS/window-scale option of the wrong length. Options
    FreeRTOS merely skips (odd SACK lengths, odd timestamp lengths, unknown
    kinds) are not malformed; the unusable part is ignored.
    """
    opts = TcpOptions()
    i, n = 0, len(raw)
    while i < n:
        kind = raw[i]
        if kind == TCPOPT_EOL:
            break
        if kind == TCPOPT_NOP:
            i += 1
            continue
        if i + 1 >= n:
            opts.malformed = True
            break
        length = raw[i + 1]
        if length < 2 or i + length > n:
            opts.malformed = True
            break
        body = raw[i + 2:i + length]
        if kind == TCPOPT_MSS:
            if length != 4:
                opts.malformed = True
                break
            (opts.mss,) = struct.unpack("!H", body)
        elif kind == TCPOPT_WSCALE:
            if length != 3:
                opts.malformed = True
                break
            opts.wscale = body[0]
        elif kind == TCPOPT_SACK_PERMITTED:
            opts.sack_permitted = length == 2
        elif kind == TCPOPT_SACK:
            opts.sack_blocks = [struct.unpack_from("!II", body, k) for k in range(0, len(body) - 7, 8)]
        elif kind == TCPOPT_TIMESTAMP and length == 10:
            opts.timestamp = struct.unpack("!II", body)
        i += length
    return opts


@dataclass
class TcpSegment:
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int            # the 8 flag bits (CWR..FIN); see constants.TcpFlag
    window: int
    urgent: int
    header_len: int
    payload: bytes
    options: bytes        # raw option bytes, header_len - 20 of them
    checksum: int
    checksum_ok: bool
    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    sack_blocks: list[tuple[int, int]] = field(default_factory=list)
    timestamp: tuple[int, int] | None = None
    options_malformed: bool = False

    @property
    def seg_len(self) -> int:
        """Sequence space taken: payload plus one each for SYN and FIN."""
        return len(self.payload) + (self.flags & 0x02 != 0) + (self.flags & 0x01 != 0)


def tcp_checksum(src_ip: int, dst_ip: int, segment: bytes) -> int:
    """The checksum over pseudo-header + segment; 0 when the segment's own checksum is right."""
    return inet_checksum(_pseudo_header(src_ip, dst_ip, IPPROTO_TCP, len(segment)) + segment)


def parse_tcp(src_ip: int, dst_ip: int, data: bytes) -> TcpSegment | None:
    """``data`` is the IPv4 payload (already trimmed to the IP total length)."""
    if len(data) < TCP_HEADER_LEN:
        return None
    sport, dport, seq, ack, offset, flags, window, checksum, urgent = struct.unpack_from(
        "!HHIIBBHHH", data)
    header_len = (offset >> 4) * 4
    if header_len < TCP_HEADER_LEN or header_len > len(data):
        return None
    raw = bytes(data[TCP_HEADER_LEN:header_len])
    opts = parse_tcp_options(raw)
    return TcpSegment(
        sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=window, urgent=urgent,
        header_len=header_len, payload=bytes(data[header_len:]), options=raw, checksum=checksum,
        checksum_ok=tcp_checksum(src_ip, dst_ip, bytes(data)) == 0, mss=opts.mss, wscale=opts.wscale,
        sack_permitted=opts.sack_permitted, sack_blocks=opts.sack_blocks, timestamp=opts.timestamp,
        options_malformed=opts.malformed)


def build_tcp(src_ip: int, dst_ip: int, sport: int, dport: int, seq: int, ack: int, flags: int,
              window: int, options: bytes = b"", payload: bytes = b"", urgent: int = 0) -> bytes:
    """A TCP segment with a correct checksum; options are padded with EOL to a 4-byte multiple."""
    options = options + b"\x00" * (-len(options) % 4)
    if len(options) > TCP_MAX_OPTIONS:
        raise ValueError(f"{len(options)} bytes of TCP options (max {TCP_MAX_OPTIONS})")
    header_len = TCP_HEADER_LEN + len(options)
    segment = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                          (header_len // 4) << 4, flags & 0xFF, window, 0, urgent) + options + payload
    checksum = tcp_checksum(src_ip, dst_ip, segment)
    return segment[:16] + struct.pack("!H", checksum) + segment[18:]


def tcp_options(mss: int | None = None, wscale: int | None = None, sack_permitted: bool = False,
                sack_blocks: tuple[tuple[int, int], ...] | list[tuple[int, int]] = (),
                timestamp: tuple[int, int] | None = None, nop_layout: str = "freertos") -> bytes:
    """Option bytes in a given stack's layout (unpadded; build_tcp pads).

    ``freertos`` is prvSetSynAckOptions: MSS, NOP+WScale, NOP+NOP+SACK-permitted
    (``020405b4 01030300 01010402`` for MSS 1460, WS 0), then NOP+NOP+timestamp
    and NOP+NOP+SACK blocks. ``linux`` is a Linux SYN: MSS, SACK-permitted,
    timestamp, NOP, WScale. ``packed`` uses no NOPs at all.
    """
    mss_opt = struct.pack("!BBH", TCPOPT_MSS, 4, mss) if mss is not None else b""
    ws_opt = struct.pack("!BBB", TCPOPT_WSCALE, 3, wscale) if wscale is not None else b""
    sp_opt = struct.pack("!BB", TCPOPT_SACK_PERMITTED, 2) if sack_permitted else b""
    ts_opt = struct.pack("!BBII", TCPOPT_TIMESTAMP, 10, *timestamp) if timestamp is not None else b""
    sack_opt = b""
    if sack_blocks:
        sack_opt = struct.pack("!BB", TCPOPT_SACK, 2 + 8 * len(sack_blocks)) + b"".join(
            struct.pack("!II", left & 0xFFFFFFFF, right & 0xFFFFFFFF) for left, right in sack_blocks)

    def nops(count: int, opt: bytes) -> bytes:
        return b"\x01" * count + opt if opt else b""

    if nop_layout == "freertos":
        return (mss_opt + nops(1, ws_opt) + nops(2, sp_opt) + nops(2, ts_opt) + nops(2, sack_opt))
    if nop_layout == "linux":
        # tcp_options_write(): SACK-permitted shares the timestamp's NOP slot when both are present.
        if sp_opt and ts_opt:
            middle = sp_opt + ts_opt
        else:
            middle = nops(2, sp_opt) + nops(2, ts_opt)
        return mss_opt + middle + nops(1, ws_opt) + nops(2, sack_opt)
    if nop_layout == "packed":
        return mss_opt + ws_opt + sp_opt + ts_opt + sack_opt
    raise ValueError(f"unknown nop_layout {nop_layout!r}")
