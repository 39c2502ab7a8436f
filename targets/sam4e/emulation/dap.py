"""SW-DP and AHB-AP register model: what a CMSIS-DAP probe's transfers reach on the SAM4E.

The model sits at the level of DAP_Transfer requests: one call is one SWD transaction with an
OK/FAULT answer. As on the wire, an AP access carries only A[3:2]; the AP and its register bank
come from the DP SELECT register, so a stale SELECT in the host software misbehaves here as it
would on silicon. Implemented:

- DP: DPIDR (0x2BA01477) / ABORT, CTRL/STAT with power-up request->acknowledge and the sticky
  error flags, SELECT (APSEL, APBANKSEL, DPBANKSEL; DLCR in bank 1), RDBUFF and RESEND; after a
  line reset (an SWJ sequence of >= 50 ones) every access but a DPIDR read is refused.
- AP #0, the AHB-AP: CSW (8/16/32-bit sizes, single auto-increment, MasterType and HPROT bits
  that read back, DeviceEn), TAR, DRW with byte lanes, BD0-3, CFG, BASE (ROM table), IDR.
  TAR auto-increment wraps within `tar_wrap` bytes (4 KiB on the Cortex-M4 AHB-AP, whose IDR
  tells pyOCD so; 1 KiB selects a 1 KiB-wrap AHB-AP IDR instead).
- Other APSELs read as zero (no AP), which ends pyOCD's AP scan.

Faults set CTRL/STAT.STICKYERR; until ABORT clears it every AP access answers FAULT.
Counters in `DapStats` record each register access (a block transfer of n words counts n).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

from .bus import Bus, BusFault
from .constants import AHB_AP_IDR_1K, AHB_AP_IDR_M4, AP_BASE_M4, DPIDR_SW_DP_V1

# CTRL/STAT
CSYSPWRUPACK = 1 << 31
CSYSPWRUPREQ = 1 << 30
CDBGPWRUPACK = 1 << 29
CDBGPWRUPREQ = 1 << 28
CDBGRSTACK = 1 << 27
CDBGRSTREQ = 1 << 26
WDATAERR = 1 << 7
READOK = 1 << 6
STICKYERR = 1 << 5
STICKYCMP = 1 << 4
STICKYORUN = 1 << 1
ORUNDETECT = 1 << 0
# Writable: the power/reset requests, TRNCNT[23:12], MASKLANE[11:8], TRNMODE[3:2], ORUNDETECT.
CTRL_WRITABLE = CSYSPWRUPREQ | CDBGPWRUPREQ | CDBGRSTREQ | 0x00FF_F000 | 0xF00 | 0xC | ORUNDETECT

# ABORT
DAPABORT = 1 << 0
STKCMPCLR = 1 << 1
STKERRCLR = 1 << 2
WDERRCLR = 1 << 3
ORUNERRCLR = 1 << 4

# AP registers (bank << 4 | A[3:2])
AP_CSW = 0x00
AP_TAR = 0x04
AP_DRW = 0x0C
AP_BD0 = 0x10
AP_CFG = 0xF4
AP_BASE = 0xF8
AP_IDR = 0xFC

CSW_SIZE = 0x7
CSW_ADDRINC = 0x30
CSW_DEVICEEN = 1 << 6
CSW_TRINPROG = 1 << 7
# Read/write fields of the Cortex-M4 AHB-AP CSW: Size, AddrInc, HPROT[3:0] (bits 27:24) and
# MasterType (bit 29). Everything else reads as its fixed value.
CSW_RW = CSW_SIZE | CSW_ADDRINC | 0x0F00_0000 | (1 << 29)
CSW_RESET = 0x0300_0040 | 0x2  # HPROT data+privileged, DeviceEn, 32-bit


class DapFault(Exception):
    """The transaction was answered FAULT (bus error, or a sticky error not yet cleared)."""

    def __init__(self, message: str, address: int | None = None) -> None:
        super().__init__(message)
        self.address = address


class DapProtocolError(Exception):
    """No valid answer (e.g. the DP is in line-reset state): a probe sees a protocol error."""


@dataclass
class DapStats:
    """Probe traffic. Each DP/AP register access counts once; a block of n words counts n.

    `calls` and `round_trips` are kept by the probe layer: calls are DebugProbe method calls,
    round trips an estimate of CMSIS-DAP USB packets (queued transfers go out together when a
    read result is needed or on flush; block transfers split at the packet size).
    """

    dp_reads: int = 0
    dp_writes: int = 0
    ap_reads: int = 0
    ap_writes: int = 0
    calls: int = 0
    round_trips: int = 0

    @property
    def transactions(self) -> int:
        return self.dp_reads + self.dp_writes + self.ap_reads + self.ap_writes

    def snapshot(self) -> DapStats:
        return DapStats(**{f.name: getattr(self, f.name) for f in fields(self)})

    def since(self, before: DapStats) -> DapStats:
        return DapStats(**{f.name: getattr(self, f.name) - getattr(before, f.name) for f in fields(self)})

    def clear(self) -> None:
        for f in fields(self):
            setattr(self, f.name, 0)


class AhbAp:
    """The MEM-AP in front of `bus`."""

    def __init__(self, bus: Bus, tar_wrap: int = 0x1000) -> None:
        if tar_wrap not in (0x400, 0x1000):
            raise ValueError("tar_wrap must be 0x400 or 0x1000")
        self.bus = bus
        self.tar_wrap = tar_wrap
        self.idr = AHB_AP_IDR_M4 if tar_wrap == 0x1000 else AHB_AP_IDR_1K
        self.csw = CSW_RESET
        self.tar = 0
        # True while the SAM4 security bit (GPNVM0) is set: every debug memory access faults.
        self.blocked: Callable[[], bool] = lambda: False

    def _guard(self) -> None:
        if self.blocked():
            raise BusFault(self.tar, "debug access blocked by the security bit (GPNVM0)")

    # -- registers ---------------------------------------------------------------------------
    def read(self, reg: int) -> int:
        if reg == AP_CSW:
            return self.csw | CSW_DEVICEEN
        if reg == AP_TAR:
            return self.tar
        if reg == AP_DRW:
            self._guard()
            return self._drw_read()
        if AP_BD0 <= reg <= AP_BD0 + 0xC:
            self._guard()
            return self.bus.read(self._bd_address(reg), 4)
        if reg == AP_CFG:
            return 0  # little-endian, no large address/data extensions
        if reg == AP_BASE:
            return AP_BASE_M4
        if reg == AP_IDR:
            return self.idr
        return 0

    def write(self, reg: int, value: int) -> None:
        if reg == AP_CSW:
            size = value & CSW_SIZE
            if size > 2:
                # ADIv5: an unsupported size reads back as a supported one. pyOCD probes the
                # transfer sizes exactly this way.
                value = (value & ~CSW_SIZE) | 2
            self.csw = (self.csw & ~CSW_RW) | (value & CSW_RW)
        elif reg == AP_TAR:
            self.tar = value & 0xFFFFFFFF
        elif reg == AP_DRW:
            self._guard()
            self._drw_write(value)
        elif AP_BD0 <= reg <= AP_BD0 + 0xC:
            self._guard()
            self.bus.write(self._bd_address(reg), 4, value)
        # CFG, BASE, IDR are read-only; unknown registers ignore writes.

    # -- data transfers ----------------------------------------------------------------------
    @property
    def _size(self) -> int:
        return 1 << (self.csw & CSW_SIZE)

    @property
    def _incrementing(self) -> bool:
        return (self.csw & CSW_ADDRINC) != 0

    def _bd_address(self, reg: int) -> int:
        return (self.tar & ~0xF) | (reg - AP_BD0)

    def _advance(self, nbytes: int) -> None:
        if self._incrementing:
            # Only the low bits count up; the page (wrap) bits stay, as in silicon.
            wrap = self.tar_wrap - 1
            self.tar = (self.tar & ~wrap) | ((self.tar + nbytes) & wrap)

    def _drw_read(self) -> int:
        size = self._size
        lane = self.tar & 3 & ~(size - 1)
        value = self.bus.read(self.tar & ~(size - 1), size)
        self._advance(size)
        return (value << (8 * lane)) & 0xFFFFFFFF

    def _drw_write(self, value: int) -> None:
        size = self._size
        lane = self.tar & 3 & ~(size - 1)
        data = (value >> (8 * lane)) & ((1 << (8 * size)) - 1)
        self.bus.write(self.tar & ~(size - 1), size, data)
        self._advance(size)

    def drw_read_block(self, count: int) -> list[int]:
        """`count` DRW reads; a straight run of words is one bus call (same result, faster)."""
        self._guard()
        if self._size == 4 and self._incrementing and (self.tar & 3) == 0:
            room = (self.tar_wrap - (self.tar & (self.tar_wrap - 1))) // 4
            if count <= room:
                words = self.bus.read_words(self.tar, count)
                self._advance(4 * count)
                return words
        return [self._drw_read() for _ in range(count)]

    def drw_write_block(self, values: Sequence[int]) -> None:
        self._guard()
        if self._size == 4 and self._incrementing and (self.tar & 3) == 0:
            room = (self.tar_wrap - (self.tar & (self.tar_wrap - 1))) // 4
            if len(values) <= room:
                self.bus.write_words(self.tar, values)
                self._advance(4 * len(values))
                return
        for v in values:
            self._drw_write(v)


def _leading_ones(bits: int, length: int) -> int:
    """How many of the last-sent (most significant) of `length` bits are ones."""
    run = 0
    for i in range(length - 1, -1, -1):
        if not (bits >> i) & 1:
            break
        run += 1
    return run


class SwDp:
    """The SW-DP with its one AHB-AP (APSEL 0)."""

    def __init__(self, bus: Bus, tar_wrap: int = 0x1000, stats: DapStats | None = None) -> None:
        self.ap = AhbAp(bus, tar_wrap)
        self.stats = stats if stats is not None else DapStats()
        self.ctrl = 0  # the writable request/control bits of CTRL/STAT
        self.sticky = 0  # STICKYERR / STICKYCMP / STICKYORUN / WDATAERR
        self.select = 0
        self.dlcr = 0
        self.rdbuff = 0
        self.line_reset = True  # a DP comes up needing a DPIDR read
        self._ones_run = 0

    # -- wire-level events -------------------------------------------------------------------
    def swj_sequence(self, length: int, bits: int) -> None:
        # 50 or more consecutive ones (possibly spread over calls) is an SWD line reset. Bits go
        # out LSB first, so the run continuing into the next call is the top of `bits`.
        bits &= (1 << length) - 1
        if bits == (1 << length) - 1:
            self._ones_run += length
        else:
            self._ones_run = _leading_ones(bits, length)
        if self._ones_run >= 50:
            self.line_reset = True

    def power_on_reset(self) -> None:
        """Debug logic power-on: everything but the AP's TAR/CSW history is cleared."""
        self.ctrl = 0
        self.sticky = 0
        self.select = 0
        self.dlcr = 0
        self.rdbuff = 0
        self.line_reset = True
        self._ones_run = 0
        self.ap.csw = CSW_RESET
        self.ap.tar = 0

    @property
    def powered(self) -> bool:
        return (self.ctrl & (CDBGPWRUPREQ | CSYSPWRUPREQ)) == (CDBGPWRUPREQ | CSYSPWRUPREQ)

    def _check_link(self, is_idr_read: bool = False) -> None:
        if self.line_reset and not is_idr_read:
            raise DapProtocolError("SW-DP in line-reset state: DPIDR must be read first")

    # -- DP registers ------------------------------------------------------------------------
    def read_dp(self, addr: int) -> int:
        reg = addr & 0xC
        self.stats.dp_reads += 1  # counted even when refused: it still went over the wire
        self._check_link(is_idr_read=(reg == 0))
        if reg == 0x0:
            self.line_reset = False
            return DPIDR_SW_DP_V1
        if reg == 0x4:
            if self.select & 0xF == 1:
                return self.dlcr
            acks = 0
            if self.ctrl & CDBGPWRUPREQ:
                acks |= CDBGPWRUPACK
            if self.ctrl & CSYSPWRUPREQ:
                acks |= CSYSPWRUPACK
            if self.ctrl & CDBGRSTREQ:
                acks |= CDBGRSTACK
            return self.ctrl | acks | self.sticky | READOK
        # 0x8 reads RESEND and 0xC RDBUFF: both give the last AP read result.
        return self.rdbuff

    def write_dp(self, addr: int, value: int) -> None:
        reg = addr & 0xC
        self.stats.dp_writes += 1
        self._check_link()
        if reg == 0x0:  # ABORT
            if value & STKERRCLR:
                self.sticky &= ~STICKYERR
            if value & STKCMPCLR:
                self.sticky &= ~STICKYCMP
            if value & WDERRCLR:
                self.sticky &= ~WDATAERR
            if value & ORUNERRCLR:
                self.sticky &= ~STICKYORUN
        elif reg == 0x4:
            if self.select & 0xF == 1:
                self.dlcr = value & 0x300
            else:
                self.ctrl = value & CTRL_WRITABLE
        elif reg == 0x8:
            self.select = value & 0xFFFFFFFF
        # RDBUFF ignores writes.

    # -- AP registers ------------------------------------------------------------------------
    def _ap_reg(self, addr: int) -> tuple[int, int]:
        apsel = (self.select >> 24) & 0xFF
        return apsel, (self.select & 0xF0) | (addr & 0xC)

    def _ap_precheck(self) -> None:
        self._check_link()
        if self.sticky & STICKYERR:
            raise DapFault("AP access refused: CTRL/STAT.STICKYERR is set")
        if not self.powered:
            self.sticky |= STICKYERR
            raise DapFault("AP access with the debug/system power domains down")

    def _fault(self, err: BusFault) -> DapFault:
        self.sticky |= STICKYERR
        return DapFault(str(err), err.address)

    def read_ap(self, addr: int) -> int:
        self.stats.ap_reads += 1
        self._ap_precheck()
        apsel, reg = self._ap_reg(addr)
        if apsel != 0:
            value = 0
        else:
            try:
                value = self.ap.read(reg)
            except BusFault as err:
                raise self._fault(err) from None
        self.rdbuff = value
        return value

    def write_ap(self, addr: int, value: int) -> None:
        self.stats.ap_writes += 1
        self._ap_precheck()
        apsel, reg = self._ap_reg(addr)
        if apsel != 0:
            return
        try:
            self.ap.write(reg, value & 0xFFFFFFFF)
        except BusFault as err:
            raise self._fault(err) from None

    def read_ap_multiple(self, addr: int, count: int) -> list[int]:
        apsel, reg = self._ap_reg(addr)
        if apsel == 0 and reg == AP_DRW:
            self.stats.ap_reads += count
            self._ap_precheck()
            try:
                values = self.ap.drw_read_block(count)
            except BusFault as err:
                raise self._fault(err) from None
            if values:
                self.rdbuff = values[-1]
            return values
        return [self.read_ap(addr) for _ in range(count)]

    def write_ap_multiple(self, addr: int, values: Sequence[int]) -> None:
        apsel, reg = self._ap_reg(addr)
        if apsel == 0 and reg == AP_DRW:
            self.stats.ap_writes += len(values)
            self._ap_precheck()
            try:
                self.ap.drw_write_block([v & 0xFFFFFFFF for v in values])
            except BusFault as err:
                raise self._fault(err) from None
            return
        for v in values:
            self.write_ap(addr, v)
