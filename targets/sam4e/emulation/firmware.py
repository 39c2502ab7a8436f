"""`AgentFirmware`: the harness agent's firmware behind the emulated board (board.Firmware).

What runs "on the core" after a flash boot:

- the mailbox protocol is the real C code (tch_mailbox.c via mailbox.HostMailboxLibrary) over the
  board's SRAM, one worker thread per slot as the board has one worker task per slot, so a
  blocking call (recv, accept, connect) holds only its own slot;
- the socket calls are served by the bundled sans-IO stack (stack_under_test), with the agent's
  handle tables and argument checks of tch_agent_freertos.c, on the wall clock: an "IP task"
  thread feeds it the frames of the emulated GMAC (gmac.py) and runs its timers; the stack is
  "built" with a StackConfig, `stack_config_for(target)` the one a target file's settings.fixed
  declares (select: true is ipconfigSUPPORT_SELECT_FUNCTION 1, so SELECT is served);
- the log goes to SEGGER RTT up-channel 0 in SRAM (rtt.py), one line per call as TCH_LOG_CALLS.

Time is the core's: the FreeRTOS tick (1 kHz) and the stack's clock stop while the core is halted,
as SysTick does in debug state, so no timer fires "during" a halt.

Halt: every thread parks at its next safe point and `on_halt` returns only once all have parked,
so from then until `on_resume` nothing touches SRAM or the wire. Frames that arrive meanwhile are
queued, not dropped: the GMAC's DMA keeps filling its receive descriptors while the core is
halted. As on the board the queue is bounded by the descriptor ring (`rx_descriptors`, the SAM
GMAC driver's GMAC_RX_BUFFERS = 16): on resume the first ones are taken, the rest dropped
(`counters["rx_ring_overflow"]`).
"""

from __future__ import annotations

import ctypes
import os
import secrets
import select
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stack_under_test import Call, Stack, StackConfig
from stack_under_test.constants import ZERO_COPY, SockOpt
from targets.sam4e.mailbox import (
    DATA_SIZE,
    FOREVER,
    LAYOUT_VERSION,
    SLOT,
    SLOTS,
    HostMailboxLibrary,
    Op,
    Status,
    slot_offset,
)

from .constants import SRAM_BASE
from .gmac import Gmac, GmacError
from .rtt import RttLog

if TYPE_CHECKING:
    from harness.target import TargetConfig

    from .board import EmulatedSam4e
    from .elf import FirmwareImage

DEVICE_IP = "198.18.0.2"
DEVICE_MAC = "02:74:63:68:00:02"
MAX_SOCKETS = 8        # TCH_MAX_SOCKETS
MAX_SEMAPHORES = 4     # TCH_MAX_SEMAPHORES
LOG_LINE = 96          # TCH_LOG_LINE, the NUL included
GMAC_RX_BUFFERS = 16
_IDLE_POLL = 0.001     # vTaskDelay(1) at configTICK_RATE_HZ 1000
_PARK_TIMEOUT = 5.0
_CODE_OPTIONS = {SockOpt.TCP_CONN_HANDLER, SockOpt.TCP_RECV_HANDLER, SockOpt.TCP_SENT_HANDLER,
                 SockOpt.UDP_RECV_HANDLER, SockOpt.UDP_SENT_HANDLER, SockOpt.WAKEUP_CALLBACK}


# ---- where the firmware's objects are ----------------------------------------------------------

@dataclass(frozen=True)
class Symbols:
    """Target addresses (and the RTT buffers' sizes) of what the agent writes in SRAM."""

    mailbox: int
    rtt: int
    rtt_up: int
    rtt_down: int
    rtt_name: int
    rtt_up_size: int = 1024
    rtt_down_size: int = 16

    @classmethod
    def from_elf(cls, path: str | Path) -> Symbols:
        """From the ELF's .symtab: tch_mailbox, _SEGGER_RTT, _rtt_up_buffer, _rtt_down_buffer,
        _rtt_name (elf.build_firmware_elf's names); sizes from the symbols' st_size."""
        from elftools.elf.elffile import ELFFile

        with open(path, "rb") as f:
            symtab = ELFFile(f).get_section_by_name(".symtab")
            found = {s.name: (s["st_value"], s["st_size"]) for s in symtab.iter_symbols()} if symtab else {}
        names = ("tch_mailbox", "_SEGGER_RTT", "_rtt_up_buffer", "_rtt_down_buffer", "_rtt_name")
        missing = [n for n in names if n not in found]
        if missing:
            raise ValueError(f"{path}: no symbol {', '.join(missing)} (is the ELF stripped?)")
        return cls(found["tch_mailbox"][0], found["_SEGGER_RTT"][0], found["_rtt_up_buffer"][0],
                   found["_rtt_down_buffer"][0], found["_rtt_name"][0],
                   found["_rtt_up_buffer"][1] or 1024, found["_rtt_down_buffer"][1] or 16)


def _symbols(image: FirmwareImage | Symbols | str | Path) -> Symbols:
    if isinstance(image, Symbols):
        return image
    return Symbols.from_elf(image if isinstance(image, str | Path) else image.path)


# ---- the core's clock ---------------------------------------------------------------------------

class CoreClock:
    """Seconds the core has run since boot: wall time that stands still while the core is halted.

    (base, halted_at) is one tuple, replaced whole: a reader on another thread (the C code's tick
    callback) never sees a new base with the old halt time, i.e. time never steps backwards."""

    def __init__(self) -> None:
        self._state: tuple[float, float | None] = (time.monotonic(), None)

    def now(self) -> float:
        base, halted_at = self._state
        return (time.monotonic() if halted_at is None else halted_at) - base

    def ticks(self) -> int:
        """xTaskGetTickCount() at configTICK_RATE_HZ 1000."""
        return int(self.now() * 1000) & 0xFFFFFFFF

    def halt(self) -> None:
        base, halted_at = self._state
        if halted_at is None:
            self._state = (base, time.monotonic())

    def resume(self) -> None:
        base, halted_at = self._state
        if halted_at is not None:
            self._state = (base + time.monotonic() - halted_at, None)


class _Reset(Exception):
    """Raised in a thread of a boot that a reset ended: it unwinds and exits."""


# ---- one boot -----------------------------------------------------------------------------------

class _Boot:
    """Everything one boot runs: the stack, its handle tables, the worker and IP-task threads.

    One condition guards the stack and the run state (the stack is not thread-safe, and FreeRTOS's
    IP task serialises the same work). `_active` holds the threads that may touch SRAM or the wire
    right now; a halt waits until it is empty.
    """

    def __init__(self, fw: AgentFirmware, board: EmulatedSam4e, boot_id: int, stack: Stack) -> None:
        self.fw, self.board, self.boot_id, self.stack = fw, board, boot_id, stack
        self.lib = fw.library
        self.offset = fw.symbols.mailbox - SRAM_BASE
        self.clock = CoreClock()
        self.cond = threading.Condition()
        self.halted = False
        self.stopping = False
        self._active: set[int] = set()
        self._heartbeat = threading.Lock()        # tch_worker's critical section around it
        self.sockets: dict[int, int] = {}         # agent handle -> stack handle
        self.socket_sets: dict[int, int] = {}     # agent handle -> its SELECT's stack socket set
        self.semaphores: dict[int, int] = {}      # agent handle -> stack semaphore id
        self.rx_budget: int | None = None         # set on resume: what the descriptor ring held
        self.gmac: Gmac | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.threads: list[threading.Thread] = []

    # -- run state ----------------------------------------------------------------------------
    def enter(self) -> None:
        """Caller holds cond: wait while halted, then count as running (or unwind on reset)."""
        while self.halted and not self.stopping:
            self.cond.wait()
        if self.stopping:
            raise _Reset
        self._active.add(threading.get_ident())

    def leave(self) -> None:
        """Caller holds cond: this thread touches nothing until its next `enter`."""
        self._active.discard(threading.get_ident())
        self.cond.notify_all()

    @contextmanager
    def running(self) -> Iterator[None]:
        with self.cond:
            self.enter()
        try:
            yield
        finally:
            with self.cond:
                self.leave()

    def halt(self) -> None:
        with self.cond:
            self.halted = True
            self.clock.halt()
            self.cond.notify_all()
            if not self.cond.wait_for(lambda: not self._active, _PARK_TIMEOUT):
                raise RuntimeError(f"emulated firmware: threads {self._active} did not park within "
                                   f"{_PARK_TIMEOUT} s of a halt")

    def resume(self) -> None:
        with self.cond:
            self.halted = False
            self.clock.resume()
            self.rx_budget = self.fw.rx_descriptors
            self.cond.notify_all()
        self.kick()

    def kick(self) -> None:
        """Wake the IP task: a call changed the stack (timers armed, frames to send)."""
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass  # already awake-pending

    # -- start and stop -----------------------------------------------------------------------
    def start(self) -> None:
        if self.fw.gmac_if is not None:
            try:
                self.gmac = Gmac(self.fw.gmac_if, self.fw.gmac_netns)
            except GmacError as e:
                # The core must still boot (a board with its cable out does): say so in the log.
                self.fw.gmac_error = str(e)
                self.log(f"tch: {e}\n")
        self.threads = [threading.Thread(target=self._worker, args=(slot,), name=f"tch{slot}", daemon=True)
                        for slot in range(SLOTS)]
        self.threads.append(threading.Thread(target=self._ip_task, name="IP-task", daemon=True))
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.kick()
        for t in self.threads:
            t.join(_PARK_TIMEOUT)
        alive = [t.name for t in self.threads if t.is_alive()]
        if self.gmac is not None:
            self.gmac.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        if alive:
            raise RuntimeError(f"emulated firmware: threads {alive} did not stop")

    # -- the log ------------------------------------------------------------------------------
    def log(self, text: str) -> None:
        """tch_log(): the tick count, the text, cut to TCH_LOG_LINE - 1 bytes; dropped if no room."""
        line = f"{self.clock.ticks()} {text}".encode()[:LOG_LINE - 1]
        if self.fw.rtt is not None:
            self.fw.rtt.write(line)

    # -- the workers ----------------------------------------------------------------------------
    def _worker(self, slot: int) -> None:
        sram = self.board.sram

        def call(op: int, args: tuple[int, ...], data: bytes) -> tuple[int, int, bytes]:
            return self.call(op, args, data)

        def done(slot_: int, op: int, status: int, result: int) -> None:
            self.fw.calls += 1
            self.log(f"tch{slot_} op {op} status {status} result {result}\n")

        at = self.fw.symbols.mailbox + slot_offset(slot)
        req_seq = ctypes.c_uint32.from_address(self.board.sram_address(at + SLOT["req_seq"]))
        resp_seq = ctypes.c_uint32.from_address(self.board.sram_address(at + SLOT["resp_seq"]))
        try:
            while True:
                with self.running():
                    # tch_slot_service's own first test: skipping an idle slot here only saves
                    # building its ctypes callbacks (a third of a core for four idle workers).
                    ran = req_seq.value != resp_seq.value and self.lib.service(
                        sram, self.offset, slot, call, self.clock.ticks, done)
                    with self._heartbeat:
                        self.lib.heartbeat(sram, self.offset)
                if not ran:
                    time.sleep(_IDLE_POLL)
        except _Reset:
            return

    # -- the IP task ----------------------------------------------------------------------------
    def _ip_task(self) -> None:
        stack, gmac = self.stack, self.gmac
        fds = [self._wake_r] + ([gmac.fileno()] if gmac is not None else [])
        try:
            while True:
                with self.cond:
                    self.enter()
                    try:
                        if gmac is not None:
                            frames, dropped = gmac.receive(self.rx_budget)
                            self.rx_budget = None
                            self.fw.counters["rx_ring_overflow"] += dropped
                            for frame in frames:
                                stack.receive(frame, self.clock.now())
                        stack.advance(self.clock.now())
                        for _t, frame in stack.pop_frames():
                            if gmac is not None:
                                gmac.send(frame)
                        stack.pop_events()  # nobody reads them here; keep the list from growing
                        due = stack.next_deadline()
                    finally:
                        self.leave()  # also wakes workers whose calls the stack just resumed
                timeout = None if due is None else max(0.0, due - self.clock.now())
                ready, _, _ = select.select(fds, [], [], timeout)
                if self._wake_r in ready:
                    try:
                        os.read(self._wake_r, 4096)
                    except BlockingIOError:
                        pass
        except _Reset:
            return

    # -- the op switch (tch_agent_call) ----------------------------------------------------------
    def call(self, op: int, args: tuple[int, ...], data: bytes) -> tuple[int, int, bytes]:
        """One validated request (tch_mailbox.c checked op, data_len, RECV's length)."""
        with self.cond:
            self.stack.advance(self.clock.now())  # API calls act at the stack's `now`
            try:
                return self._call(op, args, data)
            finally:
                self.cond.notify_all()
                self.kick()

    def _call(self, op: int, arg: tuple[int, ...], data: bytes) -> tuple[int, int, bytes]:
        st = self.stack
        ok = Status.OK
        if op == Op.SELECT and not st.config.select:
            return Status.UNSUPPORTED, 0, b""  # built without ipconfigSUPPORT_SELECT_FUNCTION 1
        if op in (Op.NOP, Op.SOCKET, Op.SEM_CREATE, Op.SEM_TAKE):
            s = 0
        else:  # every other op names a socket in arg[0]
            found = self.sockets.pop(arg[0], None) if op == Op.CLOSESOCKET else self.sockets.get(arg[0])
            if found is None:
                return Status.BAD_SOCKET, 0, b""
            s = found
        if op == Op.NOP:
            return ok, 0, b""
        if op == Op.SOCKET:
            return self._new_handle(st.socket())
        if op == Op.BIND:
            return (ok, st.bind(s, arg[1]), b"") if _port_ok(arg[1]) else _BAD_ARG
        if op == Op.LISTEN:
            return ok, st.listen(s, arg[1]), b""
        if op == Op.ACCEPT:
            call = self._block(st.accept(s))
            if call.cancelled:
                return Status.BAD_SOCKET, 0, b""
            # tch_set_leave_parent takes an accepted child out of its listener's set; the model never
            # counts a child among its parent's set's members, so there is nothing to take out here.
            result = int(call.result or 0)
            own = next((h for h, v in self.sockets.items() if v == result), None)
            return (ok, own, b"") if own is not None else self._new_handle(result)
        if op == Op.CONNECT:
            if not _port_ok(arg[2]):
                return _BAD_ARG
            ip = socket.inet_ntoa(struct.pack("<i", arg[1]))  # network order, as the uint32 holds it
            return self._finish(self._block(st.connect(s, ip, arg[2])))
        if op == Op.SEND:
            if arg[1] & ZERO_COPY:
                return _BAD_ARG  # zero-copy hands out stack buffers: meaningless across the mailbox
            return self._finish(self._block(st.send(s, data, arg[1])))
        if op == Op.RECV:
            if arg[2] & ZERO_COPY:
                return _BAD_ARG
            call = self._block(st.recv(s, arg[1], arg[2]))
            status, result, _ = self._finish(call)
            return status, result, bytes(call.data[:DATA_SIZE]) if result > 0 else b""
        if op == Op.SHUTDOWN:
            return ok, st.shutdown(s, arg[1]), b""
        if op == Op.CLOSESOCKET:
            # The handle was freed above; its set goes with it (FreeRTOS_DeleteSocketSet after the
            # close). The model has no delete: a SELECT still running keeps the set it holds.
            self.socket_sets.pop(arg[0], None)
            return ok, st.closesocket(s), b""
        if op == Op.SETSOCKOPT:
            return self._setsockopt(s, arg[1], arg[2], data)
        if op == Op.ISCONNECTED:
            return ok, st.issocketconnected(s), b""
        if op == Op.CONNSTATUS:
            return ok, st.connstatus(s), b""
        if op == Op.SEM_CREATE:
            free = next((h for h in range(1, self.fw.max_semaphores + 1) if h not in self.semaphores), None)
            if free is None:
                return Status.NO_HANDLE, 0, b""
            self.semaphores[free] = st.semaphore_create()
            return ok, free, b""
        if op == Op.SEM_TAKE:
            sem, timeout = self.semaphores.get(arg[0]), _seconds(arg[1])
            if sem is None or timeout is False:
                return _BAD_ARG
            return self._finish(self._block(st.semaphore_take(sem, timeout)))
        if op == Op.SELECT:
            return self._select(arg[0], s, arg[1], arg[2])
        return Status.BAD_OP, 0, b""  # tch_mailbox.c knows an op this switch does not

    def _select(self, handle: int, s: int, events: int, ms: int) -> tuple[int, int, bytes]:
        """tch_select: what targets/inprocess.py's `_select` does, on the handle's own socket set (made
        on its first SELECT): FD_CLR every bit, FD_SET the events, FreeRTOS_select with the timeout."""
        timeout = _seconds(ms)
        if timeout is False:
            return _BAD_ARG  # tch_mailbox.c refused it already
        ident = self.socket_sets.get(handle)
        if ident is None:
            ident = self.stack.socketset_create()
            if not ident:
                return Status.NO_MEMORY, 0, b""  # FreeRTOS_CreateSocketSet() returned NULL
            self.socket_sets[handle] = ident
        self.stack.fd_clr(ident, s, 0xFF)
        self.stack.fd_set(ident, s, events)
        return self._finish(self._block(self.stack.select(ident, timeout)))

    def _new_handle(self, stack_handle: int) -> tuple[int, int, bytes]:
        """tch_socket_result: 0 (accept timed out) and -1 (invalid) pass; a socket that finds no
        free handle is closed again, as the harness could never name it."""
        if stack_handle <= 0:
            return Status.OK, stack_handle, b""
        free = next((h for h in range(1, self.fw.max_sockets + 1) if h not in self.sockets), None)
        if free is None:
            self.stack.closesocket(stack_handle)
            return Status.NO_HANDLE, 0, b""
        self.sockets[free] = stack_handle
        return Status.OK, free, b""

    def _block(self, call: Call) -> Call:
        """Caller holds cond: sleep until the stack finishes `call` (only this worker blocks)."""
        self.kick()  # the call may have armed a timer the IP task must now wait for
        while not call.done:
            self.leave()
            self.cond.wait()
            self.enter()
        return call

    @staticmethod
    def _finish(call: Call) -> tuple[int, int, bytes]:
        if call.cancelled:  # the socket was closed by another slot while this call slept on it
            return Status.BAD_SOCKET, 0, b""
        return Status.OK, int(call.result or 0), b""

    def _setsockopt(self, s: int, option: int, value: int, data: bytes) -> tuple[int, int, bytes]:
        """tch_setsockopt: the mailbox's int (or bytes) turned into what the stack's option takes."""
        arg: Any = value
        if option in (SockOpt.RCVTIMEO, SockOpt.SNDTIMEO):
            arg = _seconds(value)
            if arg is False:
                return _BAD_ARG
        elif option == SockOpt.SET_SEMAPHORE:
            arg = None if value == 0 else self.semaphores.get(value)
            if value != 0 and arg is None:
                return _BAD_ARG
        elif option in (SockOpt.SNDBUF, SockOpt.RCVBUF, SockOpt.UDP_MAX_RX_PACKETS):
            if value < 0:
                return _BAD_ARG
        elif option == SockOpt.WIN_PROPERTIES:
            if len(data) != 16:
                return _BAD_ARG
            tx_buf, tx_win, rx_buf, rx_win = struct.unpack("<4i", data)
            arg = {"tx_buf": tx_buf, "tx_win": tx_win, "rx_buf": rx_buf, "rx_win": rx_win}
        elif option == SockOpt.SET_LOW_HIGH_WATER:
            if len(data) != 8:
                return _BAD_ARG
            arg = struct.unpack("<2I", data)
        elif option in _CODE_OPTIONS:
            return _BAD_ARG  # the value would be a code address: nothing the harness can give
        # Booleans (REUSE_LISTEN_SOCKET, STOP_RX, ...) pass as 0/1; unknown options get the stack's
        # own answer (-ENOPROTOOPT), as FreeRTOS_setsockopt gives.
        return Status.OK, self.stack.setsockopt(s, option, arg), b""


_BAD_ARG = (Status.BAD_ARG, 0, b"")


def _port_ok(port: int) -> bool:
    return 0 <= port <= 65535


def _seconds(ms: int) -> float | None | bool:
    """tch_ms_to_ticks: ms -> seconds, TCH_FOREVER -> None (portMAX_DELAY), below -1 -> False."""
    if ms == FOREVER:
        return None
    return False if ms < 0 else ms / 1000.0


# ---- the firmware -------------------------------------------------------------------------------

_STACK_FIELDS = {f.name for f in fields(StackConfig)}


def stack_config_for(target: TargetConfig) -> StackConfig:
    """The StackConfig of a firmware built as `target`'s settings.fixed says (its FreeRTOSIPConfig.h:
    select, user_semaphore, keepalive, ...); the rest are FreeRTOS+TCP's defaults."""
    effective, _ = target.settings_plan({})
    built = {k: v for k, v in effective.items() if k in target.fixed_settings and k in _STACK_FIELDS}
    return StackConfig(**built)


class AgentFirmware:
    """The agent firmware the emulated board boots from flash (board.Firmware).

    `image`: where the firmware's objects are (a FirmwareImage, an ELF path, or Symbols).
    `gmac_if`/`gmac_netns`: the host interface the emulated GMAC uses (None: no link), and the
    network namespace it sits in. `ip`/`mac`: the device's identity (they override `config`'s).
    `config`: FreeRTOSIPConfig.h, fixed when the firmware was "built": every boot runs a fresh
    Stack with it (its isn_seed advanced per boot, as a real board's ISNs differ per boot).
    """

    def __init__(self, image: FirmwareImage | Symbols | str | Path, *, gmac_if: str | None,
                 gmac_netns: str | None = None, ip: str = DEVICE_IP, mac: str = DEVICE_MAC,
                 config: StackConfig | None = None, library: HostMailboxLibrary | None = None,
                 max_sockets: int = MAX_SOCKETS, max_semaphores: int = MAX_SEMAPHORES,
                 rx_descriptors: int = GMAC_RX_BUFFERS,
                 boot_ids: Callable[[], int] | None = None) -> None:
        self.symbols = _symbols(image)
        self.gmac_if, self.gmac_netns = gmac_if, gmac_netns
        self.config = replace(config or StackConfig(), ip=ip, mac=mac)
        self.library = library or HostMailboxLibrary()
        self.max_sockets, self.max_semaphores = max_sockets, max_semaphores
        self.rx_descriptors = rx_descriptors
        self._boot_ids = boot_ids or (lambda: secrets.randbits(32))
        self.boots = 0
        self.calls = 0                    # mailbox calls answered, over all boots
        self.counters: Counter[str] = Counter()
        self.gmac_error: str | None = None
        self.rtt: RttLog | None = None    # made at the first boot (it needs the board's SRAM)
        self._boot: _Boot | None = None
        self._last_boot_id: int | None = None

    # -- board.Firmware -------------------------------------------------------------------------
    def on_reset(self, board: EmulatedSam4e) -> None:
        """A flash boot: end the previous boot, then what main() and tch_agent_start() do."""
        self.close()
        self.boots += 1
        boot_id = self._new_boot_id()
        sym = self.symbols
        self.rtt = RttLog(board.sram_address, sym.rtt, sym.rtt_up, sym.rtt_up_size, sym.rtt_down,
                          sym.rtt_down_size, sym.rtt_name)
        self.rtt.init()
        stack = Stack(replace(self.config, isn_seed=self.config.isn_seed + self.boots - 1), now=0.0)
        boot = _Boot(self, board, boot_id, stack)
        self.library.init(board.sram, boot.offset, boot_id)
        self.gmac_error = None
        boot.log(f"tch: agent up, layout {LAYOUT_VERSION}, {SLOTS} slots, mailbox 0x{sym.mailbox:08x}, "
                 f"boot {boot_id:08x}\n")
        self._boot = boot
        boot.start()

    def on_halt(self, board: EmulatedSam4e) -> None:
        if self._boot is not None:
            self._boot.halt()

    def on_resume(self, board: EmulatedSam4e) -> None:
        if self._boot is not None:
            self._boot.resume()

    # -- for the host side ----------------------------------------------------------------------
    def close(self) -> None:
        """Stop the current boot's threads and close its GMAC socket (also what a reset does)."""
        boot, self._boot = self._boot, None
        if boot is None:
            return
        # A host reading without the board lock must not trust the old mailbox while the workers
        # unwind (an unwinding call's answer still lands in SRAM, as tch_mailbox_init's first
        # store makes the header invalid before anything else changes).
        ctypes.memmove(boot.board.sram_address(self.symbols.mailbox), bytes(4), 4)
        boot.stop()

    @property
    def boot_id(self) -> int | None:
        return self._boot.boot_id if self._boot is not None else None

    @property
    def stack(self) -> Stack | None:
        """The running boot's stack (for tests and diagnostics; take `lock` before touching it)."""
        return self._boot.stack if self._boot is not None else None

    @property
    def lock(self) -> threading.Condition:
        if self._boot is None:
            raise RuntimeError("the firmware is not running")
        return self._boot.cond

    def _new_boot_id(self) -> int:
        """xApplicationGetRandomNumber(), but never the previous boot's: the host tells boots apart."""
        while True:
            boot_id = self._boot_ids() & 0xFFFFFFFF
            if boot_id != self._last_boot_id:
                self._last_boot_id = boot_id
                return boot_id
