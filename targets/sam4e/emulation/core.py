"""The Cortex-M4 as its halting-debug registers show it: run/halt/reset state and the register file.

No instructions are executed. What "running" means is decided by the board (`CoreListener`):
the firmware model runs, a flash-algorithm entry point is serviced host-side, or a BKPT halts
the core again. This module owns the architectural debug behaviour pyOCD relies on:

- DHCSR: writes need DBGKEY; C_DEBUGEN/C_HALT/C_STEP/C_MASKINTS; S_HALT, S_REGRDY, S_LOCKUP,
  S_RETIRE_ST (reads 1 while running), S_RESET_ST (sticky, cleared by a read unless the core is
  still held in reset). Entering debug state sets C_HALT, as on silicon.
- DCRSR/DCRDR register transfers (only while halted; otherwise S_REGRDY stays 0), with SP
  following CONTROL.SPSEL and PC bit 0 ignored on writes.
- DEMCR.VC_CORERESET, DFSR (write-one-to-clear), AIRCR SYSRESETREQ/VECTRESET with VECTKEY.
- Resets: registers to their reset values, SP/PC from the vector table the board supplies.
  Modelling choice: a reset clears a pending C_HALT, so after a reset the core halts only for
  DEMCR.VC_CORERESET (or a halt requested while reset is held); that is the behaviour pyOCD's
  reset() contract ("the core is running afterwards") assumes.
"""

from __future__ import annotations

from typing import Protocol

from .constants import (
    AIRCR_SYSRESETREQ,
    AIRCR_VECTKEY,
    AIRCR_VECTKEYSTAT,
    AIRCR_VECTRESET,
    C_DEBUGEN,
    C_HALT,
    C_MASKINTS,
    C_SNAPSTALL,
    C_STEP,
    DBGKEY,
    DCRSR_REGSEL,
    DCRSR_REGWNR,
    DEMCR_VC_CORERESET,
    DFSR_HALTED,
    DFSR_VCATCH,
    S_HALT,
    S_LOCKUP,
    S_REGRDY,
    S_RESET_ST,
    S_RETIRE_ST,
)

R_SP, R_LR, R_PC, R_XPSR, R_MSP, R_PSP, R_CFBP = 13, 14, 15, 16, 17, 18, 20
XPSR_THUMB = 1 << 24

RUNNING, HALTED, LOCKUP, IN_RESET = "running", "halted", "lockup", "reset"


class CoreListener(Protocol):
    def reset_vector(self) -> tuple[int, int]:
        """Initial SP and PC from the boot memory's vector table."""

    def core_started(self, from_reset: bool) -> None:
        """The core left debug/reset state; the listener decides what executes (it may halt it again)."""

    def core_stopped(self, reason: str) -> None:
        """The core stopped executing: 'halt' (debug state) or 'reset'."""


class CortexM4:
    def __init__(self, listener: CoreListener) -> None:
        self.listener = listener
        self.state = IN_RESET
        self.regs: dict[int, int] = {}
        self.dhcsr_ctrl = 0
        self.demcr = 0
        self.dfsr = 0
        self.dcrdr = 0
        self.regrdy = False
        self.reset_sticky = False
        self.from_reset = False  # no instruction has run since the last reset
        self.reset_held = False
        self.aircr_prigroup = 0

    # -- convenience for the board and tests ----------------------------------------------------
    @property
    def pc(self) -> int:
        return self.regs.get(R_PC, 0)

    @property
    def halted(self) -> bool:
        return self.state == HALTED

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    def read_reg(self, sel: int) -> int:
        if sel == R_SP:
            sel = R_PSP if self._spsel else R_MSP
        return self.regs.get(sel, 0)

    def write_reg(self, sel: int, value: int) -> None:
        value &= 0xFFFFFFFF
        if sel == R_SP:
            sel = R_PSP if self._spsel else R_MSP
        if sel == R_PC:
            value &= ~1  # bit 0 of the return address is not part of the PC
        if sel in (R_MSP, R_PSP):
            value &= ~3
        self.regs[sel] = value

    @property
    def _spsel(self) -> bool:
        return bool((self.regs.get(R_CFBP, 0) >> 24) & 0x2)

    # -- state transitions ---------------------------------------------------------------------
    def halt(self, dfsr_bits: int) -> None:
        """Enter debug state (halt request, breakpoint, vector catch)."""
        if self.state == HALTED:
            self.dfsr |= dfsr_bits
            return
        was_running = self.state == RUNNING
        self.state = HALTED
        self.dfsr |= dfsr_bits
        self.dhcsr_ctrl |= C_HALT
        self.regrdy = True
        if was_running:
            self.listener.core_stopped("halt")

    def lockup(self) -> None:
        was_running = self.state == RUNNING
        self.state = LOCKUP
        if was_running:
            self.listener.core_stopped("halt")

    def _run(self) -> None:
        from_reset = self.from_reset
        self.from_reset = False
        self.state = RUNNING
        self.regrdy = False
        self.listener.core_started(from_reset)

    def reset(self) -> None:
        """A local reset (nRESET, SYSRESETREQ or VECTRESET); the board resets the rest of the system."""
        if self.state == RUNNING:
            self.listener.core_stopped("reset")
        sp, pc = self.listener.reset_vector()
        self.regs = {i: 0 for i in range(13)}
        self.regs.update({R_LR: 0xFFFFFFFF, R_XPSR: XPSR_THUMB if pc & 1 else 0, R_CFBP: 0, R_PSP: 0})
        self.regs[R_MSP] = sp & ~3
        self.regs[R_PC] = pc & ~1
        self.reset_sticky = True
        self.from_reset = True
        self.dhcsr_ctrl &= ~(C_HALT | C_STEP)
        self.aircr_prigroup = 0
        self.state = IN_RESET
        if not self.reset_held:
            self._leave_reset()

    def hold_reset(self, held: bool) -> None:
        """nRESET level: asserting resets and holds the core; releasing lets it start."""
        if held and not self.reset_held:
            self.reset_held = True
            self.reset()
        elif not held and self.reset_held:
            self.reset_held = False
            if self.state == IN_RESET:
                self._leave_reset()

    def _leave_reset(self) -> None:
        debug = self.dhcsr_ctrl & C_DEBUGEN
        if debug and self.demcr & DEMCR_VC_CORERESET:
            self.halt(DFSR_VCATCH)
        elif debug and self.dhcsr_ctrl & C_HALT:
            self.halt(DFSR_HALTED)
        else:
            self._run()

    # -- SCS debug registers ---------------------------------------------------------------------
    def read_dhcsr(self) -> int:
        ctrl = self.dhcsr_ctrl if self.dhcsr_ctrl & C_DEBUGEN else 0
        status = 0
        if self.state == HALTED:
            status |= S_HALT | (S_REGRDY if self.regrdy else 0)
        elif self.state == RUNNING:
            status |= S_RETIRE_ST
        elif self.state == LOCKUP:
            status |= S_LOCKUP
        if self.reset_sticky or self.state == IN_RESET:
            status |= S_RESET_ST
            # Sticky: a read clears it, unless the core is still held in reset.
            self.reset_sticky = self.state == IN_RESET
        return ctrl | status

    def write_dhcsr(self, value: int) -> None:
        if value & 0xFFFF0000 != DBGKEY:
            return  # writes without the key are ignored
        ctrl = value & (C_DEBUGEN | C_HALT | C_STEP | C_MASKINTS | C_SNAPSTALL)
        if not ctrl & C_DEBUGEN:
            ctrl = 0  # C_HALT/C_STEP/C_MASKINTS are ignored without C_DEBUGEN
        self.dhcsr_ctrl = ctrl
        if self.state == HALTED and not ctrl & C_HALT:
            if ctrl & C_STEP:
                self._step()
            else:
                self._run()
        elif self.state == RUNNING and ctrl & C_HALT:
            self.halt(DFSR_HALTED)

    def _step(self) -> None:
        # No instruction set here: a step retires one (pretend 16-bit) instruction and halts,
        # which is all pyOCD's step() checks.
        self.regs[R_PC] = (self.pc + 2) & 0xFFFFFFFF
        self.dfsr |= DFSR_HALTED
        self.dhcsr_ctrl |= C_HALT

    def write_dcrsr(self, value: int) -> None:
        if self.state != HALTED:
            self.regrdy = False  # no transfer happens while the core runs
            return
        sel = value & DCRSR_REGSEL
        if value & DCRSR_REGWNR:
            self.write_reg(sel, self.dcrdr)
        else:
            self.dcrdr = self.read_reg(sel)
        self.regrdy = True

    def read_dcrdr(self) -> int:
        return self.dcrdr

    def write_dcrdr(self, value: int) -> None:
        self.dcrdr = value

    def read_demcr(self) -> int:
        return self.demcr

    def write_demcr(self, value: int) -> None:
        self.demcr = value & 0x010F_07F1  # TRCENA, MON_*, VC_* bits

    def read_dfsr(self) -> int:
        return self.dfsr

    def write_dfsr(self, value: int) -> None:
        self.dfsr &= ~value

    def read_aircr(self) -> int:
        return AIRCR_VECTKEYSTAT | (self.aircr_prigroup << 8)

    def write_aircr(self, value: int) -> bool:
        """Returns True when the write requested a system reset (the board performs it)."""
        if value & 0xFFFF0000 != AIRCR_VECTKEY:
            return False
        self.aircr_prigroup = (value >> 8) & 0x7
        if value & AIRCR_SYSRESETREQ:
            return True
        if value & AIRCR_VECTRESET:
            self.reset()
        # VECTCLRACTIVE only clears exception state, which is not modelled.
        return False
