"""Another process's memory, read and written through /proc/PID/mem, shaped like a debug probe's
target: the Memory protocol of targets/sam4e/driver.py (the mailbox) and what pyOCD's RTT reader
calls (pyocd/debug/rtt.py: read32, read_memory_block8/32, write32, write_memory_block8), so the
SAM4E host code drives the host-built agent as it drives a board over SWD.

Why /proc/PID/mem: one pread/pwrite per access at any address of the process, no ptrace stop (the
process keeps running, as a board does under SWD). It needs ptrace rights over the process (root,
or the same user with kernel.yama.ptrace_scope 0). Each access is one syscall, so a 32-bit aligned
write reaches the process as one store: a request's `req_seq`, written last, is never torn.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

_U32 = struct.Struct("<I")


class ProcessMemoryError(RuntimeError):
    """One line: the process is gone, or the address is not mapped in it."""


class ProcessGone(ProcessMemoryError):
    pass


class ProcessMemory:
    """The memory of process `pid` (opened now: open it after the exec, or it is the parent's)."""

    def __init__(self, pid: int):
        self.pid = pid
        try:
            self._fd: int | None = os.open(f"/proc/{pid}/mem", os.O_RDWR | os.O_CLOEXEC)
        except (FileNotFoundError, ProcessLookupError):
            raise ProcessGone(f"process {pid} does not exist (or has exited)") from None
        except PermissionError as exc:
            raise ProcessMemoryError(f"no access to the memory of process {pid} ({exc.strerror}): run as "
                                     "root or allow ptrace (kernel.yama.ptrace_scope)") from None

    # ---- raw access ---------------------------------------------------------------------------

    def _fail(self, what: str, addr: int, size: int, exc: OSError | None = None) -> ProcessMemoryError:
        if not os.path.exists(f"/proc/{self.pid}") or _zombie(self.pid):
            return ProcessGone(f"process {self.pid} has exited: its memory is gone ({what} at {addr:#x})")
        why = exc.strerror if exc else "short transfer"
        return ProcessMemoryError(f"{what} of {size} bytes at {addr:#x} in process {self.pid} failed "
                                  f"({why}): not mapped there")

    def read(self, addr: int, size: int) -> bytes:
        if self._fd is None:
            raise ProcessGone(f"memory of process {self.pid} was closed")
        try:
            data = os.pread(self._fd, size, addr)
        except OSError as exc:
            raise self._fail("read", addr, size, exc) from None
        if len(data) != size:
            raise self._fail("read", addr, size)
        return data

    def write(self, addr: int, data: bytes) -> None:
        if self._fd is None:
            raise ProcessGone(f"memory of process {self.pid} was closed")
        try:
            written = os.pwrite(self._fd, data, addr)
        except OSError as exc:
            raise self._fail("write", addr, len(data), exc) from None
        if written != len(data):
            raise self._fail("write", addr, len(data))

    # ---- the probe-target methods -------------------------------------------------------------

    def read32(self, addr: int) -> int:
        return _U32.unpack(self.read(addr, 4))[0]

    def write32(self, addr: int, value: int) -> None:
        self.write(addr, _U32.pack(value & 0xFFFFFFFF))

    def read8(self, addr: int) -> int:
        return self.read(addr, 1)[0]

    def write8(self, addr: int, value: int) -> None:
        self.write(addr, bytes([value & 0xFF]))

    def read16(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 2), "little")

    def write16(self, addr: int, value: int) -> None:
        self.write(addr, (value & 0xFFFF).to_bytes(2, "little"))

    def read_memory(self, addr: int, transfer_size: int = 32) -> int:
        return int.from_bytes(self.read(addr, transfer_size // 8), "little")

    def write_memory(self, addr: int, value: int, transfer_size: int = 32) -> None:
        size = transfer_size // 8
        self.write(addr, (value & ((1 << transfer_size) - 1)).to_bytes(size, "little"))

    def read_memory_block8(self, addr: int, size: int) -> bytes:
        return self.read(addr, size) if size else b""

    def write_memory_block8(self, addr: int, data: Sequence[int] | bytes) -> None:
        if len(data):
            self.write(addr, bytes(data))

    def read_memory_block32(self, addr: int, size: int) -> list[int]:
        return list(struct.unpack(f"<{size}I", self.read(addr, 4 * size))) if size else []

    def write_memory_block32(self, addr: int, data: Sequence[int]) -> None:
        if len(data):
            self.write(addr, struct.pack(f"<{len(data)}I", *(v & 0xFFFFFFFF for v in data)))

    # ---- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ProcessMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return True
