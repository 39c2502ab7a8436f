"""The in-process target: the bundled sans-IO stack, driven on a virtual clock.

Waiting never sleeps: `frames(deadline)` jumps straight to the stack's next
timer deadline, so a case spanning minutes of protocol time runs in
milliseconds. Fault switches (stack_under_test.faults) can only be given here,
in code, never from a case or target file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from harness.freertos import TcpState
from harness.target import CallHandle, Frame, Target, TargetConfig
from harness.vocabulary import Result, from_freertos
from stack_under_test import Call, Faults, Stack, StackConfig

_STACK_FIELDS = {f.name for f in fields(StackConfig)}
# A stack whose timers stop moving would otherwise spin for ever.
_MAX_STEPS_PER_WAIT = 100_000


class InProcessCall(CallHandle):
    def __init__(self, op: str, started: float, outcome: Call | int):
        self.op, self.started, self._outcome = op, started, outcome

    @property
    def done(self) -> bool:
        return not isinstance(self._outcome, Call) or self._outcome.done

    @property
    def finished(self) -> float | None:
        if not isinstance(self._outcome, Call):
            return self.started
        return self._outcome.finished

    def result(self) -> Result | None:
        call = self._outcome
        if not isinstance(call, Call):
            return from_freertos(self.op, call)
        if not call.done:
            return None
        if call.cancelled:
            return Result(self.op, None, "cancelled", frozenset({"error"}))
        blocked = call.finished is not None and call.finished > call.started
        return from_freertos(
            self.op, call.result, blocked=blocked, data=call.data if self.op == "recv" else None
        )


class InProcessTarget(Target):
    parallel = True  # a pure model: instances share nothing
    def __init__(self, config: TargetConfig, faults: Faults | None = None, isn_seed: int = 0):
        super().__init__(config)
        self.faults = faults or Faults()
        self.isn_seed = isn_seed
        self.stack = Stack(StackConfig())
        self._watched: list[InProcessCall] = []
        self._notes: list[tuple[float, str]] = []

    def reset(self, settings: Mapping[str, Any]) -> None:
        stack_settings = {k: v for k, v in settings.items() if k in _STACK_FIELDS}
        config = StackConfig(
            mac=self.config.device_mac,
            ip=self.config.device_ip,
            isn_seed=self.isn_seed,
            faults=replace(self.faults),
            **stack_settings,
        )
        self.stack = Stack(config, now=0.0)
        self._watched, self._notes = [], []
        self._sets: dict[int, int] = {}

    def now(self) -> float:
        return self.stack.now

    def inject(self, frame: bytes) -> float:
        self.stack.receive(frame, self.stack.now)
        self._collect_events()
        return self.stack.now

    def frames(self, deadline: float) -> list[Frame]:
        stack = self.stack
        out = self._pop()
        for _ in range(_MAX_STEPS_PER_WAIT):
            if out or self._a_call_completed():
                return out
            due = stack.next_deadline()
            if due is None or due > deadline:
                stack.advance(max(deadline, stack.now))
                return self._pop()
            stack.advance(max(due, stack.now))
            out = self._pop()
        raise RuntimeError(f"the stack's timers did not move past t={stack.now}")

    def _pop(self) -> list[Frame]:
        self._collect_events()
        return [Frame(t, bytes(data), outbound=True) for t, data in self.stack.pop_frames()]

    def _a_call_completed(self) -> bool:
        before = len(self._watched)
        self._watched = [c for c in self._watched if not c.done]
        return len(self._watched) < before

    def call(self, op: str, **args: Any) -> InProcessCall:
        s = self.stack
        sock = args.get("sock")
        handlers = {
            "socket": lambda: s.socket(),
            "bind": lambda: s.bind(sock, args["port"]),
            "listen": lambda: s.listen(sock, args["backlog"]),
            "accept": lambda: s.accept(sock),
            "connect": lambda: s.connect(sock, args["ip"], args["port"]),
            "send": lambda: s.send(sock, args["data"], args.get("flags", 0)),
            "recv": lambda: s.recv(sock, args["size"], args.get("flags", 0)),
            "shutdown": lambda: s.shutdown(sock, args.get("how", 2)),
            "closesocket": lambda: s.closesocket(sock),
            "setsockopt": lambda: s.setsockopt(sock, args["option"], args["value"]),
            "issocketconnected": lambda: s.issocketconnected(sock),
            "connstatus": lambda: s.connstatus(sock),
            "semaphore_create": lambda: s.semaphore_create(),
            "semaphore_take": lambda: s.semaphore_take(args["sem"], args.get("timeout")),
            "select": lambda: self._select(sock, args["events"], args.get("timeout")),
        }
        started = s.now
        handle = InProcessCall(op, started, handlers[op]())
        self._collect_events()
        if not handle.done:
            self._watched.append(handle)
        return handle

    def _select(self, sock: int, events: int, timeout: float | None) -> Call:
        """FreeRTOS_select over a one-socket set made on first use (ipconfigSUPPORT_SELECT_FUNCTION)."""
        if sock not in self._sets:
            self._sets[sock] = self.stack.socketset_create()
        ident = self._sets[sock]
        self.stack.fd_clr(ident, sock, 0xFF)
        self.stack.fd_set(ident, sock, events)
        return self.stack.select(ident, timeout)

    def _collect_events(self) -> None:
        for event in self.stack.pop_events():
            if event.kind == "state":
                old, new = event.detail
                text = f"socket {event.socket}: {_state(old)} -> {_state(new)}"
            elif event.kind == "call":
                continue  # the runner reports calls itself
            elif event.kind == "bits":
                text = f"socket {event.socket}: event bits {_bits(event.detail)}"
            else:
                text = (
                    f"socket {event.socket}: {event.kind} {event.detail if event.detail is not None else ''}"
                )
            self._notes.append((event.time, text.rstrip()))

    def notes(self) -> list[tuple[float, str]]:
        return list(self._notes)


_EVENT_BITS = ("RECEIVE", "SEND", "ACCEPT", "CONNECT", "BOUND", "CLOSED", "INTR")


def _bits(value: Any) -> str:
    return "|".join(name for i, name in enumerate(_EVENT_BITS) if int(value) & (1 << i)) or str(value)


def _state(value: Any) -> str:
    return TcpState(value).name
