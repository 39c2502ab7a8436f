"""`EmulatedProbe`: a pyOCD DebugProbe wired to an `EmulatedSam4e` instead of USB.

It speaks pyOCD's probe API at the same level as the CMSIS-DAP driver that talks to the EDBG
(DP/AP register transfers, SWJ sequences, nRESET pin access), so everything above it — the
DebugPort/AccessPort layers, discovery, Cortex-M control, flash, RTT, the remote probe server —
is pyOCD's own code. Boards are registered under an id (`register_board`); pyOCD finds them as
probe type `emu`, e.g. unique id "emu:sam4e-0", via the `pyocd.probe` entry point
(`EmulatedProbePlugin`) or, in-process, via the registration this module does on import. An
explicit id "emu:auto-<x>" that is not registered yet gets a blank board, so other processes
(`pyocd server --uid emu:auto-1`, `pyocd commander`) can use the plugin too.

Counting: every DP/AP access lands in `board.stats` (also `probe.stats`), with an estimate of the
USB round trips a CMSIS-DAP probe would need (see dap.DapStats).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pyocd.core import exceptions
from pyocd.core.plugin import Plugin
from pyocd.probe.debug_probe import DebugProbe

from .board import EmulatedSam4e
from .dap import DapFault, DapProtocolError, DapStats

PROBE_TYPE = "emu"
AUTO_PREFIX = "auto-"  # "emu:auto-<x>" creates a blank board on first use
# Words per CMSIS-DAP DAP_TransferBlock on the EDBG's 512-byte HID reports (minus headers).
PACKET_WORDS = 126

_boards: dict[str, EmulatedSam4e] = {}
_registry_lock = threading.Lock()
_names = itertools.count()


def register_board(board: EmulatedSam4e, name: str | None = None) -> str:
    """Make `board` visible to pyOCD; returns the unique id to pass it ("emu:<name>")."""
    with _registry_lock:
        if name is None:
            name = next(f"sam4e-{n}" for n in _names if f"sam4e-{n}" not in _boards)
        if ":" in name:
            raise ValueError("a board name may not contain ':'")
        if name in _boards and _boards[name] is not board:
            raise ValueError(f"an emulated board named {name!r} is already registered")
        _boards[name] = board
    return f"{PROBE_TYPE}:{name}"


def unregister_board(name_or_uid: str) -> None:
    with _registry_lock:
        _boards.pop(name_or_uid.split(":", 1)[-1], None)


def _map_errors(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except DapFault as err:
        fault = exceptions.TransferFaultError(str(err))
        if err.address is not None:
            fault.fault_address = err.address
        raise fault from None
    except DapProtocolError as err:
        raise exceptions.TransferError(str(err)) from None


class EmulatedProbe(DebugProbe):
    """One connection to a registered emulated board."""

    # The EDBG is a CMSIS-DAP probe: it can send SWJ sequences and drive nRESET.
    CAPABILITIES: ClassVar[set[DebugProbe.Capability]] = {
        DebugProbe.Capability.SWJ_SEQUENCE,
        DebugProbe.Capability.PIN_ACCESS,
    }

    @classmethod
    def get_all_connected_probes(cls, unique_id: str | None = None,
                                 is_explicit: bool = False) -> list[EmulatedProbe]:
        with _registry_lock:
            return [cls(name, board) for name, board in _boards.items()]

    @classmethod
    def get_probe_with_id(cls, unique_id: str, is_explicit: bool = False) -> EmulatedProbe | None:
        name = unique_id.split(":", 1)[1] if unique_id.lower().startswith(PROBE_TYPE + ":") else unique_id
        with _registry_lock:
            for known, board in _boards.items():
                if known.lower() == name.lower():
                    return cls(known, board)
        if is_explicit and name.lower().startswith(AUTO_PREFIX):
            # Out of process (`pyocd server --uid emu:auto-1`) nobody can register a board
            # first; an explicit "auto-" id makes a blank one. Other unknown ids stay "no probe".
            board = EmulatedSam4e()
            register_board(board, name)
            return cls(name, board)
        return None

    def __init__(self, name: str, board: EmulatedSam4e) -> None:
        super().__init__()
        self._name = name
        self.board = board
        self._is_open = False
        self._protocol: DebugProbe.Protocol | None = None
        self._clock = 1_000_000.0
        self._queued = False  # transfers sent but not yet collected (for the round-trip estimate)

    # -- identity -------------------------------------------------------------------------------
    @property
    def vendor_name(self) -> str:
        return "TCH"

    @property
    def product_name(self) -> str:
        return "Emulated SAM4E Xplained Pro (EDBG-like SWD)"

    @property
    def supported_wire_protocols(self) -> list[DebugProbe.Protocol]:
        return [DebugProbe.Protocol.DEFAULT, DebugProbe.Protocol.SWD]

    @property
    def unique_id(self) -> str:
        return self._name

    @property
    def wire_protocol(self) -> DebugProbe.Protocol | None:
        return self._protocol

    @property
    def is_open(self) -> bool:
        return self._is_open

    @property
    def capabilities(self) -> set[DebugProbe.Capability]:
        return set(self.CAPABILITIES)

    @property
    def stats(self) -> DapStats:
        return self.board.stats

    def create_associated_board(self) -> None:
        return None

    # -- lifecycle ------------------------------------------------------------------------------
    def open(self) -> None:
        self._is_open = True

    def close(self) -> None:
        self._is_open = False
        self._protocol = None

    def connect(self, protocol: DebugProbe.Protocol | None = None) -> None:
        self._require_open()
        if protocol not in (None, DebugProbe.Protocol.DEFAULT, DebugProbe.Protocol.SWD):
            raise exceptions.ProbeError(f"the emulated SAM4E only has SWD (asked for {protocol.name})")
        self._protocol = DebugProbe.Protocol.SWD

    def disconnect(self) -> None:
        self._protocol = None

    def set_clock(self, frequency: float) -> None:
        self._clock = frequency

    def _require_open(self) -> None:
        if not self._is_open:
            raise exceptions.ProbeError("emulated probe is not open")

    def _require_connected(self) -> None:
        self._require_open()
        if self._protocol is None:
            raise exceptions.ProbeError("emulated probe is not connected")

    # -- the round-trip estimate ---------------------------------------------------------------
    def _command(self) -> None:
        """A probe command of its own (SWJ, pins): the queue goes out first, then it."""
        self.stats.calls += 1
        self._collect()
        self.stats.round_trips += 1

    def _collect(self) -> None:
        if self._queued:
            self.stats.round_trips += 1
            self._queued = False

    def flush(self) -> None:
        self._collect()

    # -- SWJ and pins ---------------------------------------------------------------------------
    def swj_sequence(self, length: int, bits: int) -> None:
        self._require_open()
        with self.board.lock:
            self._command()
            self.board.dap.swj_sequence(length, bits)

    def reset(self) -> None:
        self._require_open()
        with self.board.lock:
            self._command()
            self.board.set_nreset(True)
            self.board.set_nreset(False)

    def assert_reset(self, asserted: bool) -> None:
        self._require_open()
        with self.board.lock:
            self._command()
            self.board.set_nreset(asserted)

    def is_reset_asserted(self) -> bool:
        return self.board.nreset_asserted

    def get_accessible_pins(self, group: DebugProbe.PinGroup) -> tuple[int, int]:
        if group is DebugProbe.PinGroup.PROTOCOL_PINS:
            return (DebugProbe.ProtocolPin.ALL_PINS, DebugProbe.ProtocolPin.nRESET)
        return (0, 0)

    def read_pins(self, group: DebugProbe.PinGroup, mask: int) -> int:
        self._require_open()
        if group is not DebugProbe.PinGroup.PROTOCOL_PINS:
            return 0
        with self.board.lock:
            self._command()
            # Every line idles high (pulled up); nRESET reads low while it is driven low.
            value = DebugProbe.ProtocolPin.ALL_PINS
            if self.board.nreset_asserted:
                value &= ~DebugProbe.ProtocolPin.nRESET
            return value & mask

    def write_pins(self, group: DebugProbe.PinGroup, mask: int, value: int) -> None:
        self._require_open()
        if group is not DebugProbe.PinGroup.PROTOCOL_PINS:
            return
        with self.board.lock:
            self._command()
            if mask & DebugProbe.ProtocolPin.nRESET:
                self.board.set_nreset(not value & DebugProbe.ProtocolPin.nRESET)

    # -- DP/AP transfers ------------------------------------------------------------------------
    def _transfer(self, fn: Callable[[], Any], words: int = 1) -> Any:
        self._require_connected()
        with self.board.lock:
            self.stats.calls += 1
            self._queued = True
            self.stats.round_trips += (max(words, 1) - 1) // PACKET_WORDS
            return _map_errors(fn)

    def _read(self, fn: Callable[[], Any], now: bool, words: int = 1) -> Any:
        # The access happens now (the board state is what it is at this point in the command
        # stream); like the CMSIS-DAP driver, an error surfaces when the result is collected.
        try:
            result = self._transfer(fn, words)
            error: Exception | None = None
        except exceptions.TransferError as err:
            result, error = None, err

        def collect() -> Any:
            self._collect()
            if error is not None:
                raise error
            return result

        return collect() if now else collect

    def read_dp(self, addr: int, now: bool = True) -> Any:
        return self._read(lambda: self.board.dap.read_dp(addr), now)

    def write_dp(self, addr: int, data: int) -> None:
        self._transfer(lambda: self.board.dap.write_dp(addr, data))

    def read_ap(self, addr: int, now: bool = True) -> Any:
        return self._read(lambda: self.board.dap.read_ap(addr), now)

    def write_ap(self, addr: int, data: int) -> None:
        self._transfer(lambda: self.board.dap.write_ap(addr, data))

    def read_ap_multiple(self, addr: int, count: int = 1, now: bool = True) -> Any:
        return self._read(lambda: self.board.dap.read_ap_multiple(addr, count), now, words=count)

    def write_ap_multiple(self, addr: int, values: Sequence[int]) -> None:
        self._transfer(lambda: self.board.dap.write_ap_multiple(addr, list(values)), words=len(values))


class EmulatedProbePlugin(Plugin):
    """Entry point object for `[project.entry-points."pyocd.probe"] emu = ...:EmulatedProbePlugin`."""

    def load(self) -> type[EmulatedProbe]:
        return EmulatedProbe

    @property
    def name(self) -> str:
        return PROBE_TYPE

    @property
    def description(self) -> str:
        return "Emulated SAM4E Xplained Pro (software SW-DP/AHB-AP)"


def _register_with_pyocd() -> None:
    # Imported here, after the classes exist: importing the aggregator loads the `pyocd.probe`
    # entry points, and ours points back at this module.
    from pyocd.probe import aggregator

    aggregator.PROBE_CLASSES.setdefault(PROBE_TYPE, EmulatedProbe)


_register_with_pyocd()
