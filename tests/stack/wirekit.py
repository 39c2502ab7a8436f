"""Scapy-built frames and a bare NetIf rig for tests of the bundled stack.

Frames are built by scapy, never by stack_under_test.wire, so the stack's own
parser is checked against an independent one; ``checksums_ok`` lets scapy
recompute every checksum of a frame the stack sent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet

from stack_under_test.config import StackConfig
from stack_under_test.netif import NetIf

HARNESS_MAC = "02:74:63:68:00:01"
HARNESS_IP = "198.18.0.1"
STACK_MAC = "02:74:63:68:00:02"          # StackConfig's default
STACK_IP = "198.18.0.2"
GATEWAY_MAC = "02:74:63:68:00:fe"
GATEWAY_IP = "198.18.0.254"
OTHER_LOCAL_IP = "198.18.0.77"           # on the stack's /24, never answers unless told to
REMOTE_IP = "198.19.1.7"                 # off the stack's /24 (still 198.18.0.0/15)
BROADCAST = "ff:ff:ff:ff:ff:ff"
LINUX_SYN_OPTIONS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)]


def ipv4_frame(l4: Packet | bytes, *, src: str = HARNESS_IP, dst: str = STACK_IP, eth_src: str = HARNESS_MAC,
               eth_dst: str = STACK_MAC, **ip_fields: object) -> bytes:
    return bytes(Ether(src=eth_src, dst=eth_dst) / IP(src=src, dst=dst, **ip_fields) / l4)


def tcp_frame(*, sport: int = 40000, dport: int = 7000, flags: str = "S", seq: int = 1000, ack: int = 0,
              window: int = 64240, options: list | None = None, payload: bytes = b"",
              **kw: object) -> bytes:
    return ipv4_frame(TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=window,
                          options=options or []) / payload, **kw)


def icmp_echo_frame(*, ident: int = 0x1234, seq: int = 1, payload: bytes = b"ping-payload",
                    icmp_type: int = 8, **kw: object) -> bytes:
    return ipv4_frame(ICMP(type=icmp_type, id=ident, seq=seq) / payload, **kw)


def arp_frame(op: int, *, hwsrc: str = HARNESS_MAC, psrc: str = HARNESS_IP,
              hwdst: str = "00:00:00:00:00:00", pdst: str = STACK_IP, eth_dst: str | None = None,
              eth_src: str | None = None) -> bytes:
    if eth_dst is None:
        eth_dst = BROADCAST if op == 1 else STACK_MAC
    return bytes(Ether(src=eth_src or hwsrc, dst=eth_dst)
                 / ARP(op=op, hwsrc=hwsrc, psrc=psrc, hwdst=hwdst, pdst=pdst))


def arp_request_for_stack(**kw: object) -> bytes:
    """The harness asks who has the stack's IP: the stack learns the harness's MAC from it."""
    return arp_frame(1, **kw)


def arp_reply_to_stack(*, hwsrc: str = HARNESS_MAC, psrc: str = HARNESS_IP, **kw: object) -> bytes:
    """A host answers the stack's ARP request."""
    return arp_frame(2, hwsrc=hwsrc, psrc=psrc, hwdst=STACK_MAC, pdst=STACK_IP, **kw)


def checksums_ok(raw: bytes) -> bool:
    """Recompute the IPv4 header and TCP/UDP/ICMP checksums with scapy and compare."""
    pkt = Ether(raw)
    if IP not in pkt:
        return True
    fresh = pkt.copy()
    for layer in (IP, TCP, UDP, ICMP):
        if layer in fresh:
            fresh[layer].chksum = None
    rebuilt = Ether(bytes(fresh))
    return all(rebuilt[layer].chksum == pkt[layer].chksum for layer in (IP, TCP, UDP, ICMP) if layer in pkt)


@dataclass
class Delivered:
    src: int
    dst: int
    data: bytes
    frame_len: int
    now: float


@dataclass
class NetRig:
    """A NetIf alone, with on_tcp recorded and its output parsed by scapy.

    The default config turns the gratuitous ARP (a timer that never ends) off; pass a config to
    have it.
    """

    config: StackConfig = field(default_factory=lambda: StackConfig(gratuitous_arp=False))
    counters: Counter = field(default_factory=Counter)
    delivered: list[Delivered] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.netif = NetIf(self.config, self.counters, self._on_tcp)

    def _on_tcp(self, src: int, dst: int, data: bytes, frame_len: int, now: float) -> None:
        self.delivered.append(Delivered(src, dst, data, frame_len, now))

    def rx(self, frame: bytes, now: float = 0.0) -> None:
        self.netif.receive_frame(frame, now)

    def pop(self) -> list[tuple[float, Ether]]:
        out = [(t, Ether(raw)) for t, raw in self.netif.output]
        self.netif.output.clear()
        return out

    def pop_raw(self) -> list[tuple[float, bytes]]:
        out = list(self.netif.output)
        self.netif.output.clear()
        return out

    def learn_harness(self, now: float = 0.0) -> None:
        """Put the harness in the ARP cache (as its ARP request would) and drop the reply."""
        self.rx(arp_request_for_stack(), now)
        self.pop()
