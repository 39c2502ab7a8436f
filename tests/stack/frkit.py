"""Small helpers shared by the test_fr_* modules (keep-alive, reset, handshake, connect, transfer).

Everything on the wire goes through the scapy ``Peer`` of peer.py; these helpers only set up
connections and summarise what the stack reported.
"""

from __future__ import annotations

from dataclasses import replace

from peer import PEER_IP, Peer, Sent, established

from stack_under_test import Stack, StackConfig
from stack_under_test.calls import Call, Event
from stack_under_test.constants import SockOpt, TcpState
from stack_under_test.faults import Faults


def est(config: StackConfig | None = None, **opts: object) -> tuple[Stack, Peer, int]:
    """An ESTABLISHED server-side connection made at t=0; the events so far are discarded."""
    st, _listener, peer, handle = established(config, **opts)
    st.pop_events()
    assert st.connstatus(handle) == TcpState.ESTABLISHED
    return st, peer, handle


def client(config: StackConfig | None = None, *, prime: bool = True, ip: str = PEER_IP,
           port: int | None = None, local_port: int | None = None,
           **opts: object) -> tuple[Stack, Peer, int, Call]:
    """A stack socket that called connect() at t=0 towards the Peer; nothing has answered it yet.

    ``prime`` puts the peer in the stack's ARP cache first (as the wire runs did), so the first SYN
    leaves at t=0 rather than after an ARP round.
    """
    st = Stack(config or StackConfig())
    peer = Peer(st)
    if prime:
        peer.prime_arp()
    handle = st.socket()
    for opt, value in opts.items():
        assert st.setsockopt(handle, SockOpt[opt.upper()], value) == 0
    if local_port is not None:
        assert st.bind(handle, local_port) == 0
    call = st.connect(handle, ip, peer.port if port is None else port)
    peer.run(st.now)
    return st, peer, handle, call


def syns(sent: list[Sent]) -> list[Sent]:
    return [s for s in sent if str(s.tcp.flags) == "S"]


def bits_raised(events: list[Event], handle: int) -> int:
    out = 0
    for e in events:
        if e.kind == "bits" and e.socket == handle:
            out |= int(e.detail)
    return out


def state_changes(events: list[Event], handle: int) -> list[tuple[float, int, int]]:
    return [(e.time, *e.detail) for e in events if e.kind == "state" and e.socket == handle]


def with_fault(name: str, base: StackConfig | None = None) -> StackConfig:
    """``base`` (default StackConfig()) with one fault switch of faults.py turned on."""
    base = base or StackConfig()
    return replace(base, faults=Faults(**{name: True}))


def rel_seq(peer: Peer, sent: Sent) -> int:
    return peer.rel(sent)[0]


def rel_ack(peer: Peer, sent: Sent) -> int:
    return peer.rel(sent)[1]


def push(peer: Peer, data: bytes, flags: str = "PA", **kw: object) -> None:
    """The peer sends ``data`` in order and advances its own sequence number."""
    peer.send(flags, payload=data, **kw)
    peer.seq = (peer.seq + len(data)) % 2**32


def ack_all(peer: Peer, sent: list[Sent], **kw: object) -> None:
    """The peer acknowledges everything in ``sent`` (data segments of the stack)."""
    ends = [(s.tcp.seq + len(s.payload)) % 2**32 for s in sent if s.payload]
    if ends:
        peer.rcv_nxt = max(ends, key=lambda e: (e - peer.dut_isn) % 2**32)
    peer.send("A", **kw)


def raw_segment(peer: Peer, flags: str, *, seq: int, ack: int = 0, option_bytes: bytes = b"",
                payload: bytes = b"", dport: int | None = None, window: int = 64240) -> bytes:
    """A frame from the peer whose TCP options are the given raw bytes (padded to 32 bits), so
    malformed option lists can be sent; the checksum is correct."""
    from peer import DUT_IP, DUT_MAC
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    opts = option_bytes + b"\x00" * (-len(option_bytes) % 4)
    tcp = TCP(sport=peer.port, dport=peer.dut_port if dport is None else dport, flags=flags,
              seq=seq % 2**32, ack=ack % 2**32, window=window, dataofs=5 + len(opts) // 4)
    return bytes(Ether(src=peer.mac, dst=DUT_MAC) / IP(src=peer.ip, dst=DUT_IP) / tcp
                 / Raw(opts + payload))
