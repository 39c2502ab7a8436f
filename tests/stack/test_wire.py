"""stack_under_test.wire against scapy, in both directions, plus never-raise properties."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, IPOption_RR
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw
from wirekit import HARNESS_IP, HARNESS_MAC, LINUX_SYN_OPTIONS, STACK_IP, STACK_MAC, checksums_ok

from stack_under_test import wire
from stack_under_test.constants import TcpFlag

H_IP = wire.ip_to_int(HARNESS_IP)
S_IP = wire.ip_to_int(STACK_IP)
H_MAC = wire.mac_to_bytes(HARNESS_MAC)
S_MAC = wire.mac_to_bytes(STACK_MAC)


# ------------------------------------------------------------------ addresses, checksum
def test_address_helpers_round_trip() -> None:
    assert wire.ip_to_int("198.18.0.2") == 0xC6120002
    assert wire.int_to_ip(0xC6120002) == "198.18.0.2"
    assert wire.mac_to_bytes("02:74:63:68:00:02") == bytes.fromhex("027463680002")
    assert wire.bytes_to_mac(bytes.fromhex("027463680002")) == "02:74:63:68:00:02"
    with pytest.raises(ValueError):
        wire.mac_to_bytes("02:74:63")


def test_inet_checksum_rfc1071_example() -> None:
    # RFC 1071 section 3: these words sum to 0xddf2, so the checksum is its complement.
    assert wire.inet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    # An odd trailing byte is padded with zero on the right.
    assert wire.inet_checksum(b"\x01") == wire.inet_checksum(b"\x01\x00") == 0xFEFF


@given(st.binary(max_size=300).map(lambda b: b + b"\x00" * (len(b) % 2)))
def test_inet_checksum_verifies_to_zero(data: bytes) -> None:
    with_sum = data + struct.pack("!H", wire.inet_checksum(data))
    assert wire.inet_checksum(with_sum) == 0


# --------------------------------------------------------------------------- Ethernet
def test_parse_ethernet_from_scapy() -> None:
    raw = bytes(Ether(src=HARNESS_MAC, dst=STACK_MAC, type=0x88B5) / Raw(b"x" * 50))
    eth = wire.parse_ethernet(raw)
    assert eth is not None
    assert (eth.dst, eth.src, eth.ethertype, eth.payload) == (S_MAC, H_MAC, 0x88B5, b"x" * 50)
    assert wire.parse_ethernet(raw[:13]) is None


def test_build_ethernet_pads_to_60_and_scapy_agrees() -> None:
    raw = wire.build_ethernet(S_MAC, H_MAC, wire.ETH_P_ARP, b"abc")
    assert len(raw) == 60 and raw[17:] == b"\x00" * 43
    pkt = Ether(raw)
    assert (pkt.dst, pkt.src, pkt.type) == (STACK_MAC, HARNESS_MAC, 0x0806)
    big = wire.build_ethernet(S_MAC, H_MAC, 0x0800, b"y" * 100)
    assert len(big) == 114, "frames above the minimum are not padded"


# -------------------------------------------------------------------------------- ARP
@pytest.mark.parametrize("op", [1, 2])
def test_parse_arp_from_scapy(op: int) -> None:
    raw = bytes(ARP(op=op, hwsrc=HARNESS_MAC, psrc=HARNESS_IP, hwdst=STACK_MAC, pdst=STACK_IP))
    arp = wire.parse_arp(raw)
    assert arp == wire.ArpPacket(op, H_MAC, H_IP, S_MAC, S_IP)


def test_build_arp_parsed_by_scapy() -> None:
    raw = wire.build_arp(wire.ARP_REQUEST, S_MAC, S_IP, wire.ZERO_MAC, H_IP)
    pkt = ARP(raw)
    assert (pkt.hwtype, pkt.ptype, pkt.hwlen, pkt.plen, pkt.op) == (1, 0x0800, 6, 4, 1)
    assert (pkt.hwsrc, pkt.psrc) == (STACK_MAC, STACK_IP)
    assert (pkt.hwdst, pkt.pdst) == ("00:00:00:00:00:00", HARNESS_IP)


def test_parse_arp_rejects_other_hardware_and_short() -> None:
    good = bytes(ARP(op=1, hwsrc=HARNESS_MAC, psrc=HARNESS_IP, pdst=STACK_IP))
    assert wire.parse_arp(good[:27]) is None
    assert wire.parse_arp(b"\x00\x06" + good[2:]) is None          # IEEE 802 hardware type
    assert wire.parse_arp(good[:4] + b"\x08" + good[5:]) is None   # hlen 8


# ------------------------------------------------------------------------------- IPv4
def test_parse_ipv4_from_scapy_every_field() -> None:
    ip = IP(src=HARNESS_IP, dst=STACK_IP, ttl=61, id=0xBEEF, flags="DF", tos=0x10, proto=6,
            options=[IPOption_RR(routers=["198.18.0.9"])]) / Raw(b"p" * 30)
    raw = bytes(ip) + b"\x00" * 6          # trailing Ethernet padding must be trimmed off
    pkt = wire.parse_ipv4(raw)
    ref = IP(raw)
    assert pkt is not None
    assert (pkt.src, pkt.dst, pkt.proto, pkt.ttl, pkt.ident, pkt.tos) == (H_IP, S_IP, 6, 61, 0xBEEF, 0x10)
    assert pkt.flags == int(ref.flags) and pkt.df and not pkt.mf and not pkt.is_fragment
    assert pkt.header_len == ref.ihl * 4 > 20 and pkt.total_len == ref.len
    assert pkt.options == raw[20:pkt.header_len]
    assert pkt.payload == b"p" * 30
    assert pkt.checksum == ref.chksum and pkt.checksum_ok


def test_build_ipv4_parsed_by_scapy() -> None:
    # Protocol 253 (experimental) so scapy keeps the payload raw and checks only the IP header.
    raw = wire.build_ipv4(S_IP, H_IP, 253, b"q" * 25, ident=7, ttl=128)
    ref = IP(raw)
    assert (ref.version, ref.ihl, ref.len, ref.id, ref.ttl, ref.proto) == (4, 5, 45, 7, 128, 253)
    assert (ref.src, ref.dst, int(ref.flags), ref.frag) == (STACK_IP, HARNESS_IP, 0, 0)
    assert checksums_ok(bytes(Ether() / ref))
    assert IP(wire.build_ipv4(S_IP, H_IP, 253, b"", ident=0, ttl=64, df=True)).flags == "DF"
    with_opts = wire.build_ipv4(S_IP, H_IP, 253, b"z", ident=1, ttl=64, options=b"\x01\x01\x01\x00")
    assert IP(with_opts).ihl == 6 and checksums_ok(bytes(Ether() / IP(with_opts)))


def test_ipv4_bad_checksum_is_flagged_not_rejected() -> None:
    raw = bytearray(bytes(IP(src=HARNESS_IP, dst=STACK_IP) / Raw(b"x")))
    raw[10] ^= 0xFF
    pkt = wire.parse_ipv4(bytes(raw))
    assert pkt is not None and not pkt.checksum_ok


@pytest.mark.parametrize("flags,frag,expected", [("MF", 0, True), ("", 5, True), ("MF", 5, True),
                                                 ("DF", 0, False), ("", 0, False)])
def test_ipv4_is_fragment(flags: str, frag: int, expected: bool) -> None:
    pkt = wire.parse_ipv4(bytes(IP(src=HARNESS_IP, dst=STACK_IP, flags=flags, frag=frag) / Raw(b"x" * 8)))
    assert pkt is not None and pkt.is_fragment is expected and pkt.frag_offset == frag


def test_parse_ipv4_rejects_bad_headers() -> None:
    good = bytes(IP(src=HARNESS_IP, dst=STACK_IP) / Raw(b"x" * 8))
    assert wire.parse_ipv4(good) is not None
    assert wire.parse_ipv4(good[:19]) is None
    assert wire.parse_ipv4(b"\x65" + good[1:]) is None                  # version 6
    assert wire.parse_ipv4(b"\x44" + good[1:]) is None                  # IHL 4
    assert wire.parse_ipv4(b"\x4f" + good[1:]) is None                  # IHL 15: 60 > 28 bytes
    assert wire.parse_ipv4(good[:2] + struct.pack("!H", 29) + good[4:]) is None   # longer than data
    assert wire.parse_ipv4(good[:2] + struct.pack("!H", 19) + good[4:]) is None   # shorter than header


# ------------------------------------------------------------------------------- ICMP
def test_parse_icmp_from_scapy() -> None:
    raw = bytes(ICMP(type=8, id=0x4242, seq=9) / Raw(b"abcdefgh"))
    msg = wire.parse_icmp(raw)
    assert msg is not None
    assert (msg.type, msg.code, msg.ident, msg.seq, msg.payload) == (8, 0, 0x4242, 9, b"abcdefgh")
    assert msg.checksum == ICMP(raw).chksum and msg.checksum_ok
    corrupt = raw[:-1] + b"i"
    assert not wire.parse_icmp(corrupt).checksum_ok
    assert wire.parse_icmp(raw[:7]) is None


def test_echo_reply_keeps_id_seq_payload() -> None:
    request = wire.parse_icmp(bytes(ICMP(type=8, id=77, seq=3) / Raw(b"odd")))
    reply = ICMP(wire.echo_reply_for(request))
    assert (reply.type, reply.code, reply.id, reply.seq, bytes(reply.payload)) == (0, 0, 77, 3, b"odd")
    assert checksums_ok(bytes(Ether() / IP(src=STACK_IP, dst=HARNESS_IP) / reply))


# -------------------------------------------------------------------------------- TCP
SCAPY_OPTION_CASES = {
    "none": [],
    "linux_syn": LINUX_SYN_OPTIONS,
    "mss_only": [("MSS", 536)],
    "freertos_syn": [("MSS", 1460), ("NOP", None), ("WScale", 0), ("NOP", None), ("NOP", None),
                     ("SAckOK", b"")],
    "sack_two_blocks": [("NOP", None), ("NOP", None), ("SAck", (5000, 6000, 7000, 8000))],
    "timestamp": [("NOP", None), ("NOP", None), ("Timestamp", (123456789, 42))],
}


def _scapy_option(options: list, name: str) -> object:
    return next((value for kind, value in options if kind == name), None)


@pytest.mark.parametrize("case", sorted(SCAPY_OPTION_CASES))
def test_parse_tcp_from_scapy_every_field(case: str) -> None:
    options = SCAPY_OPTION_CASES[case]
    tcp = TCP(sport=40000, dport=7000, seq=0xFFFFFFF0, ack=123, flags="PA", window=29200, urgptr=5,
              options=options) / Raw(b"hello world")
    raw = bytes(IP(src=HARNESS_IP, dst=STACK_IP) / tcp)[20:]
    ref = TCP(raw)
    seg = wire.parse_tcp(H_IP, S_IP, raw)
    assert seg is not None
    assert (seg.sport, seg.dport, seg.seq, seg.ack) == (40000, 7000, 0xFFFFFFF0, 123)
    assert seg.flags == int(ref.flags) == TcpFlag.PSH | TcpFlag.ACK
    assert (seg.window, seg.urgent, seg.header_len) == (29200, 5, ref.dataofs * 4)
    assert seg.options == raw[20:seg.header_len]
    assert seg.payload == b"hello world" and seg.seg_len == 11
    assert seg.checksum == ref.chksum and seg.checksum_ok
    assert not seg.options_malformed
    assert seg.mss == _scapy_option(options, "MSS")
    assert seg.wscale == _scapy_option(options, "WScale")
    assert seg.sack_permitted == (_scapy_option(options, "SAckOK") is not None)
    assert seg.timestamp == _scapy_option(options, "Timestamp")
    sack = _scapy_option(options, "SAck") or ()
    assert seg.sack_blocks == list(zip(sack[::2], sack[1::2], strict=True))


def test_parse_tcp_flags_wrong_checksum_and_pseudo_header() -> None:
    raw = bytes(IP(src=HARNESS_IP, dst=STACK_IP) / TCP(flags="S"))[20:]
    assert wire.parse_tcp(H_IP, S_IP, raw).checksum_ok
    # The same bytes claimed from another address fail: the pseudo-header is covered.
    assert not wire.parse_tcp(H_IP + 1, S_IP, raw).checksum_ok
    assert not wire.parse_tcp(H_IP, S_IP, raw[:16] + b"\x00\x00" + raw[18:]).checksum_ok


def test_parse_tcp_rejects_unreadable_headers() -> None:
    raw = bytes(IP(src=HARNESS_IP, dst=STACK_IP) / TCP(options=[("MSS", 1460)]))[20:]
    assert wire.parse_tcp(H_IP, S_IP, raw[:19]) is None
    assert wire.parse_tcp(H_IP, S_IP, raw[:23]) is None                  # data offset 6 > 23 bytes
    assert wire.parse_tcp(H_IP, S_IP, raw[:12] + b"\x40" + raw[13:]) is None   # data offset 4


@pytest.mark.parametrize("payload,options", [
    (b"", wire.tcp_options(mss=1460, wscale=0, sack_permitted=True)),
    (b"data" * 100, b""),
    (b"x", wire.tcp_options(sack_blocks=[(1000, 2460)])),
    (b"", wire.tcp_options(mss=1400, wscale=3, sack_permitted=True, timestamp=(1, 2), nop_layout="linux")),
    (b"", b"\x02\x04\x05\xb4\x01"),                                     # needs EOL padding
])
def test_build_tcp_parsed_by_scapy(payload: bytes, options: bytes) -> None:
    raw = wire.build_tcp(S_IP, H_IP, 7000, 40000, 0xFFFFFFFF + 5, 2**32 + 9,
                         TcpFlag.SYN | TcpFlag.ACK, 2920, options=options, payload=payload, urgent=0)
    frame = bytes(Ether() / IP(src=STACK_IP, dst=HARNESS_IP) / TCP(raw))
    assert checksums_ok(frame)
    ref = Ether(frame)[TCP]
    assert (ref.sport, ref.dport, ref.seq, ref.ack, ref.window) == (7000, 40000, 4, 9, 2920)
    assert ref.flags == "SA"
    padded = options + b"\x00" * (-len(options) % 4)
    assert ref.dataofs * 4 == 20 + len(padded) and raw[20:20 + len(padded)] == padded
    assert bytes(ref.payload) == payload
    seg = wire.parse_tcp(S_IP, H_IP, raw)
    assert seg.checksum_ok and seg.payload == payload and not seg.options_malformed


def test_freertos_syn_option_layout_is_exact() -> None:
    opts = wire.tcp_options(mss=1460, wscale=0, sack_permitted=True)
    assert opts.hex() == "020405b4" "01030300" "01010402"
    parsed = TCP(wire.build_tcp(S_IP, H_IP, 1, 2, 0, 0, TcpFlag.SYN, 2920, options=opts)).options
    assert parsed == [("MSS", 1460), ("NOP", None), ("WScale", 0), ("NOP", None), ("NOP", None),
                      ("SAckOK", b"")]
    assert wire.tcp_options(mss=536).hex() == "02040218"


def test_sack_block_option_bytes() -> None:
    opts = wire.tcp_options(sack_blocks=[(0x01020304, 0x05060708)])
    assert opts == bytes.fromhex("0101050a" "01020304" "05060708")
    assert TCP(wire.build_tcp(S_IP, H_IP, 1, 2, 0, 0, TcpFlag.ACK, 100, options=opts)).options[2] == (
        "SAck", (0x01020304, 0x05060708))


@pytest.mark.parametrize("raw", [
    b"\x02\x00\x05\xb4",              # length 0
    b"\x08\x01\x00\x00",              # length 1
    b"\x08\x0a\x00\x00",              # runs past the header
    b"\x01\x01\x01\x02",              # kind with no room for its length byte
    b"\x02\x03\x05\x00",              # MSS of length 3
    b"\x02\x05\x05\xb4\x00\x00\x00\x00",  # MSS of length 5
    b"\x03\x04\x07\x00",              # window scale of length 4
])
def test_malformed_options_are_flagged(raw: bytes) -> None:
    seg = wire.parse_tcp(H_IP, S_IP, wire.build_tcp(H_IP, S_IP, 1, 2, 0, 0, TcpFlag.SYN, 100, options=raw))
    assert seg is not None and seg.options_malformed


def test_options_freertos_only_skips_are_not_malformed() -> None:
    unknown_kind = b"\x1e\x04\xaa\xbb"
    odd_sack = b"\x05\x0e" + struct.pack("!IIHH", 1, 2, 3, 4)       # one block + 4 spare bytes
    after_eol = b"\x02\x04\x05\xb4\x00\x02\x00\x00"                   # garbage after EOL is ignored
    seg = wire.parse_tcp(H_IP, S_IP, wire.build_tcp(H_IP, S_IP, 1, 2, 0, 0, TcpFlag.ACK, 100,
                                                    options=unknown_kind + odd_sack + b"\x00\x00"))
    assert not seg.options_malformed and seg.sack_blocks == [(1, 2)]
    syn = wire.build_tcp(H_IP, S_IP, 1, 2, 0, 0, TcpFlag.SYN, 100, options=after_eol)
    seg = wire.parse_tcp(H_IP, S_IP, syn)
    assert not seg.options_malformed and seg.mss == 1460


def test_build_tcp_refuses_oversized_options() -> None:
    with pytest.raises(ValueError):
        wire.build_tcp(S_IP, H_IP, 1, 2, 0, 0, TcpFlag.ACK, 100, options=b"\x01" * 41)


@settings(max_examples=200, deadline=None)
@given(sport=st.integers(0, 0xFFFF), dport=st.integers(0, 0xFFFF), seq=st.integers(0, 2**32 - 1),
       ack=st.integers(0, 2**32 - 1), flags=st.integers(0, 0xFF), window=st.integers(0, 0xFFFF),
       mss=st.none() | st.integers(0, 0xFFFF), wscale=st.none() | st.integers(0, 14),
       sack_permitted=st.booleans(), payload=st.binary(max_size=64),
       blocks=st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)), max_size=2))
def test_build_parse_round_trip(sport: int, dport: int, seq: int, ack: int, flags: int, window: int,
                                mss: int | None, wscale: int | None, sack_permitted: bool, payload: bytes,
                                blocks: list[tuple[int, int]]) -> None:
    opts = wire.tcp_options(mss=mss, wscale=wscale, sack_permitted=sack_permitted, sack_blocks=blocks)
    raw = wire.build_tcp(S_IP, H_IP, sport, dport, seq, ack, flags, window, options=opts, payload=payload)
    seg = wire.parse_tcp(S_IP, H_IP, raw)
    assert (seg.sport, seg.dport, seg.seq, seg.ack, seg.flags, seg.window) == (sport, dport, seq, ack,
                                                                               flags, window)
    assert (seg.mss, seg.wscale, seg.sack_permitted, seg.sack_blocks) == (mss, wscale, sack_permitted, blocks)
    assert seg.payload == payload and seg.checksum_ok and not seg.options_malformed
    # scapy agrees on the checksum of every one of them
    assert checksums_ok(bytes(Ether() / IP(src=STACK_IP, dst=HARNESS_IP) / TCP(raw)))


# ------------------------------------------------------------------- never raise
@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=120))
def test_parsers_never_raise_on_random_bytes(data: bytes) -> None:
    eth = wire.parse_ethernet(data)
    assert eth is None or len(eth.src) == 6
    wire.parse_arp(data)
    pkt = wire.parse_ipv4(data)
    assert pkt is None or pkt.total_len <= len(data)
    wire.parse_icmp(data)
    seg = wire.parse_tcp(H_IP, S_IP, data)
    assert seg is None or 20 <= seg.header_len <= len(data)
    opts = wire.parse_tcp_options(data)
    assert opts.mss is None or 0 <= opts.mss <= 0xFFFF


@settings(max_examples=300, deadline=None)
@given(options=st.binary(max_size=40), payload=st.binary(max_size=20))
def test_parse_tcp_never_raises_on_random_options(options: bytes, payload: bytes) -> None:
    raw = wire.build_tcp(H_IP, S_IP, 1, 2, 3, 4, TcpFlag.ACK, 100, options=options, payload=payload)
    seg = wire.parse_tcp(H_IP, S_IP, raw)
    assert seg is not None and seg.checksum_ok and seg.payload == payload
