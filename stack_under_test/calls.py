"""Blocking API calls without threads.

A FreeRTOS call that blocks (recv, send, accept, connect, select, a semaphore
take) is written here as a generator: it runs the same loop the firmware runs
and yields a ``Wait`` where the firmware would sleep on its event group. The
stack resumes it when the bits it waits for are delivered, or its timeout
passes; until then the application holds a pending ``Call``.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Wait:
    """What a blocked call sleeps on: event bits of a socket, a semaphore, or a select poll."""

    deadline: float | None
    socket: Any = None
    bits: int = 0
    semaphore: int | None = None
    poll: Any = None          # a callable returning a truthy value when the call may resume


CallGen = Generator[Wait, int, int]


@dataclass
class Call:
    op: str
    handle: int
    started: float
    done: bool = False
    result: int | None = None
    data: bytes = b""
    finished: float | None = None
    cancelled: bool = False
    wait: Wait | None = field(default=None, repr=False)
    gen: CallGen | None = field(default=None, repr=False)

    def __bool__(self) -> bool:  # a Call is never used as a truth value by accident
        raise TypeError("test call.done or call.result, not the Call itself")


@dataclass(frozen=True)
class Event:
    time: float
    socket: int
    kind: str
    detail: Any = None
