"""FreeRTOS+TCP on the POSIX port stands in for a device with a CPU of its own. When `harness run -j`
and the project's tests load the host, its 1 ms tick must still come on time: a tick late turns a
keep-alive probe into a retransmission (the two fall due on the same tick). So every thread of the
stack's process runs at a lower niceness than the harness; threads it makes later inherit it.

Not the lwIP agent: its state monitor polls every millisecond, and a dozen of those favoured took
the CPU the FreeRTOS ticks needed (measured: the tick fell 0.5 % behind under the project's tests).
"""

from __future__ import annotations

import os
from pathlib import Path

DEVICE_NICE = -10


def favour(pid: int) -> None:
    """Give every thread of process `pid` DEVICE_NICE (nothing happens without the privilege)."""
    tasks = Path(f"/proc/{pid}/task")
    # Twice: a thread made during the first pass by a thread not yet favoured is caught by the second.
    for _ in range(2):
        try:
            tids = [int(t.name) for t in tasks.iterdir()]
        except OSError:  # it has exited already: whoever waits for it says why
            return
        for tid in tids:
            try:
                os.setpriority(os.PRIO_PROCESS, tid, DEVICE_NICE)
            except OSError:  # not root, or that thread just ended
                pass


def niceness(pid: int) -> dict[int, int]:
    """Each thread's niceness (from /proc), by thread id."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        out[int(task.name)] = int(fields[16])  # field 19 of stat; the split starts at field 3
    return out
