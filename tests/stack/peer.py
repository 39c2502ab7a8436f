"""A scapy-built TCP peer for driving the bundled stack in tests.

Frames go in as bytes, and what the stack sends comes back parsed by scapy,
so every assertion rests on an independent parser. The peer answers the
stack's ARP requests for its own address, as a real host on the link would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether

from stack_under_test import Stack, StackConfig

PEER_IP = "198.18.0.1"
PEER_MAC = "02:74:63:68:00:01"
DUT_IP = "198.18.0.2"
DUT_MAC = "02:74:63:68:00:02"
LINUX_SYN_OPTIONS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)]


@dataclass
class Sent:
    time: float
    pkt: Ether

    @property
    def tcp(self) -> TCP:
        return self.pkt[TCP]

    @property
    def payload(self) -> bytes:
        """TCP payload without the Ethernet padding scapy would append to it."""
        ip = self.pkt[IP]
        start = ip.ihl * 4 + self.tcp.dataofs * 4
        return bytes(ip)[start:ip.len]


def checksum_ok(pkt: Ether) -> bool:
    """Recompute the TCP checksum over the segment only (Ethernet padding excluded)."""
    ip = pkt[IP]
    segment = bytes(ip)[ip.ihl * 4:ip.len]
    fresh = TCP(segment)
    fresh.chksum = None
    recomputed = IP(bytes(IP(src=ip.src, dst=ip.dst, proto=6) / fresh))[TCP].chksum
    return recomputed == pkt[TCP].chksum


@dataclass
class Peer:
    """One remote endpoint; ``seq``/``ack`` track its side of one connection."""

    stack: Stack
    port: int = 40000
    ip: str = PEER_IP
    mac: str = PEER_MAC
    isn: int = 100_000
    seq: int = 0
    dut_isn: int = 0
    rcv_nxt: int = 0
    window: int = 64240
    log: list[Sent] = field(default_factory=list)
    dut_port: int = 7000
    """The stack's port that ``send`` addresses when no ``dport`` is given."""

    # -- wire ------------------------------------------------------------------
    def send(self, flags: str, *, seq: int | None = None, ack: int | None = None, payload: bytes = b"",
             window: int | None = None, options: list | None = None, dport: int | None = None,
             at: float | None = None, sport: int | None = None, urgptr: int = 0) -> None:
        pkt = (Ether(src=self.mac, dst=DUT_MAC) / IP(src=self.ip, dst=DUT_IP)
               / TCP(sport=sport or self.port, dport=self.dut_port if dport is None else dport, flags=flags,
                     seq=self.seq if seq is None else seq,
                     ack=(self.rcv_nxt if ack is None else ack) if "A" in flags or ack is not None else 0,
                     window=self.window if window is None else window, options=options or [],
                     urgptr=urgptr) / payload)
        self.stack.receive(bytes(pkt), self.stack.now if at is None else at)
        self._collect()

    def run(self, until: float) -> None:
        """Advance virtual time to ``until``, answering ARP on the way."""
        self._collect()
        while True:
            due = self.stack.next_deadline()
            if due is None or due > until:
                break
            self.stack.advance(due)
            self._collect()
        self.stack.advance(until)
        self._collect()

    def _collect(self) -> None:
        for t, raw in self.stack.pop_frames():
            pkt = Ether(raw)
            if ARP in pkt:
                if pkt[ARP].op == 1 and pkt[ARP].pdst == self.ip:
                    reply = Ether(src=self.mac, dst=pkt.src) / ARP(
                        op=2, hwsrc=self.mac, psrc=self.ip, hwdst=pkt.src, pdst=pkt[ARP].psrc)
                    self.stack.receive(bytes(reply), self.stack.now)
                    self._collect()
                continue
            self.log.append(Sent(t, pkt))

    def take(self) -> list[Sent]:
        """TCP segments the stack sent since the last take."""
        self._collect()
        out = [s for s in self.log if TCP in s.pkt]
        self.log.clear()
        return out

    # -- conversations ---------------------------------------------------------
    def connect(self, dport: int = 7000, options: list | None = None) -> Sent:
        """Three-way handshake with a listening stack; returns its SYN|ACK."""
        self.seq = self.isn
        self.send("S", options=LINUX_SYN_OPTIONS if options is None else options, dport=dport)
        synack = [s for s in self.take() if s.tcp.flags == "SA"]
        assert synack, "no SYN|ACK"
        self.dut_isn = synack[-1].tcp.seq
        self.seq = self.isn + 1
        self.rcv_nxt = self.dut_isn + 1
        self.send("A", dport=dport)
        return synack[-1]

    def accept_syn(self, syn: Sent, *, flags: str = "SA", ack: int | None = None,
                   options: list | None = None) -> None:
        """Answer the stack's SYN (device as client) from ``self.isn``; later sends follow on."""
        self.dut_isn = syn.tcp.seq
        self.rcv_nxt = (self.dut_isn + 1) % 2**32
        self.dut_port = syn.tcp.sport
        self.seq = self.isn
        self.send(flags, ack=self.rcv_nxt if ack is None else ack,
                  options=[("MSS", 1460)] if options is None else options)
        self.seq = (self.isn + 1) % 2**32

    def prime_arp(self, ip: str | None = None) -> None:
        """Put ``ip`` (default: the peer's own) with the peer's MAC in the stack's ARP cache, as the
        peer's ARP request for the stack would; the stack's reply is dropped."""
        request = Ether(src=self.mac, dst="ff:ff:ff:ff:ff:ff") / ARP(
            op=1, hwsrc=self.mac, psrc=ip or self.ip, hwdst="00:00:00:00:00:00", pdst=DUT_IP)
        self.stack.receive(bytes(request), self.stack.now)
        self.stack.pop_frames()

    def rel(self, sent: Sent) -> tuple[int, int]:
        """(seq, ack) of a stack segment relative to the two ISNs."""
        return (sent.tcp.seq - self.dut_isn) % 2**32, (sent.tcp.ack - self.isn) % 2**32


def listening_stack(config: StackConfig | None = None, port: int = 7000, backlog: int = 4,
                    **opts: object) -> tuple[Stack, int]:
    st = Stack(config or StackConfig())
    s = st.socket()
    for opt, value in opts.items():
        from stack_under_test.constants import SockOpt
        assert st.setsockopt(s, SockOpt[opt.upper()], value) == 0
    assert st.bind(s, port) == 0
    assert st.listen(s, backlog) == 0
    return st, s


# -- additions for the FR close/recv/listen/event tests (generic, behaviour of the above unchanged) --

def flags_of(sent: Sent) -> str:
    """The stack segment's TCP flags as scapy spells them ("A", "FA", "RA", "SA", "PA", ...)."""
    return str(sent.tcp.flags)


def established(config: StackConfig | None = None, port: int = 7000, backlog: int = 4,
                **opts: object) -> tuple[Stack, int, Peer, int]:
    """A listening stack, a Peer that completed the handshake and the accepted socket.

    Returns (stack, listening handle, peer, accepted handle); the SYN|ACK is consumed.
    """
    st, listener = listening_stack(config, port=port, backlog=backlog, **opts)
    peer = Peer(st)
    peer.connect(dport=port)
    call = st.accept(listener)
    assert call.done and call.result is not None and call.result > 0, "accept did not return a socket"
    peer.take()
    return st, listener, peer, call.result


def answer_syn(peer: Peer, syn: Sent, options: list | None = None) -> None:
    """Play the server side of the stack's active open: SYN|ACK to its SYN (no third segment needed)."""
    peer.dut_isn = syn.tcp.seq
    peer.seq = peer.isn
    peer.rcv_nxt = peer.dut_isn + 1
    peer.send("SA", dport=syn.tcp.sport, options=LINUX_SYN_OPTIONS if options is None else options)
    peer.seq = peer.isn + 1


def connected_client(config: StackConfig | None = None, **opts: object) -> tuple[Stack, int, Peer]:
    """A stack socket that actively connected to the Peer (which played the server).

    Returns (stack, socket handle, peer); connect() has returned 0 and the handshake ACK is consumed.
    """
    from stack_under_test.constants import SockOpt
    st = Stack(config or StackConfig())
    handle = st.socket()
    for opt, value in opts.items():
        assert st.setsockopt(handle, SockOpt[opt.upper()], value) == 0
    peer = Peer(st)
    call = st.connect(handle, peer.ip, peer.port)
    peer.run(st.now + 1.0)
    syns = [s for s in peer.take() if s.tcp.flags == "S"]
    assert syns, "no SYN"
    answer_syn(peer, syns[-1])
    assert call.done and call.result == 0, "connect did not succeed"
    peer.take()
    return st, handle, peer


def assert_rst_for(sent: Sent, *, seq: int, ack: int, window: int) -> None:
    """FR-RST-1 format: RST|ACK, seq = incoming ack field, ack = incoming seq (+1 for SYN), window copied."""
    assert flags_of(sent) == "RA"
    assert sent.tcp.seq == seq % 2**32
    assert sent.tcp.ack == ack % 2**32
    assert sent.tcp.window == window
    assert sent.tcp.options == []
    assert sent.payload == b""
