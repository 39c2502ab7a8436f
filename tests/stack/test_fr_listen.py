"""FR-LISTEN-*, FR-REUSE-*, FR-ACCEPT-1: listening sockets, backlog, REUSE_LISTEN_SOCKET, accept."""

from __future__ import annotations

import pytest
from peer import LINUX_SYN_OPTIONS, Peer, assert_rst_for, established, flags_of, listening_stack

from stack_under_test import Stack, StackConfig
from stack_under_test.constants import NULL_SOCKET, SockOpt, TcpState
from stack_under_test.faults import FAULT_SEMANTICS, Faults


def syn(peer: Peer, window: int | None = None) -> None:
    peer.seq = peer.isn
    peer.send("S", options=LINUX_SYN_OPTIONS, window=window)


def children_of(st: Stack, listener: int) -> list[int]:
    return [h for h, s in st.sockets.items()
            if s.parent is not None and s.parent.handle == listener and not s.freed]


def reuse_stack(backlog: int = 4, **opts: object) -> tuple[Stack, int]:
    return listening_stack(backlog=backlog, reuse_listen_socket=True, **opts)


# ========================================================================== FR-LISTEN-1
@pytest.mark.parametrize("flags", ["A", "F", "FA", "SA", "PA", "SF", "SP", "SPA", "U", ""])
def test_FR_LISTEN_1_non_syn_segments_get_rst_ack_in_fr_rst_1_format(flags: str) -> None:
    st, listener = listening_stack()
    peer = Peer(st)
    peer.send(flags, seq=9000, ack=1234, window=4321)
    (rst,) = peer.take()
    plus_one = 1 if "S" in flags else 0
    assert_rst_for(rst, seq=1234, ack=9000 + plus_one, window=4321)   # seq = ack field, ACK bit or not
    assert st.connstatus(listener) == TcpState.LISTEN
    assert children_of(st, listener) == []


def test_FR_LISTEN_1_rst_seq_is_the_ack_field_even_when_the_ack_bit_is_clear() -> None:
    st, _ = listening_stack()
    peer = Peer(st)
    peer.send("F", seq=9500, ack=7777)                         # ACK bit clear, ack field non-zero
    (rst,) = peer.take()
    assert_rst_for(rst, seq=7777, ack=9500, window=peer.window)


@pytest.mark.parametrize("flags", ["R", "RA", "RS"])
def test_FR_LISTEN_1_rsts_are_ignored(flags: str) -> None:
    st, listener = listening_stack()
    peer = Peer(st)
    peer.send(flags, seq=9000, ack=1234)
    assert peer.take() == []
    assert st.connstatus(listener) == TcpState.LISTEN


@pytest.mark.parametrize("flags", ["S", "SE", "SC", "SEC", "SU"])
def test_FR_LISTEN_1_low_five_flags_exactly_syn_is_accepted(flags: str) -> None:
    st, listener = listening_stack()
    peer = Peer(st)
    peer.seq = peer.isn
    peer.send(flags, options=LINUX_SYN_OPTIONS)
    (synack,) = peer.take()
    assert flags_of(synack) == "SA"
    assert synack.tcp.ack == peer.isn + 1
    assert len(children_of(st, listener)) == 1


# ========================================================================== FR-LISTEN-2
def test_FR_LISTEN_2_backlog_counts_accepted_children_full_backlog_gets_rst() -> None:
    st, listener = listening_stack(backlog=1)
    a = Peer(st, port=41001)
    a.connect()
    child = st.accept(listener).result
    assert child > 0 and st.connstatus(child) == TcpState.ESTABLISHED
    b = Peer(st, port=41002, isn=555_000)
    b.seq = b.isn
    b.send("S", options=LINUX_SYN_OPTIONS, window=3333)
    (rst,) = b.take()
    assert_rst_for(rst, seq=0, ack=555_001, window=3333)       # seq = the SYN's ack field (0)
    assert st.connstatus(child) == TcpState.ESTABLISHED
    # Closing the accepted child frees the slot.
    assert st.closesocket(child) == 1
    synack = b.connect()
    assert flags_of(synack) == "SA"


def test_FR_LISTEN_2_half_open_children_count_too() -> None:
    st, listener = listening_stack(backlog=2)
    for port in (41001, 41002):
        p = Peer(st, port=port)
        syn(p)
        assert [flags_of(s) for s in p.take()] == ["SA"]
    third = Peer(st, port=41003, isn=7_000)
    syn(third)
    (rst,) = third.take()
    assert_rst_for(rst, seq=0, ack=7_001, window=third.window)


# =========================================================================== FR-REUSE-1
def test_FR_REUSE_1_accept_returns_the_listening_socket_itself_once_established() -> None:
    st, s = reuse_stack(RCVTIMEO=None)
    acc = st.accept(s)
    assert not acc.done
    peer = Peer(st)
    syn(peer)
    (synack,) = peer.take()
    assert flags_of(synack) == "SA"
    assert st.connstatus(s) == TcpState.SYN_RECEIVED
    assert not acc.done                                       # not before ESTABLISHED
    peer.seq, peer.dut_isn, peer.rcv_nxt = peer.isn + 1, synack.tcp.seq, synack.tcp.seq + 1
    peer.send("A", at=0.5)
    assert acc.done and acc.result == s and acc.finished == 0.5
    assert st.connstatus(s) == TcpState.ESTABLISHED
    assert len([x for x in st.sockets.values() if not x.freed]) == 1      # no child socket was made
    peer.send("PA", payload=b"ping")
    r = st.recv(s, 10)
    assert r.result == 4 and r.data == b"ping"


def test_FR_REUSE_1_backlog_is_not_checked() -> None:
    st, s = reuse_stack(backlog=0)
    peer = Peer(st)
    synack = peer.connect()
    assert flags_of(synack) == "SA"
    assert st.accept(s).result == s


@pytest.mark.parametrize("switch", [k for k, v in FAULT_SEMANTICS.items() if "FR-REUSE-1" in v])
def test_FR_REUSE_1_fault_switch_is_caught(switch: str) -> None:
    st, s = listening_stack(StackConfig(faults=Faults(**{switch: True})), reuse_listen_socket=True)
    Peer(st).connect()
    assert st.accept(s).result != s


# =========================================================================== FR-REUSE-2
def test_FR_REUSE_2_syn_from_another_client_while_connected_gets_rst() -> None:
    st, s = reuse_stack()
    first = Peer(st)
    first.connect()
    assert st.accept(s).result == s
    first.take()
    other = Peer(st, port=49002, isn=31_337)
    other.seq = other.isn
    other.send("S", options=LINUX_SYN_OPTIONS, window=64240)
    (rst,) = other.take()
    assert_rst_for(rst, seq=0, ack=31_338, window=64240)
    # The first connection is unaffected.
    first.send("PA", payload=b"x")
    first.seq += 1
    (ack,) = first.take()
    assert flags_of(ack) == "A" and first.rel(ack) == (1, 2)


def test_FR_REUSE_2_pure_syn_from_the_same_client_while_established_is_dropped() -> None:
    st, s = reuse_stack()
    peer = Peer(st)
    peer.connect()
    assert st.accept(s).result == s
    peer.take()
    peer.send("S", seq=peer.isn + 12345, options=LINUX_SYN_OPTIONS)
    assert peer.take() == []
    assert st.connstatus(s) == TcpState.ESTABLISHED


# =========================================================================== FR-REUSE-3
def ended_reuse_socket() -> tuple[Stack, int, Peer]:
    st, s = reuse_stack()
    peer = Peer(st)
    peer.connect()
    assert st.accept(s).result == s
    peer.send("FA")
    peer.seq += 1
    peer.rcv_nxt += 1
    peer.send("A")
    peer.take()
    assert st.connstatus(s) == TcpState.CLOSE_WAIT
    return st, s, peer


def test_FR_REUSE_3_after_the_connection_ends_the_socket_does_not_listen_again() -> None:
    st, s, _ = ended_reuse_socket()
    late = Peer(st, port=49003, isn=4_000)
    st.advance(60.0)
    syn(late)
    (rst,) = late.take()
    assert_rst_for(rst, seq=0, ack=4_001, window=late.window)
    assert st.connstatus(s) == TcpState.CLOSE_WAIT


def test_FR_REUSE_3_listen_again_in_close_wait_accepts_the_next_client() -> None:
    st, s, _ = ended_reuse_socket()
    assert st.listen(s, 4) == 0
    assert st.connstatus(s) == TcpState.LISTEN
    nxt = Peer(st, port=49004)
    assert flags_of(nxt.connect()) == "SA"
    assert st.accept(s).result == s


def test_FR_REUSE_3_listen_again_allowed_in_closed_after_rst() -> None:
    st, s = reuse_stack()
    peer = Peer(st)
    peer.connect()
    assert st.accept(s).result == s
    peer.send("R")
    assert st.connstatus(s) == TcpState.CLOSED
    assert st.listen(s, 4) == 0
    assert st.connstatus(s) == TcpState.LISTEN
    assert flags_of(Peer(st, port=49005).connect()) == "SA"


def test_FR_REUSE_3_listen_while_listening_or_connected_is_refused() -> None:
    st, s = reuse_stack()
    assert st.listen(s, 4) == -95
    Peer(st).connect()
    assert st.connstatus(s) == TcpState.ESTABLISHED
    assert st.listen(s, 4) == -95


def test_FR_REUSE_3_handshake_failing_by_hang_protection_relistens_automatically() -> None:
    st, s = reuse_stack()
    peer = Peer(st)
    syn(peer)                                                 # never completes the handshake
    assert st.connstatus(s) == TcpState.SYN_RECEIVED
    peer.run(60.0)
    assert st.connstatus(s) == TcpState.LISTEN
    assert flags_of(Peer(st, port=49006).connect()) == "SA"


def test_FR_REUSE_3_handshake_failing_by_bad_flags_relistens_automatically() -> None:
    st, s = reuse_stack()
    peer = Peer(st)
    syn(peer)
    synack = peer.take()[-1]
    peer.seq, peer.rcv_nxt = peer.isn + 1, synack.tcp.seq + 1
    peer.send("FA")                                           # ACK|FIN as the third packet
    reply = peer.take()
    assert reply and "R" in flags_of(reply[0])
    assert st.connstatus(s) == TcpState.LISTEN
    assert flags_of(Peer(st, port=49007).connect()) == "SA"


def test_FR_REUSE_3_rst_in_syn_received_leaves_it_closed_and_not_listening() -> None:
    st, s = reuse_stack(RCVTIMEO=5.0)
    acc = st.accept(s)
    peer = Peer(st)
    syn(peer)
    peer.seq = peer.isn + 1
    peer.send("R")
    assert st.connstatus(s) == TcpState.CLOSED
    other = Peer(st, port=49008, isn=8_000)
    syn(other)
    (rst,) = other.take()
    assert_rst_for(rst, seq=0, ack=8_001, window=other.window)
    other.run(10.0)
    assert acc.done and acc.result == NULL_SOCKET            # the pending accept only times out
    assert st.connstatus(s) == TcpState.CLOSED


# =========================================================================== FR-ACCEPT-1
def test_FR_ACCEPT_1_accept_returns_a_new_socket_listener_stays_in_listen() -> None:
    st, listener, peer, child = established()
    assert child != listener
    assert st.connstatus(listener) == TcpState.LISTEN
    assert st.connstatus(child) == TcpState.ESTABLISHED
    second = Peer(st, port=41010)
    assert flags_of(second.connect()) == "SA"
    child2 = st.accept(listener).result
    assert child2 not in (listener, child) and st.connstatus(child2) == TcpState.ESTABLISHED


def test_FR_ACCEPT_1_child_visible_only_when_established() -> None:
    st, listener = listening_stack(RCVTIMEO=0)
    peer = Peer(st)
    syn(peer)
    synack = peer.take()[-1]
    assert st.accept(listener).result == NULL_SOCKET          # SYN_RECEIVED child is not offered
    st.setsockopt(listener, SockOpt.RCVTIMEO, None)
    acc = st.accept(listener)
    assert not acc.done
    peer.seq, peer.rcv_nxt = peer.isn + 1, synack.tcp.seq + 1
    peer.send("A", at=1.0)
    assert acc.done and acc.finished == 1.0
    assert acc.result > 0 and acc.result != listener
    assert st.connstatus(acc.result) == TcpState.ESTABLISHED


def test_FR_ACCEPT_1_without_hang_protection_a_syn_received_child_is_acceptable() -> None:
    st, listener = listening_stack(StackConfig(hang_protection=False), RCVTIMEO=0)
    peer = Peer(st)
    syn(peer)
    child = st.accept(listener).result
    assert child > 0 and st.connstatus(child) == TcpState.SYN_RECEIVED


def check_FR_ACCEPT_1_listener_never_connected(config: StackConfig) -> None:
    st, listener, peer, child = established(config)
    assert st.issocketconnected(child) == 1
    assert st.issocketconnected(listener) == 0


def test_FR_ACCEPT_1_listener_never_reports_connected() -> None:
    check_FR_ACCEPT_1_listener_never_connected(StackConfig())


@pytest.mark.parametrize("switch", [k for k, v in FAULT_SEMANTICS.items() if "FR-ACCEPT-1" in v])
def test_FR_ACCEPT_1_fault_switch_is_caught(switch: str) -> None:
    with pytest.raises(AssertionError):
        check_FR_ACCEPT_1_listener_never_connected(StackConfig(faults=Faults(**{switch: True})))


@pytest.mark.parametrize("switch", [k for k, v in FAULT_SEMANTICS.items() if "FR-REUSE-2" in v])
def test_FR_REUSE_2_fault_switch_is_caught(switch: str) -> None:
    st, s = listening_stack(StackConfig(faults=Faults(**{switch: True})), reuse_listen_socket=True)
    Peer(st).connect()
    assert st.accept(s).result == s
    other = Peer(st, port=49002, isn=31_337)
    other.seq = other.isn
    other.send("S", options=LINUX_SYN_OPTIONS, window=64240)
    assert flags_of(other.take()[-1]) == "SA"      # the bug: a second client is admitted
