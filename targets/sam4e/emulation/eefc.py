"""The SAM4E Enhanced Embedded Flash Controller (EEFC) and the 1 MiB flash array behind it.

Flash programming works as on the SAM4E: AHB writes into the flash address range land in the
one-page latch buffer (at the offset within the page); a WP/EWP command with the page number
in FARG then commits the latch to that page (NOR semantics: programming can only clear bits,
EWP erases the page first). Modelled commands:

    GETD 0x00, WP 0x01, WPL 0x02, EWP 0x03, EWPL 0x04, EA 0x05, EPA 0x07,
    SLB 0x08, CLB 0x09, GLB 0x0A, SGPB 0x0B, CGPB 0x0C, GGPB 0x0D

Others (the unique-ID and user-signature commands) answer FCMDE, like a bad key. FCR is
`FKEY(0x5A) << 24 | FARG << 8 | FCMD`. FSR.FRDY drops for `busy_polls` reads after each
command, so the host has to poll for it the way it must on the real part; FCMDE/FLOCKE/FLERR
clear when FSR is read. GPNVM0 is the security bit, GPNVM1 selects boot from flash.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .bus import Registers
from .constants import (
    FCR_KEY,
    FLASH_LOCK_REGION,
    FLASH_PAGE,
    FLASH_PAGES,
    FLASH_SIZE,
    FSR_FCMDE,
    FSR_FLOCKE,
    FSR_FRDY,
    GPNVM_BOOT_FLASH,
    GPNVM_COUNT,
    GPNVM_SECURITY,
)

GETD, WP, WPL, EWP, EWPL, EA, EPA = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x07
SLB, CLB, GLB, SGPB, CGPB, GGPB = 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D

LOCK_REGIONS = FLASH_SIZE // FLASH_LOCK_REGION  # 128
PAGES_PER_LOCK = FLASH_LOCK_REGION // FLASH_PAGE  # 16


@dataclass
class FlashStats:
    """What the flash went through: pyOCD's smart flash is checked against these."""

    commands: int = 0
    pages_erased: int = 0
    pages_programmed: int = 0


class Eefc:
    def __init__(self, busy_polls: int = 1) -> None:
        self.flash = bytearray(b"\xff" * FLASH_SIZE)
        self.latch = bytearray(b"\xff" * FLASH_PAGE)
        self.gpnvm = 0  # non-volatile: survives resets, cleared only by the ERASE pin
        self.locks = 0  # bit n = lock region n
        self.busy_polls = busy_polls
        self.stats = FlashStats()
        self._errors = 0
        self._busy = 0
        self._frr: deque[int] = deque()
        self.regs = Registers({0x0: 0x0400_0000})  # FMR: CLOE set (datasheet reset value)
        self.regs.on_read[0x8] = self._read_fsr
        self.regs.on_read[0xC] = self._read_frr
        self.regs.on_write[0x4] = self._write_fcr

    # -- state -------------------------------------------------------------------------------
    @property
    def boot_from_flash(self) -> bool:
        return bool(self.gpnvm >> GPNVM_BOOT_FLASH & 1)

    @property
    def secured(self) -> bool:
        return bool(self.gpnvm >> GPNVM_SECURITY & 1)

    def system_reset(self) -> None:
        """A system reset clears the controller's volatile state, not the flash or the GPNVM bits."""
        self.latch[:] = b"\xff" * FLASH_PAGE
        self._frr.clear()
        self._errors = 0
        self._busy = 0
        self.regs.reset()

    def erase_pin(self) -> None:
        """The ERASE pin (J304 on the Xplained Pro): a full chip erase that also clears GPNVM and locks."""
        self.flash[:] = b"\xff" * FLASH_SIZE
        self.gpnvm = 0
        self.locks = 0
        self.system_reset()

    # -- the AHB view --------------------------------------------------------------------------
    def latch_write(self, offset: int, size: int, value: int) -> None:
        """An AHB write into the flash range: it lands in the page latch (offset within the page)."""
        at = offset % FLASH_PAGE
        self.latch[at:at + size] = value.to_bytes(size, "little")

    def _read_fsr(self) -> int:
        if self._busy:
            self._busy -= 1
            return 0
        value = FSR_FRDY | self._errors
        self._errors = 0
        return value

    def _read_frr(self) -> int:
        return self._frr.popleft() if self._frr else 0

    def _write_fcr(self, value: int) -> None:
        key, arg, cmd = value >> 24, (value >> 8) & 0xFFFF, value & 0xFF
        if key != FCR_KEY or self._busy:
            self._errors |= FSR_FCMDE
            return
        self.command(cmd, arg)
        self._busy = self.busy_polls

    # -- commands ------------------------------------------------------------------------------
    def command(self, cmd: int, arg: int) -> int:
        """Run one EEFC command; returns the FSR error bits it raised (0 when it succeeded)."""
        self.stats.commands += 1
        self._frr.clear()
        handler = {
            GETD: self._getd,
            WP: lambda a: self._write_page(a, erase=False, lock=False),
            WPL: lambda a: self._write_page(a, erase=False, lock=True),
            EWP: lambda a: self._write_page(a, erase=True, lock=False),
            EWPL: lambda a: self._write_page(a, erase=True, lock=True),
            EA: self._erase_all,
            EPA: self._erase_pages,
            SLB: lambda a: self._set_lock(a, True),
            CLB: lambda a: self._set_lock(a, False),
            GLB: self._get_locks,
            SGPB: lambda a: self._set_gpnvm(a, True),
            CGPB: lambda a: self._set_gpnvm(a, False),
            GGPB: lambda a: self._frr.append(self.gpnvm),
        }.get(cmd)
        errors = FSR_FCMDE if handler is None else (handler(arg) or 0)
        self._errors |= errors
        return errors

    def _getd(self, _arg: int) -> int:
        # FL_ID, FL_SIZE, FL_PAGE_SIZE, FL_NB_PLANE, FL_PLANE[0], FL_NB_LOCK, FL_LOCK[i]...
        self._frr.extend([0, FLASH_SIZE, FLASH_PAGE, 1, FLASH_SIZE, LOCK_REGIONS])
        self._frr.extend([FLASH_LOCK_REGION] * LOCK_REGIONS)
        return 0

    def _locked(self, first_page: int, count: int) -> bool:
        first, last = first_page // PAGES_PER_LOCK, (first_page + count - 1) // PAGES_PER_LOCK
        return any(self.locks >> r & 1 for r in range(first, last + 1))

    def _write_page(self, page: int, erase: bool, lock: bool) -> int:
        if page >= FLASH_PAGES:
            return FSR_FCMDE
        if self._locked(page, 1):
            return FSR_FLOCKE
        at = page * FLASH_PAGE
        if erase:
            self.flash[at:at + FLASH_PAGE] = b"\xff" * FLASH_PAGE
            self.stats.pages_erased += 1
        old = int.from_bytes(self.flash[at:at + FLASH_PAGE], "little")
        # NOR flash: programming only clears bits.
        new = old & int.from_bytes(self.latch, "little")
        self.flash[at:at + FLASH_PAGE] = new.to_bytes(FLASH_PAGE, "little")
        self.latch[:] = b"\xff" * FLASH_PAGE
        self.stats.pages_programmed += 1
        if lock:
            self.locks |= 1 << (page // PAGES_PER_LOCK)
        return 0

    def _erase_all(self, _arg: int) -> int:
        if self.locks:
            return FSR_FLOCKE
        self.flash[:] = b"\xff" * FLASH_SIZE
        self.stats.pages_erased += FLASH_PAGES
        return 0

    def _erase_pages(self, arg: int) -> int:
        # FARG[1:0] selects 4/8/16/32 pages; the rest is the first page, aligned to the count.
        # (The part allows 4-page erase only in the small sectors; not enforced here.)
        count = 4 << (arg & 3)
        first = (arg & ~3) & ~(count - 1)
        if first + count > FLASH_PAGES:
            return FSR_FCMDE
        if self._locked(first, count):
            return FSR_FLOCKE
        at = first * FLASH_PAGE
        self.flash[at:at + count * FLASH_PAGE] = b"\xff" * (count * FLASH_PAGE)
        self.stats.pages_erased += count
        return 0

    def _set_lock(self, page: int, locked: bool) -> int:
        if page >= FLASH_PAGES:
            return FSR_FCMDE
        bit = 1 << (page // PAGES_PER_LOCK)
        self.locks = (self.locks | bit) if locked else (self.locks & ~bit)
        return 0

    def _get_locks(self, _arg: int) -> int:
        for i in range(LOCK_REGIONS // 32):
            self._frr.append((self.locks >> (32 * i)) & 0xFFFFFFFF)
        return 0

    def _set_gpnvm(self, bit: int, value: bool) -> int:
        if bit >= GPNVM_COUNT:
            return FSR_FCMDE
        if value:
            self.gpnvm |= 1 << bit
        elif bit == GPNVM_SECURITY:
            return FSR_FCMDE  # the security bit is cleared only by the ERASE pin
        else:
            self.gpnvm &= ~(1 << bit)
        return 0
