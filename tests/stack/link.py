"""An in-memory Ethernet link between two sans-IO stacks, with seeded impairments.

Each frame a stack emits at virtual time ``t`` is delivered to the other stack at ``t + delay``
(plus a random extra delay for the frames chosen to be reordered), unless it is dropped; a
duplicated frame is delivered twice. One virtual clock drives both stacks: ``step`` jumps to the
earliest of the next delivery and both stacks' ``next_deadline()``. The same seed and the same
inputs give the same run. No scapy here, so bench/stack.py can use it at full speed.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

ETH_P_IP = b"\x08\x00"


class SansIoStack(Protocol):
    now: float

    def receive(self, frame: bytes, now: float) -> None: ...
    def advance(self, now: float) -> None: ...
    def next_deadline(self) -> float | None: ...
    def pop_frames(self) -> list[tuple[float, bytes]]: ...


@dataclass
class Impairments:
    drop: float = 0.0            # probability a frame is lost
    duplicate: float = 0.0       # probability a frame is delivered twice
    reorder: float = 0.0         # probability a frame gets an extra random delay (so others overtake it)
    delay: float = 0.0005        # one-way delay of every frame (s)
    reorder_delay: float = 0.005  # the extra delay is uniform in [0, reorder_delay)
    impair_arp: bool = False     # by default only IPv4 frames are impaired; ARP always gets through


@dataclass
class Link:
    a: SansIoStack
    b: SansIoStack
    seed: int = 0
    impairments: Impairments = field(default_factory=Impairments)
    tap: Callable[[float, int, bytes], None] | None = None
    """Called with (send time, sender index 0/1, frame) for every frame a stack emits."""

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.now = max(self.a.now, self.b.now)
        self.queue: list[tuple[float, int, int, bytes]] = []
        self._order = 0
        self.stats: Counter = Counter()

    @property
    def stacks(self) -> tuple[SansIoStack, SansIoStack]:
        return self.a, self.b

    def replace(self, index: int, stack: SansIoStack) -> None:
        """Swap one end for another stack (a rebooted host); frames in flight still arrive."""
        if index == 0:
            self.a = stack
        else:
            self.b = stack

    # -- moving frames ---------------------------------------------------------------------------
    def _pump(self) -> None:
        for index, st in enumerate(self.stacks):
            for t, frame in st.pop_frames():
                self._transmit(t, index, frame)

    def _transmit(self, t: float, src: int, frame: bytes) -> None:
        self.stats["sent"] += 1
        if self.tap is not None:
            self.tap(t, src, frame)
        imp = self.impairments
        rng = self.rng
        if imp.impair_arp or frame[12:14] == ETH_P_IP:
            if rng.random() < imp.drop:
                self.stats["dropped"] += 1
                return
            copies = 2 if rng.random() < imp.duplicate else 1
            self.stats["duplicated"] += copies - 1
        else:
            copies = 1
        for _ in range(copies):
            when = t + imp.delay
            if imp.reorder and rng.random() < imp.reorder:
                when += rng.random() * imp.reorder_delay
                self.stats["delayed"] += 1
            self._order += 1
            heapq.heappush(self.queue, (when, self._order, 1 - src, frame))

    # -- the clock -------------------------------------------------------------------------------
    def next_time(self) -> float | None:
        times = [q for q in (self.queue[0][0] if self.queue else None,
                             self.a.next_deadline(), self.b.next_deadline()) if q is not None]
        return min(times) if times else None

    def step(self, until: float) -> bool:
        """Run the next event (a delivery or the stacks' due timers) if it is due by ``until``."""
        self._pump()
        t = self.next_time()
        if t is None or t > until:
            return False
        t = max(t, self.now)
        self.now = t
        if self.queue and self.queue[0][0] <= t:
            _, _, dst, frame = heapq.heappop(self.queue)
            st = self.stacks[dst]
            st.receive(frame, max(t, st.now))
            self.stats["delivered"] += 1
        else:
            for st in self.stacks:
                due = st.next_deadline()
                if due is not None and due <= t:
                    st.advance(max(t, st.now))
        self._pump()
        return True

    def run(self, until: float, done: Callable[[], bool] | None = None,
            poll: Callable[[], None] | None = None) -> bool:
        """Step until ``done()`` (checked after ``poll()``, the applications' turn, after every
        event) or until virtual time ``until``; returns whether ``done()`` became true."""
        while True:
            if poll is not None:
                poll()
                self._pump()
            if done is not None and done():
                return True
            if not self.step(until):
                break
        if poll is not None:
            poll()
        self.now = max(self.now, until)
        for st in self.stacks:
            if st.now < until:
                st.advance(until)
        self._pump()
        return done() if done is not None else False


# -- applications on top of two stack_under_test.Stack instances -----------------------------------

@dataclass
class BulkApp:
    """One side's application: send ``data`` in chunks (blocking sends, the next one issued when the
    previous returns), and keep one blocking recv outstanding, collecting what arrives."""

    stack: object
    handle: int
    data: bytes
    chunk: int = 65536
    sent: int = 0
    received: bytearray = field(default_factory=bytearray)
    send_call: object = None
    recv_call: object = None
    errors: list = field(default_factory=list)

    def poll(self) -> None:
        st = self.stack
        while not any(op == "send" for op, _ in self.errors):
            call = self.send_call
            if call is not None and not call.done:
                break
            if call is not None:
                if call.result <= 0:
                    self.errors.append(("send", call.result))
                    self.send_call = None
                    break
                self.sent += call.result
            self.send_call = None
            if self.sent >= len(self.data):
                break
            self.send_call = st.send(self.handle, self.data[self.sent:self.sent + self.chunk])
        while not any(op == "recv" for op, _ in self.errors):
            call = self.recv_call
            if call is not None and not call.done:
                break
            if call is not None:
                if call.result < 0:
                    self.errors.append(("recv", call.result))
                    self.recv_call = None
                    break
                self.received += call.data
            self.recv_call = st.recv(self.handle, 1 << 20)

    def finished(self, expect: int) -> bool:
        return self.sent >= len(self.data) and len(self.received) >= expect


def connect_pair(link: Link, server_port: int = 7000, client_port: int = 0,
                 win_properties: dict | None = None, until: float = 120.0) -> tuple[int, int]:
    """Make ``link.b`` listen and ``link.a`` connect to it; returns (client handle, server handle)."""
    from stack_under_test.constants import SockOpt

    client, server = link.a, link.b
    listener = server.socket()
    if win_properties:
        assert server.setsockopt(listener, SockOpt.WIN_PROPERTIES, win_properties) == 0
    assert server.bind(listener, server_port) == 0
    assert server.listen(listener, 4) == 0
    accept = server.accept(listener)
    h = client.socket()
    if win_properties:
        assert client.setsockopt(h, SockOpt.WIN_PROPERTIES, win_properties) == 0
    if client_port:
        assert client.bind(h, client_port) == 0
    connect = client.connect(h, server.config.ip, server_port)
    state = {"connect": connect}

    def poll() -> None:
        call = state["connect"]
        if call.done and call.result not in (0, None):
            state["connect"] = client.connect(h, server.config.ip, server_port)   # retry after a failure

    ok = link.run(until, done=lambda: state["connect"].done and state["connect"].result == 0
                  and accept.done, poll=poll)
    assert ok, (state["connect"], accept)
    return h, accept.result
