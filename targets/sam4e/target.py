"""`Sam4eTarget`: a SAM4E Xplained Pro running FreeRTOS+TCP with the harness agent, on a real wire.

- frames: the shared wire engine (harness/wire/engine.py) on the host NIC cabled to the board
  (`board.nic` in targets/sam4e.yaml), kernel timestamps, ARP answered at once;
- calls: the agent mailbox over SWD (adapter.py). Every call is a handle; a poller thread watches
  the slots of unanswered calls and wakes the engine's poll through a pipe, so `frames()` returns
  as soon as a call completes, as it does for the agent-process targets;
- a FreeRTOS call the mailbox's 1 KiB data area can not carry in one piece (a send or recv of
  more) is split: sends continue while each piece is taken whole, recv continues with DONTWAIT
  while each piece came back full, so the runner sees one FreeRTOS call's result;
- notes: what the adapter did (boot, resynchronisation) and the firmware's RTT log lines.

Clock: the wall clock (time.time()), the clock of the kernel's packet stamps.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

from harness import HARNESS_IP, HARNESS_MAC
from harness.freertos import SOCKET_OPTIONS
from harness.target import CallHandle, Frame, TargetConfig, TargetUnavailable
from harness.vocabulary import Result, from_freertos
from harness.wire.engine import WireEngine, wake_pipe
from harness.wire.wall_target import WallClockTarget

from .adapter import BoardError, Sam4eBoard
from .config import BoardConfig, load_board
from .driver import MailboxError, Pending
from .mailbox import DATA_SIZE, FOREVER, FREERTOS_MSG, Op, Response, Status, ipv4_arg

_POLL = 0.001     # seconds between looks at the slots of unanswered calls
Request = tuple[int, list[int], bytes]
# A call's plan: yields mailbox requests, receives their responses, returns (raw, data, blocked).
Plan = Generator[Request, Response, tuple[int, bytes | None, bool]]

UNSUPPORTED = {"select": "the agent mailbox (PROTOCOL v1) has no SELECT op"}


class Sam4eError(RuntimeError):
    pass


def check_interface(nic: str, source: str) -> None:
    """The NIC must exist and be up with a carrier, or the first frame would vanish silently."""
    sys_dir = Path("/sys/class/net") / nic
    if not sys_dir.exists():
        raise Sam4eError(f"network interface {nic} does not exist: fix nic: in {source} (ip link lists them)")
    flags = int((sys_dir / "flags").read_text().strip(), 16)
    if not flags & 0x1:   # IFF_UP
        raise Sam4eError(f"network interface {nic} is down: ip link set {nic} up")
    try:
        carrier = (sys_dir / "carrier").read_text().strip()
    except OSError:
        carrier = "1"
    if carrier != "1":
        raise Sam4eError(f"network interface {nic} has no carrier: plug the board's Ethernet cable into it")


def _ms(seconds: float | None) -> int:
    return FOREVER if seconds is None else max(0, round(float(seconds) * 1000))


class Sam4eCall(CallHandle):
    """A FreeRTOS call made of one or more mailbox requests in one slot."""

    def __init__(self, op: str, started: float, plan: Plan):
        self.op, self.started = op, started
        self.plan = plan
        self.pending: Pending | None = None
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
            raise Sam4eError(f"{self.op}: {self._error}")
        return self._result


class Sam4eTarget(WallClockTarget):
    """FreeRTOS+TCP on a SAM4E board (or the emulated one): socket calls through the SWD mailbox,
    frames through the wire engine on the NIC cabled to the board."""

    def __init__(self, config: TargetConfig, board: BoardConfig | None = None, flash: bool = True):
        super().__init__(config)
        self.board_config = board or load_board(config.path)
        self.flash_on_open = flash
        self.board: Sam4eBoard | None = None
        self._wake_r, self._wake_w = wake_pipe()
        self._lock = threading.Lock()          # the live calls list
        self._live: list[Sam4eCall] = []
        self._completed = False
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._notes: list[tuple[float, str]] = []

    # ---- lifecycle ----------------------------------------------------------------------------

    def _open_board(self) -> Sam4eBoard:
        if self.board is None:
            board = Sam4eBoard(self.board_config).open()
            try:
                if self.flash_on_open:
                    board.flash()
                board.ensure_boot_from_flash()
            except BaseException:
                board.close()
                raise
            self.board = board
        return self.board

    def preflight(self) -> None:
        """The bench, checked before any case: NIC, pack, ELF, probe, chip (each a one-line error)."""
        try:
            check_interface(self.board_config.nic, self.board_config.source)
            self._open_board()
        except (Sam4eError, BoardError) as exc:
            raise TargetUnavailable(str(exc)) from exc

    def reset(self, settings: Mapping[str, Any]) -> None:
        check_interface(self.board_config.nic, self.board_config.source)
        board = self._open_board()
        self._stop_poller()
        with self._lock:
            self._live = []
        board.reset(clear_log=True)
        if self.engine is None:
            self.engine = WireEngine(self.board_config.nic, self.config.device_ip, HARNESS_IP, HARNESS_MAC)
            self.engine.watch(self._wake_r)
        self.engine.drain()   # what the board sent while booting (gratuitous ARP) is not the case's
        self._drain_wake()
        self._notes = [(time.time(), f"SAM4E board (probe {self.board_config.probe}), agent boot_id "
                                     f"{board.boot_id:#010x}, NIC {self.board_config.nic}")]
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, args=(self._stop,), name="sam4e-calls",
                                        daemon=True)
        self._poller.start()

    def _stop_poller(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
            self._poller = None

    def close(self) -> None:
        self._stop_poller()
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        if self.board is not None:
            self.board.close()
            self.board = None
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

    def call(self, op: str, **args: Any) -> CallHandle:
        board = self.board
        assert board is not None, "reset() first"
        if op in UNSUPPORTED:
            raise Sam4eError(f"{op}: {UNSUPPORTED[op]}")
        self._settle_after_inject()
        handle = Sam4eCall(op, time.time(), _plan(op, args))
        try:
            request = next(handle.plan)
            handle.pending = board.submit(*request, resync_wait=self._call_timeout())
        except (BoardError, MailboxError) as exc:
            raise Sam4eError(f"{op}: {exc}") from exc
        with self._lock:
            self._live.append(handle)
        return handle

    def _call_timeout(self) -> float:
        return 1.0

    def _poll_loop(self, stop: threading.Event) -> None:
        board = self.board
        assert board is not None and board.mailbox is not None
        mailbox = board.mailbox
        while not stop.wait(_POLL):
            with self._lock:
                live = list(self._live)
            for handle in live:
                self._advance(mailbox, handle)

    def _advance(self, mailbox: Any, handle: Sam4eCall) -> None:
        pending = handle.pending
        assert pending is not None
        try:
            response = mailbox.poll(pending)
            if response is None:
                return
            if response.status != Status.OK:
                raise Sam4eError(f"the agent answered {_status_name(response.status)} (result "
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
        except (MailboxError, Sam4eError) as exc:
            if pending.response is not None:
                mailbox.release(pending)
            handle.complete(None, str(exc))
        with self._lock:
            self._live.remove(handle)
            self._completed = True
        os.write(self._wake_w, b"c")

    def notes(self) -> list[tuple[float, str]]:
        board_notes: list[tuple[float, str]] = []
        if self.board is not None:
            board_notes = self.board.notes + [(t, f"rtt: {text}") for t, text in self.board.log_lines()]
        return sorted(self._notes + board_notes)


def _status_name(status: int) -> str:
    try:
        return f"TCH_ST_{Status(status).name}"
    except ValueError:
        return f"status {status}"


def _blocked(response: Response) -> bool:
    return response.t_end != response.t_start   # ticks: the call waited at least one tick


def _plan(op: str, a: Mapping[str, Any]) -> Plan:
    """The mailbox requests of one FreeRTOS-vocabulary call (harness/runner.py's arguments)."""
    sock = int(a.get("sock", 0))
    if op == "send":
        return _send(sock, bytes(a["data"]), int(a.get("flags", 0)))
    if op == "recv":
        return _recv(sock, int(a["size"]), int(a.get("flags", 0)))
    return _single(op, *_request(op, sock, a))


def _single(op: str, code: int, args: list[int], data: bytes) -> Plan:
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
    if op == "setsockopt":
        return _setsockopt(sock, int(a["option"]), a.get("value"))
    raise Sam4eError(f"{op}: no mailbox op for this call")


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
