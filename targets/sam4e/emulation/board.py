"""`EmulatedSam4e`: a SAM4E Xplained Pro as seen through its SWD port.

Memory map (AHB, as the MEM-AP sees it):

    0x00000000  4 MiB   boot alias: SAM-BA ROM (GPNVM1 = 0) or flash (GPNVM1 = 1)
    0x00400000  1 MiB   flash (reads: the array; writes: the EEFC page latch)
    0x00800000  16 KiB  SAM-BA ROM (synthetic: vectors and a `b .` loop)
    0x20000000  128 KiB SRAM: a ctypes buffer (`board.sram`) host C code can share
    0x40000000  512 MiB peripherals: CHIPID, EEFC; other registers read back what was written
    0xE0000000  1 MiB   Cortex-M4 PPB (ppb.py)

Anything else is a bus fault. All state changes happen under `board.lock` (probe accesses,
resets, firmware hooks); the SRAM is the exception by design: firmware threads use it directly.

Boot: a reset fetches SP/PC from address 0, i.e. from the ROM or the flash per GPNVM1, and sets
`booted_from` to "rom" or "flash". When the core then runs (at once, or on the first resume
after a reset-halt), a flash boot counts in `boot_count` and calls `firmware.on_reset(board)`;
a ROM boot runs SAM-BA, which does nothing here. Later resumes call `firmware.on_resume`,
halts and resets of a running firmware call `firmware.on_halt`. An erased flash (PC
0xFFFFFFFE) locks the core up instead. See flm.py for the flash-algorithm entry points.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from typing import Protocol

from .bus import Alias, Bus, BusFault, ByteMemory, CtypesMemory, Registers
from .constants import (
    BOOT_ALIAS_SIZE,
    CHIPID_CIDR,
    CHIPID_EXID,
    CIDR_SAM4E16E,
    DFSR_BKPT,
    EEFC_BASE,
    EXID_SAM4E16E,
    FLASH_BASE,
    FLASH_SIZE,
    PERIPH_BASE,
    PERIPH_END,
    PPB_BASE,
    PPB_END,
    ROM_BASE,
    ROM_SIZE,
    SRAM_BASE,
    SRAM_SIZE,
)
from .core import CortexM4
from .dap import DapStats, SwDp
from .eefc import Eefc, FlashStats
from .flm import HOSTCALL, run_hostcall
from .ppb import build_ppb

SAMBA_SP = SRAM_BASE + 0x1000
SAMBA_PC = ROM_BASE + 0x100


class Firmware(Protocol):
    """What the board tells a firmware model; every hook runs with `board.lock` held."""

    def on_reset(self, board: EmulatedSam4e) -> None: ...

    def on_halt(self, board: EmulatedSam4e) -> None: ...

    def on_resume(self, board: EmulatedSam4e) -> None: ...


def _samba_rom() -> bytearray:
    rom = bytearray(ROM_SIZE)
    rom[0:8] = struct.pack("<II", SAMBA_SP, SAMBA_PC | 1)
    loop = struct.pack("<H", 0xE7FE)  # b .
    rom[0x100:ROM_SIZE] = loop * ((ROM_SIZE - 0x100) // 2)
    return rom


class EmulatedSam4e:
    def __init__(self, firmware: Firmware | None = None, tar_wrap: int = 0x1000,
                 eefc_busy_polls: int = 1) -> None:
        self.lock = threading.RLock()
        self.firmware = firmware
        self.sram = (ctypes.c_uint8 * SRAM_SIZE)()
        self.eefc = Eefc(busy_polls=eefc_busy_polls)
        self.core = CortexM4(listener=self)
        self.booted_from: str | None = None
        self.boot_count = 0
        self.algo_calls: dict[int, int] = {}
        self.nreset_asserted = False
        self._firmware_booted = False  # the current boot started the firmware
        self._firmware_running = False

        self._sram = CtypesMemory(self.sram)
        self._flash = ByteMemory(self.eefc.flash, on_write=self.eefc.latch_write)
        self._rom = ByteMemory(_samba_rom())
        self.peripherals = self._build_peripherals()
        self.ppb = build_ppb(self.core, self.system_reset)

        self.bus = Bus()
        self.bus.map(0, BOOT_ALIAS_SIZE, Alias(self._boot_memory, BOOT_ALIAS_SIZE))
        self.bus.map(FLASH_BASE, FLASH_SIZE, self._flash)
        self.bus.map(ROM_BASE, ROM_SIZE, self._rom)
        self.bus.map(SRAM_BASE, SRAM_SIZE, self._sram)
        self.bus.map(PERIPH_BASE, PERIPH_END - PERIPH_BASE, self.peripherals)
        self.bus.map(PPB_BASE, PPB_END - PPB_BASE, self.ppb)

        self.dap = SwDp(self.bus, tar_wrap=tar_wrap)
        self.dap.ap.blocked = lambda: self.eefc.secured
        self.power_on()

    # -- construction ---------------------------------------------------------------------------
    def _build_peripherals(self) -> Registers:
        regs = Registers()
        ro = {CHIPID_CIDR: CIDR_SAM4E16E, CHIPID_EXID: EXID_SAM4E16E}
        for address, value in ro.items():
            regs.on_read[address - PERIPH_BASE] = (lambda v=value: v)
            regs.on_write[address - PERIPH_BASE] = lambda _v: None
        for offset in (0x0, 0x4, 0x8, 0xC):  # EEFC FMR/FCR/FSR/FRR
            at = EEFC_BASE + offset - PERIPH_BASE
            regs.on_read[at] = (lambda o=offset: self.eefc.regs.read_word(o))
            regs.on_write[at] = (lambda v, o=offset: self.eefc.regs.write_word(o, v))
        return regs

    def _boot_memory(self) -> ByteMemory:
        return self._flash if self.eefc.boot_from_flash else self._rom

    # -- public state ---------------------------------------------------------------------------
    @property
    def stats(self) -> DapStats:
        """Probe transactions (DP/AP register accesses) since construction or `stats.clear()`."""
        return self.dap.stats

    @property
    def flash_stats(self) -> FlashStats:
        return self.eefc.stats

    @property
    def flash(self) -> bytearray:
        return self.eefc.flash

    @property
    def gpnvm(self) -> int:
        return self.eefc.gpnvm

    @property
    def firmware_running(self) -> bool:
        return self._firmware_running

    def sram_address(self, address: int) -> int:
        """The host (ctypes) address of target SRAM address `address`."""
        if not SRAM_BASE <= address < SRAM_BASE + SRAM_SIZE:
            raise ValueError(f"{address:#010x} is not in SRAM")
        return ctypes.addressof(self.sram) + (address - SRAM_BASE)

    # -- host-side ("backdoor") memory access: no probe traffic, no security check --------------
    def read_memory(self, address: int, size: int) -> bytes:
        with self.lock:
            return self._read_block(address, size)

    def _read_block(self, address: int, size: int) -> bytes:
        if SRAM_BASE <= address and address + size <= SRAM_BASE + SRAM_SIZE:
            return ctypes.string_at(self.sram_address(address), size)
        if FLASH_BASE <= address and address + size <= FLASH_BASE + FLASH_SIZE:
            return bytes(self.eefc.flash[address - FLASH_BASE:address - FLASH_BASE + size])
        return bytes(self.bus.read(address + i, 1) for i in range(size))

    def write_memory(self, address: int, data: bytes) -> None:
        with self.lock:
            for i, b in enumerate(data):
                self.bus.write(address + i, 1, b)

    def read32(self, address: int) -> int:
        with self.lock:
            return self.bus.read(address, 4)

    def write32(self, address: int, value: int) -> None:
        with self.lock:
            self.bus.write(address, 4, value)

    # -- resets ---------------------------------------------------------------------------------
    def power_on(self) -> None:
        """Power-on reset: also clears the debug logic (DP power requests, DHCSR, DEMCR).

        SRAM keeps its contents (real SRAM powers up random; zero or stale is kinder to tests).
        """
        with self.lock:
            self.dap.power_on_reset()
            self.core.dhcsr_ctrl = 0
            self.core.demcr = 0
            self.core.dfsr = 0
            self.system_reset()

    def system_reset(self) -> None:
        """What NRST or SYSRESETREQ does: peripherals and core reset, the debug logic stays."""
        with self.lock:
            self.eefc.system_reset()
            self.peripherals.reset()
            self.core.reset()

    def set_nreset(self, asserted: bool) -> None:
        """Drive the NRST line (the probe's nRESET pin)."""
        with self.lock:
            if asserted and not self.nreset_asserted:
                self.nreset_asserted = True
                self.eefc.system_reset()
                self.peripherals.reset()
                self.core.hold_reset(True)
            elif not asserted and self.nreset_asserted:
                self.nreset_asserted = False
                self.core.hold_reset(False)

    def erase_pin(self) -> None:
        """Assert the ERASE pin and power-cycle: chip erase, GPNVM (incl. security) cleared."""
        with self.lock:
            self.eefc.erase_pin()
            self.power_on()

    # -- CoreListener ---------------------------------------------------------------------------
    def reset_vector(self) -> tuple[int, int]:
        self.booted_from = "flash" if self.eefc.boot_from_flash else "rom"
        self._firmware_booted = False
        memory = self._boot_memory()
        return memory.read(0, 4), memory.read(4, 4)

    def _halfword(self, address: int) -> int | None:
        try:
            return self.bus.read(address & ~1, 2) if not address & 1 else None
        except BusFault:
            return None

    def _executable(self, address: int) -> bool:
        return (address < BOOT_ALIAS_SIZE or FLASH_BASE <= address < FLASH_BASE + FLASH_SIZE
                or ROM_BASE <= address < ROM_BASE + ROM_SIZE or SRAM_BASE <= address < SRAM_BASE + SRAM_SIZE)

    def _is_bkpt(self, address: int) -> bool:
        word = self._halfword(address)
        return word is not None and word & 0xFF00 == 0xBE00

    def core_started(self, from_reset: bool) -> None:
        core = self.core
        pc = core.pc
        if self._halfword(pc) == HOSTCALL:
            op = self._halfword(pc + 2) or 0
            core.regs[0] = run_hostcall(self, op, tuple(core.regs.get(i, 0) for i in range(4))) & 0xFFFFFFFF
            # "Return" to LR: pyOCD points it at the blob header's BKPT, which halts the core.
            core.regs[15] = core.regs.get(14, 0) & ~1
            pc = core.pc
        if self._is_bkpt(pc):
            core.halt(DFSR_BKPT)
            return
        if not self._executable(pc):
            core.lockup()
            return
        if from_reset and self.booted_from == "flash" and FLASH_BASE <= pc < FLASH_BASE + FLASH_SIZE:
            self.boot_count += 1
            self._firmware_booted = True
            self._firmware_running = True
            if self.firmware is not None:
                self.firmware.on_reset(self)
        elif self._firmware_booted and not from_reset:
            self._firmware_running = True
            if self.firmware is not None:
                self.firmware.on_resume(self)

    def core_stopped(self, reason: str) -> None:
        if self._firmware_running:
            self._firmware_running = False
            if self.firmware is not None:
                self.firmware.on_halt(self)
