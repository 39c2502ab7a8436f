"""One persistent AF_PACKET socket per link: inject frames, capture the device's, kernel timestamps.

Why it looks like this (figures from wire-feasibility.md, measured on this kind of machine):
- one socket for the whole link, opened before the first send: opening and closing a packet
  socket costs 8-20 ms, and on veth the device answers inside the sender's send() call, so a
  socket opened after the send misses the reply;
- raw bytes only on the hot path (scapy stays with the runner for building and explaining):
  a plain AF_PACKET round trip is 33-40 us, scapy objects cost ~0.6 ms;
- every captured frame carries the kernel's receive timestamp (SO_TIMESTAMPNS), never the
  wall clock read after Python woke up: interval checks (keep-alive, RTO) depend on it;
- the kernel BPF filter (bpf.py) drops everything but ARP and the device's IPv4 traffic;
- frames with pkttype PACKET_OUTGOING are echoes of what some socket on this host sent on
  the interface, not the device's: skipped;
- ARP requests for the harness address are answered here at once, whatever the runner is
  doing, because a stack without static ARP (lwIP) holds its SYN|ACK until it has an answer.
  The answers are the engine's own frames, not the device's: they are counted
  (stats.arp_answered) but never returned by `drain`/`receive`, which return only what the
  device sent (a runner handed them would file them as strays and fail an `expect_silence`
  that spans the device's ARP request).

Clock: CLOCK_REALTIME (time.time()), the clock of kernel packet timestamps and of the agents'
call timestamps, so frames and API results share one timeline.

Send time: the time just *before* the send() syscall. The kernel's own transmit timestamp is
not used (veth does not stamp transmit software timestamps reliably), and the time after
send() would be later than the device's reply on veth (the reply is produced inside send(),
its rx stamp came ~2.4 us before send() returned). Taking the earlier bound keeps every
injection before its answer on the timeline; the error is the syscall's duration (~10 us).
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ..target import Frame
from . import bpf

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35          # SO_TIMESTAMPNS_OLD: struct timespec with native longs
PACKET_OUTGOING = 4
_TIMESPEC = struct.Struct("@ll")
_RCVBUF = 8 << 20            # a burst of a few thousand frames while the runner is busy
_MAX_FRAME = 65536
_ARP_REQUEST = b"\x00\x01\x08\x00\x06\x04\x00\x01"   # Ethernet/IPv4 ARP, op 1


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


@dataclass
class Stats:
    received: int = 0
    sent: int = 0
    outgoing_skipped: int = 0
    arp_answered: int = 0


class WireEngine:
    """The harness end of one link: `send` frames to the device, `receive` what it sent."""

    def __init__(self, ifname: str, device_ip: str, harness_ip: str, harness_mac: str,
                 answer_arp: bool = True):
        self.ifname, self.device_ip = ifname, device_ip
        self.harness_ip, self.harness_mac = harness_ip, harness_mac
        self.answer_arp = answer_arp
        self.stats = Stats()
        self._harness_ip_b = socket.inet_aton(harness_ip)
        self._harness_mac_b = _mac_bytes(harness_mac)
        # Protocol 0 first: the socket receives nothing until bound, so no frame slips in
        # before the filter is attached.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            bpf.attach(sock, bpf.test_traffic(device_ip))
            sock.bind((ifname, ETH_P_ALL))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._ancbuf = socket.CMSG_SPACE(_TIMESPEC.size)
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)
        self._extra: set[int] = set()

    # ---- sending ------------------------------------------------------------------------------

    def send(self, frame: bytes) -> float:
        """Put `frame` on the wire; returns the time just before the send syscall (see module doc)."""
        at = time.time()
        self.sock.send(frame)
        self.stats.sent += 1
        return at

    # ---- receiving ----------------------------------------------------------------------------

    def watch(self, fd: int) -> None:
        """Also wake `receive` when `fd` becomes readable (an agent's completion pipe)."""
        self._extra.add(fd)
        self._poll.register(fd, select.POLLIN)

    def unwatch(self, fd: int) -> None:
        if fd in self._extra:
            self._extra.discard(fd)
            self._poll.unregister(fd)

    def drain(self) -> list[Frame]:
        """Every frame the device sent so far, without waiting (never the engine's own ARP answers)."""
        out: list[Frame] = []
        while True:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(_MAX_FRAME, self._ancbuf)
            except BlockingIOError:
                return out
            if addr[2] == PACKET_OUTGOING:
                self.stats.outgoing_skipped += 1
                continue
            stamp = _stamp(anc)
            self.stats.received += 1
            out.append(Frame(stamp, data, outbound=True))
            if self.answer_arp:
                reply = self._arp_reply(data)
                if reply is not None:
                    self.send(reply)
                    self.stats.arp_answered += 1

    def receive(self, deadline: float, stop: Iterable[int] = ()) -> list[Frame]:
        """Frames the device sent, waiting until at least one came, a watched fd woke, or `deadline`.

        Returns [] at the deadline (time.time()) or when a watched fd became readable; the
        caller drains that fd.
        """
        out = self.drain()
        while not out:
            left = deadline - time.time()
            if left <= 0:
                return out
            events = self._poll.poll(max(left * 1000.0, 0.0))
            if any(fd in self._extra for fd, _ in events):
                return self.drain()
            out = self.drain()
        return out

    def _arp_reply(self, frame: bytes) -> bytes | None:
        # Ethernet(14) + ARP(28): htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (request)
        if len(frame) < 42 or frame[12:14] != b"\x08\x06" or frame[14:22] != _ARP_REQUEST:
            return None
        if frame[38:42] != self._harness_ip_b:
            return None
        asker_mac, asker_ip = frame[22:28], frame[28:32]
        return (asker_mac + self._harness_mac_b + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x02"
                + self._harness_mac_b + self._harness_ip_b + asker_mac + asker_ip)

    def close(self) -> None:
        for fd in list(self._extra):
            self.unwatch(fd)
        self.sock.close()

    def __enter__(self) -> WireEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stamp(anc: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return sec + nsec * 1e-9
    # Without a stamp (should not happen with SO_TIMESTAMPNS) the frame would carry a
    # misleading time; say so instead of guessing.
    raise RuntimeError("a captured frame came without a kernel timestamp")


def wake_pipe() -> tuple[int, int]:
    """A non-blocking pipe an agent reader writes one byte to when a call completes."""
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    return r, w
