"""The firmware's log: SEGGER RTT up-channel 0, read over SWD by a thread into timestamped lines.

Why a thread: the firmware writes its log without blocking (a full buffer drops the message), so
the host must empty the 1 KiB buffer often enough, whatever the runner is doing. The thread holds
the adapter's probe lock for each read, so a mailbox request's writes are never interleaved with
RTT's read-then-write-RdOff sequence. The control block is found at the ELF's `_SEGGER_RTT`
(scanning 128 KiB of SRAM costs ~33 000 probe transactions); its "SEGGER RTT" id is written last
by the firmware, so `start()` is retried until the id is there.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pyocd.core import exceptions
from pyocd.debug.rtt import RTTControlBlock

POLL = 0.01      # seconds between reads: 1 KiB at 10 ms is 100 KiB/s, far above tch_log's rate
_MAX_LINE = 4096  # a line longer than this (no newline ever) is cut, so memory stays bounded


class RttStream:
    """Lines from up-channel 0 as (wall time, text); `stop()` flushes a trailing partial line."""

    def __init__(self, target: Any, address: int, lock: threading.RLock, poll: float = POLL):
        self.target, self.address, self.lock, self.poll = target, address, lock, poll
        self.lines: list[tuple[float, str]] = []
        self.error: str | None = None
        self.bytes_read = 0
        self._partial = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sam4e-rtt", daemon=True)
        self._started = threading.Event()

    def start(self) -> RttStream:
        self._thread.start()
        return self

    @property
    def attached(self) -> bool:
        return self._started.is_set()

    def wait_attached(self, timeout: float) -> bool:
        return self._started.wait(timeout)

    def _attach(self) -> Any | None:
        while not self._stop.is_set():
            with self.lock:
                try:
                    block = RTTControlBlock.from_target(self.target, address=self.address)
                    block.start()
                    if block.up_channels:
                        return block.up_channels[0]
                except exceptions.RTTError:
                    pass  # the firmware has not written the id yet
            self._stop.wait(self.poll)
        return None

    def _run(self) -> None:
        try:
            channel = self._attach()
            if channel is None:
                return
            self._started.set()
            while not self._stop.is_set():
                self.read_once(channel)
                self._stop.wait(self.poll)
            self.read_once(channel)
        except Exception as exc:  # noqa: BLE001 - a dead log must not kill the run; notes say why
            self.error = f"RTT log stopped: {exc}"
            self.lines.append((time.time(), f"[{self.error}]"))
        finally:
            self._flush()

    def read_once(self, channel: Any) -> None:
        with self.lock:
            data = channel.read()
        if not data:
            return
        now = time.time()
        self.bytes_read += len(data)
        buf = self._partial + data
        *complete, self._partial = buf.split(b"\n")
        for raw in complete:
            self.lines.append((now, raw.rstrip(b"\r").decode("utf-8", "replace")))
        if len(self._partial) > _MAX_LINE:
            self.lines.append((now, self._partial.decode("utf-8", "replace")))
            self._partial = b""

    def _flush(self) -> None:
        if self._partial:
            self.lines.append((time.time(), self._partial.rstrip(b"\r").decode("utf-8", "replace")))
            self._partial = b""

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
