"""The agent's FreeRTOS tick count against CLOCK_REALTIME, read through its mailbox.

Used by tests/freertos_posix/test_clock.py (the host build keeps time) and by
bench/wire_jitter.py --target freertos-posix (the drift figure the profile's tolerance rests on).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from targets.sam4e.driver import Mailbox
from targets.sam4e.mailbox import Op


def tick_stamp(mailbox: Mailbox) -> tuple[float, int]:
    """(CLOCK_REALTIME, tick count) at one instant. NOP's t_start is taken between the submit and
    the answer, so the quickest of a few NOPs brackets it tightest (~0.6 ms: the worker polls once
    a tick); on a loaded machine it takes more tries to get one that quick."""
    best: tuple[float, float, int] | None = None
    for tries in range(1, 60):
        before = time.time()
        pending = mailbox.submit(Op.NOP)
        response = mailbox.wait(pending, 2.0)
        after = time.time()
        mailbox.release(pending)
        if best is None or after - before < best[1] - best[0]:
            best = (before, after, response.t_start)
        if tries >= 5 and best[1] - best[0] < 0.001:
            break
    assert best is not None
    return (best[0] + best[1]) / 2, best[2]


@dataclass(frozen=True)
class Drift:
    span: float                 # wall seconds between the first and the last sample
    rate: float                 # ticks per wall second over the span
    offsets: list[float]        # ms the tick clock gained on the wall clock since the first sample

    @property
    def worst(self) -> float:
        return max((abs(o) for o in self.offsets), default=0.0)


def measure_drift(mailbox: Mailbox, span: float, every: float = 1.0) -> Drift:
    """Sample the tick count every `every` seconds for `span` seconds (1 tick = 1 ms)."""
    first = last = tick_stamp(mailbox)
    offsets = []
    while last[0] - first[0] < span:
        time.sleep(every)
        last = tick_stamp(mailbox)
        offsets.append((last[1] - first[1]) - (last[0] - first[0]) * 1000.0)
    wall = last[0] - first[0]
    return Drift(wall, (last[1] - first[1]) / wall, offsets)
