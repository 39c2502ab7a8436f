"""Addresses and identification values of the emulated ATSAM4E16E and its Cortex-M4 debug logic.

SAM4E values are from the SAM4E device headers / datasheet (flash, SRAM, CHIPID, EEFC); the
Cortex-M4 and CoreSight values are the r0p1 core's documented reset/ID values, the same ones
pyOCD's discovery code keys on (coresight/component_ids.py, ap.py).
"""

from __future__ import annotations

# --- SAM4E memory map -------------------------------------------------------------------------
FLASH_BASE = 0x0040_0000
FLASH_SIZE = 0x0010_0000  # 1 MiB
FLASH_PAGE = 512
FLASH_LOCK_REGION = 0x2000  # 8 KiB lock regions (and the erase granule the flash algo uses)
FLASH_PAGES = FLASH_SIZE // FLASH_PAGE

SRAM_BASE = 0x2000_0000
SRAM_SIZE = 0x0002_0000  # 128 KiB

ROM_BASE = 0x0080_0000  # SAM-BA boot ROM
ROM_SIZE = 0x0000_4000  # what we model of it (the real ROM is larger; only its vectors matter)

BOOT_ALIAS_SIZE = 0x0040_0000  # 0x0..0x3FFFFF mirrors ROM (GPNVM1=0) or flash (GPNVM1=1)

PERIPH_BASE = 0x4000_0000
PERIPH_END = 0x6000_0000

CHIPID_CIDR = 0x400E_0740
CHIPID_EXID = 0x400E_0744
CIDR_SAM4E16E = 0xA3CC_0CE0
CIDR_VERSION_MASK = 0x1F
# EXID is not needed by pyOCD or the adapter; the value is the datasheet table's for the 16E
# (not checked against silicon).
EXID_SAM4E16E = 0x0012_0200

EEFC_BASE = 0x400E_0A00
EEFC_FMR = EEFC_BASE + 0x0
EEFC_FCR = EEFC_BASE + 0x4
EEFC_FSR = EEFC_BASE + 0x8
EEFC_FRR = EEFC_BASE + 0xC

FSR_FRDY = 1 << 0
FSR_FCMDE = 1 << 1
FSR_FLOCKE = 1 << 2
FSR_FLERR = 1 << 3

FCR_KEY = 0x5A
GPNVM_SECURITY = 0
GPNVM_BOOT_FLASH = 1
GPNVM_COUNT = 2

# --- Cortex-M4 private peripheral bus ---------------------------------------------------------
PPB_BASE = 0xE000_0000
PPB_END = 0xE010_0000

ITM_BASE = 0xE000_0000
DWT_BASE = 0xE000_1000
FPB_BASE = 0xE000_2000
SCS_BASE = 0xE000_E000
TPIU_BASE = 0xE004_0000
ETM_BASE = 0xE004_1000
ROM_TABLE_BASE = 0xE00F_F000

CPUID = 0xE000_ED00
ICSR = 0xE000_ED04
VTOR = 0xE000_ED08
AIRCR = 0xE000_ED0C
DFSR = 0xE000_ED30
ISAR3 = 0xE000_ED6C
CLIDR = 0xE000_ED78
CPACR = 0xE000_ED88
MPU_TYPE = 0xE000_ED90
DHCSR = 0xE000_EDF0
DCRSR = 0xE000_EDF4
DCRDR = 0xE000_EDF8
DEMCR = 0xE000_EDFC
ICTR = 0xE000_E004
FPCCR = 0xE000_EF34
MVFR0 = 0xE000_EF40
MVFR1 = 0xE000_EF44
MVFR2 = 0xE000_EF48

CPUID_M4_R0P1 = 0x410F_C241
ISAR3_M4 = 0x0111_1131  # SIMD field = 3: the DSP extension
MPU_TYPE_M4 = 0x0000_0800  # 8 regions
MVFR0_M4F = 0x1011_0021  # single precision only: FPv4-SP
MVFR1_M4F = 0x1100_0011
FPCCR_RESET = 0xC000_0000
ICTR_SAM4E = 0x1  # 33..64 interrupt lines (SAM4E has 47)

DBGKEY = 0xA05F_0000
C_DEBUGEN = 1 << 0
C_HALT = 1 << 1
C_STEP = 1 << 2
C_MASKINTS = 1 << 3
C_SNAPSTALL = 1 << 5
S_REGRDY = 1 << 16
S_HALT = 1 << 17
S_SLEEP = 1 << 18
S_LOCKUP = 1 << 19
S_RETIRE_ST = 1 << 24
S_RESET_ST = 1 << 25

DCRSR_REGWNR = 1 << 16
DCRSR_REGSEL = 0x7F

DEMCR_VC_CORERESET = 1 << 0

AIRCR_VECTKEY = 0x05FA_0000
AIRCR_VECTKEYSTAT = 0xFA05_0000
AIRCR_VECTRESET = 1 << 0
AIRCR_VECTCLRACTIVE = 1 << 1
AIRCR_SYSRESETREQ = 1 << 2

DFSR_HALTED = 1 << 0
DFSR_BKPT = 1 << 1
DFSR_VCATCH = 1 << 3
DFSR_EXTERNAL = 1 << 4

# --- Debug port / access port -----------------------------------------------------------------
DPIDR_SW_DP_V1 = 0x2BA0_1477  # ARM SW-DP v1 as on the SAM4E
# The Cortex-M4 AHB-AP. pyOCD maps IDR variant 1 to a 4 KiB TAR auto-increment wrap.
AHB_AP_IDR_M4 = 0x2477_0011
# An AHB-AP with the ADIv5 minimum 1 KiB wrap (the Cortex-M0 one), for the `tar_wrap=0x400` model.
AHB_AP_IDR_1K = 0x0477_0021
AP_BASE_M4 = ROM_TABLE_BASE | 0x3  # format=ADIv5, entry present
