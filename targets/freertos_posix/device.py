"""The agent process as a mailbox device: the board adapter's role (targets/sam4e/adapter.py) with
process memory instead of SWD.

`PosixDevice` starts one FreeRTOS+TCP process on a link end, waits for the agent's mailbox header,
attaches the host mailbox driver (the same rules as over SWD: targets/sam4e/driver.py) through
/proc/PID/mem, and streams the agent's RTT log from the process's memory. A case gets a fresh
process: a fresh stack with no sockets, timers or ARP entries left from the previous case.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from targets.mailbox_target import DeviceError
from targets.sam4e.driver import Mailbox, NoFreeSlot, Pending
from targets.sam4e.rtt import RttStream

from .process import AgentProcess, AgentProcessError

MAILBOX_SYMBOL, RTT_SYMBOL = "tch_mailbox", "_SEGGER_RTT"


class PosixDeviceError(DeviceError):
    pass


class PosixDevice:
    """FreeRTOS+TCP with the harness agent, running as a host process on `interface`."""

    def __init__(self, binary: Path, interface: str, ip: str, mac: str, seed: int = 0,
                 boot_timeout: float = 10.0):
        self.binary = binary
        self._notes: list[tuple[float, str]] = []
        self.lock = threading.RLock()
        self.mailbox: Mailbox | None = None
        self.rtt: RttStream | None = None
        self.process = AgentProcess(binary, interface, ip, mac, seed=seed)
        try:
            self.process.wait_ready(boot_timeout)
            address = self.process.symbols[MAILBOX_SYMBOL]
            mailbox = Mailbox(self.process.memory, address, self.lock)
            head = mailbox.attach(f" in process {self.process.pid}")
            self.mailbox, self.boot_id = mailbox, head["boot_id"]
            self.rtt = RttStream(self.process.memory, self.process.symbols[RTT_SYMBOL], self.lock).start()
        except BaseException:
            self.close()
            raise
        self._notes.append((time.time(), f"freertos-posix: process {self.process.pid} ({binary.name}) on "
                                        f"{interface}, agent boot_id {self.boot_id:#010x}"))

    @property
    def alive(self) -> bool:
        return self.process.alive

    def submit(self, op: int, args: Sequence[int] = (), data: bytes = b"", slot: int | None = None,
               resync_wait: float = 0.0) -> Pending:
        """Start a call in a free slot, waiting up to `resync_wait` for a stale one to answer."""
        if self.mailbox is None:
            raise PosixDeviceError("the agent process is not attached")
        if not self.process.alive:
            raise PosixDeviceError(f"the FreeRTOS+TCP process died: {self.process.stderr_tail()}")
        try:
            return self.mailbox.submit_waiting(op, args, data, slot=slot, wait=resync_wait)
        except NoFreeSlot as busy:
            if not busy.stale:
                raise PosixDeviceError(f"{busy}: a case holds more background calls than the agent has "
                                       "slots") from None
            raise PosixDeviceError(f"mailbox op {op}: slots {busy.stale} stayed stale (their calls timed out "
                                   "and never answered)") from None

    @property
    def notes(self) -> list[tuple[float, str]]:
        """The process's own notes and what it printed (FreeRTOS's debug output, libpcap's)."""
        printed = [(t, f"stdout: {line}") for t, line in self.process.output_lines() if line.strip()]
        return self._notes + printed

    def log_lines(self) -> list[tuple[float, str]]:
        """The agent's RTT log (the target labels these `rtt:`)."""
        return list(self.rtt.lines) if self.rtt is not None else []

    def close(self) -> None:
        if self.rtt is not None:
            self.rtt.stop()
        self.process.close()


__all__ = ["AgentProcessError", "PosixDevice", "PosixDeviceError"]
