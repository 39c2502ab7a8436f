"""The Cortex-M4 private peripheral bus: ROM table, CoreSight IDs, SCS, DWT, FPB, ITM, TPIU.

The ID values are the Cortex-M4 r0p1 ones (the same the pyOCD unit tests use for an M4), so
pyOCD's ROM-table walk finds: SCS (v7-M, CortexM), DWT (4 comparators), FPB (6 code + 2 literal
comparators), ITM and the M4 TPIU; the ETM entry is marked not present (the SAM4E has none).
The SCS registers with behaviour are routed to the `CortexM4` model; the ID registers are
read-only constants; everything else is plain storage.
"""

from __future__ import annotations

from collections.abc import Callable

from .bus import Registers
from .constants import (
    AIRCR,
    CLIDR,
    CPUID,
    CPUID_M4_R0P1,
    DCRDR,
    DCRSR,
    DEMCR,
    DFSR,
    DHCSR,
    DWT_BASE,
    FPB_BASE,
    FPCCR,
    FPCCR_RESET,
    ICTR,
    ICTR_SAM4E,
    ISAR3,
    ISAR3_M4,
    ITM_BASE,
    MPU_TYPE,
    MPU_TYPE_M4,
    MVFR0,
    MVFR0_M4F,
    MVFR1,
    MVFR1_M4F,
    MVFR2,
    PPB_BASE,
    ROM_TABLE_BASE,
    SCS_BASE,
    TPIU_BASE,
)
from .core import CortexM4

CLASS_ROM_TABLE = 0x1
CLASS_CORESIGHT = 0x9
CLASS_GENERIC = 0xE

# (block base, 40-bit PIDR as PIDR4<<32 | PIDR3..0, component class, DEVTYPE)
COMPONENTS = (
    (ROM_TABLE_BASE, 0x04_000B_B4C4, CLASS_ROM_TABLE, None),
    (SCS_BASE, 0x04_000B_B00C, CLASS_GENERIC, None),
    (DWT_BASE, 0x04_003B_B002, CLASS_GENERIC, None),
    (FPB_BASE, 0x04_002B_B003, CLASS_GENERIC, None),
    (ITM_BASE, 0x04_003B_B001, CLASS_GENERIC, None),
    (TPIU_BASE, 0x04_000B_B9A1, CLASS_CORESIGHT, 0x11),
)

# ROM table entries: signed offsets from the table, bit0 = present, bit1 = 32-bit format.
ROM_TABLE_ENTRIES = (0xFFF0_F003, 0xFFF0_2003, 0xFFF0_3003, 0xFFF0_1003, 0xFFF4_1003, 0xFFF4_2002, 0)

DWT_CTRL_M4 = 0x4000_0000  # NUMCOMP = 4
FP_CTRL_M4 = 0x0000_0260  # NUM_CODE = 6, NUM_LIT = 2, FPB version 1


def component_id_registers(base: int, pidr: int, cls: int, devtype: int | None) -> dict[int, int]:
    """The PIDR4-7/PIDR0-3/CIDR0-3 words (and DEVTYPE) at the top of a 4 KiB component block."""
    regs = {base + 0xFD0: (pidr >> 32) & 0xFF, base + 0xFD4: 0, base + 0xFD8: 0, base + 0xFDC: 0}
    for i in range(4):
        regs[base + 0xFE0 + 4 * i] = (pidr >> (8 * i)) & 0xFF
    for i, byte in enumerate((0x0D, cls << 4, 0x05, 0xB1)):
        regs[base + 0xFF0 + 4 * i] = byte
    if devtype is not None:
        regs[base + 0xFCC] = devtype
        regs[base + 0xFBC] = 0  # DEVARCH: not present
    return regs


def build_ppb(core: CortexM4, system_reset: Callable[[], None]) -> Registers:
    """The PPB as one register block (offsets from 0xE0000000)."""
    constants = {
        CPUID: CPUID_M4_R0P1,
        ICTR: ICTR_SAM4E,
        ISAR3: ISAR3_M4,
        CLIDR: 0,
        MPU_TYPE: MPU_TYPE_M4,
        MVFR0: MVFR0_M4F,
        MVFR1: MVFR1_M4F,
        MVFR2: 0,  # not implemented on the M4
        ROM_TABLE_BASE + 0xFCC: 1,  # MEMTYPE: system memory present on the bus
    }
    for i, entry in enumerate(ROM_TABLE_ENTRIES):
        constants[ROM_TABLE_BASE + 4 * i] = entry
    for spec in COMPONENTS:
        constants.update(component_id_registers(*spec))

    initial = {FPCCR: FPCCR_RESET, DWT_BASE: DWT_CTRL_M4}
    ppb = Registers({a - PPB_BASE: v for a, v in initial.items()})

    def const(value: int) -> Callable[[], int]:
        return lambda: value

    for address, value in constants.items():
        ppb.on_read[address - PPB_BASE] = const(value)
        ppb.on_write[address - PPB_BASE] = lambda _v: None

    def write_aircr(value: int) -> None:
        if core.write_aircr(value):
            system_reset()

    fp_ctrl = {"enable": 0}

    def write_fp_ctrl(value: int) -> None:
        if value & 0x2:  # KEY must be set for the write to take effect
            fp_ctrl["enable"] = value & 1

    handlers: dict[int, tuple[Callable[[], int], Callable[[int], None]]] = {
        DHCSR: (core.read_dhcsr, core.write_dhcsr),
        DCRSR: (lambda: 0, core.write_dcrsr),
        DCRDR: (core.read_dcrdr, core.write_dcrdr),
        DEMCR: (core.read_demcr, core.write_demcr),
        DFSR: (core.read_dfsr, core.write_dfsr),
        AIRCR: (core.read_aircr, write_aircr),
        FPB_BASE: (lambda: FP_CTRL_M4 | fp_ctrl["enable"], write_fp_ctrl),
    }
    for address, (read, write) in handlers.items():
        ppb.on_read[address - PPB_BASE] = read
        ppb.on_write[address - PPB_BASE] = write
    return ppb
