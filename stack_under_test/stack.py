"""Stack: one sans-IO FreeRTOS+TCP-like host, driven by frames and a virtual clock."""

from __future__ import annotations

import random
from collections import Counter

from .calls import Call, Event
from .config import StackConfig
from .constants import TcpState
from .netif import NetIf
from .sockets import SocketApi, SocketSet
from .tcb import TcpSocket
from .tcp import TcpEngine


class Stack(SocketApi, TcpEngine):
    """The device under test of the in-process target.

    Inputs: ``receive(frame, now)``, ``advance(now)`` and socket API calls.
    Outputs: ``pop_frames()``, ``pop_events()``, call results. No I/O, no
    threads, no wall clock: the same inputs give the same bytes.
    """

    def __init__(self, config: StackConfig | None = None, now: float = 0.0) -> None:
        self.config = config or StackConfig()
        self.counters: Counter = Counter()
        self.now = now
        self.rng = random.Random(self.config.isn_seed)
        self.netif = NetIf(self.config, self.counters, self.on_tcp, now)
        self.sockets: dict[int, TcpSocket] = {}
        self._next_handle = 1
        self._to_free: list[TcpSocket] = []
        self._relisten_later: list[TcpSocket] = []
        self._rx_buffer = None          # set while a received segment is processed (tcp.RxBuffer)
        self.calls: list[Call] = []
        self.events: list[Event] = []
        self.semaphores: dict[int, bool] = {}
        self.socket_sets: dict[int, SocketSet] = {}

    # ------------------------------------------------------------- inputs
    def receive(self, frame: bytes, now: float) -> None:
        """An Ethernet frame from the wire at time ``now``."""
        self.advance(now)
        self.netif.receive_frame(bytes(frame), self.now)
        self._settle()

    def advance(self, now: float) -> None:
        """Run every timer due by ``now``, each at its own instant."""
        if now < self.now:
            raise ValueError(f"time went backwards: {now} < {self.now}")
        while True:
            due = self.next_deadline()
            if due is None or due > now:
                break
            self.now = max(self.now, due)
            self._run_due()
            self._settle()
        self.now = now

    def next_deadline(self) -> float | None:
        times = [s.timer_due for s in self.sockets.values() if s.timer_due is not None and not s.freed]
        times += [c.wait.deadline for c in self.calls
                  if not c.done and c.wait is not None and c.wait.deadline is not None]
        net = self.netif.next_deadline()
        if net is not None:
            times.append(net)
        return min(times) if times else None

    # ------------------------------------------------------------ outputs
    def pop_frames(self) -> list[tuple[float, bytes]]:
        out = list(self.netif.output)
        self.netif.output.clear()
        return out

    def pop_events(self) -> list[Event]:
        out = list(self.events)
        self.events.clear()
        return out

    def state_of(self, handle: int) -> TcpState | None:
        sock = self.sockets.get(handle)
        return None if sock is None or sock.freed else sock.state

    # ----------------------------------------------------------- internals
    def _run_due(self) -> None:
        self.netif.advance(self.now)
        for sock in list(self.sockets.values()):
            if not sock.freed and sock.timer_due is not None and sock.timer_due <= self.now:
                self._socket_timer(sock)
        for call in list(self.calls):
            wait = call.wait
            if not call.done and wait is not None and wait.deadline is not None and wait.deadline <= self.now:
                self._resume(call, 0)

    def _settle(self) -> None:
        """What the IP task does before it sleeps: deliver events, resume callers, run due work."""
        for _ in range(10_000):
            progressed = False
            for sock in list(self.sockets.values()):
                if sock.pending_bits and not sock.freed:
                    self._wake_user(sock)
                    progressed = True
            for call in list(self.calls):
                if not call.done and self._try_wake(call):
                    progressed = True
            self.calls = [c for c in self.calls if not c.done]
            while self._to_free:
                self._close_socket(self._to_free.pop(0))
                progressed = True
            while self._relisten_later:
                self._relisten(self._relisten_later.pop(0))
                progressed = True
            for sock in list(self.sockets.values()):
                if not sock.freed and sock.timer_due is not None and sock.timer_due <= self.now:
                    self._socket_timer(sock)
                    progressed = True
            if not progressed:
                return
        raise RuntimeError("stack did not settle")

    def _try_wake(self, call: Call) -> bool:
        wait = call.wait
        if wait is None:
            return False
        if wait.socket is not None:
            hit = wait.socket.group_bits & wait.bits
            if hit:
                wait.socket.group_bits &= ~wait.bits
                self._resume(call, hit)
                return True
            if wait.socket.freed:
                call.done, call.cancelled, call.finished = True, True, self.now
                return True
        elif wait.semaphore is not None:
            if self.semaphores.get(wait.semaphore):
                self.semaphores[wait.semaphore] = False
                self._resume(call, 1)
                return True
        elif wait.poll is not None and wait.poll():
            self._resume(call, 1)
            return True
        return False

    def _relisten(self, sock: TcpSocket) -> None:
        """vSocketListenNextTime: a reuse socket whose handshake failed listens again."""
        if sock.freed or sock.state != TcpState.CLOSE_WAIT:
            return
        sock.remote_ip = sock.remote_port = 0
        sock.pass_queued = sock.pass_accept = False
        self._reset_connection_flags(sock)
        self._state_change(sock, TcpState.LISTEN)
