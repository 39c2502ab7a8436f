"""The emulated AHB: an address decoder over memory-like devices, as the MEM-AP sees it.

Every device works in offsets from its base. Accesses are naturally aligned (the AP aligns them
before they get here); `size` is 1, 2 or 4 bytes and values are the plain numeric value, not
byte-lane shifted. An address no device claims raises `BusFault`, which the AP turns into a
sticky error and the probe into pyOCD's TransferFaultError, as a real bus error would.
The bus itself is also the host-side "backdoor" (no debug security check: that is the AP's).
"""

from __future__ import annotations

import bisect
import ctypes
from collections.abc import Callable, Sequence
from typing import Protocol


class BusFault(Exception):
    """An access the bus could not complete (unmapped, or refused by the device)."""

    def __init__(self, address: int, why: str = "unmapped address") -> None:
        super().__init__(f"bus fault at {address:#010x}: {why}")
        self.address = address


class Device(Protocol):
    def read(self, offset: int, size: int) -> int: ...

    def write(self, offset: int, size: int, value: int) -> None: ...


class Bus:
    """Maps address ranges to devices."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._entries: list[tuple[int, int, Device]] = []

    def map(self, start: int, size: int, device: Device) -> None:
        end = start + size
        for s, e, _ in self._entries:
            if start < e and s < end:
                raise ValueError(f"region {start:#x}+{size:#x} overlaps {s:#x}..{e:#x}")
        i = bisect.bisect(self._starts, start)
        self._starts.insert(i, start)
        self._entries.insert(i, (start, end, device))

    def _find(self, address: int) -> tuple[int, int, Device]:
        i = bisect.bisect(self._starts, address) - 1
        if i >= 0:
            start, end, device = self._entries[i]
            if address < end:
                return start, end, device
        raise BusFault(address)

    def read(self, address: int, size: int) -> int:
        start, _, device = self._find(address)
        return device.read(address - start, size)

    def write(self, address: int, size: int, value: int) -> None:
        start, _, device = self._find(address)
        device.write(address - start, size, value)

    def read_words(self, address: int, count: int) -> list[int]:
        """`count` aligned words; one device call when the run stays inside one device."""
        start, end, device = self._find(address)
        if address + 4 * count <= end and hasattr(device, "read_words"):
            return device.read_words(address - start, count)  # type: ignore[attr-defined]
        return [self.read(address + 4 * i, 4) for i in range(count)]

    def write_words(self, address: int, words: Sequence[int]) -> None:
        start, end, device = self._find(address)
        if address + 4 * len(words) <= end and hasattr(device, "write_words"):
            device.write_words(address - start, words)  # type: ignore[attr-defined]
            return
        for i, w in enumerate(words):
            self.write(address + 4 * i, 4, w)


class CtypesMemory:
    """RAM backed by a ctypes byte array that host C code may share.

    Why the typed views: a Python slice assignment into a c_uint8 array stores byte by byte,
    so a concurrent C reader could see a torn word. Word accesses go through a c_uint32 view
    (one aligned 32-bit load/store each, as the AHB would do), halfwords through c_uint16.
    """

    def __init__(self, buffer: ctypes.Array) -> None:
        size = ctypes.sizeof(buffer)
        self.buffer = buffer
        self._u8 = buffer
        self._u16 = (ctypes.c_uint16 * (size // 2)).from_buffer(buffer)
        self._u32 = (ctypes.c_uint32 * (size // 4)).from_buffer(buffer)

    def read(self, offset: int, size: int) -> int:
        if size == 4:
            return self._u32[offset >> 2]
        if size == 2:
            return self._u16[offset >> 1]
        return self._u8[offset]

    def write(self, offset: int, size: int, value: int) -> None:
        if size == 4:
            self._u32[offset >> 2] = value
        elif size == 2:
            self._u16[offset >> 1] = value
        else:
            self._u8[offset] = value

    def read_words(self, offset: int, count: int) -> list[int]:
        i = offset >> 2
        return self._u32[i:i + count]

    def write_words(self, offset: int, words: Sequence[int]) -> None:
        i = offset >> 2
        # Element-wise into the c_uint32 view: each word is one store (see the class comment).
        self._u32[i:i + len(words)] = list(words)


class ByteMemory:
    """Read-only (ROM) or plain memory over a bytearray; `on_write` decides what a write does."""

    def __init__(self, data: bytearray, on_write: Callable[[int, int, int], None] | None = None) -> None:
        self.data = data
        self._words = memoryview(data).cast("I")
        self._on_write = on_write

    def read(self, offset: int, size: int) -> int:
        if size == 4:
            return self._words[offset >> 2]
        return int.from_bytes(self.data[offset:offset + size], "little")

    def read_words(self, offset: int, count: int) -> list[int]:
        i = offset >> 2
        return self._words[i:i + count].tolist()

    def write(self, offset: int, size: int, value: int) -> None:
        if self._on_write is None:
            raise BusFault(offset, "write to read-only memory")
        self._on_write(offset, size, value)


class Alias:
    """A window that forwards to whichever device `target()` names (the SAM4E boot memory at 0)."""

    def __init__(self, target: Callable[[], Device], size: int) -> None:
        self._target = target
        self._size = size

    def read(self, offset: int, size: int) -> int:
        return self._target().read(offset % self._size, size)

    def write(self, offset: int, size: int, value: int) -> None:
        self._target().write(offset % self._size, size, value)


class Registers:
    """A block of memory-mapped 32-bit registers.

    Registers with behaviour get `on_read`/`on_write` handlers (by offset); the rest are plain
    storage that reads back what was written, starting from `initial` (else 0). Sub-word
    accesses act on the containing word, which is how byte accesses to SCS/peripheral
    registers behave on the AHB.
    """

    def __init__(self, initial: dict[int, int] | None = None) -> None:
        self.initial = dict(initial or {})
        self.store: dict[int, int] = dict(self.initial)
        self.on_read: dict[int, Callable[[], int]] = {}
        self.on_write: dict[int, Callable[[int], None]] = {}

    def reset(self) -> None:
        self.store = dict(self.initial)

    def read_word(self, offset: int) -> int:
        handler = self.on_read.get(offset)
        return handler() if handler else self.store.get(offset, 0)

    def write_word(self, offset: int, value: int) -> None:
        handler = self.on_write.get(offset)
        if handler:
            handler(value & 0xFFFFFFFF)
        else:
            self.store[offset] = value & 0xFFFFFFFF

    def read(self, offset: int, size: int) -> int:
        word = self.read_word(offset & ~3)
        if size == 4:
            return word
        shift = (offset & 3) * 8
        return (word >> shift) & ((1 << (8 * size)) - 1)

    def write(self, offset: int, size: int, value: int) -> None:
        if size == 4:
            self.write_word(offset, value)
            return
        shift = (offset & 3) * 8
        mask = ((1 << (8 * size)) - 1) << shift
        # Merge into the stored value, not a handler read: reading some registers has side
        # effects (FSR clears its error bits) that a byte write must not trigger.
        old = self.store.get(offset & ~3, 0)
        self.write_word(offset & ~3, (old & ~mask) | ((value << shift) & mask))
