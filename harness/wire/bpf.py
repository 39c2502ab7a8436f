"""A hand-assembled classic BPF program for the capture socket (SO_ATTACH_FILTER).

scapy compiles filter strings only through tcpdump/libpcap, which the harness does not
need otherwise; the filter here is small enough to write out. It keeps ARP and IPv4
frames from or to the device's address and drops everything else in the kernel, so
stray traffic on the link never costs Python time (an unfiltered helper socket raised
the p99 round trip from 185 us to 747 us, wire-feasibility.md Task 2).
"""

from __future__ import annotations

import ctypes
import ipaddress
import socket
import struct

SO_ATTACH_FILTER = 26

# Opcodes (linux/bpf_common.h)
_LD_H_ABS = 0x28    # BPF_LD | BPF_H | BPF_ABS
_LD_W_ABS = 0x20    # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15       # BPF_JMP | BPF_JEQ | BPF_K
_RET_K = 0x06       # BPF_RET | BPF_K
_SNAPLEN = 0x40000

Insn = tuple[int, int, int, int]   # code, jt, jf, k


def test_traffic(device_ip: str) -> list[Insn]:
    """ARP (any), or IPv4 with source or destination `device_ip`."""
    ip = int(ipaddress.IPv4Address(device_ip))
    return [
        (_LD_H_ABS, 0, 0, 12),          # 0: A = ethertype
        (_JEQ_K, 5, 0, 0x0806),         # 1: ARP -> accept
        (_JEQ_K, 0, 5, 0x0800),         # 2: not IPv4 -> drop
        (_LD_W_ABS, 0, 0, 26),          # 3: A = IPv4 source
        (_JEQ_K, 2, 0, ip),             # 4: from the device -> accept
        (_LD_W_ABS, 0, 0, 30),          # 5: A = IPv4 destination
        (_JEQ_K, 0, 1, ip),             # 6: to the device -> accept, else drop
        (_RET_K, 0, 0, _SNAPLEN),       # 7: accept
        (_RET_K, 0, 0, 0),              # 8: drop
    ]


def run(program: list[Insn], frame: bytes) -> bool:
    """Interpret `program` on `frame` (for tests: the same answer the kernel gives)."""
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == _LD_H_ABS:
            if k + 2 > len(frame):
                return False
            acc = struct.unpack_from("!H", frame, k)[0]
        elif code == _LD_W_ABS:
            if k + 4 > len(frame):
                return False
            acc = struct.unpack_from("!I", frame, k)[0]
        elif code == _JEQ_K:
            pc += jt if acc == k else jf
        elif code == _RET_K:
            return k != 0
        else:
            raise ValueError(f"opcode {code:#x} not supported")
        pc += 1


def attach(sock: socket.socket, program: list[Insn]) -> None:
    """SO_ATTACH_FILTER: struct sock_fprog {unsigned short len; struct sock_filter *filter;}."""
    raw = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = struct.pack("HL", len(program), ctypes.addressof(buf))  # native layout pads to the pointer
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    del buf  # the kernel copied the program during setsockopt
