"""`Sam4eBoard`: a SAM4E Xplained Pro through pyOCD — open, check, flash, boot, mailbox, RTT.

Every way this fails on a desk (no probe, another chip, no pack, no ELF, firmware without the
agent) is a `BoardError` with one line that says what to fix, because the person reading it
is at the bench, not in this code. The facts behind the register accesses are in
shared/research/pyocd-sam4e.md:

- no builtin SAM4E target in pyOCD: the part comes from a CMSIS pack given as a file (pack
  download needs internet);
- CHIPID_CIDR is read before anything else touches the chip (flash, GPNVM);
- a new SAM4E boots the SAM-BA ROM until GPNVM1 is set, which is done here through EEFC
  commands with the core halted (GPNVM0 is the security bit: never touched);
- pyOCD's Session chdir()s into project_dir: the previous working folder is restored at once,
  so the runner's relative paths (results/) keep working;
- pyOCD's remote probe client cannot drive nRESET, so a `remote:` probe resets with SYSRESETREQ.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyocd.core import exceptions
from pyocd.core.helpers import ConnectHelper
from pyocd.core.session import Session
from pyocd.core.target import Target as PyocdTarget
from pyocd.debug.elf.elf import ELFBinaryFile
from pyocd.flash.file_programmer import FileProgrammer

from .config import BoardConfig
from .driver import Mailbox, MailboxError, NoFreeSlot, Pending
from .mailbox import MAGIC, Response
from .rtt import RttStream

TARGET_NAME = "atsam4e16e"
CHIPID_CIDR = 0x400E0740
CIDR_SAM4E16E = 0xA3CC0CE0
CIDR_VERSION = 0x1F          # the low bits are the silicon revision: ignored
EEFC_FCR, EEFC_FSR, EEFC_FRR = 0x400E0A04, 0x400E0A08, 0x400E0A0C
FCR_KEY = 0x5A << 24
EEFC_SGPB, EEFC_GGPB = 0x0B, 0x0D
FSR_FRDY, FSR_ERRORS = 0x1, 0xE    # FCMDE | FLOCKE | FLERR
GPNVM_BOOT_FLASH = 1
MAILBOX_SYMBOL, RTT_SYMBOL = "tch_mailbox", "_SEGGER_RTT"


class BoardError(RuntimeError):
    """One line: what is wrong and what to fix."""


class Sam4eBoard:
    """One board behind one pyOCD session. `open()` first; `close()` releases the probe."""

    def __init__(self, config: BoardConfig):
        self.config = config
        self.session: Session | None = None
        self.lock = threading.RLock()   # one sequence of probe accesses at a time (mailbox, RTT)
        self.mailbox: Mailbox | None = None
        self.rtt: RttStream | None = None
        self.symbols: dict[str, int] = {}
        self.boot_id: int | None = None
        self.resyncs = 0
        self.notes: list[tuple[float, str]] = []     # what the adapter did that a report should show
        self.last_call_transactions: int | None = None
        self._log: list[tuple[float, str]] = []     # RTT lines of earlier boots

    # ---- opening ------------------------------------------------------------------------------

    @property
    def target(self) -> Any:
        if self.session is None:
            raise BoardError("the board is not open: call open() first")
        return self.session.target

    @property
    def remote(self) -> bool:
        return self.config.probe.lower().startswith("remote:")

    def open(self) -> Sam4eBoard:
        cfg = self.config
        if not cfg.pack.exists():
            raise BoardError(f"CMSIS pack {cfg.pack} not found: download Keil.SAM4_DFP (or "
                             "Microchip.SAM4E_DFP) "
                             f"and set pack: in {cfg.source}")
        self.symbols = self._symbols(cfg.elf)
        cfg.project_dir.mkdir(parents=True, exist_ok=True)
        cwd = os.getcwd()
        try:
            session = ConnectHelper.session_with_chosen_probe(
                unique_id=cfg.probe, target_override=TARGET_NAME, pack=[str(cfg.pack)], no_config=True,
                project_dir=str(cfg.project_dir), blocking=False, return_first=False,
                frequency=cfg.frequency, connect_mode="halt",
                options={"resume_on_disconnect": True, "hide_programming_progress": True})
        except exceptions.Error as exc:
            raise BoardError(f"debug probe {cfg.probe}: {exc}: check probe: in {cfg.source}") from exc
        finally:
            os.chdir(cwd)
        if session is None:
            raise BoardError(f"no debug probe with id {cfg.probe} found: connect the board's EDBG USB "
                             "port or "
                             f"fix probe: in {cfg.source}")
        try:
            session.open()
        except (exceptions.Error, OSError) as exc:
            _close_quietly(session)
            raise BoardError(f"debug probe {cfg.probe} did not connect ({type(exc).__name__}: {exc}): "
                             "check the USB cable and that the board is powered, or fix probe: in "
                             f"{cfg.source}") from exc
        finally:
            os.chdir(cwd)
        self.session = session
        try:
            self._check_chip()
        except BaseException:
            self.close()
            raise
        return self

    def _symbols(self, elf: Path) -> dict[str, int]:
        if not elf.exists():
            raise BoardError(f"firmware ELF {elf} not found: build the firmware "
                             "(targets/sam4e/firmware/README.md) "
                             f"and set elf: in {self.config.source}")
        try:
            binary = ELFBinaryFile(str(elf))
        except Exception as exc:  # noqa: BLE001 - pyelftools raises its own types for a bad file
            raise BoardError(f"firmware ELF {elf} is not a readable ELF ({exc}): fix elf: in "
                             f"{self.config.source}") from exc
        try:
            out = {}
            for name in (MAILBOX_SYMBOL, RTT_SYMBOL):
                symbol = binary.symbol_decoder.get_symbol_for_name(name)
                if symbol is None:
                    raise BoardError(f"firmware ELF {elf} has no symbol {name}: link the agent "
                                     "(targets/sam4e/firmware) and do not strip the ELF")
                out[name] = int(symbol.address)
            return out
        finally:
            binary.close()

    def _check_chip(self) -> None:
        with self.lock:
            cidr = self.target.read32(CHIPID_CIDR)
        if cidr & ~CIDR_VERSION != CIDR_SAM4E16E & ~CIDR_VERSION:
            raise BoardError(f"wrong chip behind probe {self.config.probe}: CHIPID_CIDR {cidr:#010x}, "
                             "expected "
                             f"ATSAM4E16E {CIDR_SAM4E16E:#010x} (low 5 bits ignored): connect a SAM4E "
                             "Xplained "
                             f"Pro or fix probe: in {self.config.source}")

    # ---- flash and boot -----------------------------------------------------------------------

    def flash(self, elf: Path | None = None) -> None:
        """Program the ELF (smart flash: unchanged sectors are skipped). The core stays halted."""
        path = elf or self.config.elf
        if not path.exists():
            raise BoardError(f"firmware ELF {path} not found: build it or fix elf: in {self.config.source}")
        if elf is not None:
            self.symbols = self._symbols(elf)
        self._stop_rtt()
        with self.lock:
            FileProgrammer(self.session, chip_erase="sector", smart_flash=True).program(str(path))

    def _eefc(self, command: int, argument: int = 0, timeout: float = 1.0) -> int:
        target = self.target
        target.write32(EEFC_FCR, FCR_KEY | (argument << 8) | command)
        deadline = time.monotonic() + timeout
        while True:
            fsr = target.read32(EEFC_FSR)
            if fsr & FSR_FRDY:
                if fsr & FSR_ERRORS:
                    raise BoardError(f"EEFC command {command:#04x} failed: FSR {fsr:#x}")
                return fsr
            if time.monotonic() > deadline:
                raise BoardError(f"EEFC command {command:#04x} never finished (FSR {fsr:#x}): "
                                 "power-cycle the board")

    def gpnvm(self) -> int:
        with self.lock:
            self._eefc(EEFC_GGPB)
            return self.target.read32(EEFC_FRR)

    def ensure_boot_from_flash(self) -> bool:
        """Set GPNVM1 if it is clear (with the core halted). True if it had to be set."""
        self._stop_rtt()
        with self.lock:
            self.target.halt()
            if self.gpnvm() & (1 << GPNVM_BOOT_FLASH):
                return False
            self._eefc(EEFC_SGPB, GPNVM_BOOT_FLASH)
            if not self.gpnvm() & (1 << GPNVM_BOOT_FLASH):
                raise BoardError("GPNVM1 (boot from flash) did not stay set: the flash may be locked; "
                                 "erase the chip with the ERASE jumper")
        self._note("GPNVM1 set: the board boots from flash")
        return True

    def reset(self, wait: bool = True, clear_log: bool = False) -> dict[str, int] | None:
        """Hardware reset into the firmware, then (with `wait`) wait for a fresh mailbox header.

        The old boot's magic and RTT id are cleared first (SRAM survives a reset), so neither the
        mailbox nor the log can be mistaken for the new boot's before the firmware wrote them."""
        self._stop_rtt()
        if clear_log:
            self._log, self.notes = [], []
        if self.mailbox is not None:
            self.mailbox.forget()
        previous = self.boot_id
        with self.lock:
            target = self.target
            target.halt()
            target.write32(self.symbols[MAILBOX_SYMBOL], 0)
            target.write_memory_block8(self.symbols[RTT_SYMBOL], bytes(16))
            self._hardware_reset()
        if not wait:
            return None
        head = self._wait_for_agent(previous)
        self.rtt = RttStream(target, self.symbols[RTT_SYMBOL], self.lock).start()
        return head

    def _hardware_reset(self) -> None:
        target = self.target
        kind = self.config.reset
        if kind == "hardware" and not self.remote:
            try:
                target.reset(PyocdTarget.ResetType.HARDWARE)
                return
            except NotImplementedError:
                self._note("the probe cannot drive nRESET: reset with SYSRESETREQ instead")
        target.reset(PyocdTarget.ResetType.SYSRESETREQ)

    def _wait_for_agent(self, previous: int | None) -> dict[str, int]:
        address = self.symbols[MAILBOX_SYMBOL]
        mailbox = Mailbox(self.target, address, self.lock)
        deadline = time.monotonic() + self.config.boot_timeout
        while True:
            head = mailbox.header()
            if head["magic"] == MAGIC and head["boot_id"] != previous:
                break
            if time.monotonic() > deadline:
                if head["magic"] == MAGIC:
                    raise BoardError(f"the agent came back with the previous boot_id {previous:#x} "
                                     "after reset: "
                                     "did the board reset? (xApplicationGetRandomNumber must differ per "
                                     "boot)")
                raise BoardError(f"the agent's mailbox (tch_mailbox at {address:#010x}) did not come up "
                                 "within "
                                 f"{self.config.boot_timeout:g} s of reset (magic "
                                 f"{head['magic']:#010x}): check "
                                 f"that {self.config.elf.name} is what was flashed and calls "
                                 "tch_agent_start()")
            time.sleep(0.002)
        head = mailbox.attach()
        self.mailbox, self.boot_id = mailbox, head["boot_id"]
        self._note(f"booted: agent boot_id {self.boot_id:#010x}")
        return head

    def attach(self) -> dict[str, int]:
        """Use a board that already runs the firmware (no reset): header check, stale slots adopted."""
        mailbox = Mailbox(self.target, self.symbols[MAILBOX_SYMBOL], self.lock)
        head = mailbox.attach()
        self.mailbox, self.boot_id = mailbox, head["boot_id"]
        if self.rtt is None:
            self.rtt = RttStream(self.target, self.symbols[RTT_SYMBOL], self.lock).start()
        return head

    # ---- calls --------------------------------------------------------------------------------

    def _require_mailbox(self) -> Mailbox:
        if self.mailbox is None:
            raise BoardError("no agent attached: reset() or attach() the board first")
        return self.mailbox

    def submit(self, op: int, args: Sequence[int] = (), data: bytes = b"", slot: int | None = None,
               resync_wait: float = 0.0) -> Pending:
        """Start a call in a free slot. With every slot stale for `resync_wait` seconds the board
        is reset (resynchronised) and a BoardError says so: the call is not made."""
        mailbox = self._require_mailbox()
        try:
            return mailbox.submit_waiting(op, args, data, slot=slot, wait=resync_wait)
        except NoFreeSlot as busy:
            if not busy.stale:
                raise BoardError(f"{busy}: a case holds more background calls than the agent has slots") \
                    from None
            self.resynchronise(f"slots {busy.stale} never answered")
            raise BoardError(f"mailbox op {op}: slots {busy.stale} stayed stale (their calls timed out "
                             "and never answered): resynchronised by resetting the board") from None

    def call(self, op: int, args: Sequence[int] = (), data: bytes = b"", timeout: float = 1.0) -> Response:
        """One call, answered within `timeout` seconds or a MailboxTimeout (the slot goes stale).

        When the emulated probe counts transactions, `last_call_transactions` is this call's."""
        stats = getattr(self.session.probe, "stats", None) if self.session else None
        before = stats.snapshot() if stats is not None else None
        pending = self.submit(op, args, data, resync_wait=timeout)
        try:
            response = self._require_mailbox().wait(pending, timeout)
        finally:
            if pending.response is not None:
                self._require_mailbox().release(pending)
        if stats is not None and before is not None:
            self.last_call_transactions = stats.since(before).transactions
        return response

    def resynchronise(self, why: str) -> None:
        self.resyncs += 1
        self._note(f"mailbox resynchronised by resetting the board: {why}")
        self.reset()

    # ---- logs ---------------------------------------------------------------------------------

    def _note(self, text: str) -> None:
        self.notes.append((time.time(), f"sam4e: {text}"))

    def _stop_rtt(self) -> None:
        if self.rtt is not None:
            self.rtt.stop()
            self._log.extend(self.rtt.lines)
            self.rtt = None

    def log_lines(self) -> list[tuple[float, str]]:
        """Every RTT line since the board was opened (earlier boots first)."""
        return self._log + (list(self.rtt.lines) if self.rtt is not None else [])

    def clear_log(self) -> None:
        self._log = []
        if self.rtt is not None:
            self.rtt.lines.clear()
        self.notes = []

    # ---- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        self._stop_rtt()
        if self.session is not None:
            session, self.session = self.session, None
            _close_quietly(session)

    def __enter__(self) -> Sam4eBoard:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_quietly(session: Session) -> None:
    cwd = os.getcwd()
    try:
        session.close()
    except Exception:  # noqa: BLE001, S110 - closing a broken probe must not hide the first error
        pass
    finally:
        os.chdir(cwd)


__all__ = ["BoardError", "MailboxError", "Sam4eBoard"]
