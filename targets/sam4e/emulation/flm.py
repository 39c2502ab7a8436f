"""The flash algorithm of the emulated SAM4E: a generated Keil-style FLM plus its host-side half.

pyOCD's pack flow loads the FLM's PrgCode into target RAM behind its `bkpt; b .` blob header,
sets PC to an entry point (Init, UnInit, EraseSector, ProgramPage, EraseChip), r0-r3 to the
arguments, SP/R9 on Init, LR to the header's BKPT, and resumes the core. Each entry point here
is a "host call": `BKPT #0x5A` followed by an operation number. When the emulated core is
resumed at such an instruction it performs the operation through the EEFC model (page latch +
WP, EPA erase), puts the result in r0 and "returns" to LR, where the blob's BKPT halts it. So
pyOCD's real FLM machinery (algo placement, page buffers, register setup, completion polling,
result codes) runs unchanged, and the same EEFC commands do the work as in a real algorithm.

The FLM's FlashDevice describes 1 MiB at 0x00400000, 512-byte pages and uniform 8 KiB sectors
(the SAM4E lock-region size; EraseSector issues one 16-page EPA).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .constants import FLASH_BASE, FLASH_LOCK_REGION, FLASH_PAGE, FLASH_SIZE
from .eefc import EA, EPA, WP
from .elf import SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, STT_FUNC, Section, Symbol, build_elf

if TYPE_CHECKING:
    from .board import EmulatedSam4e

HOSTCALL = 0xBE5A  # BKPT #0x5A: never a semihosting (0xAB) or blob-header (0x00) breakpoint
OP_INIT, OP_UNINIT, OP_ERASE_SECTOR, OP_PROGRAM_PAGE, OP_ERASE_CHIP = 1, 2, 3, 4, 5
ENTRY_POINTS = {"Init": OP_INIT, "UnInit": OP_UNINIT, "EraseSector": OP_ERASE_SECTOR,
                "ProgramPage": OP_PROGRAM_PAGE, "EraseChip": OP_ERASE_CHIP}

FLM_NAME = "ATSAM4E_1024_EMU.FLM"
FLASH_DEVICE_NAME = "ATSAM4E 1MB Flash (emulated)"
PAGE_TIMEOUT_MS = 100
ERASE_TIMEOUT_MS = 3000
FLASH_DEVICE_ADDR = 0x1000  # where DevDscr sits in the FLM's address space (not loaded to target)


def build_flm() -> bytes:
    """The FLM ELF: PrgCode with one host-call stub per entry point, PrgData, DevDscr/FlashDevice."""
    code = bytearray()
    symbols = []
    for name, op in ENTRY_POINTS.items():
        # Thumb function symbols carry bit 0, as in a real FLM; pyOCD passes it on to PC.
        symbols.append(Symbol(name, len(code) | 1, "PrgCode", 4, STT_FUNC))
        code += struct.pack("<HH", HOSTCALL, op)
    data = struct.pack("<I", 0)  # PrgData: pyOCD points R9 (static base) here

    device = struct.pack("<H128sHLLLLBxxxLL", 0x0101, FLASH_DEVICE_NAME.encode(), 1, FLASH_BASE,
                         FLASH_SIZE, FLASH_PAGE, 0, 0xFF, PAGE_TIMEOUT_MS, ERASE_TIMEOUT_MS)
    device += struct.pack("<LL", FLASH_LOCK_REGION, 0x0)  # uniform sectors from offset 0
    device += struct.pack("<LL", 0xFFFFFFFF, 0xFFFFFFFF)  # end of sector list
    symbols.append(Symbol("FlashDevice", FLASH_DEVICE_ADDR, "DevDscr", len(device)))
    sections = [
        Section("PrgCode", 0, bytes(code), flags=SHF_ALLOC | SHF_EXECINSTR),
        Section("PrgData", len(code), data, flags=SHF_ALLOC | SHF_WRITE),
        Section("DevDscr", FLASH_DEVICE_ADDR, device, flags=SHF_ALLOC),
    ]
    return build_elf(sections, symbols)


def run_hostcall(board: EmulatedSam4e, op: int, args: tuple[int, int, int, int]) -> int:
    """Perform one flash-algorithm entry point on the board; returns the value for r0 (0 = OK)."""
    r0, r1, r2, _ = args
    board.algo_calls[op] = board.algo_calls.get(op, 0) + 1
    eefc = board.eefc
    if op in (OP_INIT, OP_UNINIT):
        return 0
    if op == OP_ERASE_CHIP:
        return 1 if eefc.command(EA, 0) else 0
    if op == OP_ERASE_SECTOR:
        if not FLASH_BASE <= r0 < FLASH_BASE + FLASH_SIZE:
            return 1
        first_page = ((r0 - FLASH_BASE) // FLASH_LOCK_REGION) * (FLASH_LOCK_REGION // FLASH_PAGE)
        return 1 if eefc.command(EPA, first_page | 2) else 0  # FARG[1:0]=2: 16 pages
    if op == OP_PROGRAM_PAGE:
        address, size, buffer = r0, r1, r2
        if address % FLASH_PAGE or not FLASH_BASE <= address < FLASH_BASE + FLASH_SIZE:
            return 1
        data = board.read_memory(buffer, size)  # the page buffer pyOCD wrote into SRAM
        for at in range(0, size, FLASH_PAGE):
            chunk = data[at:at + FLASH_PAGE]
            eefc.latch[:] = chunk + b"\xff" * (FLASH_PAGE - len(chunk))
            page = (address - FLASH_BASE + at) // FLASH_PAGE
            if eefc.command(WP, page):
                return 1
        return 0
    return 1  # unknown operation: the algorithm reports failure
