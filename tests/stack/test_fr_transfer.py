"""FR-RTO-1, FR-WIN-1, FR-OOO-1, FR-ACK-1, FR-HANG-1: data transfer, windows, timers."""

from __future__ import annotations

import pytest
from frkit import bits_raised, est, push, raw_segment, rel_ack, rel_seq, state_changes
from peer import Peer, listening_stack
from scapy.layers.inet import TCP

from stack_under_test import StackConfig
from stack_under_test.constants import MSG_DONTWAIT, Errno, EventBit, TcpState

BIG = {"tx_buf": 16 * 1460, "tx_win": 8, "rx_buf": 16 * 1460, "rx_win": 8}


def data_segments(sent: list) -> list:
    return [s for s in sent if s.payload]


def sack_blocks(sent) -> list[tuple[int, int]]:
    out = []
    for kind, value in sent.tcp.options:
        if kind == "SAck":
            out += list(zip(value[::2], value[1::2], strict=True))
    return out


# -- FR-RTO-1 --------------------------------------------------------------------------------------

def test_FR_RTO_1_retransmissions_at_plus_1_2_4_8_and_never_give_up() -> None:
    st, peer, h = est()
    assert st.send(h, b"r" * 100).result == 100
    peer.run(2000.0)
    sent = peer.take()
    assert all(str(s.tcp.flags) == "PA" and rel_seq(peer, s) == 1 and s.payload == b"r" * 100
               for s in sent)
    times = [s.time for s in sent]
    # Each gap is 2^n x SRTT plus one tick: the timer set for the exact instant finds the
    # segment's age equal to, not above, ulMaxTime (pxTCPWindowTx_GetWaitQueue, `>`), and
    # prvTCPNextTimeout then waits 1 ms (seen on freertos-posix: 1.0009, ..., 32.0009, 64.0010 s).
    assert times[:6] == pytest.approx([0.0, 1.001, 3.002, 7.003, 15.004, 31.005])
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps == pytest.approx([2.0 ** i + 0.001 for i in range(len(gaps))])
    assert len(sent) >= 10                           # still going after 1000 s: no maximum
    assert st.connstatus(h) == TcpState.ESTABLISHED
    assert st.counters["tcp_rst_sent"] == 0


TICK = 0.001    # a retransmission leaves a tick after 2^n x SRTT (test above)


def rto_after_samples(rtts: list[float]) -> float:
    """Send 10 bytes per RTT sample, ACK each after ``rtt``; then the gap to the first retransmission."""
    st, peer, h = est()
    for rtt in rtts:
        assert st.send(h, b"s" * 10).result == 10
        sent = data_segments(peer.take())
        assert len(sent) == 1
        peer.run(st.now + rtt)
        peer.rcv_nxt += 10
        peer.send("A")
        peer.take()
    start = st.now
    assert st.send(h, b"lost").result == 4
    peer.run(start + 10.0)
    sent = data_segments(peer.take())
    return sent[1].time - sent[0].time - TICK      # the tick every retransmission waits (see above)


def test_FR_RTO_1_srtt_shrinks_by_7_8() -> None:
    assert rto_after_samples([0.1]) == pytest.approx(2 * (7 * 0.5 + 0.1) / 8)


def test_FR_RTO_1_srtt_grows_by_6_2() -> None:
    assert rto_after_samples([0.9]) == pytest.approx(2 * (6 * 0.5 + 2 * 0.9) / 8)


def test_FR_RTO_1_srtt_floor_50ms() -> None:
    assert rto_after_samples([0.0] * 40) == pytest.approx(2 * 0.050)


def test_FR_RTO_1_window_shrinks_to_2_mss_after_4th_transmission() -> None:
    st, peer, h = est(win_properties=dict(BIG, tx_win=4))
    assert st.send(h, b"w" * (4 * 1460)).result == 4 * 1460
    assert len(data_segments(peer.take())) == 4      # a 4-MSS window
    peer.run(7.5)
    resent = data_segments(peer.take())
    assert [rel_seq(peer, s) for s in resent] == [1, 1, 1]
    assert [s.time for s in resent] == pytest.approx([1.001, 3.002, 7.003])
    peer.rcv_nxt += 1460
    peer.send("A")                                   # first segment acknowledged, 3 MSS outstanding
    assert st.send(h, b"n" * 1460).result == 1460
    peer.run(60.0)                                   # only retransmissions of the 3 MSS outstanding
    assert all(rel_seq(peer, s) < 4 * 1460 + 1 for s in data_segments(peer.take()))
    peer.rcv_nxt += 3 * 1460
    peer.send("A")
    new = data_segments(peer.take())
    assert [(rel_seq(peer, s), s.payload[:1]) for s in new] == [(4 * 1460 + 1, b"n")]


def test_FR_RTO_1_fast_retransmit_only_from_sack() -> None:
    st, peer, h = est(win_properties=BIG)
    assert st.send(h, b"f" * (5 * 1460)).result == 5 * 1460
    first = data_segments(peer.take())
    assert len(first) == 5
    peer.run(0.1)
    for _ in range(4):
        peer.send("A")                               # plain duplicate ACKs: nothing
    assert peer.take() == []
    base = peer.rcv_nxt
    for k in (1, 2, 3):
        left = base + k * 1460
        peer.send("A", options=[("NOP", None), ("NOP", None), ("SAck", (left, left + 1460))])
    fast = data_segments(peer.take())
    assert [(s.time, rel_seq(peer, s)) for s in fast] == [(0.1, 1)]


# -- FR-WIN-1 --------------------------------------------------------------------------------------

def synack_for(options: list, config: StackConfig | None = None, peer_ip: str | None = None) -> tuple:
    st, listener = listening_stack(config)
    peer = Peer(st) if peer_ip is None else Peer(st, ip=peer_ip)
    if peer_ip is not None:
        peer.prime_arp(config.gateway)
    peer.seq = peer.isn
    peer.send("S", options=options)
    return st, listener, peer, peer.take()


def segment_sizes_after_handshake(options: list, config: StackConfig | None = None,
                                  peer_ip: str | None = None) -> tuple[int, list[int]]:
    st, listener, peer, sent = synack_for(options, config, peer_ip)
    sa = sent[0]
    mss = dict(sa.tcp.options)["MSS"]
    accept = st.accept(listener)
    peer.dut_isn, peer.seq, peer.rcv_nxt = sa.tcp.seq, peer.isn + 1, sa.tcp.seq + 1
    peer.send("A")
    assert st.send(accept.result, b"m" * 3000).result == 3000
    return mss, [len(s.payload) for s in data_segments(peer.take())]


def test_FR_WIN_1_default_mss_1460_and_window_2920() -> None:
    mss, sizes = segment_sizes_after_handshake([("MSS", 1460)])
    assert mss == 1460 and sizes == [1460, 1460]


def test_FR_WIN_1_smaller_peer_mss_adopted() -> None:
    st, listener, peer, sent = synack_for([("MSS", 536)])
    assert dict(sent[0].tcp.options)["MSS"] == 536
    assert sent[0].tcp.window == 2680                # 5 x 536
    mss, sizes = segment_sizes_after_handshake([("MSS", 536)])
    assert sizes and max(sizes) == 536


def test_FR_WIN_1_peer_mss_floor_536() -> None:
    mss, sizes = segment_sizes_after_handshake([("MSS", 100)])
    assert mss == 536 and max(sizes) == 536


def test_FR_WIN_1_no_mss_option_keeps_1460() -> None:
    mss, sizes = segment_sizes_after_handshake([])
    assert mss == 1460 and sizes == [1460, 1460]


def test_FR_WIN_1_peer_outside_subnet_gets_1400() -> None:
    config = StackConfig(gateway="198.18.0.254")
    mss, sizes = segment_sizes_after_handshake([("MSS", 1460)], config, peer_ip="198.19.1.7")
    assert mss == 1400 and max(sizes) == 1400


@pytest.mark.parametrize("option_bytes", [
    b"\x02\x04\x00\x00",                 # MSS 0
    b"\x02\x03\x05",                     # MSS of length 3
    b"\x03\x04\x00\x00",                 # window scale of length 4
    b"\x08\x01",                         # length byte below 2
    b"\x01\x01\x01\x13\x30",             # option running past the header
], ids=["mss-0", "mss-len-3", "wscale-len-4", "len-1", "past-header"])
def test_FR_WIN_1_mss_zero_or_malformed_options_drop_the_segment(option_bytes: bytes) -> None:
    st, _ = listening_stack()
    peer = Peer(st)
    st.receive(raw_segment(peer, "S", seq=peer.isn, option_bytes=option_bytes), 0.0)
    peer.run(0.0)
    assert peer.take() == []
    assert not any(s.state in (TcpState.SYN_RECEIVED, TcpState.ESTABLISHED) for s in st.sockets.values())


def test_FR_WIN_1_malformed_options_drop_an_established_segment() -> None:
    st, peer, h = est()
    st.receive(raw_segment(peer, "PA", seq=peer.seq, ack=peer.rcv_nxt, option_bytes=b"\x08\x01",
                           payload=b"bad"), 0.0)
    peer.run(0.0)
    assert peer.take() == []
    assert st.recv(h, 10, MSG_DONTWAIT).result == 0


def test_FR_WIN_1_window_is_min_of_window_and_free_space_zero_at_low_water() -> None:
    st, peer, h = est()
    windows = []
    for size in (1460, 1460, 1000, 460):
        push(peer, b"z" * size)
        sent = peer.take()
        assert len(sent) == 1
        windows.append(sent[0].tcp.window)
    assert windows == [2920, 2920, 1920, 0]          # free 4380, 2920, 1920, 1460 (= 25 %)
    assert st.recv(h, 1000).result == 1000
    assert peer.take() == []                         # still low water: no update
    peer.send("A")
    assert peer.take() == []
    assert st.recv(h, 10_000).result == 3380
    update = peer.take()
    assert [(str(s.tcp.flags), s.tcp.window) for s in update] == [("A", 2920)]   # cleared at 100 %


def test_FR_WIN_1_no_zero_window_probes() -> None:
    st, peer, h = est()
    peer.send("A", window=0)
    assert st.send(h, b"q" * 100).result == 100
    peer.run(600.0)
    assert peer.take() == []                         # no persist timer, ever
    peer.send("A", window=64240)
    sent = data_segments(peer.take())
    assert [(s.time, len(s.payload)) for s in sent] == [(600.0, 100)]


# -- FR-OOO-1 --------------------------------------------------------------------------------------

def test_FR_OOO_1_out_of_order_data_acked_at_once_with_one_sack_block() -> None:
    st, listener = listening_stack()
    peer = Peer(st)
    sa = peer.connect(options=[("MSS", 1460)])       # no SACK-permitted offered
    assert sa is not None
    accept = st.accept(listener)
    h = accept.result
    peer.take()
    start = peer.seq
    peer.run(1.0)
    peer.send("PA", seq=start + 100, payload=b"B" * 100)
    peer.send("PA", seq=start + 300, payload=b"D" * 100)
    acks = peer.take()
    assert [(s.time, str(s.tcp.flags), rel_ack(peer, s)) for s in acks] == [(1.0, "A", 1), (1.0, "A", 1)]
    assert sack_blocks(acks[0]) == [(start + 100, start + 200)]
    assert sack_blocks(acks[1]) == [(start + 300, start + 400)]
    assert st.recv(h, 1000, MSG_DONTWAIT).result == 0
    peer.send("PA", seq=start, payload=b"A" * 100)
    assert [rel_ack(peer, s) for s in peer.take()] == [201]
    peer.send("PA", seq=start + 200, payload=b"C" * 100)
    assert [rel_ack(peer, s) for s in peer.take()] == [401]
    got = st.recv(h, 1000, MSG_DONTWAIT)
    assert got.data == b"A" * 100 + b"B" * 100 + b"C" * 100 + b"D" * 100


def test_FR_OOO_1_in_order_segment_larger_than_free_space_refused_whole() -> None:
    st, peer, h = est()
    for _ in range(3):
        push(peer, b"x" * 1460)
    peer.take()                                      # 1460 bytes free
    peer.send("PA", payload=b"y" * 1461)             # in order, one byte too big
    assert all(rel_ack(peer, s) == 4381 for s in peer.take())
    got = st.recv(h, 10_000, MSG_DONTWAIT)
    assert got.result == 4380 and set(got.data) == {ord("x")}
    assert [(rel_ack(peer, s), s.tcp.window) for s in peer.take()] == [(4381, 2920)]   # update
    push(peer, b"y" * 1460)                          # fits exactly once drained
    assert [rel_ack(peer, s) for s in peer.take()] == [5841]


# -- FR-ACK-1 --------------------------------------------------------------------------------------

def test_FR_ACK_1_no_delay_with_the_default_2920_window() -> None:
    st, peer, h = est()
    peer.run(1.0)
    push(peer, b"hello")
    assert [(s.time, rel_ack(peer, s)) for s in peer.take()] == [(1.0, 6)]
    push(peer, b"k" * 1000)
    assert [(s.time, rel_ack(peer, s)) for s in peer.take()] == [(1.0, 1006)]


def test_FR_ACK_1_delayed_2_ticks_for_short_20ms_for_full_segments() -> None:
    st, peer, h = est(win_properties=BIG)
    peer.run(1.0)
    push(peer, b"short")
    assert peer.take() == []
    peer.run(1.5)
    assert [(s.time, rel_ack(peer, s)) for s in peer.take()] == [(pytest.approx(1.002), 6)]
    push(peer, b"F" * 1460)
    assert peer.take() == []
    peer.run(2.0)
    assert [(s.time, rel_ack(peer, s)) for s in peer.take()] == [(pytest.approx(1.520), 1466)]


def test_FR_ACK_1_no_delay_when_less_than_2_mss_free() -> None:
    st, peer, h = est(win_properties=BIG)           # 16 x 1460 buffer, 8 x 1460 window
    for _ in range(14):
        push(peer, b"p" * 1460)
    peer.run(1.0)
    peer.take()
    push(peer, b"tail")                               # 2 MSS - 4 bytes left: ACK at once
    assert [(s.time, rel_ack(peer, s)) for s in peer.take()] == [(1.0, 14 * 1460 + 5)]


def test_FR_ACK_1_not_delayed_when_data_can_carry_it() -> None:
    st, peer, h = est(win_properties=BIG)
    peer.send("A", window=0)                          # the stack's data waits for window
    assert st.send(h, b"q" * 100).result == 100
    assert peer.take() == []
    peer.run(1.0)
    push(peer, b"short")                              # opens the window again
    sent = peer.take()
    assert [(s.time, str(s.tcp.flags), rel_ack(peer, s), len(s.payload)) for s in sent] == [
        (1.0, "PA", 6, 100)]


def test_FR_ACK_1_not_delayed_outside_established() -> None:
    st, peer, h = est(win_properties=BIG)
    assert st.shutdown(h) == 0
    assert [str(s.tcp.flags) for s in peer.take()] == ["FA"]
    peer.run(1.0)
    push(peer, b"short")                              # FIN_WAIT_1, our FIN not acknowledged
    sent = peer.take()
    assert [(s.time, rel_ack(peer, s)) for s in sent] == [(1.0, 6)]


def test_FR_ACK_1_segment_without_ack_flag_acknowledges_nothing() -> None:
    # prvHandleEstablished drops a segment without ACK (its data still goes through the receive
    # path first, source facts section 12): its ack field must not release our data.
    st, peer, h = est()
    assert st.send(h, b"u" * 100).result == 100
    assert [len(s.payload) for s in peer.take()] == [100]
    peer.run(0.5)
    peer.send("P", ack=peer.rcv_nxt + 100, payload=b"noack")
    peer.seq += 5
    peer.run(1.0 + TICK)
    resent = data_segments(peer.take())
    assert [(s.time, rel_seq(peer, s), len(s.payload)) for s in resent] == [(1.0 + TICK, 1, 100)]
    peer.rcv_nxt += 100
    peer.send("A")                                    # with the ACK bit the same ack releases it
    peer.run(10.0)
    assert data_segments(peer.take()) == []


# -- FR-HANG-1 -------------------------------------------------------------------------------------

def test_FR_HANG_1_fin_wait_1_closed_silently_at_40s() -> None:
    st, peer, h = est()
    recv = st.recv(h, 100)
    assert st.shutdown(h) == 0
    assert [str(s.tcp.flags) for s in peer.take()] == ["FA"]
    st.pop_events()
    peer.run(39.999)
    assert st.connstatus(h) == TcpState.FIN_WAIT_1
    peer.run(100.0)
    assert peer.take() == []
    assert st.connstatus(h) == TcpState.CLOSE_WAIT
    assert recv.done and recv.result == -Errno.ENOTCONN and recv.finished == pytest.approx(40.0)
    events = st.pop_events()
    assert state_changes(events, h) == [(pytest.approx(40.0), 6, 8)]
    assert bits_raised(events, h) & EventBit.CLOSED


def test_FR_HANG_1_last_ack_closed_silently_at_40s() -> None:
    st, peer, h = est()
    peer.send("FA")
    assert [str(s.tcp.flags) for s in peer.take()] == ["FA"]
    recv = st.recv(h, 100)
    peer.run(100.0)
    assert peer.take() == []                          # no FIN retransmission either (FR-FIN-3)
    assert st.connstatus(h) == TcpState.CLOSE_WAIT
    assert recv.result == -Errno.ENOTCONN and recv.finished == pytest.approx(40.0)


def test_FR_HANG_1_time_is_configurable() -> None:
    st, peer, h = est(StackConfig(hang_protection_time=10.0))
    st.shutdown(h)
    peer.run(100.0)
    change = [e.time for e in st.pop_events() if e.kind == "state" and e.detail == (6, 8)]
    assert change == [pytest.approx(20.0)]            # first idle wake after 10 s


def test_FR_HANG_1_off_means_forever() -> None:
    st, peer, h = est(StackConfig(hang_protection=False))
    st.shutdown(h)
    peer.run(5000.0)
    assert st.connstatus(h) == TcpState.FIN_WAIT_1


def test_FR_HANG_1_not_checked_in_established() -> None:
    st, peer, h = est()
    push(peer, b"x")
    peer.run(5000.0)
    assert st.connstatus(h) == TcpState.ESTABLISHED


def test_FR_HANG_1_half_open_child_alive_at_35s_gone_at_45s() -> None:
    for late, expect in ((35.0, "A"), (45.0, "RA")):
        st, listener = listening_stack()
        peer = Peer(st)
        peer.seq = peer.isn
        peer.send("S", options=[("MSS", 1460)])
        sa = peer.take()[0]
        peer.run(late)
        peer.send("PA", seq=peer.isn + 1, ack=sa.tcp.seq + 1, payload=b"late")
        reply = peer.take()
        assert [str(s.tcp.flags) for s in reply] == [expect], late
        assert all(TCP in s.pkt for s in reply)
