"""The emulated firmware's log channel: a SEGGER RTT control block in the emulated SRAM.

It is what firmware/tch_rtt.c's built-in block does on the board, in Python: the same layout
(SEGGER_RTT_CB with one up and one down buffer, 32-bit addresses), the id "SEGGER RTT" written
last, and writes that never block (NO_BLOCK_SKIP: a message that does not fit is dropped whole,
one byte of the ring always stays free). pyOCD's reader (pyocd/debug/rtt.py) reads it through the
emulated probe exactly as it reads a real board's.

The block, its buffers and the channel name live at the firmware's own symbols (`_SEGGER_RTT`,
`_rtt_up_buffer`, `_rtt_down_buffer`, `_rtt_name` in elf.build_firmware_elf's image).
"""

from __future__ import annotations

import ctypes
import struct
import threading
from collections.abc import Callable

CB_ID = b"SEGGER RTT"
CB_SIZE = 16 + 8 + 2 * 24          # acID, MaxNumUpBuffers/MaxNumDownBuffers, one up + one down
UP_DESC, DOWN_DESC = 24, 48        # descriptor offsets in the block
WR_OFF, RD_OFF = 12, 16            # within a descriptor
CHANNEL_NAME = b"Terminal\0"       # tch_rtt.c's name for both channels
MODE_NO_BLOCK_SKIP = 0
_DESC = struct.Struct("<6I")       # sName, pBuffer, SizeOfBuffer, WrOff, RdOff, Flags
_COUNTS = struct.Struct("<ii")


class RttLog:
    """Up-channel 0 of the control block at `cb` (target addresses); `host` maps a target SRAM
    address to the host address of its byte (EmulatedSam4e.sram_address)."""

    def __init__(self, host: Callable[[int], int], cb: int, up: int, up_size: int, down: int,
                 down_size: int, name: int) -> None:
        self._host = host
        self.cb, self.up, self.up_size = cb, up, up_size
        self.down, self.down_size, self.name = down, down_size, name
        # tch_log's critical section: the block itself has no lock, several workers log.
        self._lock = threading.Lock()

    def _put(self, address: int, data: bytes) -> None:
        ctypes.memmove(self._host(address), data, len(data))

    def _u32(self, address: int) -> ctypes.c_uint32:
        return ctypes.c_uint32.from_address(self._host(address))

    def init(self) -> None:
        """tch_rtt_init() after the C runtime zeroed .bss: the id comes last, so a host searching
        RAM never finds a block whose descriptors are still being written."""
        with self._lock:
            self._put(self.cb, bytes(CB_SIZE))   # .bss: a reset must not leave the old id behind
            self._put(self.name, CHANNEL_NAME)
            self._put(self.cb + 16, _COUNTS.pack(1, 1))
            channels = ((UP_DESC, self.up, self.up_size), (DOWN_DESC, self.down, self.down_size))
            for at, buffer, size in channels:
                self._put(self.cb + at, _DESC.pack(self.name, buffer, size, 0, 0, MODE_NO_BLOCK_SKIP))
            # The same three steps as tch_rtt.c: "RTT", then "SEGGER", then the space joining them.
            self._put(self.cb + 7, b"RTT")
            self._put(self.cb, b"SEGGER")
            self._put(self.cb + 6, b" ")

    def write(self, data: bytes) -> int:
        """tch_rtt_write(): len(data) when it fit, 0 when it was dropped (never blocks)."""
        size = self.up_size
        with self._lock:
            wr_word = self._u32(self.cb + UP_DESC + WR_OFF)
            wr, rd = wr_word.value, self._u32(self.cb + UP_DESC + RD_OFF).value  # RdOff: the host's
            if wr >= size or rd >= size:
                return 0  # a corrupted descriptor: drop rather than write out of bounds
            room = rd - wr - 1 if rd > wr else size - 1 - wr + rd
            if len(data) > room:
                return 0
            first = min(size - wr, len(data))
            self._put(self.up + wr, data[:first])
            self._put(self.up, data[first:])
            # The bytes before the offset that publishes them (CPython stores in program order).
            wr_word.value = (wr + len(data)) % size
            return len(data)
