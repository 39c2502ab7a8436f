"""The firmware's built-in RTT control block (tch_rtt.c) and log formatter (tch_format.c), compiled
for the host: the block is what pyOCD's RTT reader expects (pyocd/debug/rtt.py), writes never block
and drop whole messages, and the formatter prints what tch_log's callers pass. Needs gcc; the
check with pyOCD's own reader also needs pyocd (the `board` extra) and is skipped without it."""

from __future__ import annotations

import ctypes
import shutil
import struct
from typing import Any

import pytest

from targets.sam4e.mailbox import HostMailboxLibrary
from tests.conftest import require

UP_SIZE = 1024
CB_ID = b"SEGGER RTT"
UP_DESC = 24                  # acID[16], MaxNumUpBuffers, MaxNumDownBuffers
WR_OFF, RD_OFF = 12, 16       # within a buffer descriptor


@pytest.fixture(scope="module")
def lib() -> HostMailboxLibrary:
    require(shutil.which("gcc"), "needs gcc: apt-get install gcc")
    return HostMailboxLibrary()


class Target:
    """A debug probe's view of the host library's memory with 32-bit addresses, as pyOCD's
    SoCTarget offers it (the methods rtt.py uses). The control block stores 32-bit addresses; on a
    64-bit host they are the low halves of addresses near the block itself."""

    def __init__(self, base: int) -> None:
        self.high = base & ~0xFFFFFFFF

    def _at(self, addr: int) -> int:
        return self.high | addr

    def read_memory_block8(self, addr: int, size: int) -> list[int]:
        return list(ctypes.string_at(self._at(addr), size))

    def read_memory_block32(self, addr: int, size: int) -> list[int]:
        return list(struct.unpack(f"<{size}I", ctypes.string_at(self._at(addr), 4 * size)))

    def read32(self, addr: int) -> int:
        return self.read_memory_block32(addr, 1)[0]

    def write32(self, addr: int, value: int) -> None:
        ctypes.memmove(self._at(addr), struct.pack("<I", value), 4)

    def write_memory_block8(self, addr: int, data: Any) -> None:
        ctypes.memmove(self._at(addr), bytes(data), len(data))


@pytest.fixture
def rtt(lib: HostMailboxLibrary) -> tuple[Any, Target, int]:
    """(library, target, control block address), freshly initialised (empty buffer)."""
    c = lib.lib
    c.tch_rtt_write.argtypes = [ctypes.c_char_p, ctypes.c_uint]
    c.tch_rtt_write.restype = ctypes.c_uint
    cb = ctypes.addressof(ctypes.c_uint8.in_dll(c, "_SEGGER_RTT"))
    c.tch_rtt_init()
    target = Target(cb)
    buffer = target.read32(cb + UP_DESC + 4)
    if abs(target._at(buffer) - cb) > 1 << 20:
        pytest.skip("the library's .bss straddles a 4 GiB boundary: 32-bit addresses are ambiguous")
    return c, target, cb


def read_up(target: Target, cb: int) -> bytes:
    """Up-channel 0 drained as pyOCD's GenericRTTUpChannel.read() does it."""
    name, buffer, size, wr, rd, _flags = target.read_memory_block32(cb + UP_DESC, 6)
    assert wr < size and rd < size, "pyOCD raises RTTError('Invalid up buffer')"
    if wr == rd:
        return b""
    if wr > rd:
        data = target.read_memory_block8(buffer + rd, wr - rd)
    else:
        data = target.read_memory_block8(buffer + rd, size - rd) + target.read_memory_block8(buffer, wr)
    target.write32(cb + UP_DESC + RD_OFF, wr)
    return bytes(data)


def test_control_block_has_seggers_layout(rtt: tuple[Any, Target, int]) -> None:
    _, target, cb = rtt
    assert bytes(target.read_memory_block8(cb & 0xFFFFFFFF, 16)) == CB_ID + bytes(6)
    assert target.read_memory_block32(cb + 16, 2) == [1, 1]
    up = target.read_memory_block32(cb + UP_DESC, 6)
    down = target.read_memory_block32(cb + UP_DESC + 24, 6)
    assert up[2:] == [UP_SIZE, 0, 0, 0]        # size, WrOff, RdOff, Flags (NO_BLOCK_SKIP)
    assert down[2:] == [16, 0, 0, 0]
    assert bytes(target.read_memory_block8(up[0], 9)) == b"Terminal\0"


def test_writes_reach_the_reader_and_wrap(rtt: tuple[Any, Target, int]) -> None:
    c, target, cb = rtt
    assert c.tch_rtt_write(b"hello\n", 6) == 6
    assert read_up(target, cb) == b"hello\n"
    sent = b""
    for i in range(40):                        # 40 x 50 bytes: wraps the 1 KiB ring twice
        line = f"{i:03d} ".encode() + bytes(range(65, 65 + 45)) + b"\n"
        assert c.tch_rtt_write(line, len(line)) == len(line)
        sent += line
        if i % 3 == 2:
            assert read_up(target, cb) == sent
            sent = b""
    assert read_up(target, cb) == sent


def test_a_full_buffer_drops_whole_messages_and_never_blocks(rtt: tuple[Any, Target, int]) -> None:
    c, target, cb = rtt
    assert c.tch_rtt_write(b"x" * 1000, 1000) == 1000
    assert c.tch_rtt_write(b"y" * 24, 24) == 0          # 23 bytes free: all or nothing
    assert c.tch_rtt_write(b"z" * 23, 23) == 23         # one byte always stays free
    assert c.tch_rtt_write(b"!", 1) == 0
    assert read_up(target, cb) == b"x" * 1000 + b"z" * 23
    assert c.tch_rtt_write(b"again", 5) == 5
    assert read_up(target, cb) == b"again"
    target.write32(cb + UP_DESC + RD_OFF, 5000)         # a corrupted RdOff: dropped, not overrun
    assert c.tch_rtt_write(b"bad", 3) == 0


def test_pyocds_own_reader_finds_and_reads_the_block(rtt: tuple[Any, Target, int]) -> None:
    rtt_module = pytest.importorskip("pyocd.debug.rtt")
    c, target, cb = rtt
    c.tch_rtt_write(b"boot\n", 5)
    block = rtt_module.GenericRTTControlBlock(target, address=cb & 0xFFFFFFFF)
    block.start()
    assert [ch.name for ch in block.up_channels] == ["Terminal"]
    assert block.up_channels[0].read() == b"boot\n"
    c.tch_rtt_write(b"x" * 1020, 1020)                  # wraps
    assert block.up_channels[0].read() == b"x" * 1020
    assert block.up_channels[0].read() == b""


@pytest.mark.parametrize("fmt,args,expected", [
    (b"plain %% text", (), b"plain % text"),
    (b"%d %i %u", (ctypes.c_int(-42), ctypes.c_int(7), ctypes.c_uint(4000000000)), b"-42 7 4000000000"),
    (b"%x %08lx %5d|%-", (ctypes.c_uint(0xBEEF), ctypes.c_ulong(0x1234), ctypes.c_int(-3)),
     b"beef 00001234    -3|%-"),
    (b"%05d %ld", (ctypes.c_int(-12), ctypes.c_long(-(2**31))), b"-0012 -2147483648"),
    (b"[%s] [%s] %c", (b"tch", None, ctypes.c_int(ord("!"))), b"[tch] [(null)] !"),
    (b"cut at 15 chars, no more", (), b"cut at 15 chars"),
    (b"ends with %", (), b"ends with "),
])
def test_log_formatter(lib: HostMailboxLibrary, fmt: bytes, args: tuple[Any, ...], expected: bytes) -> None:
    out = ctypes.create_string_buffer(16 if expected == b"cut at 15 chars" else 64)
    n = lib.lib.tch_format(out, len(out), fmt, *args)
    assert (out.value, n) == (expected, len(expected))
