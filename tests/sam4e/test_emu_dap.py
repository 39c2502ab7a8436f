"""The SW-DP/AHB-AP register model on its own: what a CMSIS-DAP transfer sees on the SAM4E."""

from __future__ import annotations

import pytest

from targets.sam4e.emulation import EmulatedSam4e
from targets.sam4e.emulation.constants import CHIPID_CIDR, CIDR_SAM4E16E, ROM_TABLE_BASE, SRAM_BASE
from targets.sam4e.emulation.dap import (
    AP_BASE,
    AP_BD0,
    AP_CSW,
    AP_DRW,
    AP_IDR,
    AP_TAR,
    CDBGPWRUPACK,
    CDBGPWRUPREQ,
    CSYSPWRUPACK,
    CSYSPWRUPREQ,
    STICKYERR,
    STKERRCLR,
    DapFault,
    DapProtocolError,
    SwDp,
)

SIZE8, SIZE16, SIZE32, INC = 0x0, 0x1, 0x2, 0x10


def powered(board: EmulatedSam4e) -> SwDp:
    dp = board.dap
    dp.swj_sequence(51, (1 << 51) - 1)
    assert dp.read_dp(0x0) == 0x2BA01477
    dp.write_dp(0x4, CSYSPWRUPREQ | CDBGPWRUPREQ)
    assert dp.read_dp(0x4) & (CSYSPWRUPACK | CDBGPWRUPACK) == CSYSPWRUPACK | CDBGPWRUPACK
    dp.write_dp(0x8, 0)  # APSEL 0, bank 0
    return dp


def test_line_reset_requires_dpidr_read_first() -> None:
    dp = EmulatedSam4e().dap
    dp.read_dp(0x0)
    dp.swj_sequence(51, (1 << 51) - 1)
    dp.swj_sequence(3, 0)  # idle cycles do not leave the line-reset state
    with pytest.raises(DapProtocolError):
        dp.read_dp(0x4)
    dp.read_dp(0x0)
    dp.read_dp(0x4)


def test_line_reset_split_across_sequences() -> None:
    dp = EmulatedSam4e().dap
    dp.read_dp(0x0)
    dp.swj_sequence(30, (1 << 30) - 1)
    dp.swj_sequence(30, (1 << 30) - 1)
    with pytest.raises(DapProtocolError):
        dp.write_dp(0x8, 0)


def test_ap_access_needs_power_and_sticky_error_blocks_until_abort() -> None:
    board = EmulatedSam4e()
    dp = board.dap
    dp.read_dp(0x0)
    with pytest.raises(DapFault):
        dp.read_ap(AP_IDR)
    assert dp.read_dp(0x4) & STICKYERR
    dp.write_dp(0x4, CSYSPWRUPREQ | CDBGPWRUPREQ)
    with pytest.raises(DapFault):  # still sticky
        dp.read_ap(AP_CSW)
    dp.write_dp(0x0, STKERRCLR)
    assert dp.read_dp(0x4) & STICKYERR == 0


def test_select_chooses_ap_and_bank() -> None:
    dp = powered(EmulatedSam4e())
    dp.write_dp(0x8, 0xF0)  # bank 0xF: CFG/BASE/IDR at A[3:2] = 1/2/3
    assert dp.read_ap(0x0C) == 0x24770011  # the address's upper bits are not on the wire
    assert dp.read_ap(0x08) == ROM_TABLE_BASE | 3
    assert dp.read_dp(0xC) == ROM_TABLE_BASE | 3  # RDBUFF: the last AP read
    dp.write_dp(0x8, (1 << 24) | 0xF0)  # APSEL 1: no AP there
    assert dp.read_ap(0x0C) == 0
    assert AP_BASE == 0xF8 and AP_IDR == 0xFC


def test_csw_sizes_read_back_like_adiv5() -> None:
    dp = powered(EmulatedSam4e())
    for size in (SIZE8, SIZE16, SIZE32):
        dp.write_ap(AP_CSW, size)
        assert dp.read_ap(AP_CSW) & 7 == size
    dp.write_ap(AP_CSW, 0x3)  # 64-bit: unsupported, reads back as 32-bit
    assert dp.read_ap(AP_CSW) & 7 == SIZE32
    assert dp.read_ap(AP_CSW) & 0x40  # DeviceEn


def test_byte_and_halfword_lanes() -> None:
    board = EmulatedSam4e()
    dp = powered(board)
    dp.write_ap(AP_CSW, SIZE32)
    dp.write_ap(AP_TAR, SRAM_BASE)
    dp.write_ap(AP_DRW, 0x44332211)
    dp.write_ap(AP_CSW, SIZE8)
    for lane, expected in enumerate((0x11, 0x22, 0x33, 0x44)):
        dp.write_ap(AP_TAR, SRAM_BASE + lane)
        assert dp.read_ap(AP_DRW) == expected << (8 * lane)
    dp.write_ap(AP_TAR, SRAM_BASE + 2)
    dp.write_ap(AP_DRW, 0xAB << 16)  # byte write uses lane 2
    dp.write_ap(AP_CSW, SIZE16)
    dp.write_ap(AP_TAR, SRAM_BASE + 2)
    assert dp.read_ap(AP_DRW) == 0x44AB << 16
    assert bytes(board.sram[0:4]) == bytes([0x11, 0x22, 0xAB, 0x44])


@pytest.mark.parametrize("wrap", [0x400, 0x1000])
def test_tar_auto_increment_wraps_within_the_page(wrap: int) -> None:
    board = EmulatedSam4e(tar_wrap=wrap)
    dp = powered(board)
    start = SRAM_BASE + 2 * wrap - 8
    dp.write_ap(AP_CSW, SIZE32 | INC)
    dp.write_ap(AP_TAR, start)
    dp.write_ap_multiple(AP_DRW, [1, 2, 3, 4])
    # Words 3 and 4 wrapped to the start of the same page, not into the next one.
    assert dp.read_ap(AP_TAR) == SRAM_BASE + wrap + 8
    assert board.read32(start) == 1 and board.read32(start + 4) == 2
    assert board.read32(SRAM_BASE + wrap) == 3 and board.read32(SRAM_BASE + wrap + 4) == 4
    assert board.read32(SRAM_BASE + 2 * wrap) == 0
    dp.write_dp(0x8, 0xF0)
    assert dp.read_ap(0x0C) == (0x24770011 if wrap == 0x1000 else 0x04770021)


def test_banked_data_registers_and_block_reads() -> None:
    board = EmulatedSam4e()
    dp = powered(board)
    for i in range(4):
        board.write32(SRAM_BASE + 0x40 + 4 * i, 0x1000 + i)
    dp.write_ap(AP_CSW, SIZE32)
    dp.write_ap(AP_TAR, SRAM_BASE + 0x48)  # BDn ignore TAR[3:0]
    dp.write_dp(0x8, 0x10)
    assert [dp.read_ap(AP_BD0 + 4 * i) for i in range(4)] == [0x1000, 0x1001, 0x1002, 0x1003]
    dp.write_dp(0x8, 0)
    dp.write_ap(AP_CSW, SIZE32 | INC)
    dp.write_ap(AP_TAR, SRAM_BASE + 0x40)
    assert dp.read_ap_multiple(AP_DRW, 4) == [0x1000, 0x1001, 0x1002, 0x1003]


def test_bus_fault_is_sticky_and_counted() -> None:
    board = EmulatedSam4e()
    dp = powered(board)
    before = board.stats.snapshot()
    dp.write_ap(AP_CSW, SIZE32)
    dp.write_ap(AP_TAR, 0x6000_0000)  # no memory there
    with pytest.raises(DapFault) as err:
        dp.read_ap(AP_DRW)
    assert err.value.address == 0x6000_0000
    with pytest.raises(DapFault):
        dp.write_ap(AP_TAR, CHIPID_CIDR)
    dp.write_dp(0x0, STKERRCLR)
    dp.write_ap(AP_TAR, CHIPID_CIDR)
    assert dp.read_ap(AP_DRW) == CIDR_SAM4E16E
    used = board.stats.since(before)
    assert (used.ap_writes, used.ap_reads, used.dp_writes) == (4, 2, 1)
