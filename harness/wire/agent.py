"""The host side of the agent protocol (agent_protocol.md): spawn, request, collect results.

A reader thread turns the agent's stdout lines into completed calls and notes, and writes
one byte to a wake pipe per completion, so the wire engine's poll (which the runner sits in
while it waits) returns as soon as a call finishes, not at its next deadline.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..freertos import MSG_FLAGS, SHUTDOWN_HOW, SOCKET_OPTIONS
from ..target import CallHandle
from ..vocabulary import Result
from ..vocabulary_bsd import from_bsd
from .engine import wake_pipe

_READY_TIMEOUT = 10.0
_FLAG_NAMES = {bit: name for name, bit in MSG_FLAGS.items()}
_HOW_NAMES = {v: k for k, v in SHUTDOWN_HOW.items()}
_OPTION_NAMES = {v: k for k, v in SOCKET_OPTIONS.items()}


class AgentError(RuntimeError):
    """The agent died, hung, or could not do what was asked: an error verdict, not a result."""


class AgentCall(CallHandle):
    """A call in flight; `done`/`result()` change when the agent's response arrives."""

    def __init__(self, agent: Agent, op: str, request_id: int, started: float,
                 mapper: Callable[[str, Mapping[str, Any], bool], Result]):
        self.op, self.started = op, started
        self._agent, self._id, self._mapper = agent, request_id, mapper
        self._response: Mapping[str, Any] | None = None
        self._result: Result | None = None

    def _complete(self, response: Mapping[str, Any]) -> None:
        self._response = response

    @property
    def done(self) -> bool:
        if self._response is None and not self._agent.alive:
            self._agent.raise_death()
        return self._response is not None

    @property
    def finished(self) -> float | None:
        return None if self._response is None else float(self._response.get("t", self.started))

    @property
    def response(self) -> Mapping[str, Any] | None:
        return self._response

    def result(self) -> Result | None:
        if self._response is None:
            if not self._agent.alive:
                self._agent.raise_death()
            return None
        if "fatal" in self._response:
            raise AgentError(f"agent refused {self.op}: {self._response['fatal']}")
        if self._result is None:
            r = self._response
            blocked = float(r.get("t", 0)) - float(r.get("t0", 0)) > 0.005
            self._result = self._mapper(self.op, r, blocked)
        return self._result


# The agents' `tcpstate` names (Linux's tcp_states.h, lwIP's enum tcp_state) as FreeRTOS's
# eIPTCPState_t names: connstatus cases then run on every target, with the native name kept raw.
# A state FreeRTOS does not have keeps its own name, so a case expecting a FreeRTOS state fails.
NATIVE_STATES: Mapping[str, str] = {
    "CLOSE": "CLOSED", "CLOSED": "CLOSED", "LISTEN": "LISTEN", "SYN_SENT": "CONNECT_SYN",
    "SYN_RECV": "SYN_RECEIVED", "SYN_RCVD": "SYN_RECEIVED", "ESTABLISHED": "ESTABLISHED",
    "FIN_WAIT1": "FIN_WAIT_1", "FIN_WAIT_1": "FIN_WAIT_1", "FIN_WAIT2": "FIN_WAIT_2",
    "FIN_WAIT_2": "FIN_WAIT_2", "CLOSE_WAIT": "CLOSE_WAIT", "CLOSING": "CLOSING",
    "LAST_ACK": "LAST_ACK", "TIME_WAIT": "TIME_WAIT",
}


def bsd_result(op: str, response: Mapping[str, Any], blocked: bool) -> Result:
    if op == "connstatus" and int(response["raw"]) >= 0:
        native = str(response["state"])
        return Result(op, native, NATIVE_STATES.get(native, native))
    data = bytes.fromhex(response["data"]) if response.get("data") is not None else None
    if response.get("errname") == "ENOSYS":
        raise AgentError(f"the agent does not implement {op}")
    return from_bsd(op, int(response["raw"]), response.get("errname"), blocked=blocked,
                    data=data if op == "recv" else None)


class Agent:
    """One agent process. `command` runs it (e.g. ip netns exec NS python3 agent.py)."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str] | None = None,
                 mapper: Callable[[str, Mapping[str, Any], bool], Result] = bsd_result):
        self.command = list(command)
        self.mapper = mapper
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env={**os.environ, **(env or {})}, bufsize=0)
        self._lock = threading.Lock()
        self._calls: dict[int, AgentCall] = {}
        self._ids = 0
        self._notes: list[tuple[float, str]] = []
        self.ready = threading.Event()
        self.ready_info: Mapping[str, Any] = {}
        self.wake_r, self._wake_w = wake_pipe()
        self._dead = False
        self._reader = threading.Thread(target=self._read, name="agent-reader", daemon=True)
        self._reader.start()
        if not self.ready.wait(_READY_TIMEOUT):
            self.close()
            raise AgentError(f"agent did not start within {_READY_TIMEOUT:g} s: {self.stderr_tail()}")

    # ---- reading ------------------------------------------------------------------------------

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                self._note(time.time(), f"agent wrote a non-JSON line: {line[:200]!r}")
                continue
            if "event" in msg:
                if msg["event"] == "ready":
                    self.ready_info = msg
                    self.ready.set()
                else:
                    self._note(float(msg.get("t", time.time())), _event_text(msg))
                continue
            with self._lock:
                call = self._calls.pop(msg.get("id"), None) if msg.get("id") is not None else None
            if call is None:
                self._note(time.time(), f"agent answered an unknown request: {msg}")
                continue
            call._complete(msg)
            self._wake()
        self._dead = True
        self.ready.set()
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except (BlockingIOError, OSError):
            pass  # the pipe is full or closed: the reader of it wakes anyway

    def drain_wake(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _note(self, t: float, text: str) -> None:
        with self._lock:
            self._notes.append((t, text))

    def notes(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self._notes)

    # ---- liveness -----------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return not self._dead and self.proc.poll() is None

    def stderr_tail(self, limit: int = 2000) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        return text[-limit:].strip() or "(no stderr)"

    def raise_death(self) -> None:
        code = self.proc.poll()
        raise AgentError(f"agent died (exit {code}): {self.stderr_tail()}")

    # ---- requests -----------------------------------------------------------------------------

    def request(self, op: str, args: Mapping[str, Any], started: float | None = None,
                wire_op: str | None = None) -> AgentCall:
        """Send `wire_op` (default `op`) to the agent; the result is mapped as a result of `op`."""
        if not self.alive:
            self.raise_death()
        with self._lock:
            self._ids += 1
            at = started if started is not None else time.time()
            call = AgentCall(self, op, self._ids, at, self.mapper)
            self._calls[self._ids] = call
        line = json.dumps({"id": call._id, "op": wire_op or op, "args": dict(args)}) + "\n"
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line.encode())
        except (BrokenPipeError, OSError):
            self.raise_death()
        return call

    def call_sync(self, op: str, args: Mapping[str, Any], timeout: float = 5.0) -> Mapping[str, Any]:
        """A request whose response is needed before going on (configure at reset)."""
        call = self.request(op, args)
        end = time.time() + timeout
        while not call.done:
            if time.time() > end:
                raise AgentError(f"agent did not answer {op} within {timeout:g} s")
            time.sleep(0.001)
        assert call.response is not None
        return call.response

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()      # EOF: the agent exits by itself
                self.proc.wait(0.5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                try:
                    # A loaded host can take seconds to reap it; past that, the namespace's
                    # removal kills whatever is left, so a slow death is no error of the case.
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
        self._reader.join(1)
        for fd in (self.wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._stderr.close()


def _event_text(msg: Mapping[str, Any]) -> str:
    sock = f"socket {msg['sock']}: " if "sock" in msg else ""
    return f"{sock}{msg.get('text', msg['event'])}"


def freertos_args(op: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The runner's FreeRTOS-vocabulary call arguments as agent-protocol arguments."""
    out: dict[str, Any] = {k: v for k, v in args.items() if k in ("sock", "port", "backlog", "ip")}
    if "data" in args:
        out["data"] = bytes(args["data"]).hex()
    if "size" in args:
        out["len"] = int(args["size"])
    if "flags" in args:
        bits = int(args["flags"] or 0)
        out["flags"] = [name for bit, name in _FLAG_NAMES.items() if bits & bit]
    if "how" in args:
        out["how"] = _HOW_NAMES[int(args["how"])]
    if "option" in args:
        out["option"] = _OPTION_NAMES.get(args["option"], str(args["option"]))
        out["value"] = args.get("value")
    return out
