"""NetIf: ARP, IPv4 checks, ICMP echo and the hand-off to TCP, driven with scapy frames."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR
from scapy.layers.l2 import ARP, LLC, Dot3, Ether
from scapy.packet import Raw
from wirekit import (
    BROADCAST,
    GATEWAY_IP,
    GATEWAY_MAC,
    HARNESS_IP,
    HARNESS_MAC,
    LINUX_SYN_OPTIONS,
    OTHER_LOCAL_IP,
    REMOTE_IP,
    STACK_IP,
    STACK_MAC,
    NetRig,
    arp_frame,
    arp_reply_to_stack,
    arp_request_for_stack,
    checksums_ok,
    icmp_echo_frame,
    ipv4_frame,
    tcp_frame,
)

from stack_under_test import Stack, StackConfig, wire
from stack_under_test.netif import ARP_HOLD_TIME, ARP_QUEUE_LEN, NetIf

H_IP = wire.ip_to_int(HARNESS_IP)
S_IP = wire.ip_to_int(STACK_IP)
OTHER = wire.ip_to_int(OTHER_LOCAL_IP)
REMOTE = wire.ip_to_int(REMOTE_IP)
RECORD_ROUTE = IPOption_RR(routers=["198.18.0.9"])


# ------------------------------------------------------------------------------ ARP
def test_arp_request_for_us_is_answered_and_requester_learned(rig: NetRig) -> None:
    rig.rx(arp_request_for_stack(), now=1.25)
    [(t, reply)] = rig.pop()
    assert t == 1.25
    assert (reply.dst, reply.src, reply.type) == (HARNESS_MAC, STACK_MAC, 0x0806)
    arp = reply[ARP]
    assert (arp.op, arp.hwsrc, arp.psrc, arp.hwdst, arp.pdst) == (2, STACK_MAC, STACK_IP, HARNESS_MAC,
                                                                  HARNESS_IP)
    assert len(bytes(reply)) == 60
    assert rig.netif.arp_lookup(H_IP, 1.25) == wire.mac_to_bytes(HARNESS_MAC)
    assert rig.counters["arp_replied"] == 1


def test_arp_request_for_someone_else_is_ignored(rig: NetRig) -> None:
    rig.rx(arp_frame(1, pdst=OTHER_LOCAL_IP))
    assert rig.pop() == []
    assert rig.counters["arp_ignored"] == 1
    assert rig.netif.arp_lookup(H_IP, 0.0) is None, "no learning from requests not for us"


@pytest.mark.parametrize("frame,counter", [
    (arp_frame(1, hwsrc=STACK_MAC, eth_src=HARNESS_MAC), "arp_ignored"),     # claims our own MAC
    (arp_frame(1, psrc=STACK_IP, hwsrc="02:00:00:00:00:09"), "arp_ip_clash"),
    (arp_frame(2, hwsrc="01:00:5e:00:00:01", eth_src=HARNESS_MAC), "arp_bad_sender"),
    (arp_frame(1, psrc="127.0.0.1"), "arp_bad_sender"),
    (arp_frame(3), "arp_bad_op"),
])
def test_arp_oddities_are_counted_without_reply(rig: NetRig, frame: bytes, counter: str) -> None:
    rig.rx(frame)
    assert rig.pop() == []
    assert rig.counters[counter] == 1
    assert rig.netif.arp_entries(0.0) == {}


def test_arp_reply_learned_only_if_aimed_at_us_or_already_cached(rig: NetRig) -> None:
    rig.rx(arp_frame(2, hwsrc=GATEWAY_MAC, psrc=OTHER_LOCAL_IP, hwdst="02:00:00:00:00:33",
                     pdst="198.18.0.33", eth_dst=BROADCAST))
    assert rig.netif.arp_lookup(OTHER, 0.0) is None and rig.counters["arp_ignored"] == 1
    rig.rx(arp_reply_to_stack(hwsrc=GATEWAY_MAC, psrc=OTHER_LOCAL_IP))
    assert rig.netif.arp_lookup(OTHER, 0.0) == wire.mac_to_bytes(GATEWAY_MAC)
    # Once cached, even a reply aimed elsewhere refreshes it (xIsIPInARPCache).
    rig.rx(arp_frame(2, hwsrc=HARNESS_MAC, psrc=OTHER_LOCAL_IP, pdst="198.18.0.33", eth_dst=BROADCAST))
    assert rig.netif.arp_lookup(OTHER, 0.0) == wire.mac_to_bytes(HARNESS_MAC)


def test_arp_from_off_subnet_sender_is_answered_but_not_cached(rig: NetRig) -> None:
    rig.rx(arp_request_for_stack(psrc=REMOTE_IP))
    [(_, reply)] = rig.pop()
    assert reply[ARP].pdst == REMOTE_IP
    assert rig.netif.arp_entries(0.0) == {}


def test_gratuitous_arp_refreshes_only_existing_entries(rig: NetRig) -> None:
    rig.rx(arp_frame(1, psrc=HARNESS_IP, pdst=HARNESS_IP))
    assert rig.netif.arp_entries(0.0) == {} and rig.counters["arp_ignored"] == 1
    rig.learn_harness(0.0)
    rig.rx(arp_frame(1, hwsrc=GATEWAY_MAC, psrc=HARNESS_IP, pdst=HARNESS_IP), now=1.0)
    assert rig.netif.arp_lookup(H_IP, 1.0) == wire.mac_to_bytes(GATEWAY_MAC)
    assert rig.counters["arp_gratuitous"] == 1 and rig.pop() == []


# ----------------------------------------------------------------- send_ipv4 / resolve
def test_send_queues_then_flushes_on_reply(rig: NetRig) -> None:
    for i in range(3):
        rig.netif.send_ipv4(H_IP, 253, b"pkt%d" % i, now=0.0)
    [(t, req)] = rig.pop()
    assert t == 0.0 and req.dst == BROADCAST and req.src == STACK_MAC
    assert (req[ARP].op, req[ARP].psrc, req[ARP].pdst, req[ARP].hwdst) == (1, STACK_IP, HARNESS_IP,
                                                                           "00:00:00:00:00:00")
    assert rig.netif.next_deadline() == 0.5
    rig.rx(arp_reply_to_stack(), now=0.2)
    out = rig.pop()
    assert [t for t, _ in out] == [0.2, 0.2, 0.2]
    for i, (_, frame) in enumerate(out):
        ip = frame[IP]
        assert (frame.dst, frame.src) == (HARNESS_MAC, STACK_MAC)
        assert (ip.src, ip.dst, ip.proto, ip.ttl) == (STACK_IP, HARNESS_IP, 253, 128)
        assert (ip.id, int(ip.flags), ip.frag) == (i, 0, 0)
        assert ip[Raw].load == b"pkt%d" % i and checksums_ok(bytes(frame))
    assert rig.netif.next_deadline() is None


def test_queue_is_bounded(rig: NetRig) -> None:
    for i in range(ARP_QUEUE_LEN + 2):
        rig.netif.send_ipv4(H_IP, 253, bytes([i]), now=0.0)
    assert rig.counters["arp_queue_full"] == 2
    rig.pop()
    rig.rx(arp_reply_to_stack(), now=0.1)
    assert [f[IP].id for _, f in rig.pop()] == list(range(ARP_QUEUE_LEN))


def test_resolution_retries_every_500ms_then_gives_up(rig: NetRig) -> None:
    rig.netif.send_ipv4(OTHER, 253, b"lost", now=10.0)
    rig.netif.send_ipv4(OTHER, 253, b"lost too", now=10.1)
    deadlines = []
    while (due := rig.netif.next_deadline()) is not None:
        deadlines.append(due)
        rig.netif.advance(due)
    out = rig.pop()
    assert [t for t, _ in out] == [10.0, 10.5, 11.0]
    assert all(f[ARP].op == 1 and f[ARP].pdst == OTHER_LOCAL_IP for _, f in out)
    assert deadlines == [10.5, 11.0, 11.5]
    assert rig.counters["arp_resolution_failed"] == 1 and rig.counters["arp_queue_dropped"] == 2
    rig.rx(arp_reply_to_stack(psrc=OTHER_LOCAL_IP), now=12.0)
    assert rig.pop() == [], "a late reply finds nothing queued"


def test_advance_runs_each_retry_at_its_own_instant(rig: NetRig) -> None:
    rig.netif.send_ipv4(OTHER, 253, b"x", now=0.0)
    rig.netif.advance(5.0)
    assert [t for t, _ in rig.pop()] == [0.0, 0.5, 1.0]
    assert rig.counters["arp_resolution_failed"] == 1


def test_off_subnet_goes_via_gateway(make_rig: Callable[..., NetRig]) -> None:
    rig = make_rig(gateway=GATEWAY_IP)
    rig.netif.send_ipv4(REMOTE, 6, b"\x00" * 20, now=0.0)
    [(_, req)] = rig.pop()
    assert req[ARP].pdst == GATEWAY_IP
    rig.rx(arp_reply_to_stack(hwsrc=GATEWAY_MAC, psrc=GATEWAY_IP), now=0.01)
    [(_, frame)] = rig.pop()
    assert frame.dst == GATEWAY_MAC and frame[IP].dst == REMOTE_IP
    assert rig.netif.arp_lookup(REMOTE, 0.02) == wire.mac_to_bytes(GATEWAY_MAC)
    assert not rig.netif.is_local(REMOTE) and rig.netif.is_local(OTHER)


def test_no_gateway_drops_without_using_an_ip_id(rig: NetRig) -> None:
    rig.netif.send_ipv4(REMOTE, 6, b"", now=0.0)
    rig.netif.arp_request(REMOTE, now=0.0)
    assert rig.pop() == [] and rig.counters["ip_no_route"] == 2
    assert rig.netif.ip_id == 0


def test_ip_id_is_one_global_counter_and_wraps(rig: NetRig) -> None:
    rig.learn_harness()
    rig.rx(arp_reply_to_stack(psrc=OTHER_LOCAL_IP, hwsrc=GATEWAY_MAC))
    rig.netif.ip_id = 0xFFFE
    for dst in (H_IP, OTHER, H_IP):
        rig.netif.send_ipv4(dst, 253, b"", now=0.0)
    assert [f[IP].id for _, f in rig.pop()] == [0xFFFE, 0xFFFF, 0]


def test_arp_request_and_lookup_for_tcp_connect(make_rig: Callable[..., NetRig]) -> None:
    rig = make_rig(gateway=GATEWAY_IP)
    assert rig.netif.arp_lookup(H_IP, 0.0) is None
    rig.netif.arp_request(H_IP, 0.0)
    rig.netif.arp_request(REMOTE, 0.5)
    out = rig.pop()
    assert [(t, f[ARP].pdst) for t, f in out] == [(0.0, HARNESS_IP), (0.5, GATEWAY_IP)]
    assert rig.netif.next_deadline() is None, "the caller owns retries of arp_request"


def test_cache_expires_after_arp_cache_age(make_rig: Callable[..., NetRig]) -> None:
    rig = make_rig(arp_cache_age=30.0)
    rig.learn_harness(now=1.0)
    assert rig.netif.arp_lookup(H_IP, 30.999) is not None
    assert rig.netif.arp_lookup(H_IP, 31.0) is None
    rig.netif.send_ipv4(H_IP, 253, b"", now=31.0)
    [(_, req)] = rig.pop()
    assert ARP in req and req[ARP].pdst == HARNESS_IP


def test_cache_replaces_least_recently_refreshed(make_rig: Callable[..., NetRig]) -> None:
    rig = make_rig(arp_cache_entries=2)
    rig.rx(arp_request_for_stack(psrc="198.18.0.11", hwsrc="02:00:00:00:00:11"), now=0.0)
    rig.rx(arp_request_for_stack(psrc="198.18.0.12", hwsrc="02:00:00:00:00:12"), now=1.0)
    rig.rx(arp_request_for_stack(psrc="198.18.0.11", hwsrc="02:00:00:00:00:11"), now=2.0)   # refresh .11
    rig.rx(arp_request_for_stack(psrc="198.18.0.13", hwsrc="02:00:00:00:00:13"), now=3.0)
    assert sorted(wire.int_to_ip(ip) for ip in rig.netif.arp_entries(3.0)) == ["198.18.0.11", "198.18.0.13"]


# --------------------------------------------------------------------------- ICMP echo
def test_icmp_echo_request_is_answered(rig: NetRig) -> None:
    rig.learn_harness()
    rig.rx(icmp_echo_frame(ident=0xABCD, seq=7, payload=b"0123456789" * 5, id=4321, tos=0x20), now=2.0)
    [(t, frame)] = rig.pop()
    assert t == 2.0 and (frame.dst, frame.src) == (HARNESS_MAC, STACK_MAC)
    ip, icmp = frame[IP], frame[ICMP]
    assert (ip.src, ip.dst, ip.ttl, ip.id, ip.tos, int(ip.flags)) == (STACK_IP, HARNESS_IP, 64, 4321, 0x20, 0)
    assert (icmp.type, icmp.code, icmp.id, icmp.seq) == (0, 0, 0xABCD, 7)
    assert bytes(icmp.payload) == b"0123456789" * 5
    assert checksums_ok(bytes(frame))
    assert rig.netif.ip_id == 0, "an echo reply reuses the request's IP ID"
    assert rig.counters["icmp_echo_replied"] == 1


def test_icmp_with_bad_checksum_or_other_type_gets_nothing(rig: NetRig) -> None:
    rig.learn_harness()
    rig.rx(ipv4_frame(ICMP(type=8, chksum=0x1234) / b"data"))
    rig.rx(icmp_echo_frame(icmp_type=0))
    rig.rx(ipv4_frame(ICMP(type=13)))
    assert rig.pop() == []
    assert rig.counters["icmp_bad_checksum"] == 1 and rig.counters["icmp_ignored"] == 2


def test_icmp_with_ip_options_is_answered_without_them(rig: NetRig) -> None:
    rig.learn_harness()
    rig.rx(icmp_echo_frame(options=[RECORD_ROUTE]))
    [(_, frame)] = rig.pop()
    assert frame[IP].ihl == 5 and frame[ICMP].type == 0 and checksums_ok(bytes(frame))
    assert rig.counters["ip_options_skipped"] == 1


# ------------------------------------------------------------------------ IPv4 input
def test_tcp_is_handed_over_with_frame_length(rig: NetRig) -> None:
    rig.learn_harness()
    frame = tcp_frame(options=LINUX_SYN_OPTIONS, payload=b"hi")
    rig.rx(frame, now=3.5)
    [d] = rig.delivered
    assert (d.src, d.dst, d.frame_len, d.now) == (H_IP, S_IP, len(frame), 3.5)
    seg = wire.parse_tcp(d.src, d.dst, d.data)
    assert seg.checksum_ok and seg.payload == b"hi" and seg.mss == 1460


def test_ethernet_padding_is_trimmed_but_frame_length_kept(rig: NetRig) -> None:
    rig.learn_harness()
    frame = tcp_frame(flags="S")                     # 54 bytes
    padded = frame + b"\xee" * 6
    rig.rx(padded)
    [d] = rig.delivered
    assert d.data == frame[34:] and d.frame_len == 60


def test_ip_options_are_skipped(rig: NetRig) -> None:
    rig.learn_harness()
    rig.rx(ipv4_frame(TCP(sport=1, dport=2, flags="PA") / b"opt", options=[RECORD_ROUTE]))
    [d] = rig.delivered
    assert d.data[20:] == b"opt" and rig.counters["ip_options_skipped"] == 1


@pytest.mark.parametrize("ip_fields", [{"flags": "MF"}, {"frag": 185}, {"flags": "MF", "frag": 1}])
def test_fragments_are_dropped(rig: NetRig, ip_fields: dict) -> None:
    rig.learn_harness()
    rig.rx(ipv4_frame(TCP(flags="PA") / (b"z" * 40), **ip_fields))
    rig.rx(ipv4_frame(ICMP(type=8) / b"ping", **ip_fields))
    assert rig.delivered == [] and rig.pop() == []
    assert rig.counters["ip_fragment"] == 2


def test_bad_ip_header_checksum_is_dropped(rig: NetRig) -> None:
    rig.learn_harness()
    rig.rx(tcp_frame(chksum=0xDEAD))
    rig.rx(icmp_echo_frame(chksum=0xDEAD))
    assert rig.delivered == [] and rig.pop() == []
    assert rig.counters["ip_bad_checksum"] == 2


def test_bad_tcp_checksum_is_dropped_before_any_arp(rig: NetRig) -> None:
    rig.rx(ipv4_frame(TCP(flags="S", chksum=0xBAD)))
    assert rig.delivered == [] and rig.pop() == []
    assert rig.counters["tcp_bad_checksum"] == 1


@pytest.mark.parametrize("frame,counter", [
    (tcp_frame(eth_dst="02:00:00:00:00:99"), "eth_not_for_us"),
    (tcp_frame(dst=OTHER_LOCAL_IP), "ip_not_for_us"),
    (tcp_frame(dst="198.18.0.255", eth_dst=BROADCAST), "ip_not_for_us"),
    (tcp_frame(eth_dst=BROADCAST), "ip_bcast_mismatch"),
    (tcp_frame(src="198.18.0.255"), "ip_bad_source"),
    (tcp_frame(src="127.0.0.1"), "ip_bad_source"),
    (tcp_frame(eth_src=BROADCAST), "eth_bad_source"),
    (ipv4_frame(UDP(sport=5, dport=7) / b"u"), "proto_unsupported"),
    (bytes(Ether(dst=STACK_MAC, src=HARNESS_MAC, type=0x86DD) / Raw(b"\x60" + b"\x00" * 39)),
     "eth_type_unsupported"),
    (bytes(Dot3(dst=STACK_MAC, src=HARNESS_MAC) / LLC() / Raw(b"x" * 40)), "eth_8023_dropped"),
    (tcp_frame(payload=b"j" * 1500), "eth_oversize"),
    (ipv4_frame(b"\x00" * 12, proto=6), "tcp_malformed"),
    (ipv4_frame(b"\x08\x00", proto=1), "icmp_malformed"),
    (b"\x02\x74", "eth_malformed"),
    (bytes(Ether(dst=STACK_MAC, src=HARNESS_MAC, type=0x0806) / Raw(b"\x00\x01")), "arp_malformed"),
])
def test_unwanted_frames_are_counted(rig: NetRig, frame: bytes, counter: str) -> None:
    rig.learn_harness()
    rig.rx(frame)
    assert rig.delivered == [] and rig.pop() == []
    assert rig.counters[counter] == 1


def test_broadcast_ping_is_answered_from_our_address(rig: NetRig) -> None:
    rig.learn_harness()
    rig.rx(icmp_echo_frame(dst="198.18.0.255", eth_dst=BROADCAST))
    [(_, frame)] = rig.pop()
    assert frame[IP].src == STACK_IP and frame[ICMP].type == 0


# --------------------------------------------------------- ARP hold of received packets
def test_packet_from_unresolved_neighbour_waits_for_arp_reply(rig: NetRig) -> None:
    syn = tcp_frame(options=LINUX_SYN_OPTIONS)
    rig.rx(syn, now=1.0)
    [(t, req)] = rig.pop()
    assert t == 1.0 and req[ARP].op == 1 and req[ARP].pdst == HARNESS_IP
    assert rig.delivered == [] and rig.counters["ip_held_for_arp"] == 1
    assert rig.netif.next_deadline() == 1.0 + ARP_HOLD_TIME
    rig.rx(arp_reply_to_stack(), now=1.003)
    [d] = rig.delivered
    assert d.now == 1.003 and d.frame_len == len(syn) and d.src == H_IP
    assert rig.netif.next_deadline() is None
    rig.rx(tcp_frame(flags="A", seq=1001, ack=1), now=1.01)
    assert len(rig.delivered) == 2 and rig.pop() == [], "no second ARP once resolved"


def test_only_one_packet_is_held(rig: NetRig) -> None:
    rig.rx(tcp_frame(seq=1), now=0.0)
    rig.rx(tcp_frame(seq=2), now=0.1)
    assert [f[ARP].pdst for _, f in rig.pop()] == [HARNESS_IP, HARNESS_IP]
    assert rig.counters["arp_hold_busy"] == 1
    rig.rx(arp_reply_to_stack(), now=0.2)
    assert [wire.parse_tcp(H_IP, S_IP, d.data).seq for d in rig.delivered] == [1]


def test_held_packet_expires_after_two_seconds(rig: NetRig) -> None:
    rig.rx(icmp_echo_frame(), now=0.0)
    rig.pop()
    rig.netif.advance(ARP_HOLD_TIME)
    assert rig.counters["arp_hold_expired"] == 1
    rig.rx(arp_reply_to_stack(), now=2.5)
    assert rig.pop() == [], "the ping was dropped, so no echo reply"


def test_arp_request_from_sender_does_not_release_hold(rig: NetRig) -> None:
    rig.rx(tcp_frame(seq=1), now=0.0)
    rig.rx(arp_request_for_stack(), now=0.1)
    assert rig.delivered == []
    rig.rx(tcp_frame(seq=2), now=0.2)                      # now cached: processed at once
    assert [wire.parse_tcp(H_IP, S_IP, d.data).seq for d in rig.delivered] == [2]


def test_off_subnet_sender_is_not_held(rig: NetRig) -> None:
    rig.rx(tcp_frame(src=REMOTE_IP), now=0.0)
    assert len(rig.delivered) == 1 and rig.pop() == []


def test_hold_can_be_switched_off_and_then_learns_from_ip(rig: NetRig) -> None:
    rig.netif.hold_rx_for_arp = False
    rig.rx(tcp_frame(), now=0.0)
    assert len(rig.delivered) == 1 and rig.pop() == []
    assert rig.netif.arp_lookup(H_IP, 0.0) == wire.mac_to_bytes(HARNESS_MAC)


def test_reply_to_peer_uses_its_last_mac_when_cache_expired(make_rig: Callable[..., NetRig]) -> None:
    rig = make_rig(arp_cache_age=10.0)
    rig.learn_harness(0.0)
    rig.rx(tcp_frame(), now=0.0)
    rig.netif.send_ipv4(H_IP, 6, b"\x00" * 20, now=20.0)
    [(_, frame)] = rig.pop()
    assert IP in frame and frame.dst == HARNESS_MAC
    assert rig.counters["ip_sent_peer_mac"] == 1


# ------------------------------------------------------------------ malformed input
def test_every_truncation_of_a_valid_frame_is_counted_not_raised(rig: NetRig) -> None:
    rig.learn_harness()
    frame = tcp_frame(options=LINUX_SYN_OPTIONS, payload=b"0123456789")
    for cut in range(len(frame)):
        before = sum(rig.counters.values())
        rig.rx(frame[:cut], now=0.0)
        assert sum(rig.counters.values()) == before + 1, f"length {cut} not counted exactly once"
    assert rig.delivered == [] and rig.pop() == []
    rig.rx(frame, now=0.0)
    assert len(rig.delivered) == 1


def _valid_frames() -> list[bytes]:
    return [
        tcp_frame(options=LINUX_SYN_OPTIONS, payload=b"abc"),
        tcp_frame(flags="PA", payload=b"x" * 30, options=[("NOP", None), ("NOP", None),
                                                          ("SAck", (1, 2))]),
        icmp_echo_frame(),
        ipv4_frame(TCP(flags="A"), options=[RECORD_ROUTE]),
        arp_request_for_stack(),
        arp_reply_to_stack(),
    ]


VALID_FRAMES = _valid_frames()


def _assert_delivered_are_valid(rig: NetRig) -> None:
    for d in rig.delivered:
        assert d.dst == S_IP
        assert wire.tcp_checksum(d.src, d.dst, d.data) == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    rig = NetRig()
    rig.learn_harness()
    rig.rx(data)
    rig.netif.advance(10.0)
    _assert_delivered_are_valid(rig)


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_mutated_valid_frames_never_raise(data: st.DataObject) -> None:
    rig = NetRig()
    if data.draw(st.booleans(), label="harness known"):
        rig.learn_harness()
    frame = bytearray(data.draw(st.sampled_from(VALID_FRAMES), label="frame"))
    for _ in range(data.draw(st.integers(0, 6), label="flips")):
        pos = data.draw(st.integers(0, len(frame) - 1))
        frame[pos] = data.draw(st.integers(0, 255))
    frame = frame[:data.draw(st.integers(0, len(frame)), label="cut")]
    frame += data.draw(st.binary(max_size=20), label="tail")
    rig.rx(bytes(frame), now=0.0)
    rig.rx(arp_reply_to_stack(), now=0.1)
    rig.netif.advance(10.0)
    assert rig.netif.next_deadline() is None
    _assert_delivered_are_valid(rig)
    for _, out in rig.pop_raw():
        assert checksums_ok(out)


# ------------------------------------------------------------- gratuitous ARP (ARP timer)
def _announcements(frames: list[tuple[float, Ether]]) -> list[float]:
    out = []
    for t, f in frames:
        if ARP in f and f[ARP].op == 1 and f[ARP].psrc == f[ARP].pdst == STACK_IP:
            assert (f.dst, f.src, f[ARP].hwsrc, f[ARP].hwdst) == (BROADCAST, STACK_MAC, STACK_MAC,
                                                                 "00:00:00:00:00:00")
            out.append(t)
    return out


@pytest.mark.parametrize("start", [0.0, 5.0, 0.1])
def test_vARPAgeCache_gratuitous_arp_10s_after_start_then_every_30s(start: float) -> None:
    # ipARP_TIMER_PERIOD_MS 10 s; a gratuitous ARP when none was sent yet or the last one is more
    # than arpGRATUITOUS_ARP_PERIOD (20 s) old: at the 1st, 4th, 7th... expiry of the timer.
    rig = NetRig(StackConfig())
    rig.netif = NetIf(rig.config, rig.counters, rig._on_tcp, now=start)
    assert rig.netif.next_deadline() == start + 10.0
    rig.netif.advance(start + 95.0)
    assert _announcements(rig.pop()) == pytest.approx([start + 10.0, start + 40.0, start + 70.0])
    assert rig.counters["arp_gratuitous_sent"] == 3
    assert rig.counters["arp_request_sent"] == 0
    assert rig.netif.next_deadline() == pytest.approx(start + 100.0)


def test_vARPAgeCache_gratuitous_arp_from_the_stacks_creation_and_switchable() -> None:
    st = Stack(StackConfig(), now=2.0)
    st.advance(75.0)
    frames = [(t, Ether(raw)) for t, raw in st.pop_frames()]
    assert _announcements(frames) == [12.0, 42.0, 72.0] and len(frames) == 3
    quiet = Stack(StackConfig(gratuitous_arp=False), now=2.0)
    assert quiet.next_deadline() is None
    quiet.advance(75.0)
    assert quiet.pop_frames() == []
