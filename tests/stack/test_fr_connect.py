"""FR-CONNECT-1..3: the active open's schedule, FreeRTOS_connect() results, the refused-connect defect."""

from __future__ import annotations

import pytest
from frkit import bits_raised, client, rel_seq, state_changes, syns
from peer import PEER_IP, Peer, listening_stack
from scapy.layers.l2 import ARP, Ether

from stack_under_test import Stack, StackConfig
from stack_under_test.constants import INVALID_SOCKET, Errno, EventBit, TcpState

SILENT_IP = "198.18.0.77"          # on the stack's /24; nobody answers its ARP requests


# -- FR-CONNECT-1 ----------------------------------------------------------------------------------

def test_FR_CONNECT_1_three_syns_at_0_3_9_then_give_up_at_20() -> None:
    st, peer, h, call = client()
    st.pop_events()
    peer.run(19.999)
    sent = peer.take()
    assert [(s.time, str(s.tcp.flags)) for s in sent] == [(0.0, "S"), (3.0, "S"), (9.0, "S")]
    assert len({s.tcp.seq for s in sent}) == 1
    assert not call.done
    assert st.connstatus(h) == TcpState.CONNECT_SYN
    peer.run(100.0)
    assert peer.take() == []                         # give-up sends nothing
    assert call.done and call.result == -Errno.ENOTCONN and call.finished == pytest.approx(20.0)
    assert st.connstatus(h) == TcpState.CLOSE_WAIT
    events = st.pop_events()
    assert state_changes(events, h) == [(pytest.approx(20.0), 2, 8)]
    assert bits_raised(events, h) & EventBit.CLOSED


def test_FR_CONNECT_1_arp_failure_gives_up_after_three_500ms_attempts() -> None:
    st = Stack(StackConfig())
    h = st.socket()
    call = st.connect(h, SILENT_IP, 7000)
    frames = []
    while (due := st.next_deadline()) is not None and due < 60.0:
        st.advance(due)
        frames += [(t, Ether(raw)) for t, raw in st.pop_frames()]
    # Leave out the stack's own announcements (who-has 198.18.0.2 at 10 s and 40 s).
    frames = [(t, f) for t, f in frames if not (ARP in f and f[ARP].psrc == f[ARP].pdst)]
    assert [(t, f[ARP].op, f[ARP].pdst) for t, f in frames] == [
        (0.0, 1, SILENT_IP), (0.5, 1, SILENT_IP), (1.0, 1, SILENT_IP)]   # ARP only, never a SYN
    assert call.done and call.result == -Errno.ENOTCONN and call.finished == pytest.approx(1.5)
    assert st.connstatus(h) == TcpState.CLOSE_WAIT


def test_FR_CONNECT_1_failed_socket_may_connect_again_from_its_port() -> None:
    st, peer, h, call = client()
    peer.run(25.0)
    first = syns(peer.take())
    assert call.result == -Errno.ENOTCONN
    again = st.connect(h, PEER_IP, peer.port)
    peer.run(25.0)
    syn = syns(peer.take())[0]
    assert syn.tcp.sport == first[0].tcp.sport
    peer.accept_syn(syn)
    assert again.done and again.result == 0


# -- FR-CONNECT-2 ----------------------------------------------------------------------------------

def test_FR_CONNECT_2_connected_returns_0_then_eisconn() -> None:
    st, peer, h, call = client()
    syn = syns(peer.take())[0]
    peer.run(0.25)
    peer.accept_syn(syn)
    assert (call.done, call.result, call.finished) == (True, 0, 0.25)
    assert st.connstatus(h) == TcpState.ESTABLISHED
    ack = peer.take()
    assert [(str(s.tcp.flags), rel_seq(peer, s)) for s in ack] == [("A", 1)]
    assert st.connect(h, PEER_IP, peer.port).result == -Errno.EISCONN


def test_FR_CONNECT_2_argument_errors() -> None:
    st = Stack(StackConfig())
    h = st.socket()
    assert st.connect(h, None, 7000).result == -Errno.EINVAL
    assert st.connect(99, PEER_IP, 7000).result == -Errno.EBADF
    assert st.connect(INVALID_SOCKET, PEER_IP, 7000).result == -Errno.EBADF


def test_FR_CONNECT_2_einprogress_while_connecting() -> None:
    st, peer, h, call = client()
    second = st.connect(h, PEER_IP, peer.port)
    assert second.done and second.result == -Errno.EINPROGRESS
    assert not call.done


def test_FR_CONNECT_2_eagain_on_a_listening_socket() -> None:
    st, listener = listening_stack()
    assert st.connect(listener, PEER_IP, 40000).result == -Errno.EAGAIN
    assert st.connstatus(listener) == TcpState.LISTEN


def test_FR_CONNECT_2_nonblocking_returns_eagain_after_starting_the_syn() -> None:
    st, peer, h, call = client(rcvtimeo=0)
    assert call.done and call.result == -Errno.EAGAIN
    assert [s.time for s in syns(peer.take())] == [0.0]
    assert st.connstatus(h) == TcpState.CONNECT_SYN
    peer.run(3.0)
    syn = syns(peer.take())
    assert [s.time for s in syn] == [3.0]            # the attempt goes on in the background
    peer.accept_syn(syn[0])
    assert st.connstatus(h) == TcpState.ESTABLISHED
    assert st.issocketconnected(h) == 1


def test_FR_CONNECT_2_rcvtimeo_expiry_returns_etimedout_attempt_continues() -> None:
    st, peer, h, call = client(rcvtimeo=5.0)
    peer.run(5.0)
    assert call.done and call.result == -Errno.ETIMEDOUT and call.finished == 5.0
    assert st.connstatus(h) == TcpState.CONNECT_SYN
    peer.run(9.5)
    sent = syns(peer.take())
    assert [s.time for s in sent] == [0.0, 3.0, 9.0]
    peer.accept_syn(sent[-1])
    assert st.connstatus(h) == TcpState.ESTABLISHED


def test_FR_CONNECT_2_sndtimeo_does_not_bound_connect() -> None:
    st, peer, h, call = client(sndtimeo=1.0)
    peer.run(10.0)
    assert not call.done
    peer.run(30.0)
    assert call.result == -Errno.ENOTCONN and call.finished == pytest.approx(20.0)


def test_FR_CONNECT_2_unbound_socket_is_bound_automatically() -> None:
    st, peer, h, call = client()
    sport = syns(peer.take())[0].tcp.sport
    assert sport != 0
    assert st.sockets[h].local_port == sport


# -- FR-CONNECT-3 ----------------------------------------------------------------------------------

def refuse(peer: Peer, at: float) -> None:
    syn = syns(peer.take())[0]
    peer.dut_port = syn.tcp.sport
    peer.run(at)
    peer.send("RA", seq=0, ack=syn.tcp.seq + 1)


def test_FR_CONNECT_3_refused_connect_waits_for_rcvtimeo() -> None:
    st, peer, h, call = client(rcvtimeo=6.0)
    st.pop_events()
    refuse(peer, 0.104)
    assert st.connstatus(h) == TcpState.CLOSED       # at once
    assert st.issocketconnected(h) == 0
    assert not call.done                              # ... but connect does not wake
    events = st.pop_events()
    assert state_changes(events, h) == [(0.104, 2, 0)]
    assert bits_raised(events, h) == 0                # no event bit at all
    peer.run(10.0)
    assert call.done and call.result == -Errno.ETIMEDOUT and call.finished == pytest.approx(6.0)
    assert peer.take() == []                          # and no SYN after the RST


def test_FR_CONNECT_3_refused_connect_never_returns_with_portmax_delay() -> None:
    st, peer, h, call = client()
    refuse(peer, 0.104)
    peer.run(10_000.0)
    assert not call.done
    assert st.connstatus(h) == TcpState.CLOSED


def test_FR_CONNECT_3_fixed_by_upstream_defects_false() -> None:
    st, peer, h, call = client(StackConfig(upstream_defects=False))
    st.pop_events()
    refuse(peer, 0.104)
    assert call.done and call.result == -Errno.ENOTCONN and call.finished == 0.104
    assert st.connstatus(h) == TcpState.CLOSED
    assert bits_raised(st.pop_events(), h) & EventBit.CLOSED

