"""FR-EV-*: event bits, the user semaphore, the wake callback and select() (SEMANTICS.md, FR group)."""

from __future__ import annotations

import pytest
from peer import LINUX_SYN_OPTIONS, Peer, answer_syn, established, flags_of, listening_stack

from stack_under_test import Stack, StackConfig
from stack_under_test.calls import Event
from stack_under_test.constants import MSG_DONTWAIT, EventBit, SelectBit, SockOpt, TcpState
from stack_under_test.faults import FAULT_SEMANTICS, Faults

NOTIFY = dict(user_semaphore=True, wake_callback=True)


def bits_on(events: list[Event], handle: int) -> list[int]:
    return [int(e.detail) for e in events if e.kind == "bits" and e.socket == handle]


def all_bits(events: list[Event]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for e in events:
        if e.kind == "bits":
            out.setdefault(e.socket, []).append(int(e.detail))
    return out


def changes_and_bits(st: Stack) -> tuple[list[tuple[int, int]], dict[int, list[int]]]:
    """The state changes and the event bits raised since the last look."""
    events = st.pop_events()
    return [e.detail for e in events if e.kind == "state"], all_bits(events)


def notified_server(config: StackConfig | None = None, reuse: bool = False
                    ) -> tuple[Stack, int, int, list[int]]:
    """A listener with a semaphore and a wake callback installed before bind; returns (st, s, sem, woken)."""
    st = Stack(config or StackConfig(**NOTIFY))
    sem = st.semaphore_create()
    woken: list[int] = []
    s = st.socket()
    assert st.setsockopt(s, SockOpt.SET_SEMAPHORE, sem) == 0
    assert st.setsockopt(s, SockOpt.WAKEUP_CALLBACK, woken.append) == 0
    if reuse:
        assert st.setsockopt(s, SockOpt.REUSE_LISTEN_SOCKET, True) == 0
    assert st.bind(s, 7000) == 0
    assert st.listen(s, 4) == 0
    return st, s, sem, woken


def notified_client(config: StackConfig | None = None) -> tuple[Stack, int, int, list[int], Peer]:
    """A client socket with semaphore and wake callback, connect() started (state 2); the SYN is consumed."""
    st = Stack(config or StackConfig(**NOTIFY))
    sem = st.semaphore_create()
    woken: list[int] = []
    s = st.socket()
    assert st.setsockopt(s, SockOpt.SET_SEMAPHORE, sem) == 0
    assert st.setsockopt(s, SockOpt.WAKEUP_CALLBACK, woken.append) == 0
    peer = Peer(st)
    st.connect(s, peer.ip, peer.port)
    peer.run(1.0)
    return st, s, sem, woken, peer


def state_changes_are_signalled(events: list[Event], parent_of: dict[int, int]) -> list[tuple[int, int]]:
    """Every 'state' record must be followed (after its own bit records) by a semaphore give on the socket
    or, for a child not yet accepted, its parent. Returns the (old, new) pairs checked."""
    checked = []
    for i, e in enumerate(events):
        if e.kind != "state":
            continue
        follow = [x for x in events[i + 1:] if x.kind != "bits"]
        assert follow, f"no notification after state change {e}"
        nxt = follow[0]
        assert nxt.kind == "semaphore" and nxt.time == e.time, f"state change {e} not signalled: {nxt}"
        assert nxt.socket in (e.socket, parent_of.get(e.socket, e.socket))
        checked.append(e.detail)
    return checked


# ============================================================================== FR-EV-1
def test_FR_EV_1_event_and_select_bit_values() -> None:
    assert [(b.name, int(b)) for b in EventBit] == [
        ("RECEIVE", 0x01), ("SEND", 0x02), ("ACCEPT", 0x04), ("CONNECT", 0x08), ("BOUND", 0x10),
        ("CLOSED", 0x20), ("INTR", 0x40)]
    assert [(b.name, int(b)) for b in SelectBit] == [("READ", 1), ("WRITE", 2), ("EXCEPT", 4), ("INTR", 8)]


def test_FR_EV_1_server_lifecycle_delivers_exact_bit_values() -> None:
    st, listener = listening_stack()
    assert bits_on(st.pop_events(), listener) == [0x10]               # BOUND
    peer = Peer(st)
    peer.connect()
    ev = st.pop_events()
    child = st.accept(listener).result
    assert bits_on(ev, listener) == [0x04]                            # ACCEPT on the parent
    peer.send("PA", payload=b"abc")
    peer.seq += 3
    assert bits_on(st.pop_events(), child) == [0x01]                  # RECEIVE
    assert st.send(child, b"x" * 10).result == 10
    peer.rcv_nxt += 10
    peer.send("A", at=0.1)
    assert bits_on(st.pop_events(), child) == [0x02]                  # SEND (space freed)
    peer.send("R", at=0.2)
    assert bits_on(st.pop_events(), child) == [0x20]                  # CLOSED


def test_FR_EV_1_client_connect_delivers_bound_then_connect() -> None:
    st = Stack(StackConfig())
    s = st.socket()
    peer = Peer(st)
    c = st.connect(s, peer.ip, peer.port)
    peer.run(1.0)
    (syn,) = peer.take()
    answer_syn(peer, syn)
    assert c.result == 0
    assert bits_on(st.pop_events(), s) == [0x10, 0x08]               # BOUND (implicit bind), CONNECT


def test_FR_EV_1_select_returns_the_select_bit_values() -> None:
    st, listener = listening_stack(StackConfig(select=True))
    ss = st.socketset_create()
    st.fd_set(ss, listener, SelectBit.READ | SelectBit.WRITE | SelectBit.EXCEPT)
    Peer(st).connect()
    call = st.select(ss, 0)
    assert call.result == 1                                           # eSELECT_READ
    child = st.accept(listener).result
    st.fd_set(ss, child, SelectBit.READ | SelectBit.WRITE | SelectBit.EXCEPT)
    assert st.fd_isset(ss, child) == 2                                # eSELECT_WRITE
    Peer(st, port=41001).connect()
    assert st.select(ss, 0).result == 1 | 2                           # READ (listener) | WRITE (child)


# ============================================================================== FR-EV-2
def test_FR_EV_2_every_state_change_gives_the_semaphore_server_side() -> None:
    st, s, sem, woken = notified_server()
    peer = Peer(st)
    peer.connect()
    child = st.accept(s).result
    peer.send("PA", payload=b"hi")
    peer.seq += 2
    peer.send("FA")                                                   # 5 -> 10: no bit, still signalled
    peer.seq += 1
    peer.rcv_nxt += 1
    peer.send("A")                                                    # 10 -> 8
    ev = st.pop_events()
    checked = state_changes_are_signalled(ev, {child: s})
    assert checked == [(0, 1), (0, 3), (3, 4), (4, 5), (5, 10), (10, 8)]
    assert st.semaphore_take(sem, 0).result == 1


def test_FR_EV_2_state_change_without_bit_5_to_10_gives_semaphore() -> None:
    st, s, sem, woken = notified_server()
    peer = Peer(st)
    peer.connect()
    child = st.accept(s).result
    st.pop_events()
    st.semaphore_take(sem, 0)                                         # drain
    assert st.semaphore_take(sem, 0).result == 0
    peer.send("FA", at=1.0)
    ev = st.pop_events()
    assert [e.detail for e in ev if e.kind == "state"] == [(5, 10)]
    assert bits_on(ev, child) == []
    assert [(e.kind, e.socket, e.time) for e in ev if e.kind == "semaphore"] == [("semaphore", child, 1.0)]
    assert st.semaphore_take(sem, 0).result == 1


def test_FR_EV_2_refused_connect_2_to_0_gives_semaphore_and_calls_wake() -> None:
    st, s, sem, woken, peer = notified_client()
    (syn,) = peer.take()
    st.pop_events()
    woken.clear()
    peer.send("RA", seq=0, ack=syn.tcp.seq + 1, dport=syn.tcp.sport, at=1.5)
    ev = st.pop_events()
    assert [(e.kind, e.detail) for e in ev if e.kind in ("state", "bits", "semaphore")] == [
        ("state", (2, 0)), ("semaphore", sem)]
    assert woken == [s]
    assert st.semaphore_take(sem, 0).result == 1


def test_FR_EV_2_wake_callback_on_bind_state_changes_data_tx_space_and_accept() -> None:
    st = Stack(StackConfig(**NOTIFY))
    woken: list[int] = []
    s = st.socket()
    assert st.setsockopt(s, SockOpt.WAKEUP_CALLBACK, woken.append) == 0
    assert st.bind(s, 7000) == 0
    assert woken == [s]                                               # bind completion
    assert st.listen(s, 4) == 0
    assert woken == [s, s]                                            # 0 -> 1
    woken.clear()
    peer = Peer(st)
    peer.connect()
    assert woken and set(woken) == {s}                                # child 4 -> 5 wakes the parent (accept)


def test_FR_EV_2_children_inherit_the_semaphore_not_the_wake_callback() -> None:
    st, s, sem, woken = notified_server()
    peer = Peer(st)
    peer.connect()
    child = st.accept(s).result
    st.pop_events()
    woken.clear()
    st.semaphore_take(sem, 0)
    peer.send("PA", payload=b"data", at=0.1)                          # new in-order data on the child
    peer.seq += 4
    ev = st.pop_events()
    assert [e.socket for e in ev if e.kind == "semaphore"] == [child]
    assert st.semaphore_take(sem, 0).result == 1
    assert st.send(child, b"y" * 8).result == 8
    st.pop_events()
    peer.rcv_nxt += 8
    peer.send("A", at=0.2)                                            # freed transmit space
    ev = st.pop_events()
    assert bits_on(ev, child) == [int(EventBit.SEND)]
    assert [e.socket for e in ev if e.kind == "semaphore"] == [child]
    assert woken == []                                                # the child has no wake callback
    assert [e for e in ev if e.kind == "wake"] == []


@pytest.mark.parametrize("switch", [k for k, v in FAULT_SEMANTICS.items() if "FR-EV-2" in v])
def test_FR_EV_2_fault_switch_is_caught(switch: str) -> None:
    st, s, sem, woken = notified_server(StackConfig(**NOTIFY, faults=Faults(**{switch: True})))
    peer = Peer(st)
    peer.connect()
    child = st.accept(s).result
    peer.send("FA")
    peer.seq += 1
    peer.rcv_nxt += 1
    peer.send("A")
    with pytest.raises(AssertionError):
        state_changes_are_signalled(st.pop_events(), {child: s})


# ============================================================================== FR-EV-3
def test_FR_EV_3_active_connect_success_sets_connect() -> None:
    st, s, sem, woken, peer = notified_client()
    (syn,) = peer.take()
    st.pop_events()
    answer_syn(peer, syn)
    assert all_bits(st.pop_events()) == {s: [int(EventBit.CONNECT)]}


def test_FR_EV_3_child_established_sets_accept_on_the_parent_only() -> None:
    st, listener = listening_stack()
    st.pop_events()
    Peer(st).connect()
    assert all_bits(st.pop_events()) == {listener: [int(EventBit.ACCEPT)]}


def test_FR_EV_3_reuse_socket_gets_accept_on_itself() -> None:
    st, s = listening_stack(reuse_listen_socket=True)
    st.pop_events()
    Peer(st).connect()
    assert all_bits(st.pop_events()) == {s: [int(EventBit.ACCEPT)]}


@pytest.mark.parametrize("path", ["fin_then_last_ack", "rst_in_established", "shutdown_then_peer_fin"])
def test_FR_EV_3_connected_to_0_or_8_sets_closed(path: str) -> None:
    st, listener, peer, child = established()
    st.pop_events()
    if path == "fin_then_last_ack":
        peer.send("FA")
        peer.seq += 1
        assert all_bits(st.pop_events()) == {}                        # 5 -> 10: no bit
        peer.rcv_nxt += 1
        peer.send("A")
    elif path == "rst_in_established":
        peer.send("R")
    else:
        assert st.shutdown(child) == 0
        peer.rcv_nxt += 1
        peer.send("FA")
        peer.seq += 1
    ev = st.pop_events()
    final = [e.detail for e in ev if e.kind == "state"][-1]
    assert final[1] in (TcpState.CLOSED, TcpState.CLOSE_WAIT)
    assert all_bits(ev) == {child: [int(EventBit.CLOSED)]}


def test_FR_EV_3_connect_syn_retries_exhausted_sets_closed() -> None:
    st = Stack(StackConfig())
    s = st.socket()
    peer = Peer(st)
    st.connect(s, peer.ip, peer.port)
    st.pop_events()
    peer.run(40.0)                                                    # the peer never answers the SYNs
    assert changes_and_bits(st) == ([(2, 8)], {s: [int(EventBit.CLOSED)]})


def test_FR_EV_3_connect_arp_failure_sets_closed() -> None:
    st = Stack(StackConfig())
    s = st.socket()
    peer = Peer(st)                                                   # answers ARP only for its own address
    c = st.connect(s, "198.18.0.77", 7000)
    st.pop_events()
    peer.run(10.0)
    assert changes_and_bits(st) == ([(2, 8)], {s: [int(EventBit.CLOSED)]})
    assert c.done and c.result == -128
    assert peer.take() == []                                          # no SYN ever left


def test_FR_EV_3_unaccepted_child_hang_protection_sets_closed_on_the_parent() -> None:
    st, listener = listening_stack()
    peer = Peer(st)
    peer.seq = peer.isn
    peer.send("S", options=LINUX_SYN_OPTIONS)                         # half-open, never completed
    st.pop_events()
    peer.run(60.0)
    ev = st.pop_events()
    (child_change,) = [e for e in ev if e.kind == "state"]
    assert child_change.detail == (4, 8) and child_change.socket != listener
    assert all_bits(ev) == {listener: [int(EventBit.CLOSED)]}


def test_FR_EV_3_unaccepted_child_bad_handshake_flags_sets_closed_on_the_parent() -> None:
    st, listener = listening_stack()
    peer = Peer(st)
    peer.seq = peer.isn
    peer.send("S", options=LINUX_SYN_OPTIONS)
    synack = peer.take()[-1]
    st.pop_events()
    peer.seq, peer.rcv_nxt = peer.isn + 1, synack.tcp.seq + 1
    peer.send("FA")
    assert changes_and_bits(st) == ([(4, 8)], {listener: [int(EventBit.CLOSED)]})


def test_FR_EV_3_refusing_rst_while_connecting_sets_no_bit_at_all() -> None:
    st = Stack(StackConfig())
    s = st.socket()
    peer = Peer(st)
    st.connect(s, peer.ip, peer.port)
    peer.run(1.0)
    (syn,) = peer.take()
    st.pop_events()
    peer.send("RA", seq=0, ack=syn.tcp.seq + 1, dport=syn.tcp.sport)
    assert changes_and_bits(st) == ([(2, 0)], {})


def test_FR_EV_3_rst_to_a_half_open_child_sets_no_bit_at_all() -> None:
    st, listener = listening_stack()
    peer = Peer(st)
    peer.seq = peer.isn
    peer.send("S", options=LINUX_SYN_OPTIONS)
    st.pop_events()
    peer.seq = peer.isn + 1
    peer.send("R")
    assert changes_and_bits(st) == ([(4, 0)], {})


# ============================================================================== FR-EV-4
ALL = SelectBit.READ | SelectBit.WRITE | SelectBit.EXCEPT


def select_stack(**opts: object) -> tuple[Stack, int, int]:
    st, listener = listening_stack(StackConfig(select=True), **opts)
    ss = st.socketset_create()
    assert ss > 0
    st.fd_set(ss, listener, ALL)
    return st, listener, ss


def test_FR_EV_4_listener_read_when_a_child_is_ready_to_accept() -> None:
    st, listener, ss = select_stack()
    assert st.select(ss, 0).result == 0
    waiting = st.select(ss, None)
    assert not waiting.done
    peer = Peer(st)
    peer.seq = peer.isn
    peer.send("S", options=LINUX_SYN_OPTIONS)
    synack = peer.take()[-1]
    assert not waiting.done                                           # a half-open child is not ready
    peer.seq, peer.rcv_nxt = peer.isn + 1, synack.tcp.seq + 1
    peer.send("A", at=0.5)
    assert waiting.done and waiting.result == SelectBit.READ and waiting.finished == 0.5
    assert st.fd_isset(ss, listener) == SelectBit.READ
    st.accept(listener)
    assert st.fd_isset(ss, listener) == 0


def test_FR_EV_4_reuse_socket_read_when_connected_and_not_yet_accepted() -> None:
    st, s, ss = select_stack(reuse_listen_socket=True)
    Peer(st).connect()
    assert st.fd_isset(ss, s) & SelectBit.READ
    assert st.accept(s).result == s
    assert not st.fd_isset(ss, s) & SelectBit.READ
    assert st.fd_isset(ss, s) == SelectBit.WRITE


def test_FR_EV_4_read_when_bytes_are_buffered_write_when_tx_space() -> None:
    st, listener, ss = select_stack()
    peer = Peer(st)
    peer.connect()
    child = st.accept(listener).result
    st.fd_set(ss, child, ALL)
    assert st.fd_isset(ss, child) == SelectBit.WRITE
    peer.send("PA", payload=b"abc")
    peer.seq += 3
    assert st.fd_isset(ss, child) == SelectBit.READ | SelectBit.WRITE
    assert st.recv(child, 10).result == 3
    assert st.fd_isset(ss, child) == SelectBit.WRITE
    r = st.send(child, b"f" * 20000, MSG_DONTWAIT)                    # fill the transmit buffer
    assert 0 < r.result < 20000
    assert not st.fd_isset(ss, child) & SelectBit.WRITE


@pytest.mark.parametrize("end", ["close_wait", "closed"])
def test_FR_EV_4_end_of_connection_is_except_never_read(end: str) -> None:
    st, listener, ss = select_stack()
    peer = Peer(st)
    peer.connect()
    child = st.accept(listener).result
    st.fd_set(ss, child, ALL)
    if end == "close_wait":
        peer.send("FA")
        peer.seq += 1
        assert st.fd_isset(ss, child) == 0                            # LAST_ACK: not ready for anything
        peer.rcv_nxt += 1
        peer.send("A")
        assert st.connstatus(child) == TcpState.CLOSE_WAIT
    else:
        peer.send("R")
        assert st.connstatus(child) == TcpState.CLOSED
    assert st.fd_isset(ss, child) == SelectBit.EXCEPT
    st.fd_clr(ss, listener, ALL)
    assert st.select(ss, 0).result == SelectBit.EXCEPT


def test_FR_EV_4_except_with_buffered_data_is_read_plus_except() -> None:
    st, listener, ss = select_stack()
    peer = Peer(st)
    peer.connect()
    child = st.accept(listener).result
    st.fd_set(ss, child, ALL)
    peer.send("PA", payload=b"tail")
    peer.send("R", seq=peer.seq + 4)
    assert st.connstatus(child) == TcpState.CLOSED
    assert st.fd_isset(ss, child) == SelectBit.READ | SelectBit.EXCEPT


def test_FR_EV_4_write_once_right_after_active_connect() -> None:
    st = Stack(StackConfig(select=True))
    s = st.socket()
    ss = st.socketset_create()
    st.fd_set(ss, s, ALL)
    peer = Peer(st)
    st.connect(s, peer.ip, peer.port)
    peer.run(1.0)
    (syn,) = peer.take()
    assert st.select(ss, 0).result == 0                               # still connecting
    answer_syn(peer, syn, options=[("MSS", 1460)])
    r = st.send(s, b"q" * 20000, MSG_DONTWAIT)                        # no transmit space left
    assert 0 < r.result < 20000
    assert st.select(ss, 0).result == SelectBit.WRITE                 # the one-shot WRITE of connect
    assert st.select(ss, 0).result == 0                               # ... only once
    assert flags_of(peer.take()[0]) in ("A", "PA")
