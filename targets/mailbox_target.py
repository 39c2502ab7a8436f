"""What every target that drives the harness agent's mailbox (targets/sam4e/firmware) shares.

The mailbox rules (targets/sam4e/driver.py) are one; the transport under them differs: SWD
through pyOCD for a SAM4E board, the agent process's memory for FreeRTOS+TCP on the host
(freertos-posix). A subclass supplies the device (`self.device`: anything with `submit`,
`mailbox`, `notes` and `log_lines`, e.g. `Sam4eBoard`) and the wire engine; this class does
the rest:

- every call is a handle; a poller thread watches the slots of unanswered calls and wakes the
  engine's poll through a pipe, so `frames()` returns as soon as a call completes, as it does
  for the agent-process targets;
- a FreeRTOS call the mailbox's 1 KiB data area can not carry in one piece (a send or recv of
  more) is split: sends continue while each piece is taken whole, recv continues with DONTWAIT
  while each piece came back full, so the runner sees one FreeRTOS call's result;
- notes: the device's own (boot, resynchronisation) and the agent's RTT log lines.

Clock: the wall clock (time.time()), the clock of the kernel's packet stamps.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Generator, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from harness.freertos import SOCKET_OPTIONS
from harness.target import CallHandle, Frame, TargetConfig
from harness.vocabulary import Result, from_freertos
from harness.wire.engine import wake_pipe
from harness.wire.wall_target import WallClockTarget
from targets.sam4e.driver import Mailbox, MailboxError, Pending
from targets.sam4e.mailbox import DATA_SIZE, FOREVER, FREERTOS_MSG, Op, Response, Status, ipv4_arg

_POLL = 0.001     # seconds between looks at the slots of unanswered calls
Request = tuple[int, list[int], bytes]
# A call's plan: yields mailbox requests, receives their responses, returns (raw, data, blocked).
Plan = Generator[Request, Response, tuple[int, bytes | None, bool]]


class MailboxDevice(Protocol):
    """A device running the agent: the board adapter, or the agent process on the host."""

    mailbox: Mailbox | None
    notes: list[tuple[float, str]]

    def submit(self, op: int, args: Sequence[int] = (), data: bytes = b"", slot: int | None = None,
               resync_wait: float = 0.0) -> Pending: ...

    def log_lines(self) -> list[tuple[float, str]]: ...


class MailboxTargetError(RuntimeError):
    pass


class DeviceError(RuntimeError):
    """Raised by a device's `submit` when the call could not be made (a subclass says which)."""


class MailboxCall(CallHandle):
    """A FreeRTOS call made of one or more mailbox requests in one slot."""

    def __init__(self, op: str, started: float, plan: Plan, error: type[RuntimeError]):
        self.op, self.started = op, started
        self.plan = plan
        self.pending: Pending | None = None
        self._error_type = error
        self._finished: float | None = None
        self._result: Result | None = None
        self._error: str | None = None

    @property
    def done(self) -> bool:
        return self._finished is not None

    @property
    def finished(self) -> float | None:
        return self._finished

    def complete(self, result: Result | None, error: str | None = None) -> None:
        self._result, self._error = result, error
        self._finished = time.time()

    def result(self) -> Result | None:
        if self._error is not None:
            raise self._error_type(f"{self.op}: {self._error}")
        return self._result


class MailboxTarget(WallClockTarget):
    """Socket calls through the agent mailbox of `self.device`, frames through `self.engine`."""

    # Calls the agent can not make, with the reason (an error verdict that names it).
    unsupported: ClassVar[Mapping[str, str]] = {}
    # The exception type of this target's call errors.
    error: ClassVar[type[RuntimeError]] = MailboxTargetError
    # What a device's submit raises when it can not make a call (a board adapter's BoardError...).
    device_errors: ClassVar[tuple[type[Exception], ...]] = (DeviceError,)

    def __init__(self, config: TargetConfig):
        super().__init__(config)
        self.device: MailboxDevice | None = None
        self._wake_r, self._wake_w = wake_pipe()
        self._lock = threading.Lock()          # the live calls list
        self._live: list[MailboxCall] = []
        self._completed = False
        self._stop = threading.Event()
        self._work = threading.Event()         # set by a new call (and a stop): the poller wakes
        self._poller: threading.Thread | None = None
        self._notes: list[tuple[float, str]] = []

    # ---- the poller ---------------------------------------------------------------------------

    def _start_calls(self) -> None:
        """After the device is up for a case: nothing live, the engine woken by completions."""
        self._stop_calls()
        with self._lock:
            self._live, self._completed = [], False
        assert self.engine is not None
        self.engine.watch(self._wake_r)
        self._drain_wake()
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, args=(self._stop,), name="mailbox-calls",
                                        daemon=True)
        self._poller.start()

    def _stop_calls(self) -> None:
        self._stop.set()
        self._work.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
            self._poller = None

    def _close_wake(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1

    # ---- frames -------------------------------------------------------------------------------

    def frames(self, deadline: float) -> list[Frame]:
        assert self.engine is not None, "reset() first"
        with self._lock:
            completed, self._completed = self._completed, False
        if completed:
            return self.engine.drain()
        out = self.engine.receive(deadline)
        self._drain_wake()
        return out

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    # ---- calls --------------------------------------------------------------------------------

    def _call_timeout(self) -> float:
        return 1.0

    def call(self, op: str, **args: Any) -> CallHandle:
        device = self.device
        assert device is not None, "reset() first"
        if op in self.unsupported:
            raise self.error(f"{op}: {self.unsupported[op]}")
        self._settle_after_inject()
        handle = MailboxCall(op, time.time(), plan(op, args), self.error)
        try:
            request = next(handle.plan)
            handle.pending = device.submit(*request, resync_wait=self._call_timeout())
        except (*self.device_errors, MailboxError, MailboxTargetError) as exc:
            raise self.error(f"{op}: {exc}") from exc
        with self._lock:
            self._live.append(handle)
        self._work.set()
        return handle

    def _poll_loop(self, stop: threading.Event) -> None:
        device = self.device
        assert device is not None and device.mailbox is not None
        mailbox = device.mailbox
        while not stop.is_set():
            # With no call outstanding, sleep until there is one: a poll every millisecond for
            # nothing costs each of `harness run -j`'s workers CPU the stacks under test need.
            self._work.clear()
            with self._lock:
                live = list(self._live)
            if not live:
                self._work.wait()
                continue
            for handle in live:
                self._advance(mailbox, handle)
            stop.wait(_POLL)

    def _advance(self, mailbox: Mailbox, handle: MailboxCall) -> None:
        pending = handle.pending
        assert pending is not None
        try:
            response = mailbox.poll(pending)
            if response is None:
                return
            if response.status != Status.OK:
                raise MailboxTargetError(f"the agent answered {_status_name(response.status)} (result "
                                         f"{response.result})")
            try:
                request = handle.plan.send(response)
            except StopIteration as stop:
                raw, data, blocked = stop.value
                mailbox.release(pending)
                handle.complete(from_freertos(handle.op, raw, blocked=blocked, data=data))
            else:
                handle.pending = mailbox.submit(*request, slot=pending.slot)
                return
        except (MailboxError, MailboxTargetError) as exc:
            if pending.response is not None:
                mailbox.release(pending)
            handle.complete(None, str(exc))
        with self._lock:
            self._live.remove(handle)
            self._completed = True
        os.write(self._wake_w, b"c")

    def notes(self) -> list[tuple[float, str]]:
        device_notes: list[tuple[float, str]] = []
        if self.device is not None:
            device_notes = self.device.notes + [(t, f"rtt: {text}") for t, text in self.device.log_lines()]
        return sorted(self._notes + device_notes)


def _status_name(status: int) -> str:
    try:
        return f"TCH_ST_{Status(status).name}"
    except ValueError:
        return f"status {status}"


def _blocked(response: Response) -> bool:
    return response.t_end != response.t_start   # ticks: the call waited at least one tick


def _ms(seconds: float | None) -> int:
    return FOREVER if seconds is None else max(0, round(float(seconds) * 1000))


def plan(op: str, a: Mapping[str, Any]) -> Plan:
    """The mailbox requests of one FreeRTOS-vocabulary call (harness/runner.py's arguments)."""
    sock = int(a.get("sock", 0))
    if op == "send":
        return _send(sock, bytes(a["data"]), int(a.get("flags", 0)))
    if op == "recv":
        return _recv(sock, int(a["size"]), int(a.get("flags", 0)))
    return _single(*_request(op, sock, a))


def _single(code: int, args: list[int], data: bytes) -> Plan:
    response = yield code, args, data
    return response.result, None, _blocked(response)


def _request(op: str, sock: int, a: Mapping[str, Any]) -> tuple[int, list[int], bytes]:
    if op == "socket":
        return Op.SOCKET, [], b""
    if op == "bind":
        return Op.BIND, [sock, int(a["port"])], b""
    if op == "listen":
        return Op.LISTEN, [sock, int(a["backlog"])], b""
    if op == "accept":
        return Op.ACCEPT, [sock], b""
    if op == "connect":
        return Op.CONNECT, [sock, ipv4_arg(a["ip"]), int(a["port"])], b""
    if op == "shutdown":
        return Op.SHUTDOWN, [sock, int(a.get("how", 2))], b""
    if op == "closesocket":
        return Op.CLOSESOCKET, [sock], b""
    if op == "issocketconnected":
        return Op.ISCONNECTED, [sock], b""
    if op == "connstatus":
        return Op.CONNSTATUS, [sock], b""
    if op == "semaphore_create":
        return Op.SEM_CREATE, [], b""
    if op == "semaphore_take":
        return Op.SEM_TAKE, [int(a["sem"]), _ms(a.get("timeout"))], b""
    if op == "select":
        return Op.SELECT, [sock, int(a["events"]), _ms(a.get("timeout"))], b""
    if op == "setsockopt":
        return _setsockopt(sock, int(a["option"]), a.get("value"))
    raise MailboxTargetError(f"{op}: no mailbox op for this call")


def _setsockopt(sock: int, option: int, value: Any) -> tuple[int, list[int], bytes]:
    if option in (SOCKET_OPTIONS["RCVTIMEO"], SOCKET_OPTIONS["SNDTIMEO"]):
        return Op.SETSOCKOPT, [sock, option, _ms(value)], b""
    if option == SOCKET_OPTIONS["SET_SEMAPHORE"]:
        return Op.SETSOCKOPT, [sock, option, int(value or 0)], b""
    if option == SOCKET_OPTIONS["WIN_PROPERTIES"]:
        data = struct.pack("<4i", int(value["tx_buf"]), int(value["tx_win"]), int(value["rx_buf"]),
                           int(value["rx_win"]))
        return Op.SETSOCKOPT, [sock, option, 0], data
    if option == SOCKET_OPTIONS["SET_LOW_HIGH_WATER"]:
        low, high = (value["little"], value["enough"]) if isinstance(value, Mapping) else value
        return Op.SETSOCKOPT, [sock, option, 0], struct.pack("<2I", int(low), int(high))
    number = int(bool(value)) if isinstance(value, bool) else int(value or 0)   # booleans, byte counts
    return Op.SETSOCKOPT, [sock, option, number], b""


def _send(sock: int, data: bytes, flags: int) -> Plan:
    """FreeRTOS_send of any length: 1 KiB pieces while each is taken whole."""
    total, blocked = 0, False
    pieces = [data[i:i + DATA_SIZE] for i in range(0, len(data), DATA_SIZE)] or [b""]
    for piece in pieces:
        response = yield Op.SEND, [sock, flags], piece
        blocked = blocked or _blocked(response)
        if response.result < 0:
            return (response.result if total == 0 else total), None, blocked
        total += response.result
        if response.result < len(piece):
            break
    return total, None, blocked


def _recv(sock: int, size: int, flags: int) -> Plan:
    """FreeRTOS_recv of up to `size`: the first piece waits as the call would; more pieces are
    taken without waiting while each came back full (not with PEEK: it would re-read the start)."""
    first = min(size, DATA_SIZE)
    response = yield Op.RECV, [sock, first, flags], b""
    blocked = _blocked(response)
    if response.result < first or size <= first or flags & FREERTOS_MSG["PEEK"]:
        return response.result, response.data, blocked
    data = response.data
    while len(data) < size:
        want = min(size - len(data), DATA_SIZE)
        more = yield Op.RECV, [sock, want, flags | FREERTOS_MSG["DONTWAIT"]], b""
        if more.result <= 0:
            break
        data += more.data
        if more.result < want:
            break
    return len(data), data, blocked
