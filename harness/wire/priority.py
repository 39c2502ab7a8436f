"""A device in user space (the lwIP agent, FreeRTOS+TCP on the POSIX port) stands in for a device
with a CPU of its own. When `harness run -j` and the project's tests load the host, its timers must
still fire on time: a tick late turns a keep-alive probe into a retransmission (FreeRTOS, where both
fall due on the same tick), a slow timer late misses a probe's window (lwIP). So every thread of
the device process runs at a lower niceness than the harness; threads it makes later inherit it.
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
