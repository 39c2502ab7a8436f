"""FR-KA-1..7: keep-alive as FreeRTOS+TCP V4.4.1 does it (SEMANTICS.md, source facts section 4).

Timings are virtual: ``Sent.time`` is the instant the stack emitted the frame. The connection is
made at t=0, so with the default 20 s interval the idle wake-ups put the probes at 40 s and then
every 22.5 s (the 2.5 s re-check that finds under 3 s elapsed, then the 20 s idle wake).
"""

from __future__ import annotations

import pytest
from frkit import bits_raised, est, push, rel_ack, rel_seq, state_changes, with_fault

from stack_under_test import StackConfig
from stack_under_test.constants import MSG_DONTWAIT, Errno, EventBit, SockOpt, TcpState

KA = StackConfig(keepalive=True)
PROBE_TIMES_20S = [40.0, 62.5, 85.0, 107.5]


def is_probe(peer, sent) -> bool:
    return str(sent.tcp.flags) == "A" and not sent.payload and rel_seq(peer, sent) == 0


# -- FR-KA-1 ---------------------------------------------------------------------------------------

def test_FR_KA_1_no_per_socket_keepalive_option() -> None:
    assert not [o.name for o in SockOpt if "KEEP" in o.name]
    st, _peer, h = est()
    # Option numbers past FREERTOS_SO_SET_LOW_HIGH_WATER (18) do not exist: ENOPROTOOPT.
    assert st.setsockopt(h, 19, 1) == -Errno.ENOPROTOOPT
    assert st.setsockopt(h, 0x0008_0000, 1) == -Errno.ENOPROTOOPT


def test_FR_KA_1_global_switch_applies_to_every_connection() -> None:
    st, peer, h = est(KA)
    peer2_port = 40001
    peer.send("S", seq=5000, sport=peer2_port, options=[("MSS", 1460), ("NOP", None), ("WScale", 0),
                                                        ("NOP", None), ("NOP", None), ("SAckOK", b"")])
    synack = peer.take()[-1]
    peer.send("A", seq=5001, ack=synack.tcp.seq + 1, sport=peer2_port)
    peer.run(45.0)
    probed_ports = {s.tcp.dport for s in peer.take() if str(s.tcp.flags) == "A" and not s.payload}
    assert probed_ports == {peer.port, peer2_port}
    assert st.connstatus(h) == TcpState.ESTABLISHED


@pytest.mark.parametrize("hang", [False, True])
def test_FR_KA_1_no_probes_in_fin_wait_1(hang: bool) -> None:
    st, peer, h = est(StackConfig(keepalive=True, keepalive_interval=2.0, hang_protection=hang))
    assert st.shutdown(h) == 0
    fin = peer.take()
    assert [str(s.tcp.flags) for s in fin] == ["FA"]
    peer.rcv_nxt += 1
    peer.send("A")                                   # our FIN acknowledged: still FIN_WAIT_1
    assert st.connstatus(h) == TcpState.FIN_WAIT_1
    peer.run(300.0)
    assert peer.take() == []
    assert st.connstatus(h) == (TcpState.CLOSE_WAIT if hang else TcpState.FIN_WAIT_1)


def test_FR_KA_1_no_probes_in_last_ack() -> None:
    st, peer, h = est(StackConfig(keepalive=True, keepalive_interval=2.0, hang_protection=False))
    peer.send("FA")
    assert [str(s.tcp.flags) for s in peer.take()] == ["FA"]
    assert st.connstatus(h) == TcpState.LAST_ACK
    peer.run(300.0)
    assert peer.take() == []
    assert st.connstatus(h) == TcpState.LAST_ACK


# -- FR-KA-2 ---------------------------------------------------------------------------------------

def check_FR_KA_2(config: StackConfig) -> None:
    st, peer, h = est(config)
    push(peer, b"hello")                             # RCV.NXT = peer ISN + 6
    sent = st.send(h, b"0123456789")
    assert sent.result == 10
    data = peer.take()
    assert [len(s.payload) for s in data if s.payload] == [10]
    peer.rcv_nxt += 10
    peer.send("A")                                   # SND.NXT = SND.UNA = DUT ISN + 11, idle from t=0
    peer.run(41.0)
    probes = peer.take()
    assert len(probes) == 1
    probe = probes[0]
    assert str(probe.tcp.flags) == "A"
    assert probe.payload == b""
    assert rel_seq(peer, probe) == 10                # SND.NXT - 1
    assert rel_ack(peer, probe) == 6                 # RCV.NXT
    assert probe.tcp.window == 2920
    assert probe.tcp.options == []
    assert probe.tcp.dataofs == 5


def test_FR_KA_2_probe_is_bare_ack_at_snd_nxt_minus_1() -> None:
    check_FR_KA_2(KA)


def test_fault_keepalive_probe_seq_nxt_breaks_FR_KA_2() -> None:
    with pytest.raises(AssertionError):
        check_FR_KA_2(with_fault("keepalive_probe_seq_nxt", KA))


# -- FR-KA-3 ---------------------------------------------------------------------------------------

def test_FR_KA_3_probes_at_40s_then_every_22_5s_with_interval_20() -> None:
    st, peer, h = est(KA)
    peer.run(39.999)
    assert peer.take() == []
    peer.run(200.0)
    probes = peer.take()
    assert [s.time for s in probes] == pytest.approx(PROBE_TIMES_20S)
    assert all(is_probe(peer, s) for s in probes)


def test_FR_KA_3_first_probe_within_interval_plus_20s_with_interval_2() -> None:
    st, peer, h = est(StackConfig(keepalive=True, keepalive_interval=2.0))
    peer.run(200.0)
    probes = peer.take()
    times = [s.time for s in probes]
    assert len(times) == 4
    assert 2.0 < times[0] <= 22.0
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(22.5 - 1e-9 <= g <= 25.0 for g in gaps), gaps
    assert all(is_probe(peer, s) for s in probes)


def test_FR_KA_3_idle_time_counts_from_the_last_received_segment() -> None:
    st, peer, h = est(KA)
    peer.run(25.0)
    push(peer, b"x")                                 # accepted at 25 s
    acks = peer.take()
    assert [str(s.tcp.flags) for s in acks] == ["A"]
    peer.run(300.0)
    first = peer.take()[0]
    assert is_probe(peer, first)
    assert 25.0 + 20.0 < first.time <= 25.0 + 40.0


def test_FR_KA_3_sending_does_not_reset_the_idle_time() -> None:
    # The peer fills the receive buffer at t=0 (window drops to 0); the application drains it at
    # 30 s, which wakes the socket: it sends the window update and, since nothing was *received*
    # for more than INTERVAL, a probe straight after it. Had sending reset the idle time, no probe
    # could come before 50 s.
    st, peer, h = est(KA)
    for _ in range(3):
        push(peer, b"d" * 1460)
    assert peer.take()[-1].tcp.window == 0
    peer.run(30.0)
    got = st.recv(h, 10_000)
    assert got.result == 4380
    sent = peer.take()
    assert [(s.time, str(s.tcp.flags), rel_seq(peer, s), s.tcp.window) for s in sent] == [
        (30.0, "A", 1, 2920),                        # window update
        (30.0, "A", 0, 2920),                        # keep-alive probe (SND.NXT - 1)
    ]


# -- FR-KA-4 ---------------------------------------------------------------------------------------

def check_FR_KA_4(config: StackConfig) -> None:
    st, peer, h = est(config)
    recv = st.recv(h, 100)
    peer.run(400.0)
    sent = peer.take()
    assert [s.time for s in sent] == pytest.approx(PROBE_TIMES_20S)
    assert all(is_probe(peer, s) for s in sent)       # four probes and no RST
    assert st.connstatus(h) == TcpState.CLOSE_WAIT
    assert recv.done and recv.result == -Errno.ENOTCONN
    assert recv.finished == pytest.approx(107.5)       # the same instant as the 4th probe
    events = st.pop_events()
    assert [(t, old, new) for t, old, new in state_changes(events, h)] == [(107.5, 5, 8)]
    assert bits_raised(events, h) & EventBit.CLOSED
    assert st.send(h, b"late").result == -Errno.ENOTCONN
    assert st.recv(h, 10).result == -Errno.ENOTCONN


def test_FR_KA_4_fourth_probe_drops_silently() -> None:
    check_FR_KA_4(KA)


def test_fault_keepalive_five_probes_breaks_FR_KA_4() -> None:
    with pytest.raises(AssertionError):
        check_FR_KA_4(with_fault("keepalive_five_probes", KA))


def test_FR_KA_4_peer_then_gets_rst_from_the_dead_socket() -> None:
    st, peer, h = est(KA)
    peer.run(110.0)
    peer.take()
    push(peer, b"anyone?")
    rst = peer.take()
    assert [str(s.tcp.flags) for s in rst] == ["RA"]


# -- FR-KA-5 ---------------------------------------------------------------------------------------

def test_FR_KA_5_answered_probes_keep_the_connection_up() -> None:
    st, peer, h = est(StackConfig(keepalive=True, keepalive_interval=2.0))
    times = []
    t = 0.0
    while t < 120.0:
        t = st.next_deadline()
        peer.run(t)
        for s in peer.take():
            assert is_probe(peer, s)
            times.append(s.time)
            peer.send("A")                           # answer at once
    assert st.connstatus(h) == TcpState.ESTABLISHED
    assert len(times) >= 30
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(2.0 < g <= 4.5 for g in gaps), gaps


def test_FR_KA_5_rst_and_syn_do_not_reset_the_probe_count() -> None:
    st, peer, h = est(KA)
    peer.run(30.0)
    peer.send("R", seq=peer.seq + 2**29)             # out of window: ignored
    peer.run(50.0)
    peer.send("S", seq=peer.seq + 100_000)           # SYN on the 4-tuple: dropped (FR-SYN-1)
    peer.run(70.0)
    peer.send("RA", seq=peer.seq + 10**6)
    peer.run(200.0)
    sent = peer.take()
    assert [s.time for s in sent] == pytest.approx(PROBE_TIMES_20S)
    assert st.connstatus(h) == TcpState.CLOSE_WAIT


def check_FR_KA_5_accepted_segment_resets(config: StackConfig) -> None:
    st, peer, h = est(config)
    peer.run(90.0)
    assert len(peer.take()) == 3
    push(peer, b"!")
    peer.take()
    peer.run(110.0)
    assert st.connstatus(h) == TcpState.ESTABLISHED


def test_fault_keepalive_not_reset_by_data_breaks_FR_KA_5() -> None:
    check_FR_KA_5_accepted_segment_resets(KA)
    with pytest.raises(AssertionError):
        check_FR_KA_5_accepted_segment_resets(with_fault("keepalive_not_reset_by_data", KA))


def test_FR_KA_5_accepted_segment_resets_the_probe_count() -> None:
    st, peer, h = est(KA)
    peer.run(90.0)
    assert len(peer.take()) == 3                     # probes at 40, 62.5, 85
    push(peer, b"!")                                 # accepted at 90 s
    assert [str(s.tcp.flags) for s in peer.take()] == ["A"]
    peer.run(110.0)
    assert st.connstatus(h) == TcpState.ESTABLISHED  # no 4th probe / drop at 107.5
    peer.run(400.0)
    probes = peer.take()
    assert len(probes) == 4                          # a fresh count of four
    assert probes[0].time > 90.0 + 20.0
    assert st.connstatus(h) == TcpState.CLOSE_WAIT
    drop = [e.time for e in st.pop_events() if e.kind == "state" and e.detail == (5, 8)]
    assert drop == [pytest.approx(probes[-1].time)]


# -- FR-KA-6 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("garbage", [b"", b"\x00"])
def test_FR_KA_6_peer_keepalive_answered_at_once(garbage: bytes) -> None:
    st, peer, h = est()
    push(peer, b"abc")
    peer.take()
    peer.run(7.0)
    peer.send("A", seq=peer.seq - 1, payload=garbage)
    reply = peer.take()
    assert [(s.time, str(s.tcp.flags), rel_seq(peer, s), rel_ack(peer, s), len(s.payload))
            for s in reply] == [(7.0, "A", 1, 4, 0)]
    got = st.recv(h, 100, MSG_DONTWAIT)
    assert (got.result, got.data) == (3, b"abc")     # the keep-alive byte was not stored
    assert st.recv(h, 100, MSG_DONTWAIT).result == 0


# -- FR-KA-7 ---------------------------------------------------------------------------------------

def test_FR_KA_7_keepalive_off_idle_connection_lasts_forever() -> None:
    assert StackConfig().keepalive is False
    st, peer, h = est()
    recv = st.recv(h, 100)
    peer.run(10_000.0)
    assert peer.take() == []
    assert st.connstatus(h) == TcpState.ESTABLISHED
    assert not recv.done
    assert st.issocketconnected(h) == 1


# -- keep-alive while data is unacknowledged (measured on freertos-posix, V4.4.1) -------------------

def test_FR_KA_3_probes_take_the_retransmission_wakeups_while_data_is_unacknowledged() -> None:
    # prvTCPPrepareSend asks ulTCPWindowTxGet first; on the wake-up set for a retransmission the
    # segment's age equals ulMaxTime, which is not `>` it, so no data goes and the keep-alive
    # check sends a probe instead and sets usTimeout to 2.5 s: the data follows 2.5 s later.
    # After the 4th probe the next prvTCPSendRepeated round drops the connection to 8, but the
    # state change leaves the timer running (vTCPStateChange asks prvTCPSocketIsActive about the
    # state being left) and xTCPSocketCheck sends data in any state from ESTABLISHED on: the data
    # is retransmitted for ever, every 32, 64... s, by a socket the application sees as closed.
    st, peer, h = est(StackConfig(keepalive=True, keepalive_interval=2.0))
    assert st.send(h, b"0123456789").result == 10
    peer.run(150.0)
    out = peer.take()
    probes = [s for s in out if not s.payload]
    assert all(str(s.tcp.flags) == "A" and rel_seq(peer, s) == 10 for s in probes)    # SND.NXT - 1
    sent = [(round(s.time, 3), len(s.payload) or "probe") for s in out]
    assert sent == [(0.0, 10), (1.001, 10), (3.001, "probe"), (5.501, 10), (9.501, "probe"), (12.001, 10),
                    (20.001, "probe"), (22.501, 10), (38.501, "probe"), (41.001, 10), (73.002, 10),
                    (137.003, 10)]
    assert st.connstatus(h) == TcpState.CLOSE_WAIT
    assert [c for c in state_changes(st.pop_events(), h) if c[0] > 1] == [(38.501, 5, 8)]
