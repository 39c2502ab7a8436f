"""The emulated board without pyOCD: memory map, EEFC, boot selection, firmware hooks, SRAM sharing."""

from __future__ import annotations

import ctypes
import struct

import pytest

from targets.sam4e.emulation import EmulatedSam4e
from targets.sam4e.emulation.bus import BusFault
from targets.sam4e.emulation.constants import (
    C_DEBUGEN,
    C_HALT,
    CHIPID_CIDR,
    CIDR_SAM4E16E,
    DBGKEY,
    DCRDR,
    DCRSR,
    DEMCR,
    DHCSR,
    EEFC_FCR,
    EEFC_FRR,
    EEFC_FSR,
    FLASH_BASE,
    FSR_FCMDE,
    FSR_FLOCKE,
    FSR_FRDY,
    S_HALT,
    S_LOCKUP,
    S_RESET_ST,
    SRAM_BASE,
)
from targets.sam4e.emulation.dap import DapFault

FLASH_VECTORS = struct.pack("<II", 0x2002_0000, 0x0040_0101)


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_reset(self, board: EmulatedSam4e) -> None:
        self.events.append(f"reset:{board.booted_from}")

    def on_halt(self, board: EmulatedSam4e) -> None:
        self.events.append("halt")

    def on_resume(self, board: EmulatedSam4e) -> None:
        self.events.append("resume")


def eefc(board: EmulatedSam4e, cmd: int, arg: int = 0) -> int:
    """Issue an EEFC command over the bus and poll FRDY as a host must; returns FSR."""
    board.write32(EEFC_FCR, (0x5A << 24) | (arg << 8) | cmd)
    for _ in range(10):
        fsr = board.read32(EEFC_FSR)
        if fsr & FSR_FRDY:
            return fsr
    raise AssertionError("FRDY never came back")


def program_page(board: EmulatedSam4e, address: int, data: bytes) -> int:
    for i in range(0, len(data), 4):
        board.write32(address + i, int.from_bytes(data[i:i + 4].ljust(4, b"\xff"), "little"))
    return eefc(board, 0x01, (address - FLASH_BASE) // 512)


def test_chipid_and_unmapped_addresses() -> None:
    board = EmulatedSam4e()
    assert board.read32(CHIPID_CIDR) & ~0x1F == CIDR_SAM4E16E & ~0x1F
    with pytest.raises(BusFault):
        board.read32(0x6000_0000)
    with pytest.raises(BusFault):
        board.read32(SRAM_BASE + 0x20000)


def test_flash_writes_go_through_the_latch_and_wp() -> None:
    board = EmulatedSam4e()
    board.write32(FLASH_BASE + 0x200, 0x12345678)
    assert board.read32(FLASH_BASE + 0x200) == 0xFFFFFFFF  # only the latch changed
    assert eefc(board, 0x01, 1) & ~FSR_FRDY == 0  # WP page 1
    assert board.read32(FLASH_BASE + 0x200) == 0x12345678
    # NOR semantics: programming without erase only clears bits.
    program_page(board, FLASH_BASE + 0x200, b"\x0f\xf0\xff\xff")
    assert board.flash[0x200:0x204] == bytes([0x78 & 0x0F, 0x56 & 0xF0, 0x34, 0x12])
    assert eefc(board, 0x07, 0 | 2) & ~FSR_FRDY == 0  # EPA, 16 pages from page 0
    assert board.flash[0:0x2000] == b"\xff" * 0x2000


def test_eefc_key_locks_and_status_bits() -> None:
    board = EmulatedSam4e()
    board.write32(EEFC_FCR, 0x0000_010B)  # no key
    assert board.read32(EEFC_FSR) & FSR_FCMDE
    assert board.read32(EEFC_FSR) & FSR_FCMDE == 0  # cleared by the read
    assert eefc(board, 0x08, 16) & ~FSR_FRDY == 0  # SLB: region 1 (pages 16..31)
    assert eefc(board, 0x0A) & ~FSR_FRDY == 0  # GLB
    assert board.read32(EEFC_FRR) == 0b10
    assert program_page(board, FLASH_BASE + 16 * 512, b"\0" * 512) & FSR_FLOCKE
    assert eefc(board, 0x09, 16) & ~FSR_FRDY == 0  # CLB
    assert program_page(board, FLASH_BASE + 16 * 512, b"\0" * 512) & ~FSR_FRDY == 0
    assert eefc(board, 0x00) & ~FSR_FRDY == 0  # GETD
    getd = [board.read32(EEFC_FRR) for _ in range(6)]
    assert getd[1:] == [0x100000, 512, 1, 0x100000, 128]


def test_gpnvm_selects_the_boot_memory() -> None:
    fw = Recorder()
    board = EmulatedSam4e(firmware=fw)
    assert board.booted_from == "rom" and board.core.running  # a new part runs SAM-BA
    program_page(board, FLASH_BASE, FLASH_VECTORS + b"\xfe\xe7" * 252)
    board.system_reset()
    assert board.booted_from == "rom" and fw.events == []
    assert eefc(board, 0x0B, 1) & ~FSR_FRDY == 0  # SGPB 1
    eefc(board, 0x0D)  # GGPB
    assert board.read32(EEFC_FRR) == 0b10
    assert board.read32(0x0) == 0x2002_0000  # the boot alias now shows the flash
    board.system_reset()
    assert board.booted_from == "flash" and board.boot_count == 1
    assert fw.events == ["reset:flash"]
    assert eefc(board, 0x0C, 1) & ~FSR_FRDY == 0  # CGPB 1
    board.system_reset()
    assert board.booted_from == "rom" and fw.events == ["reset:flash", "halt"]


def test_erased_flash_locks_the_core_up() -> None:
    fw = Recorder()
    board = EmulatedSam4e(firmware=fw)
    eefc(board, 0x0B, 1)
    board.system_reset()
    assert board.core.state == "lockup"
    assert board.read32(DHCSR) & S_LOCKUP
    assert fw.events == []


def test_halt_resume_and_vector_catch_drive_the_hooks() -> None:
    fw = Recorder()
    board = EmulatedSam4e(firmware=fw)
    program_page(board, FLASH_BASE, FLASH_VECTORS + b"\xfe\xe7" * 252)
    eefc(board, 0x0B, 1)
    board.system_reset()
    board.write32(DHCSR, DBGKEY | C_DEBUGEN | C_HALT)
    assert board.read32(DHCSR) & S_HALT
    board.write32(DHCSR, DBGKEY | C_DEBUGEN)
    assert fw.events == ["reset:flash", "halt", "resume"]
    board.write32(DEMCR, 1)  # VC_CORERESET
    board.write32(0xE000_ED0C, 0x05FA_0004)  # SYSRESETREQ
    dhcsr = board.read32(DHCSR)
    assert dhcsr & S_HALT and dhcsr & S_RESET_ST
    assert board.read32(DHCSR) & S_RESET_ST == 0  # sticky bit cleared by the read
    board.write32(DCRSR, 15)
    assert board.read32(DCRDR) == 0x0040_0100
    assert fw.events == ["reset:flash", "halt", "resume", "halt"]  # no on_reset while halted
    board.write32(DHCSR, DBGKEY | C_DEBUGEN)
    assert fw.events[-1] == "reset:flash" and board.boot_count == 2


def test_dhcsr_needs_the_key() -> None:
    board = EmulatedSam4e()
    board.write32(DHCSR, C_DEBUGEN | C_HALT)
    assert not board.read32(DHCSR) & S_HALT


def test_security_bit_blocks_debug_until_the_erase_pin() -> None:
    board = EmulatedSam4e()
    program_page(board, FLASH_BASE, FLASH_VECTORS)
    eefc(board, 0x0B, 0)  # SGPB 0: the security bit
    dp = board.dap
    dp.read_dp(0x0)
    dp.write_dp(0x4, 0x5000_0000)
    dp.write_ap(0x0, 0x2)
    dp.write_ap(0x4, SRAM_BASE)
    with pytest.raises(DapFault):
        dp.read_ap(0xC)  # the debugger is locked out ...
    assert board.read32(SRAM_BASE) == 0  # ... the CPU side (backdoor) is not
    board.erase_pin()
    assert board.gpnvm == 0 and board.read32(FLASH_BASE) == 0xFFFFFFFF


def test_sram_is_shared_with_ctypes_code() -> None:
    board = EmulatedSam4e()
    word = ctypes.c_uint32.from_address(board.sram_address(SRAM_BASE + 0x100))
    board.write32(SRAM_BASE + 0x100, 0xCAFEF00D)
    assert word.value == 0xCAFEF00D
    word.value = 0x12345678
    assert board.read32(SRAM_BASE + 0x100) == 0x12345678
    ctypes.memmove(board.sram_address(SRAM_BASE + 0x200), b"hello", 5)
    assert board.read_memory(SRAM_BASE + 0x200, 5) == b"hello"
    with pytest.raises(ValueError):
        board.sram_address(FLASH_BASE)
