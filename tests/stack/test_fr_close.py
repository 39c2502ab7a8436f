"""FR-CLOSE-*, FR-SHUT-*, FR-FIN-*: closing, shutting down and the peer's FIN (SEMANTICS.md, FR group).

Every wire assertion reads the stack's frames through scapy (peer.py); sequence and
acknowledgement numbers are relative to the two ISNs (Peer.rel), so rel == (1, 1) is
the first byte after each side's SYN.
"""

from __future__ import annotations

import pytest
from peer import (
    LINUX_SYN_OPTIONS,
    Peer,
    assert_rst_for,
    connected_client,
    established,
    flags_of,
    listening_stack,
)

from stack_under_test import Stack, StackConfig
from stack_under_test.constants import SHUT_RD, SHUT_RDWR, SHUT_WR, Errno, TcpState
from stack_under_test.faults import FAULT_SEMANTICS, Faults

ENOTCONN = -128
EOPNOTSUPP = -95


def segs(peer: Peer) -> list[tuple[str, tuple[int, int], int]]:
    """(flags, relative (seq, ack), payload length) of every segment the stack sent since the last take."""
    return [(flags_of(s), peer.rel(s), len(s.payload)) for s in peer.take()]


def states(st: Stack, handle: int) -> list[tuple[int, int]]:
    return [e.detail for e in st.pop_events() if e.kind == "state" and e.socket == handle]


def peer_fin(peer: Peer, payload: bytes = b"", at: float | None = None, dport: int = 7000) -> None:
    """The peer sends FIN|ACK (acking everything it has seen) and advances its own seq past it."""
    peer.send("FA", payload=payload, at=at, dport=dport)
    peer.seq += len(payload) + 1


# --------------------------------------------------------------------- state builders
def in_state(state: str) -> tuple[Stack, Peer, int]:
    """A stack socket in the named state, with the peer's bookkeeping up to date and the log empty."""
    if state == "LISTEN":
        st, listener = listening_stack()
        return st, Peer(st), listener
    if state == "CONNECT_SYN":
        st = Stack(StackConfig())
        s = st.socket()
        peer = Peer(st)
        st.connect(s, peer.ip, peer.port)
        peer.run(1.0)
        assert [flags_of(x) for x in peer.take()] == ["S"]
        return st, peer, s
    st, _, peer, child = established()
    if state == "ESTABLISHED":
        pass
    elif state == "FIN_WAIT_1":
        assert st.shutdown(child) == 0
    elif state == "LAST_ACK":
        peer_fin(peer)
    elif state == "CLOSE_WAIT":
        peer_fin(peer)
        peer.rcv_nxt += 1
        peer.send("A")
    elif state == "CLOSED":
        peer.send("R")
    peer.take()
    assert st.connstatus(child) == TcpState[state]
    return st, peer, child


# ========================================================================= FR-CLOSE-1
def test_FR_CLOSE_1_closesocket_sends_nothing_with_unread_and_unacked_data() -> None:
    st, _, peer, child = established()
    peer.send("PA", payload=b"0123456789")            # 10 bytes the application never reads
    peer.seq += 10
    assert st.send(child, b"u" * 20).result == 20     # 20 bytes the peer never acknowledges
    assert segs(peer) == [("A", (1, 11), 0), ("PA", (1, 11), 20)]
    assert st.closesocket(child) == 1
    assert peer.take() == []
    peer.run(120.0)                                   # no FIN, no RST, no retransmission of the 20 bytes
    assert peer.take() == []
    assert st.connstatus(child) == -Errno.EINVAL      # the socket is gone


@pytest.mark.parametrize("state", ["LISTEN", "CONNECT_SYN", "ESTABLISHED", "FIN_WAIT_1", "LAST_ACK",
                                   "CLOSE_WAIT", "CLOSED"])
def test_FR_CLOSE_1_closesocket_sends_nothing_in_any_state(state: str) -> None:
    st, peer, handle = in_state(state)
    t0 = st.now
    assert st.closesocket(handle) == 1
    peer.run(t0 + 60.0)
    assert peer.take() == []


def test_FR_CLOSE_1_closesocket_returns_0_for_invalid_handles() -> None:
    st = Stack(StackConfig())
    assert st.closesocket(0) == 0          # NULL
    assert st.closesocket(-1) == 0         # FREERTOS_INVALID_SOCKET
    assert st.closesocket(4242) == 0       # never created
    s = st.socket()
    assert st.closesocket(s) == 1          # an unbound, never-used socket still returns 1


@pytest.mark.parametrize("switch", [k for k, v in FAULT_SEMANTICS.items() if "FR-CLOSE-1" in v])
def test_FR_CLOSE_1_fault_switch_is_caught(switch: str) -> None:
    st, _, peer, child = established(StackConfig(faults=Faults(**{switch: True})))
    assert st.closesocket(child) == 1
    peer.run(60.0)
    assert peer.take() != [], "the fault switch should make closesocket() send something"


# ========================================================================= FR-CLOSE-2
def test_FR_CLOSE_2_listener_on_port_answers_even_pure_ack_with_rst() -> None:
    st, _, peer, child = established()
    assert st.closesocket(child) == 1
    peer.send("A", seq=peer.seq, ack=peer.rcv_nxt, window=5000)
    (rst,) = peer.take()
    assert_rst_for(rst, seq=peer.rcv_nxt, ack=peer.seq, window=5000)
    assert peer.rel(rst) == (1, 1)


def test_FR_CLOSE_2_data_after_close_gets_rst_with_ack_equal_to_its_seq() -> None:
    st, _, peer, child = established()
    peer.send("PA", payload=b"123456789")
    peer.seq += 9
    peer.take()
    assert st.closesocket(child) == 1
    peer.send("PA", payload=b"hello world")
    (rst,) = peer.take()
    assert_rst_for(rst, seq=peer.rcv_nxt, ack=peer.seq, window=peer.window)   # ack = seq, not seq+len
    assert peer.rel(rst) == (1, 10)


def test_FR_CLOSE_2_no_socket_at_all_pure_ack_gets_nothing_other_segments_get_rst() -> None:
    st, listener, peer, child = established()
    assert st.closesocket(child) == 1
    assert st.closesocket(listener) == 1
    peer.send("A")
    assert peer.take() == []
    peer.send("A", payload=b"data")                    # ACK with data but no PSH is still a "pure ACK"
    assert peer.take() == []
    peer.send("PA", payload=b"data")
    (rst,) = peer.take()
    assert_rst_for(rst, seq=peer.rcv_nxt, ack=peer.seq, window=peer.window)
    peer.send("FA")
    (rst,) = peer.take()
    assert_rst_for(rst, seq=peer.rcv_nxt, ack=peer.seq, window=peer.window)   # FIN not counted


def test_FR_CLOSE_2_synack_after_closing_a_connecting_socket_gets_rst() -> None:
    st, peer, s = in_state("CONNECT_SYN")
    syn_isn = st.sockets[s].isn
    assert st.closesocket(s) == 1
    peer.send("SA", seq=peer.isn, ack=syn_isn + 1, dport=st.sockets[s].local_port)
    (rst,) = peer.take()
    assert_rst_for(rst, seq=syn_isn + 1, ack=peer.isn + 1, window=peer.window)


# ========================================================================= FR-CLOSE-3
def test_FR_CLOSE_3_closing_listener_silently_closes_unaccepted_children_accepted_live_on() -> None:
    st, listener = listening_stack(backlog=4)
    a = Peer(st, port=41001)
    a.connect()
    accepted = st.accept(listener).result
    b = Peer(st, port=41002)
    b.connect()                                        # ESTABLISHED, never returned by accept
    c = Peer(st, port=41003)
    c.seq = c.isn
    c.send("S", options=LINUX_SYN_OPTIONS)             # half-open: SYN_RECEIVED
    children = {e.socket for e in st.pop_events() if e.kind == "state" and e.detail == (0, 3)}
    assert len(children) == 3 and accepted in children
    others = children - {accepted}
    assert sorted(st.connstatus(h) for h in others) == [TcpState.SYN_RECEIVED, TcpState.ESTABLISHED]
    for p in (a, b, c):
        p.take()

    assert st.closesocket(listener) == 1
    for p in (a, b, c):
        assert p.take() == []                         # nothing sent to anybody
    assert all(st.connstatus(h) == -Errno.EINVAL for h in others)
    assert st.connstatus(accepted) == TcpState.ESTABLISHED

    # The accepted child still works.
    a.send("PA", payload=b"still here")
    a.seq += 10
    (ack,) = a.take()
    assert flags_of(ack) == "A" and a.rel(ack) == (1, 11)
    r = st.recv(accepted, 100)
    assert r.result == 10 and r.data == b"still here"

    # The silently closed child's peer now meets "no socket": data gets RST|ACK.
    b.send("PA", payload=b"hello")
    (rst,) = b.take()
    assert_rst_for(rst, seq=b.rcv_nxt, ack=b.seq, window=b.window)


# ========================================================================== FR-SHUT-1
@pytest.mark.parametrize("how", [SHUT_RD, SHUT_WR, SHUT_RDWR, 99])
def test_FR_SHUT_1_how_is_ignored_every_value_sends_the_fin(how: int) -> None:
    st, _, peer, child = established()
    assert st.shutdown(child, how) == 0
    assert segs(peer) == [("FA", (1, 1), 0)]
    assert st.connstatus(child) == TcpState.FIN_WAIT_1


def test_FR_SHUT_1_invalid_or_unbound_socket_returns_minus_95() -> None:
    st = Stack(StackConfig())
    assert st.shutdown(4242) == EOPNOTSUPP
    s = st.socket()
    assert st.shutdown(s) == EOPNOTSUPP


@pytest.mark.parametrize("state", ["LISTEN", "CONNECT_SYN", "FIN_WAIT_1", "LAST_ACK", "CLOSE_WAIT", "CLOSED"])
def test_FR_SHUT_1_returns_minus_128_unless_exactly_established(state: str) -> None:
    st, peer, handle = in_state(state)
    assert st.shutdown(handle) == ENOTCONN
    assert peer.take() == []
    assert st.connstatus(handle) == TcpState[state]


def test_FR_SHUT_1_bound_never_connected_socket_returns_minus_128() -> None:
    st = Stack(StackConfig())
    s = st.socket()
    assert st.bind(s, 7100) == 0
    assert st.shutdown(s) == ENOTCONN


def test_FR_SHUT_1_second_shutdown_after_the_fin_left_returns_minus_128() -> None:
    st, _, peer, child = established()
    assert st.shutdown(child) == 0
    assert st.shutdown(child) == ENOTCONN
    assert segs(peer) == [("FA", (1, 1), 0)]


# ========================================================================== FR-SHUT-2
def test_FR_SHUT_2_idle_connection_fin_leaves_at_once_and_state_is_fin_wait_1() -> None:
    st, _, peer, child = established()
    st.advance(3.0)
    st.pop_events()
    assert st.shutdown(child) == 0
    (fin,) = peer.take()
    assert flags_of(fin) == "FA" and fin.payload == b"" and fin.time == 3.0
    assert peer.rel(fin) == (1, 1)
    assert states(st, child) == [(5, 6)]


def test_FR_SHUT_2_fin_waits_until_all_data_is_acknowledged() -> None:
    st, _, peer, child = established()
    assert st.send(child, b"d" * 110).result == 110
    assert segs(peer) == [("PA", (1, 1), 110)]
    assert st.shutdown(child) == 0
    peer.run(0.9)
    assert peer.take() == []                                   # data unacknowledged: no FIN yet
    assert st.connstatus(child) == TcpState.ESTABLISHED
    peer.rcv_nxt += 110
    peer.send("A", at=0.9)
    (fin,) = peer.take()
    assert flags_of(fin) == "FA" and fin.payload == b"" and fin.time == 0.9
    assert peer.rel(fin) == (111, 1)
    assert st.connstatus(child) == TcpState.FIN_WAIT_1


def test_FR_SHUT_2_unacknowledged_data_means_no_fin_ever() -> None:
    st, _, peer, child = established()
    assert st.send(child, b"d" * 100).result == 100
    assert st.shutdown(child) == 0
    peer.run(200.0)
    sent = peer.take()
    assert sent, "the data should at least be retransmitted"
    assert all(not s.tcp.flags.F for s in sent)
    assert all(len(s.payload) == 100 for s in sent)
    assert st.connstatus(child) == TcpState.ESTABLISHED


def test_FR_SHUT_2_fin_is_not_retransmitted_by_a_timer() -> None:
    st, _, peer, child = established()
    assert st.shutdown(child) == 0
    assert segs(peer) == [("FA", (1, 1), 0)]
    peer.run(120.0)                       # hang protection ends FIN_WAIT_1 silently at ~40 s
    assert peer.take() == []


def test_FR_SHUT_2_send_queues_after_shutdown_until_the_fin_leaves_then_returns_0() -> None:
    st, _, peer, child = established()
    assert st.send(child, b"a" * 100).result == 100
    assert st.shutdown(child) == 0
    assert st.send(child, b"b" * 10).result == 10             # FIN not sent yet: still queued
    assert segs(peer) == [("PA", (1, 1), 100), ("PA", (101, 1), 10)]
    peer.rcv_nxt += 100
    peer.send("A", at=0.2)
    assert peer.take() == []                                   # 10 bytes still unacknowledged: no FIN
    peer.rcv_nxt += 10
    peer.send("A", at=0.3)
    assert segs(peer) == [("FA", (111, 1), 0)]
    assert st.send(child, b"c" * 10).result == 0
    assert peer.take() == []


@pytest.mark.parametrize("switch", [k for k, v in FAULT_SEMANTICS.items() if "FR-SHUT-2" in v])
def test_FR_SHUT_2_fault_switch_is_caught(switch: str) -> None:
    st, _, peer, child = established(StackConfig(faults=Faults(**{switch: True})))
    assert st.shutdown(child) == 0
    out = peer.take()
    assert not (len(out) == 1 and flags_of(out[0]) == "FA" and st.connstatus(child) == TcpState.FIN_WAIT_1)


# ========================================================================== FR-SHUT-3
def test_FR_SHUT_3_ack_of_fin_changes_nothing_data_stored_unacked_peer_fin_acked_state_8() -> None:
    st, _, peer, child = established()
    assert st.shutdown(child) == 0
    assert segs(peer) == [("FA", (1, 1), 0)]
    st.pop_events()
    peer.rcv_nxt += 1
    peer.send("A", at=0.1)                                    # ACK of our FIN
    assert peer.take() == []
    assert st.connstatus(child) == TcpState.FIN_WAIT_1        # no FIN_WAIT_2
    assert st.issocketconnected(child) == 1
    peer.send("PA", payload=b"after-shutdown", at=1.5)
    peer.seq += 14
    assert peer.take() == []                                  # stored but not acknowledged
    r = st.recv(child, 100)
    assert r.result == 14 and r.data == b"after-shutdown"
    peer_fin(peer, at=3.0)
    (ack,) = peer.take()
    assert flags_of(ack) == "A" and ack.payload == b"" and ack.time == 3.0
    assert peer.rel(ack) == (2, 16)                           # covers the 14 bytes and the FIN
    assert st.connstatus(child) == TcpState.CLOSE_WAIT
    assert states(st, child) == [(6, 8)]
    assert st.recv(child, 100).result == ENOTCONN


def test_FR_SHUT_3_no_time_wait_the_4_tuple_is_reusable_at_once() -> None:
    st, _, peer, child = established()
    assert st.shutdown(child) == 0
    peer.rcv_nxt += 1
    peer.send("A")
    peer_fin(peer)
    peer.take()
    assert st.connstatus(child) == TcpState.CLOSE_WAIT
    assert st.closesocket(child) == 1
    again = Peer(st, port=peer.port, isn=900_000)             # same address and port, at once
    synack = again.connect()
    assert flags_of(synack) == "SA" and synack.tcp.dport == peer.port
    assert len([s for s in st.sockets.values() if not s.freed and s.state == TcpState.ESTABLISHED]) == 1


# ========================================================================== FR-SHUT-4
def test_FR_SHUT_4_duplicate_ack_in_fin_wait_1_resends_fin_and_goes_last_ack() -> None:
    st, _, peer, child = established()
    assert st.shutdown(child) == 0
    assert segs(peer) == [("FA", (1, 1), 0)]
    st.pop_events()
    peer.send("A", at=0.1)                                    # duplicate ACK: does not cover our FIN
    assert segs(peer) == [("FA", (1, 1), 0)]
    assert st.connstatus(child) == TcpState.LAST_ACK
    peer.rcv_nxt += 1
    peer.send("A", at=0.2)                                    # now our FIN is acknowledged, no peer FIN yet
    assert peer.take() == []
    assert st.connstatus(child) == TcpState.LAST_ACK
    peer_fin(peer, at=0.3)
    assert segs(peer) == [("A", (2, 2), 0)]                   # one more pure ACK
    assert states(st, child) == [(6, 10), (10, 8)]


def test_FR_SHUT_4_data_not_acking_our_fin_draws_fin_ack_covering_the_data() -> None:
    st, _, peer, child = established()
    assert st.shutdown(child) == 0
    peer.take()
    peer.send("PA", payload=b"xyz", at=0.1)
    peer.seq += 3
    assert segs(peer) == [("FA", (1, 4), 0)]
    assert st.connstatus(child) == TcpState.LAST_ACK


def test_FR_SHUT_4_simultaneous_close_is_5_6_10_8() -> None:
    st, _, peer, child = established()
    st.pop_events()
    assert st.shutdown(child) == 0
    assert segs(peer) == [("FA", (1, 1), 0)]
    peer_fin(peer, at=0.05)                                   # crossing FIN: does not ack ours
    assert segs(peer) == [("FA", (1, 2), 0)]
    assert st.connstatus(child) == TcpState.LAST_ACK
    peer.rcv_nxt += 1
    peer.send("A", at=0.1)
    assert segs(peer) == [("A", (2, 2), 0)]
    assert states(st, child) == [(5, 6), (6, 10), (10, 8)]


# =========================================================================== FR-FIN-1
def test_FR_FIN_1_peer_fin_answered_at_once_by_fin_ack_last_ack_then_8_silently() -> None:
    st, _, peer, child = established()
    blocked = st.recv(child, 100)
    st.pop_events()
    peer_fin(peer, at=2.0)
    (fin,) = peer.take()
    assert flags_of(fin) == "FA" and fin.payload == b"" and fin.time == 2.0
    assert peer.rel(fin) == (1, 2)                           # ack = FIN + 1
    assert st.connstatus(child) == TcpState.LAST_ACK
    assert not blocked.done
    peer.rcv_nxt += 1
    peer.send("A", at=2.5)
    assert peer.take() == []
    assert st.connstatus(child) == TcpState.CLOSE_WAIT
    assert states(st, child) == [(5, 10), (10, 8)]


def test_FR_FIN_1_fin_with_data_is_acked_at_seq_plus_len_plus_1() -> None:
    st, _, peer, child = established()
    peer_fin(peer, payload=b"hello")
    assert segs(peer) == [("FA", (1, 7), 0)]
    assert st.connstatus(child) == TcpState.LAST_ACK
    r = st.recv(child, 100)
    assert r.result == 5 and r.data == b"hello"


def test_FR_FIN_1_after_peer_fin_send_returns_0_then_minus_128() -> None:
    st, _, peer, child = established()
    peer_fin(peer)
    peer.take()
    assert st.send(child, b"late").result == 0
    assert peer.take() == []
    peer.rcv_nxt += 1
    peer.send("A")
    assert st.send(child, b"late").result == ENOTCONN


def test_FR_FIN_1_client_side_peer_fin_also_closes_at_once() -> None:
    st, s, peer = connected_client()
    peer_fin(peer, at=1.5, dport=st.sockets[s].local_port)
    (fin,) = peer.take()
    assert flags_of(fin) == "FA" and peer.rel(fin) == (1, 2) and fin.time == 1.5
    assert st.connstatus(s) == TcpState.LAST_ACK


def test_FR_FIN_1_fin_behind_a_gap_in_received_data_does_not_close() -> None:
    st, _, peer, child = established()
    peer.send("PA", seq=peer.seq + 5, payload=b"later")          # bytes 6..10; 1..5 missing
    out = segs(peer)
    assert out and out[-1][1] == (1, 1)                           # RCV.NXT stays at the gap
    peer.send("FA", seq=peer.seq + 10)
    out = segs(peer)
    assert all("F" not in f for f, _, _ in out)
    assert st.connstatus(child) == TcpState.ESTABLISHED


@pytest.mark.parametrize("switch", [k for k, v in FAULT_SEMANTICS.items() if "FR-FIN-1" in v])
def test_FR_FIN_1_fault_switch_is_caught(switch: str) -> None:
    st, _, peer, child = established(StackConfig(faults=Faults(**{switch: True})))
    peer_fin(peer)
    out = segs(peer)
    assert not (out == [("FA", (1, 2), 0)] and st.connstatus(child) == TcpState.LAST_ACK)


# =========================================================================== FR-FIN-2
def test_FR_FIN_2_fin_with_our_data_unacked_is_acked_but_connection_stays_established() -> None:
    st, _, peer, child = established()
    assert st.send(child, b"d" * 100).result == 100
    assert segs(peer) == [("PA", (1, 1), 100)]
    st.pop_events()
    peer_fin(peer, at=0.2)                                   # acks none of our 100 bytes
    out = segs(peer)
    assert all("F" not in f for f, _, _ in out)
    assert st.connstatus(child) == TcpState.ESTABLISHED
    # The FIN was consumed: the next segment we send acknowledges it (ack = FIN + 1).
    peer.run(1.5)                                            # the retransmission timer fires
    (rexmit,) = peer.take()
    assert flags_of(rexmit) == "PA" and peer.rel(rexmit) == (1, 2) and len(rexmit.payload) == 100
    # Our data acknowledged by a pure ACK: still no close.
    peer.rcv_nxt += 100
    peer.send("A", at=1.6)
    assert peer.take() == []
    assert st.connstatus(child) == TcpState.ESTABLISHED
    assert states(st, child) == []
    # Only the peer's FIN again closes it.
    peer.send("FA", seq=peer.seq - 1, at=2.0)
    out = peer.take()
    assert flags_of(out[0]) == "FA" and peer.rel(out[0]) == (101, 2)
    assert st.connstatus(child) == TcpState.LAST_ACK


# =========================================================================== FR-FIN-3
def test_FR_FIN_3_last_ack_never_acked_no_fin_retransmission_hang_protection_ends_it() -> None:
    st, _, peer, child = established()
    blocked = st.recv(child, 100)
    peer_fin(peer)
    assert segs(peer) == [("FA", (1, 2), 0)]
    peer.run(30.0)
    assert st.connstatus(child) == TcpState.LAST_ACK
    assert not blocked.done
    peer.run(100.0)
    assert peer.take() == []                                 # no FIN retransmission, no RST
    assert st.connstatus(child) == TcpState.CLOSE_WAIT
    assert blocked.done and blocked.result == ENOTCONN
    assert 30.0 < blocked.finished <= 45.0                   # ~40 s (30 s check, 20 s idle wake)


def test_FR_FIN_3_without_hang_protection_last_ack_lasts() -> None:
    st, _, peer, child = established(StackConfig(hang_protection=False))
    peer_fin(peer)
    peer.take()
    peer.run(300.0)
    assert peer.take() == []
    assert st.connstatus(child) == TcpState.LAST_ACK
