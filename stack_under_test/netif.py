"""The link and network layer of one stack instance: Ethernet II, ARP, IPv4, ICMP echo.

It follows FreeRTOS+TCP V4.4.1 where that is visible on the wire
(FreeRTOS_IP.c, FreeRTOS_IPv4.c, FreeRTOS_ARP.c, FreeRTOS_ICMP.c):

* An IPv4 packet from an address on our subnet that is not in the ARP cache is
  not processed at once: the stack sends an ARP request for the sender and
  holds that one packet (``pxARPWaitingNetworkBuffer``) until an ARP *reply*
  from the sender arrives, or drops it after 2 s. While one packet is held,
  others needing resolution are dropped (the request still goes out). This is
  why a first SYN from the harness is preceded by an ARP request on the wire.
* The IP and the TCP/ICMP checksums are verified here, before that ARP step,
  so a corrupt segment never costs an ARP request.
* ICMP echo replies reuse the request: same IP ID and TOS, TTL 64
  (ipconfigICMP_TIME_TO_LIVE), sent straight back to the request's source MAC.
* Packets the stack originates get TTL ``config.ttl``, DF clear and the next
  value of one global IP ID counter starting at 0.

Nothing here ever raises on received bytes: every drop has a counter.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .config import StackConfig
from .wire import (
    ARP_REPLY,
    ARP_REQUEST,
    BROADCAST_MAC,
    ETH_P_ARP,
    ETH_P_IP,
    ICMP_ECHO_REQUEST,
    ICMP_HEADER_LEN,
    IPPROTO_ICMP,
    IPPROTO_TCP,
    TCP_HEADER_LEN,
    ZERO_MAC,
    EthFrame,
    Ipv4Packet,
    build_arp,
    build_ethernet,
    build_ipv4,
    echo_reply_for,
    inet_checksum,
    ip_to_int,
    mac_to_bytes,
    parse_arp,
    parse_ethernet,
    parse_icmp,
    parse_ipv4,
    tcp_checksum,
)

OnTcp = Callable[[int, int, bytes, int, float], None]

ARP_RETRY_INTERVAL = 0.5     # FreeRTOS retries resolution every 500 ms ...
ARP_MAX_ATTEMPTS = 3         # ... and gives up after the third request (~1.5 s)
ARP_QUEUE_LEN = 4            # packets waiting per unresolved next hop
ARP_HOLD_TIME = 2.0          # ipARP_RESOLUTION_MAX_DELAY for the held received packet
ARP_TIMER_PERIOD = 10.0      # ipARP_TIMER_PERIOD_MS (FreeRTOS_IP.c 84-89, not the Windows 500 ms)
GRATUITOUS_ARP_TICKS = 2     # arpGRATUITOUS_ARP_PERIOD 20 s (FreeRTOS_ARP.c 66-68) in ARP timer periods
ICMP_TTL = 64                # ipconfigICMP_TIME_TO_LIVE
MAX_FRAME = 1514             # ipconfigNETWORK_MTU 1500 + Ethernet header; larger frames do not fit a buffer
PEER_MACS_REMEMBERED = 32


@dataclass
class _ArpEntry:
    mac: bytes
    expires: float


@dataclass
class _Resolution:
    queue: list[bytes]       # built IPv4 packets, IP ID already assigned
    attempts: int
    next_at: float


@dataclass
class _Held:
    frame: bytes
    src_ip: int
    expires: float


def _is_multicast(ip: int) -> bool:
    return 224 <= ip >> 24 < 240


class NetIf:
    """Ethernet/ARP/IPv4/ICMP for one stack; TCP payloads go to ``on_tcp``."""

    hold_rx_for_arp: bool = True
    """Hold a received packet from an unresolved on-link sender (FreeRTOS V4 behaviour).
    Off means older FreeRTOS: process it at once and learn the sender's MAC from it."""

    def __init__(self, config: StackConfig, counters: Counter, on_tcp: OnTcp, now: float = 0.0) -> None:
        self.config = config
        self.counters = counters
        self.on_tcp = on_tcp
        self.mac = mac_to_bytes(config.mac)
        self.ip = ip_to_int(config.ip)
        self.netmask = ip_to_int(config.netmask)
        self.gateway = ip_to_int(config.gateway) if config.gateway else None
        self.output: list[tuple[float, bytes]] = []
        self.ip_id = 0
        # Ordered oldest refresh first: FreeRTOS overwrites the entry with the lowest age.
        self._arp: OrderedDict[int, _ArpEntry] = OrderedDict()
        self._resolving: dict[int, _Resolution] = {}
        self._held: _Held | None = None
        # FreeRTOS sends TCP replies to the MAC the peer's packets came from when ARP misses.
        self._peer_macs: OrderedDict[int, bytes] = OrderedDict()
        # The ARP timer (xARPTimer), started when the network comes up (vIPNetworkUpCalls ->
        # vARPTimerReload), which for this model is the stack's creation at ``now``.
        self._arp_timer_due: float | None = now + ARP_TIMER_PERIOD if config.gratuitous_arp else None
        self._arp_ticks = 0                      # ARP timer expiries so far
        self._last_gratuitous: int | None = None  # xLastGratuitousARPTime, as a tick index; None = 0

    # ---------------------------------------------------------------- routing
    def is_local(self, ip: int) -> bool:
        return (ip & self.netmask) == (self.ip & self.netmask)

    def next_hop(self, ip: int) -> int | None:
        return ip if self.is_local(ip) else self.gateway

    def _broadcast(self, ip: int) -> bool:
        return ip == 0xFFFFFFFF or ip == (self.ip | ~self.netmask & 0xFFFFFFFF)

    # -------------------------------------------------------------------- ARP
    def arp_lookup(self, ip: int, now: float) -> bytes | None:
        """The MAC of ``ip``'s next hop if cached and not expired."""
        hop = self.next_hop(ip)
        entry = self._arp.get(hop) if hop is not None else None
        if entry is None:
            return None
        if now >= entry.expires:
            del self._arp[hop]
            return None
        return entry.mac

    def arp_request(self, ip: int, now: float) -> None:
        """Send one ARP request for ``ip``'s next hop now; the caller owns any retries."""
        hop = self.next_hop(ip)
        if hop is None:
            self.counters["ip_no_route"] += 1
            return
        self._send_arp_request(hop, now)

    def arp_entries(self, now: float) -> dict[int, bytes]:
        """The unexpired cache, for tests and reports."""
        return {ip: e.mac for ip, e in self._arp.items() if now < e.expires}

    def _send_arp_request(self, ip: int, now: float) -> None:
        arp = build_arp(ARP_REQUEST, self.mac, self.ip, ZERO_MAC, ip)
        self._emit(build_ethernet(BROADCAST_MAC, self.mac, ETH_P_ARP, arp), now)
        self.counters["arp_request_sent"] += 1

    def _cached(self, ip: int, now: float) -> bool:
        entry = self._arp.get(ip)
        return entry is not None and now < entry.expires

    def _learn(self, ip: int, mac: bytes, now: float) -> None:
        """vARPRefreshCacheEntry: only on-link addresses are kept; flush what waited for it."""
        if not self.is_local(ip):
            return
        self._arp.pop(ip, None)
        while len(self._arp) >= max(1, self.config.arp_cache_entries):
            self._arp.popitem(last=False)
        self._arp[ip] = _ArpEntry(mac, now + self.config.arp_cache_age)
        waiting = self._resolving.pop(ip, None)
        if waiting is not None:
            for packet in waiting.queue:
                self._emit(build_ethernet(mac, self.mac, ETH_P_IP, packet), now)
                self.counters["ip_sent"] += 1

    # ------------------------------------------------------------------ output
    def _emit(self, frame: bytes, now: float) -> None:
        self.output.append((now, frame))

    def send_ipv4(self, dst_ip: int, proto: int, payload: bytes, now: float) -> None:
        """Send ``payload`` to ``dst_ip``, resolving the next hop by ARP if it must."""
        hop = self.next_hop(dst_ip)
        broadcast = self._broadcast(dst_ip)
        if hop is None and not broadcast:
            self.counters["ip_no_route"] += 1
            return
        ident, self.ip_id = self.ip_id, (self.ip_id + 1) & 0xFFFF
        packet = build_ipv4(self.ip, dst_ip, proto, payload, ident, self.config.ttl)
        mac = BROADCAST_MAC if broadcast else self.arp_lookup(dst_ip, now)
        if mac is None and dst_ip in self._peer_macs:
            mac = self._peer_macs[dst_ip]
            self.counters["ip_sent_peer_mac"] += 1
        if mac is None:
            assert hop is not None
            self._queue_for_arp(hop, packet, now)
            return
        self._emit(build_ethernet(mac, self.mac, ETH_P_IP, packet), now)
        self.counters["ip_sent"] += 1

    def _queue_for_arp(self, hop: int, packet: bytes, now: float) -> None:
        waiting = self._resolving.get(hop)
        if waiting is None:
            self._resolving[hop] = _Resolution([packet], 1, now + ARP_RETRY_INTERVAL)
            self._send_arp_request(hop, now)
        elif len(waiting.queue) >= ARP_QUEUE_LEN:
            self.counters["arp_queue_full"] += 1
            return
        else:
            waiting.queue.append(packet)
        self.counters["ip_queued_for_arp"] += 1

    # ------------------------------------------------------------------ timers
    def next_deadline(self) -> float | None:
        times = [w.next_at for w in self._resolving.values()]
        if self._held is not None:
            times.append(self._held.expires)
        if self._arp_timer_due is not None:
            times.append(self._arp_timer_due)
        return min(times) if times else None

    def advance(self, now: float) -> None:
        """Run ARP retries, give-ups and the ARP timer due by ``now``, each at its own instant."""
        while True:
            due = self.next_deadline()
            if due is None or due > now:
                return
            for hop, waiting in list(self._resolving.items()):
                if waiting.next_at <= due:
                    self._retry(hop, waiting)
            if self._held is not None and self._held.expires <= due:
                self._held = None
                self.counters["arp_hold_expired"] += 1
            if self._arp_timer_due is not None and self._arp_timer_due <= due:
                self._arp_timer(self._arp_timer_due)

    def _arp_timer(self, now: float) -> None:
        """xARPTimer expiry -> eARPTimerEvent -> vARPAgeCache's gratuitous ARP (FreeRTOS_ARP.c 1140-1160).

        The timer reloads every ipARP_TIMER_PERIOD_MS (prvIPTimerCheck), and vARPAgeCache
        announces our address when xLastGratuitousARPTime is 0 (never) or more than
        arpGRATUITOUS_ARP_PERIOD (20 s) old. Strictly more: at the third expiry after one it
        is exactly 20 s old, so the announcements come 10 s after start-up, then every 30 s.
        The announcement is FreeRTOS_OutputARPRequest_Multi for our own address: a broadcast
        who-has our IP, tell our IP. (vARPAgeCache's cache ageing is not modelled here: entries
        expire at their exact age, see _ArpEntry.)
        """
        self._arp_ticks += 1
        self._arp_timer_due = now + ARP_TIMER_PERIOD
        last = self._last_gratuitous
        if last is None or self._arp_ticks - last > GRATUITOUS_ARP_TICKS:
            arp = build_arp(ARP_REQUEST, self.mac, self.ip, ZERO_MAC, self.ip)
            self._emit(build_ethernet(BROADCAST_MAC, self.mac, ETH_P_ARP, arp), now)
            self.counters["arp_gratuitous_sent"] += 1
            self._last_gratuitous = self._arp_ticks

    def _retry(self, hop: int, waiting: _Resolution) -> None:
        if waiting.attempts >= ARP_MAX_ATTEMPTS:
            del self._resolving[hop]
            self.counters["arp_resolution_failed"] += 1
            self.counters["arp_queue_dropped"] += len(waiting.queue)
            return
        self._send_arp_request(hop, waiting.next_at)
        waiting.attempts += 1
        waiting.next_at += ARP_RETRY_INTERVAL

    # ------------------------------------------------------------------- input
    def receive_frame(self, frame: bytes, now: float) -> None:
        """One Ethernet frame from the wire (without FCS)."""
        self.advance(now)
        self._receive(bytes(frame), now)

    def _receive(self, frame: bytes, now: float) -> None:
        eth = parse_ethernet(frame)
        if eth is None:
            self.counters["eth_malformed"] += 1
        elif len(frame) > MAX_FRAME:
            self.counters["eth_oversize"] += 1
        elif eth.dst != self.mac and eth.dst != BROADCAST_MAC:
            self.counters["eth_not_for_us"] += 1
        elif eth.ethertype < 0x0600:
            self.counters["eth_8023_dropped"] += 1      # ipconfigFILTER_OUT_NON_ETHERNET_II_FRAMES
        elif eth.src[0] & 0x01:
            self.counters["eth_bad_source"] += 1
        elif eth.ethertype == ETH_P_ARP:
            self._receive_arp(eth, now)
        elif eth.ethertype == ETH_P_IP:
            self._receive_ipv4(eth, frame, now)
        else:
            self.counters["eth_type_unsupported"] += 1

    def _receive_arp(self, eth: EthFrame, now: float) -> None:
        arp = parse_arp(eth.payload)
        if arp is None:
            self.counters["arp_malformed"] += 1
            return
        if arp.sender_mac[0] & 0x01 or arp.sender_ip >> 24 == 127:
            self.counters["arp_bad_sender"] += 1
            return
        if arp.sender_ip == self.ip:
            self.counters["arp_ip_clash"] += 1
            return
        if arp.op == ARP_REQUEST:
            if arp.target_ip == self.ip and arp.sender_mac != self.mac:
                self._learn(arp.sender_ip, arp.sender_mac, now)
                reply = build_arp(ARP_REPLY, self.mac, self.ip, arp.sender_mac, arp.sender_ip)
                self._emit(build_ethernet(eth.src, self.mac, ETH_P_ARP, reply), now)
                self.counters["arp_replied"] += 1
            elif (arp.sender_ip == arp.target_ip and arp.target_mac in (BROADCAST_MAC, ZERO_MAC)
                  and self._cached(arp.sender_ip, now)):
                # A gratuitous ARP only refreshes an entry that already exists.
                self._learn(arp.sender_ip, arp.sender_mac, now)
                self.counters["arp_gratuitous"] += 1
            else:
                self.counters["arp_ignored"] += 1
        elif arp.op == ARP_REPLY:
            if arp.target_ip == self.ip or self._cached(arp.sender_ip, now):
                self._learn(arp.sender_ip, arp.sender_mac, now)
                self.counters["arp_learned"] += 1
            else:
                self.counters["arp_ignored"] += 1
            self._release_held(arp.sender_ip, now)
        else:
            self.counters["arp_bad_op"] += 1

    def _release_held(self, sender_ip: int, now: float) -> None:
        # Only a reply releases the held packet, as in vARPProcessPacketReply.
        held = self._held
        if held is None or held.src_ip != sender_ip:
            return
        self._held = None
        self.counters["ip_hold_released"] += 1
        self._receive(held.frame, now)

    def _receive_ipv4(self, eth: EthFrame, frame: bytes, now: float) -> None:
        pkt = parse_ipv4(eth.payload)
        if pkt is None:
            self.counters["ip_malformed"] += 1
            return
        reason = self._ipv4_drop_reason(eth, pkt)
        if reason is not None:
            self.counters[reason] += 1
            return
        if pkt.options:
            self.counters["ip_options_skipped"] += 1
        if self._needs_resolution(pkt.src, now):
            self._send_arp_request(pkt.src, now)
            if self._held is None:
                self._held = _Held(frame, pkt.src, now + ARP_HOLD_TIME)
                self.counters["ip_held_for_arp"] += 1
            else:
                self.counters["arp_hold_busy"] += 1
            return
        self._learn(pkt.src, eth.src, now)
        if pkt.proto == IPPROTO_ICMP:
            self._receive_icmp(eth, pkt, now)
        else:
            self._peer_macs.pop(pkt.src, None)
            self._peer_macs[pkt.src] = eth.src
            if len(self._peer_macs) > PEER_MACS_REMEMBERED:
                self._peer_macs.popitem(last=False)
            # xDataLength as TCP sees it: the frame as received (padding included) less the IP
            # options prvCheckIP4HeaderOptions moved out (FreeRTOS_IPv4.c 619-622). Replies are
            # built in this buffer and their checksum depends on it (tcp.TcpEngine._send_tcp).
            self.on_tcp(pkt.src, pkt.dst, pkt.payload, len(frame) - len(pkt.options), now)

    def _ipv4_drop_reason(self, eth: EthFrame, pkt: Ipv4Packet) -> str | None:
        """prvAllowIPPacketIPv4 and the protocol checksum, in FreeRTOS's order."""
        if pkt.is_fragment:
            return "ip_fragment"
        dst_bcast = pkt.dst & 0xFF == 0xFF      # FreeRTOS's own broadcast test: any x.x.x.255
        if pkt.dst != self.ip and not dst_bcast and not _is_multicast(pkt.dst):
            return "ip_not_for_us"
        if pkt.src & 0xFF == 0xFF or _is_multicast(pkt.src) or pkt.src >> 24 == 127 or pkt.dst >> 24 == 127:
            return "ip_bad_source"
        if eth.dst == BROADCAST_MAC and not dst_bcast:
            return "ip_bcast_mismatch"
        if not pkt.checksum_ok:
            return "ip_bad_checksum"
        if pkt.proto == IPPROTO_TCP:
            if pkt.dst != self.ip:
                return "ip_not_for_us"
            if len(pkt.payload) < TCP_HEADER_LEN:
                return "tcp_malformed"
            if tcp_checksum(pkt.src, pkt.dst, pkt.payload) != 0:
                return "tcp_bad_checksum"
            return None
        if pkt.proto == IPPROTO_ICMP:
            if len(pkt.payload) < ICMP_HEADER_LEN:
                return "icmp_malformed"
            if inet_checksum(pkt.payload) != 0:
                return "icmp_bad_checksum"
            return None
        return "proto_unsupported"

    def _needs_resolution(self, src_ip: int, now: float) -> bool:
        return self.hold_rx_for_arp and self.is_local(src_ip) and not self._cached(src_ip, now)

    def _receive_icmp(self, eth: EthFrame, pkt: Ipv4Packet, now: float) -> None:
        msg = parse_icmp(pkt.payload)
        if msg is None or msg.type != ICMP_ECHO_REQUEST:
            self.counters["icmp_ignored"] += 1
            return
        reply = build_ipv4(self.ip, pkt.src, IPPROTO_ICMP, echo_reply_for(msg), pkt.ident, ICMP_TTL,
                           tos=pkt.tos)
        self._emit(build_ethernet(eth.src, self.mac, ETH_P_IP, reply), now)
        self.counters["icmp_echo_replied"] += 1
