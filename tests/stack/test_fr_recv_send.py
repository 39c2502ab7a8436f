"""FR-RECV-*, FR-SEND-1, FR-CONN-1: FreeRTOS_recv/send/issocketconnected results (SEMANTICS.md, FR group)."""

from __future__ import annotations

import pytest
from peer import Peer, connected_client, established, flags_of, listening_stack

from stack_under_test import Stack, StackConfig
from stack_under_test.constants import INVALID_SOCKET, MSG_DONTWAIT, SockOpt, TcpState
from stack_under_test.faults import FAULT_SEMANTICS, Faults

EINVAL = -22
ENOSPC = -28
ENOTCONN = -128


def peer_fin(peer: Peer, payload: bytes = b"", at: float | None = None) -> None:
    peer.send("FA", payload=payload, at=at)
    peer.seq += len(payload) + 1


def final_ack(peer: Peer, at: float | None = None) -> None:
    """The peer acknowledges the stack's FIN."""
    peer.rcv_nxt += 1
    peer.send("A", at=at)


def peer_data(peer: Peer, data: bytes, at: float | None = None) -> None:
    peer.send("PA", payload=data, at=at)
    peer.seq += len(data)


# =========================================================================== FR-RECV-1
def test_FR_RECV_1_buffered_data_first_in_close_wait_then_minus_128() -> None:
    st, _, peer, child = established()
    peer_data(peer, b"abcdef")
    peer_fin(peer)
    final_ack(peer)
    assert st.connstatus(child) == TcpState.CLOSE_WAIT
    r = st.recv(child, 4)
    assert (r.result, r.data) == (4, b"abcd")
    r = st.recv(child, 100)
    assert (r.result, r.data) == (2, b"ef")
    assert st.recv(child, 100).result == ENOTCONN


def test_FR_RECV_1_buffered_data_first_after_rst_closed_state() -> None:
    st, _, peer, child = established()
    peer_data(peer, b"before-rst")
    peer.send("R")
    assert st.connstatus(child) == TcpState.CLOSED
    r = st.recv(child, 100)
    assert (r.result, r.data) == (10, b"before-rst")
    assert st.recv(child, 100).result == ENOTCONN


def test_FR_RECV_1_buffered_data_returned_in_last_ack() -> None:
    st, _, peer, child = established()
    peer_fin(peer, payload=b"bye")
    assert st.connstatus(child) == TcpState.LAST_ACK
    r = st.recv(child, 100)
    assert (r.result, r.data) == (3, b"bye")


# =========================================================================== FR-RECV-2
def test_FR_RECV_2_closed_after_rst_returns_minus_128_at_once() -> None:
    st, _, peer, child = established()
    peer.send("R", at=1.0)
    r = st.recv(child, 100)
    assert r.done and r.result == ENOTCONN and r.finished == 1.0


def test_FR_RECV_2_close_wait_returns_minus_128_at_once() -> None:
    st, _, peer, child = established()
    peer_fin(peer)
    final_ack(peer, at=1.0)
    r = st.recv(child, 100)
    assert r.done and r.result == ENOTCONN and r.finished == 1.0


def test_FR_RECV_2_established_timeout_returns_0_at_the_deadline() -> None:
    st, _, peer, child = established(RCVTIMEO=2.0)
    r = st.recv(child, 100)
    assert not r.done
    peer.run(1.999)
    assert not r.done
    peer.run(3.0)
    assert r.done and r.result == 0 and r.finished == 2.0


def test_FR_RECV_2_dontwait_and_zero_timeout_return_0_not_minus_11() -> None:
    st, _, peer, child = established()
    r = st.recv(child, 100, MSG_DONTWAIT)
    assert r.done and r.result == 0
    assert st.setsockopt(child, SockOpt.RCVTIMEO, 0) == 0
    r = st.recv(child, 100)
    assert r.done and r.result == 0


def test_FR_RECV_2_last_ack_blocks_and_returns_0_on_timeout() -> None:
    st, _, peer, child = established(RCVTIMEO=2.0)
    peer_fin(peer, at=1.0)
    assert st.connstatus(child) == TcpState.LAST_ACK
    r = st.recv(child, 100)
    assert not r.done
    peer.run(5.0)
    assert r.done and r.result == 0 and r.finished == 3.0
    assert st.recv(child, 100, MSG_DONTWAIT).result == 0


def test_FR_RECV_2_blocked_recv_woken_by_rst_returns_minus_128() -> None:
    st, _, peer, child = established()
    r = st.recv(child, 100)
    peer.send("R", at=4.0)
    assert r.done and r.result == ENOTCONN and r.finished == 4.0


@pytest.mark.parametrize("switch", [k for k, v in FAULT_SEMANTICS.items() if "FR-RECV-2" in v])
def test_FR_RECV_2_fault_switch_is_caught(switch: str) -> None:
    st, _, peer, child = established(StackConfig(faults=Faults(**{switch: True})))
    peer.send("R")
    assert st.recv(child, 100).result != ENOTCONN


# =========================================================================== FR-RECV-3
def test_FR_RECV_3_after_peer_fin_recv_blocks_until_our_fin_is_acked_then_minus_128() -> None:
    st, _, peer, child = established()
    r = st.recv(child, 100)
    peer_fin(peer, at=1.0)
    assert st.connstatus(child) == TcpState.LAST_ACK
    assert not r.done                                         # no -128 on the FIN itself
    peer.run(1.5)
    assert not r.done
    final_ack(peer, at=1.5)                                   # one round trip later
    assert r.done and r.result == ENOTCONN and r.finished == 1.5


def test_FR_RECV_3_peer_never_acks_our_fin_minus_128_only_at_hang_protection() -> None:
    st, _, peer, child = established()
    r = st.recv(child, 100)
    peer_fin(peer)
    peer.run(30.0)
    assert not r.done
    assert st.recv(child, 100, MSG_DONTWAIT).result == 0     # LAST_ACK: 0, not -128
    peer.run(60.0)
    assert r.done and r.result == ENOTCONN
    assert 30.0 < r.finished <= 50.0


# =========================================================================== FR-RECV-4
def test_FR_RECV_4_invalid_and_unbound_sockets_return_minus_22() -> None:
    st = Stack(StackConfig())
    assert st.recv(4242, 10).result == EINVAL
    assert st.recv(INVALID_SOCKET, 10).result == EINVAL
    s = st.socket()
    assert st.recv(s, 10).result == EINVAL


def test_FR_RECV_4_bound_never_connected_returns_minus_128() -> None:
    st = Stack(StackConfig())
    s = st.socket()
    assert st.bind(s, 7100) == 0
    r = st.recv(s, 10)
    assert r.done and r.result == ENOTCONN


def test_FR_RECV_4_listening_socket_blocks_then_returns_0() -> None:
    st, listener = listening_stack(RCVTIMEO=1.5)
    r = st.recv(listener, 10)
    assert not r.done
    Peer(st).run(2.0)
    assert r.done and r.result == 0 and r.finished == 1.5


# ============================================================================ FR-SEND-1
def test_FR_SEND_1_invalid_or_unbound_returns_minus_22() -> None:
    st = Stack(StackConfig())
    assert st.send(4242, b"x").result == EINVAL
    s = st.socket()
    assert st.send(s, b"x").result == EINVAL


def test_FR_SEND_1_closed_and_close_wait_return_minus_128() -> None:
    st = Stack(StackConfig())
    s = st.socket()
    assert st.bind(s, 7100) == 0
    assert st.send(s, b"x").result == ENOTCONN                # bound, never connected: CLOSED
    st, _, peer, child = established()
    peer.send("R")
    assert st.send(child, b"x").result == ENOTCONN            # CLOSED after RST
    st, _, peer, child = established()
    peer_fin(peer)
    final_ack(peer)
    assert st.send(child, b"x").result == ENOTCONN            # CLOSE_WAIT (state 8)


def test_FR_SEND_1_returns_0_once_our_fin_was_sent() -> None:
    st, _, peer, child = established()
    assert st.shutdown(child) == 0
    assert st.connstatus(child) == TcpState.FIN_WAIT_1
    assert st.send(child, b"x" * 10).result == 0
    st, _, peer, child = established()
    peer_fin(peer)
    peer.take()
    assert st.connstatus(child) == TcpState.LAST_ACK
    assert st.send(child, b"x" * 10).result == 0
    assert peer.take() == []


def test_FR_SEND_1_count_queued_may_be_partial_and_full_buffer_dontwait_is_minus_28() -> None:
    st, _, peer, child = established()
    big = bytes(range(256)) * 40                               # 10240 bytes > the 5840-byte buffer
    r = st.send(child, big, MSG_DONTWAIT)
    assert r.done and 0 < r.result < len(big)
    r2 = st.send(child, b"more", MSG_DONTWAIT)
    assert r2.done and r2.result == ENOSPC                     # ENOSPC, not EAGAIN (-11)
    sent = peer.take()
    assert sent and all(flags_of(s) == "PA" for s in sent)
    assert b"".join(s.payload for s in sent) == big[:len(b"".join(s.payload for s in sent))]


def test_FR_SEND_1_full_buffer_timeout_returns_minus_28() -> None:
    st, _, peer, child = established(SNDTIMEO=1.0)
    first = st.send(child, b"z" * 20000)                        # the peer acknowledges nothing
    assert not first.done
    peer.run(1.5)
    assert first.done and 0 < first.result < 20000 and first.finished == 1.0   # partial count
    r = st.send(child, b"more")
    assert not r.done
    peer.run(st.now + 2.0)
    assert r.done and r.result == ENOSPC and r.finished == pytest.approx(r.started + 1.0)


def test_FR_SEND_1_data_queued_before_the_handshake_goes_out_after_it() -> None:
    st = Stack(StackConfig())
    s = st.socket()
    peer = Peer(st)
    c = st.connect(s, peer.ip, peer.port)
    assert st.connstatus(s) == TcpState.CONNECT_SYN
    r = st.send(s, b"early bird")
    assert r.done and r.result == 10
    peer.run(1.0)
    (syn,) = peer.take()
    assert flags_of(syn) == "S" and syn.payload == b""
    peer.dut_isn = syn.tcp.seq
    peer.seq, peer.rcv_nxt = peer.isn, syn.tcp.seq + 1
    peer.send("SA", dport=syn.tcp.sport, options=[("MSS", 1460)])
    assert c.done and c.result == 0
    data = [x for x in peer.take() if x.payload]
    assert [(flags_of(x), peer.rel(x), x.payload) for x in data] == [("PA", (1, 1), b"early bird")]


# ============================================================================ FR-CONN-1
def test_FR_CONN_1_one_in_established_and_fin_wait_1() -> None:
    st, _, peer, child = established()
    assert st.issocketconnected(child) == 1
    assert st.shutdown(child) == 0
    assert st.connstatus(child) == TcpState.FIN_WAIT_1
    assert st.issocketconnected(child) == 1
    final_ack(peer)                                            # our FIN acknowledged: still FIN_WAIT_1
    assert st.issocketconnected(child) == 1


def test_FR_CONN_1_zero_in_last_ack_and_close_wait() -> None:
    st, _, peer, child = established()
    peer_fin(peer)
    assert st.connstatus(child) == TcpState.LAST_ACK
    assert st.issocketconnected(child) == 0
    final_ack(peer)
    assert st.connstatus(child) == TcpState.CLOSE_WAIT
    assert st.issocketconnected(child) == 0


def test_FR_CONN_1_zero_in_closed_listen_connecting_and_syn_received() -> None:
    st = Stack(StackConfig())
    s = st.socket()
    assert st.issocketconnected(s) == 0                       # CLOSED, unbound
    st, listener = listening_stack()
    assert st.issocketconnected(listener) == 0                # LISTEN
    peer = Peer(st)
    peer.seq = peer.isn
    peer.send("S", options=[("MSS", 1460)])
    (child,) = {e.socket for e in st.pop_events() if e.kind == "state" and e.detail == (0, 3)}
    assert st.connstatus(child) == TcpState.SYN_RECEIVED
    assert st.issocketconnected(child) == 0
    st2 = Stack(StackConfig())
    c = st2.socket()
    st2.connect(c, peer.ip, peer.port)
    assert st2.connstatus(c) == TcpState.CONNECT_SYN
    assert st2.issocketconnected(c) == 0
    st3, _, peer3, child3 = established()
    peer3.send("R")
    assert st3.connstatus(child3) == TcpState.CLOSED
    assert st3.issocketconnected(child3) == 0


def test_FR_CONN_1_client_connected_is_1_and_invalid_socket_is_minus_22() -> None:
    st, s, _ = connected_client()
    assert st.issocketconnected(s) == 1
    assert st.issocketconnected(4242) == EINVAL
    assert st.issocketconnected(INVALID_SOCKET) == EINVAL


@pytest.mark.parametrize("switch", [k for k, v in FAULT_SEMANTICS.items() if "FR-CONN-1" in v])
def test_FR_CONN_1_fault_switch_is_caught(switch: str) -> None:
    st, _, peer, child = established(StackConfig(faults=Faults(**{switch: True})))
    peer_fin(peer)
    assert st.connstatus(child) == TcpState.LAST_ACK
    assert st.issocketconnected(child) != 0
