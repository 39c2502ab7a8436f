"""FR-RST-1, FR-RST-2, FR-SYN-1, FR-SYN-2: unexpected segments, RSTs and SYNs (SEMANTICS.md).

Wire facts come from freertos-tcp-wire-observations.md probes 6, 7 and 8 and source facts
section 5; absolute seq/ack values below are the same as those probes used.
"""

from __future__ import annotations

import pytest
from frkit import bits_raised, client, est, push, rel_ack, rel_seq, state_changes, syns, with_fault
from peer import LINUX_SYN_OPTIONS, Peer, listening_stack

from stack_under_test import StackConfig
from stack_under_test.constants import MSG_DONTWAIT, Errno, EventBit, TcpState

CLOSED_PORT = 7001


def one(peer: Peer) -> tuple:
    """The single segment the stack sent: (flags, seq, ack, window, option count, payload length)."""
    sent = peer.take()
    assert len(sent) == 1, [(str(s.tcp.flags), s.tcp.seq, s.tcp.ack) for s in sent]
    s = sent[0]
    assert s.tcp.dataofs == 5
    return str(s.tcp.flags), s.tcp.seq, s.tcp.ack, s.tcp.window, len(s.tcp.options), len(s.payload)


# -- FR-RST-1 --------------------------------------------------------------------------------------

def check_FR_RST_1(config: StackConfig) -> None:
    st, _ = listening_stack(config)
    peer = Peer(st)
    # No socket on the port.
    peer.send("S", seq=1000, dport=CLOSED_PORT)
    assert one(peer) == ("RA", 0, 1001, 64240, 0, 0)
    peer.send("S", seq=5000, dport=CLOSED_PORT, payload=b"7 bytes")
    assert one(peer) == ("RA", 0, 5001, 64240, 0, 0)          # +1 for SYN only, data not counted
    peer.send("PA", seq=3000, ack=6666, dport=CLOSED_PORT, payload=b"five!")
    assert one(peer) == ("RA", 6666, 3000, 64240, 0, 0)       # ack = SEG.SEQ, not SEQ+LEN
    peer.send("FA", seq=4000, ack=7777, dport=CLOSED_PORT, window=1234)
    assert one(peer) == ("RA", 7777, 4000, 1234, 0, 0)        # FIN not counted, window copied
    peer.send("F", seq=4500, ack=4242, dport=CLOSED_PORT)
    assert one(peer) == ("RA", 4242, 4500, 64240, 0, 0)       # ack field used though ACK bit clear
    peer.send("A", seq=5500, ack=1, dport=CLOSED_PORT)
    peer.send("A", seq=5500, ack=1, dport=CLOSED_PORT, payload=b"data without PSH")
    peer.send("R", seq=6000, dport=CLOSED_PORT)
    peer.send("RA", seq=6000, ack=5, dport=CLOSED_PORT)
    assert peer.take() == []                                  # pure ACKs and RSTs: nothing
    # A listening socket on the port but no connection: even a pure ACK draws RST|ACK.
    peer.send("A", seq=7000, ack=8888)
    assert one(peer) == ("RA", 8888, 7000, 64240, 0, 0)
    peer.send("PA", seq=8000, ack=9999, payload=b"x")
    assert one(peer) == ("RA", 9999, 8000, 64240, 0, 0)
    peer.send("SA", seq=9000, ack=1234)
    assert one(peer) == ("RA", 1234, 9001, 64240, 0, 0)
    peer.send("F", seq=9500)
    assert one(peer) == ("RA", 0, 9500, 64240, 0, 0)
    peer.send("R", seq=9600)
    assert peer.take() == []


def test_FR_RST_1_reset_format_for_segments_without_a_socket() -> None:
    check_FR_RST_1(StackConfig())


def test_fault_reset_seq_zero_breaks_FR_RST_1() -> None:
    with pytest.raises(AssertionError):
        check_FR_RST_1(with_fault("reset_seq_zero"))


def test_FR_RST_1_no_rate_limiting() -> None:
    st, _ = listening_stack()
    peer = Peer(st)
    for i in range(100):
        peer.send("S", seq=1000 + i, dport=CLOSED_PORT, sport=30000 + i)
    rsts = peer.take()
    assert len(rsts) == 100
    assert all(str(s.tcp.flags) == "RA" for s in rsts)
    assert [s.tcp.ack for s in rsts] == [1001 + i for i in range(100)]


def test_FR_RST_1_ignore_unknown_packets_suppresses_resets() -> None:
    st, _ = listening_stack(StackConfig(ignore_unknown_packets=True))
    peer = Peer(st)
    peer.send("S", seq=1000, dport=CLOSED_PORT)
    peer.send("PA", seq=3000, ack=6666, dport=CLOSED_PORT, payload=b"five!")
    peer.send("A", seq=7000, ack=8888)
    assert peer.take() == []


def test_FR_RST_1_socket_in_state_8_answers_as_no_socket() -> None:
    st, peer, h = est()
    peer.send("FA")                                  # peer closes: FIN|ACK back, LAST_ACK
    assert one(peer)[0] == "FA"
    peer.seq += 1
    peer.rcv_nxt += 1
    peer.send("A")                                   # last ACK: state 8, socket not closed by app
    assert st.connstatus(h) == TcpState.CLOSE_WAIT
    assert peer.take() == []
    peer.send("PA", payload=b"late")
    assert one(peer) == ("RA", peer.rcv_nxt, peer.seq, 64240, 0, 0)
    peer.send("A")                                   # a pure ACK to a non-active socket: nothing
    assert peer.take() == []


def test_every_fault_switch_on_these_items_has_a_breaking_test() -> None:
    """Each faults.py switch that breaks an item of the keep-alive/reset/handshake/connect/transfer
    groups is matched by a test_fault_<switch>_breaks_FR_* in one of those modules."""
    from pathlib import Path

    from stack_under_test.faults import FAULT_SEMANTICS

    mine = {f"FR-KA-{i}" for i in range(1, 8)} | {
        "FR-RST-1", "FR-RST-2", "FR-SYN-1", "FR-SYN-2", "FR-HS-1", "FR-HS-2", "FR-HS-3", "FR-HS-4",
        "FR-CONNECT-1", "FR-CONNECT-2", "FR-CONNECT-3", "FR-RTO-1", "FR-WIN-1", "FR-OOO-1",
        "FR-ACK-1", "FR-HANG-1"}
    here = Path(__file__).parent
    text = "".join((here / f"test_fr_{m}.py").read_text(encoding="utf-8")
                   for m in ("keepalive", "reset", "handshake", "connect", "transfer"))
    wanted = {name: sorted(set(ids) & mine) for name, ids in FAULT_SEMANTICS.items() if set(ids) & mine}
    assert set(wanted) == {"keepalive_five_probes", "rst_in_window_closes", "syn_in_established_resets",
                           "keepalive_probe_seq_nxt", "reset_seq_zero", "keepalive_not_reset_by_data",
                           "challenge_ack_wrong_seq", "challenge_ack_after_isn", "handshake_rst_keeps_fin"}
    for name, ids in wanted.items():
        for fr in ids:
            assert f"def test_fault_{name}_breaks_{fr.replace('-', '_')}(" in text, (name, fr)


# -- FR-RST-2 --------------------------------------------------------------------------------------

def test_FR_RST_2_connect_syn_accepts_only_ack_isn_plus_1() -> None:
    st, peer, h, call = client()
    syn = syns(peer.take())[0]
    isn = syn.tcp.seq
    peer.dut_port = syn.tcp.sport
    peer.send("RA", seq=777, ack=isn)                # wrong ack: ignored
    peer.send("RA", seq=777, ack=isn + 2)
    assert st.connstatus(h) == TcpState.CONNECT_SYN
    peer.run(3.0)
    assert [s.time for s in syns(peer.take())] == [3.0]   # the attempt carries on
    peer.send("R", seq=777, ack=isn + 1)             # ACK flag not needed, only the ack field
    assert st.connstatus(h) == TcpState.CLOSED
    assert peer.take() == []


def check_FR_RST_2(config: StackConfig) -> None:
    st, peer, h = est(config)
    push(peer, b"abc")
    peer.take()
    assert st.recv(h, 10, MSG_DONTWAIT).result == 3
    rcv_nxt = peer.seq
    # Out of window, or just behind: ignored.
    for seq in (rcv_nxt + 2**29, rcv_nxt - 1, rcv_nxt + 2920, rcv_nxt + 100_000):
        peer.send("R", seq=seq)
    assert peer.take() == []
    # In the window but not exact: challenge ACK with the RST's window, connection stays.
    peer.send("R", seq=rcv_nxt + 100, window=0)
    assert one(peer) == ("A", peer.dut_isn + 1, rcv_nxt, 0, 0, 0)
    peer.send("RA", seq=rcv_nxt + 1)
    assert one(peer) == ("A", peer.dut_isn + 1, rcv_nxt, 64240, 0, 0)
    peer.send("R", seq=rcv_nxt + 2919, window=777)
    assert one(peer) == ("A", peer.dut_isn + 1, rcv_nxt, 777, 0, 0)
    assert st.connstatus(h) == TcpState.ESTABLISHED
    # No rate limit.
    for _ in range(20):
        peer.send("R", seq=rcv_nxt + 5)
    assert len(peer.take()) == 20
    assert st.connstatus(h) == TcpState.ESTABLISHED


def test_FR_RST_2_in_window_rst_draws_challenge_ack_out_of_window_ignored() -> None:
    check_FR_RST_2(StackConfig())


def test_fault_rst_in_window_closes_breaks_FR_RST_2() -> None:
    with pytest.raises(AssertionError):
        check_FR_RST_2(with_fault("rst_in_window_closes"))


def test_fault_challenge_ack_wrong_seq_breaks_FR_RST_2() -> None:
    with pytest.raises(AssertionError):
        check_FR_RST_2(with_fault("challenge_ack_wrong_seq"))


@pytest.mark.parametrize("flags", ["R", "RA"])
def test_FR_RST_2_exact_rst_closes_at_once(flags: str) -> None:
    st, peer, h = est()
    recv = st.recv(h, 100)
    peer.run(5.0)
    peer.send(flags, seq=peer.seq)
    assert peer.take() == []                         # nothing sent
    assert st.connstatus(h) == TcpState.CLOSED
    assert recv.done and recv.result == -Errno.ENOTCONN and recv.finished == 5.0
    events = st.pop_events()
    assert state_changes(events, h) == [(5.0, 5, 0)]
    assert bits_raised(events, h) & EventBit.CLOSED
    assert st.send(h, b"x").result == -Errno.ENOTCONN
    assert st.recv(h, 10).result == -Errno.ENOTCONN


def test_FR_RST_2_ignore_unknown_packets_suppresses_challenge_ack() -> None:
    st, peer, h = est(StackConfig(ignore_unknown_packets=True))
    peer.send("R", seq=peer.seq + 100)
    assert peer.take() == []
    assert st.connstatus(h) == TcpState.ESTABLISHED


def test_FR_RST_2_rst_in_syn_received_closes_without_event() -> None:
    st, listener = listening_stack()
    peer = Peer(st)
    peer.seq = peer.isn
    peer.send("S")
    synack = peer.take()[0]
    assert str(synack.tcp.flags) == "SA"
    st.pop_events()
    peer.send("R", seq=peer.isn + 1)
    assert peer.take() == []
    events = st.pop_events()
    assert any(e.kind == "state" and e.detail == (4, 0) for e in events)
    assert bits_raised(events, listener) == 0
    # The child is gone: the handshake ACK now meets the listener and draws RST|ACK.
    peer.send("A", seq=peer.isn + 1, ack=synack.tcp.seq + 1)
    assert one(peer)[0] == "RA"


def test_FR_RST_2_rst_does_not_reset_keepalive() -> None:
    st, peer, h = est(StackConfig(keepalive=True))
    peer.run(35.0)
    peer.send("R", seq=peer.seq + 10)                # challenge ACK, but the idle time runs on
    assert one(peer)[0] == "A"
    peer.run(41.0)
    probes = peer.take()
    assert [(s.time, rel_seq(peer, s)) for s in probes] == [(40.0, 0)]


# -- FR-SYN-1 --------------------------------------------------------------------------------------

def check_FR_SYN_1(config: StackConfig) -> None:
    st, peer, h = est(config)
    push(peer, b"a")
    assert one(peer)[:3] == ("A", peer.dut_isn + 1, peer.seq)
    for seq in (peer.seq + 2**30, peer.seq + 100, peer.seq, 12345):   # probe 6 (a)-(d)
        peer.send("S", seq=seq, options=[("MSS", 1460)])
        assert peer.take() == []
        assert st.connstatus(h) == TcpState.ESTABLISHED
    push(peer, b"b")
    assert one(peer)[:3] == ("A", peer.dut_isn + 1, peer.seq)
    got = st.recv(h, 10, MSG_DONTWAIT)
    assert got.data == b"ab"


def test_FR_SYN_1_syn_on_established_4tuple_silently_dropped() -> None:
    check_FR_SYN_1(StackConfig())


def test_fault_syn_in_established_resets_breaks_FR_SYN_1() -> None:
    with pytest.raises(AssertionError):
        check_FR_SYN_1(with_fault("syn_in_established_resets"))


def test_FR_SYN_1_dropped_in_fin_wait_1() -> None:
    st, peer, h = est()
    assert st.shutdown(h) == 0
    assert one(peer)[0] == "FA"
    peer.send("S", seq=99)
    assert peer.take() == []
    assert st.connstatus(h) == TcpState.FIN_WAIT_1


def test_FR_SYN_1_dropped_in_last_ack() -> None:
    st, peer, h = est()
    peer.send("FA")
    assert one(peer)[0] == "FA"
    peer.send("S", seq=99)
    assert peer.take() == []
    assert st.connstatus(h) == TcpState.LAST_ACK


def test_FR_SYN_1_does_not_reset_keepalive() -> None:
    st, peer, h = est(StackConfig(keepalive=True))
    for t in (10.0, 30.0, 50.0, 70.0, 90.0):
        peer.run(t)
        peer.send("S", seq=424242)
    peer.run(200.0)
    assert [s.time for s in peer.take()] == pytest.approx([40.0, 62.5, 85.0, 107.5])
    assert st.connstatus(h) == TcpState.CLOSE_WAIT


@pytest.mark.parametrize("end_state", [TcpState.CLOSE_WAIT, TcpState.CLOSED])
def test_FR_SYN_1_syn_to_ended_socket_gets_rst(end_state: TcpState) -> None:
    st, peer, h = est()
    if end_state == TcpState.CLOSED:
        peer.send("R", seq=peer.seq)
    else:
        peer.send("FA")
        peer.seq += 1
        peer.rcv_nxt += 1
        peer.send("A")
    peer.take()
    assert st.connstatus(h) == end_state
    peer.send("S", seq=55555)
    assert one(peer) == ("RA", 0, 55556, 64240, 0, 0)


# -- FR-SYN-2 --------------------------------------------------------------------------------------

def test_FR_SYN_2_duplicate_synack_gets_immediate_ack() -> None:
    st, peer, h, call = client()
    syn = syns(peer.take())[0]
    peer.accept_syn(syn)
    assert call.done and call.result == 0
    ack = peer.take()
    assert [(str(s.tcp.flags), rel_seq(peer, s), rel_ack(peer, s)) for s in ack] == [("A", 1, 1)]
    peer.run(2.0)
    peer.send("SA", seq=peer.isn, options=[("MSS", 1460)])   # the SYN|ACK again: seq = RCV.NXT - 1
    reply = peer.take()
    assert [(s.time, str(s.tcp.flags), rel_seq(peer, s), rel_ack(peer, s)) for s in reply] == [
        (2.0, "A", 1, 1)]
    assert st.connstatus(h) == TcpState.ESTABLISHED


def test_FR_SYN_2_synack_with_data_processed_as_normal_segment() -> None:
    st, peer, h = est()
    peer.send("SA", payload=b"zz")
    peer.seq += 2
    reply = peer.take()
    assert [(str(s.tcp.flags), rel_ack(peer, s)) for s in reply] == [("A", 3)]
    assert st.connstatus(h) == TcpState.ESTABLISHED
    assert st.recv(h, 10, MSG_DONTWAIT).data == b"zz"


# -- FR-RST-2 in SYN_RECEIVED (measured on the real V4.4.1 by the state x segment matrix) ------------

def check_FR_RST_2_challenge_in_syn_received(config: StackConfig) -> None:
    """A RST inside the window while our SYN|ACK is unacknowledged draws a challenge ACK whose seq
    is the ISN itself: ulOurSequenceNumber has not moved past the SYN yet."""
    st, _ = listening_stack(config)
    peer = Peer(st)
    peer.send("S", seq=peer.isn, options=LINUX_SYN_OPTIONS)
    (synack,) = peer.take()
    peer.seq = peer.isn + 1
    peer.send("R", seq=peer.seq + 100, window=1000)
    assert [(str(s.tcp.flags), s.tcp.seq, s.tcp.ack, s.tcp.window) for s in peer.take()] == [
        ("A", synack.tcp.seq, peer.isn + 1, 1000)]


def test_FR_RST_2_challenge_ack_in_syn_received_carries_the_isn() -> None:
    check_FR_RST_2_challenge_in_syn_received(StackConfig())


def test_fault_challenge_ack_after_isn_breaks_FR_RST_2() -> None:
    with pytest.raises(AssertionError):
        check_FR_RST_2_challenge_in_syn_received(with_fault("challenge_ack_after_isn"))
