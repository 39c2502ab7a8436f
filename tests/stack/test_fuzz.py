"""Property tests: arbitrary frames and valid-looking TCP segments in every reachable state.

For each state the stack can be put in (LISTEN, SYN_RECEIVED, ESTABLISHED, FIN_WAIT_1, LAST_ACK,
CLOSE_WAIT, CONNECT_SYN) hypothesis feeds it a few inputs; the stack must never raise, every
socket must stay in a valid TcpState other than FIN_WAIT_2/CLOSING/TIME_WAIT (never entered by
FreeRTOS+TCP), timers must keep running, and a fresh handshake on another port must still work.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from frkit import client, est
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from peer import DUT_IP, DUT_MAC, LINUX_SYN_OPTIONS, PEER_IP, PEER_MAC, Peer, listening_stack
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from stack_under_test import Stack
from stack_under_test.constants import TcpState

NEVER_ENTERED = {TcpState.FIN_WAIT_2, TcpState.CLOSING, TcpState.TIME_WAIT}
FRESH_PORT = 8000
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


# -- the states ------------------------------------------------------------------------------------

def in_listen() -> tuple[Stack, Peer]:
    st, _ = listening_stack()
    peer = Peer(st)
    peer.seq = peer.rcv_nxt = peer.isn
    return st, peer


def in_syn_received() -> tuple[Stack, Peer]:
    st, _ = listening_stack()
    peer = Peer(st)
    peer.seq = peer.isn
    peer.send("S", options=LINUX_SYN_OPTIONS)
    sa = peer.take()[0]
    peer.dut_isn, peer.seq, peer.rcv_nxt = sa.tcp.seq, peer.isn + 1, sa.tcp.seq + 1
    return st, peer


def in_established() -> tuple[Stack, Peer]:
    st, peer, _h = est()
    return st, peer


def in_fin_wait_1() -> tuple[Stack, Peer]:
    st, peer, h = est()
    assert st.shutdown(h) == 0
    peer.take()
    return st, peer


def in_last_ack() -> tuple[Stack, Peer]:
    st, peer, h = est()
    peer.send("FA")
    peer.take()
    peer.seq += 1
    return st, peer


def in_close_wait() -> tuple[Stack, Peer]:
    st, peer = in_last_ack()
    peer.rcv_nxt += 1
    peer.send("A")
    return st, peer


def in_connect_syn() -> tuple[Stack, Peer]:
    st, peer, _h, _call = client()
    syn = peer.take()[0]
    peer.dut_isn, peer.dut_port = syn.tcp.seq, syn.tcp.sport
    peer.seq, peer.rcv_nxt = peer.isn, syn.tcp.seq + 1
    return st, peer


STATES: dict[str, tuple[Callable[[], tuple[Stack, Peer]], TcpState]] = {
    "LISTEN": (in_listen, TcpState.LISTEN),
    "SYN_RECEIVED": (in_syn_received, TcpState.SYN_RECEIVED),
    "ESTABLISHED": (in_established, TcpState.ESTABLISHED),
    "FIN_WAIT_1": (in_fin_wait_1, TcpState.FIN_WAIT_1),
    "LAST_ACK": (in_last_ack, TcpState.LAST_ACK),
    "CLOSE_WAIT": (in_close_wait, TcpState.CLOSE_WAIT),
    "CONNECT_SYN": (in_connect_syn, TcpState.CONNECT_SYN),
}


# -- inputs ----------------------------------------------------------------------------------------

segments = hs.fixed_dictionaries({
    "flags": hs.integers(0, 255),
    "seq": hs.one_of(hs.integers(-3000, 3000).map(lambda d: ("near", d)),
                     hs.integers(0, 2**32 - 1).map(lambda v: ("abs", v))),
    "ack": hs.one_of(hs.integers(-3000, 3000).map(lambda d: ("near", d)),
                     hs.integers(0, 2**32 - 1).map(lambda v: ("abs", v))),
    "window": hs.integers(0, 65535),
    "options": hs.one_of(
        hs.just(b""),
        hs.binary(max_size=40),                                       # anything, malformed included
        hs.sampled_from([b"\x02\x04\x05\xb4", b"\x02\x04\x00\x00", b"\x02\x04\x00\x01",
                         b"\x01\x03\x03\x0e", b"\x04\x02", b"\x05\x0a" + bytes(8),
                         b"\x08\x0a" + bytes(8), b"\x02\x03", b"\x00", b"\x01" * 3 + b"\x02"])),
    "payload": hs.binary(max_size=64),
    "own_ports": hs.booleans(),
    "truncate": hs.one_of(hs.none(), hs.integers(0, 140)),
    "gap": hs.sampled_from([0.0, 0.001, 0.5, 3.0, 25.0]),
})

raw_frames = hs.one_of(
    hs.binary(max_size=200),
    hs.binary(max_size=120).map(lambda b: bytes(Ether(src=PEER_MAC, dst=DUT_MAC, type=0x0800)) + b),
    hs.binary(max_size=120).map(
        lambda b: bytes(Ether(src=PEER_MAC, dst=DUT_MAC) / IP(src=PEER_IP, dst=DUT_IP, proto=6) / Raw(b))),
    hs.binary(max_size=60).map(
        lambda b: bytes(Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff", type=0x0806)) + b),
)


def build(peer: Peer, seg: dict) -> bytes:
    kind, v = seg["seq"]
    seq = (peer.seq + v) % 2**32 if kind == "near" else v
    kind, v = seg["ack"]
    ack = (peer.rcv_nxt + v) % 2**32 if kind == "near" else v
    opts = seg["options"][:40]
    opts += b"\x00" * (-len(opts) % 4)
    sport, dport = (peer.port, peer.dut_port) if seg["own_ports"] else (peer.port + 1, peer.dut_port + 1)
    frame = bytes(Ether(src=peer.mac, dst=DUT_MAC) / IP(src=peer.ip, dst=DUT_IP)
                  / TCP(sport=sport, dport=dport, flags=seg["flags"], seq=seq, ack=ack,
                        window=seg["window"], dataofs=5 + len(opts) // 4)
                  / Raw(opts + seg["payload"]))
    if seg["truncate"] is not None:
        frame = frame[:seg["truncate"]]
    return frame


# -- the checks ------------------------------------------------------------------------------------

def check_states(st: Stack) -> None:
    for sock in st.sockets.values():
        if sock.freed:
            continue
        assert isinstance(sock.state, TcpState)
        assert sock.state not in NEVER_ENTERED
        assert st.connstatus(sock.handle) == int(sock.state)


def check_still_works(st: Stack, peer: Peer) -> None:
    """Timers still run, and a fresh client completes a handshake on another port."""
    peer.run(st.now + 60.0)
    check_states(st)
    listener = st.socket()
    assert st.bind(listener, FRESH_PORT) == 0
    assert st.listen(listener, 2) == 0
    accept = st.accept(listener)
    fresh = Peer(st, port=47001, isn=777_000, dut_port=FRESH_PORT)
    synack = fresh.connect(dport=FRESH_PORT)
    assert str(synack.tcp.flags) == "SA" and synack.tcp.ack == fresh.isn + 1
    assert accept.done and accept.result > 0
    assert st.connstatus(accept.result) == TcpState.ESTABLISHED
    fresh.send("PA", payload=b"still alive", dport=FRESH_PORT)
    acks = [s for s in fresh.take() if s.tcp.dport == fresh.port]
    assert acks and acks[-1].tcp.ack == fresh.isn + 1 + 11
    got = st.recv(accept.result, 100, 0x08)
    assert got.data == b"still alive"
    check_states(st)


@pytest.mark.parametrize("state", list(STATES))
def test_setup_reaches_the_state(state: str) -> None:
    make, expected = STATES[state]
    st, _ = make()
    assert expected in {s.state for s in st.sockets.values() if not s.freed}


@pytest.mark.parametrize("state", list(STATES))
@SETTINGS
@given(segs=hs.lists(segments, min_size=1, max_size=6))
def test_valid_looking_segments_never_break_the_stack(state: str, segs: list[dict]) -> None:
    st, peer = STATES[state][0]()
    for seg in segs:
        peer.run(st.now + seg["gap"])
        st.receive(build(peer, seg), st.now)
        peer.take()
        check_states(st)
    check_still_works(st, peer)


@pytest.mark.parametrize("state", list(STATES))
@SETTINGS
@given(frames=hs.lists(raw_frames, min_size=1, max_size=6))
def test_arbitrary_frames_never_break_the_stack(state: str, frames: list[bytes]) -> None:
    st, peer = STATES[state][0]()
    for frame in frames:
        st.receive(frame, st.now)
        peer.take()
        check_states(st)
    check_still_works(st, peer)
