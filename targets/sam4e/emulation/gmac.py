"""The emulated board's GMAC: an AF_PACKET socket on a host interface (the device end of a veth).

The interface may sit in a network namespace (harness/wire/links.make_veth puts the device end in
one): the socket is then opened by a short-lived thread that enters the namespace with setns(2)
(Python 3.11 has no os.setns); a socket stays in the namespace it was made in, and the thread's
namespace change dies with the thread.

A kernel BPF filter keeps ARP and IPv4 to or from 198.18.0.0/15 (the harness only ever uses
benchmarking addresses): anything else on the link never reaches the emulated stack.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from pathlib import Path

from harness.wire import bpf

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
CLONE_NEWNET = 0x4000_0000
_MAX_FRAME = 1536               # GMAC receive buffers hold a 1518-byte frame; jumbo frames are cut
_RCVBUF = 1 << 20
_NET, _MASK = 0xC612_0000, 0xFFFE_0000   # 198.18.0.0/15

# BPF opcodes (linux/bpf_common.h); bpf.py has the loads, jumps and returns, not the AND.
_LD_H_ABS, _LD_W_ABS, _ALU_AND_K, _JEQ_K, _RET_K = 0x28, 0x20, 0x54, 0x15, 0x06


def benchmark_traffic() -> list[bpf.Insn]:
    """ARP (any), or IPv4 whose source or destination is in 198.18.0.0/15."""
    return [
        (_LD_H_ABS, 0, 0, 12),          # 0: A = ethertype
        (_JEQ_K, 7, 0, 0x0806),         # 1: ARP -> accept
        (_JEQ_K, 0, 7, 0x0800),         # 2: not IPv4 -> drop
        (_LD_W_ABS, 0, 0, 26),          # 3: A = source
        (_ALU_AND_K, 0, 0, _MASK),      # 4
        (_JEQ_K, 3, 0, _NET),           # 5: from 198.18/15 -> accept
        (_LD_W_ABS, 0, 0, 30),          # 6: A = destination
        (_ALU_AND_K, 0, 0, _MASK),      # 7
        (_JEQ_K, 0, 1, _NET),           # 8: to 198.18/15 -> accept, else drop
        (_RET_K, 0, 0, 0x40000),        # 9: accept
        (_RET_K, 0, 0, 0),              # 10: drop
    ]


class GmacError(RuntimeError):
    """The interface (or its namespace) can not be opened; the message says which and why."""


def _open(ifname: str) -> socket.socket:
    # Protocol 0 until the filter is attached: no frame slips in unfiltered.
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        bpf.attach(sock, benchmark_traffic())
        sock.bind((ifname, ETH_P_ALL))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _open_in_netns(ifname: str, netns: str) -> socket.socket:
    path = Path("/run/netns") / netns
    result: list[socket.socket | BaseException] = []

    def enter_and_open() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(path, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({path}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result.append(_open(ifname))
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            result.append(e)

    thread = threading.Thread(target=enter_and_open, name=f"gmac-netns-{netns}")
    thread.start()
    thread.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


class Gmac:
    """Frames in and out of `ifname` (in namespace `netns`, if given)."""

    def __init__(self, ifname: str, netns: str | None = None) -> None:
        self.ifname, self.netns = ifname, netns
        try:
            self.sock = _open_in_netns(ifname, netns) if netns else _open(ifname)
        except OSError as e:
            where = f"{ifname} in netns {netns}" if netns else ifname
            raise GmacError(f"gmac: can not open {where}: {e}") from e
        self.sent = self.received = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self, limit: int | None = None) -> tuple[list[bytes], int]:
        """The frames waiting now, at most `limit` (None: all); also how many beyond it were dropped."""
        frames: list[bytes] = []
        dropped = 0
        while True:
            try:
                data, addr = self.sock.recvfrom(_MAX_FRAME)
            except BlockingIOError:
                return frames, dropped
            if addr[2] == PACKET_OUTGOING:
                continue  # another socket's frame leaving through this interface, not the wire's
            if limit is not None and len(frames) >= limit:
                dropped += 1
                continue
            self.received += 1
            frames.append(data)

    def send(self, frame: bytes) -> None:
        try:
            self.sock.send(frame)
            self.sent += 1
        except OSError:
            pass  # link down or buffer full: a real GMAC drops the frame too; TCP retransmits

    def close(self) -> None:
        self.sock.close()
