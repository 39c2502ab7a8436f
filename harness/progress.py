"""The status line of a long run on a terminal: counts so far and the cases running, with how long
each has been running, redrawn every second below the per-case lines (which go above it).

Only on a terminal: a log or a CI page gets the per-case lines alone.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO

_REDRAW = 1.0  # seconds


class StatusLine:
    def __init__(self, total: int, out: IO[str] | None = None):
        self.out = out or sys.stdout
        self.enabled = bool(getattr(self.out, "isatty", lambda: False)())
        self.total = total
        self.counts = {"pass": 0, "fail": 0, "error": 0, "skip": 0}
        self.running: dict[str, float] = {}  # case id -> when it started
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._shown = False
        self._thread: threading.Thread | None = None
        if self.enabled:
            self._thread = threading.Thread(target=self._tick, name="status-line", daemon=True)
            self._thread.start()

    def started(self, case_id: str) -> None:
        with self._lock:
            self.running[case_id] = time.monotonic()
            self._draw()

    def finished(self, case_id: str, verdict: str, lines: str = "") -> None:
        """A case ended; `lines` (its per-case report, if any) go above the status line."""
        with self._lock:
            self.running.pop(case_id, None)
            self.counts[verdict] += 1
            self._clear()
            if lines:
                self.out.write(lines)
            self._draw()

    def text(self) -> str:
        done = sum(self.counts.values())
        counts = " ".join(f"{n} {v}" for v, n in self.counts.items() if n)
        now = time.monotonic()
        oldest = sorted(self.running.items(), key=lambda kv: kv[1])
        shown = ", ".join(f"{cid} {now - t:.0f}s" for cid, t in oldest[:3])
        more = f" +{len(oldest) - 3}" if len(oldest) > 3 else ""
        running = f" | running {len(oldest)}: {shown}{more}" if oldest else ""
        return f"[{done}/{self.total}] {counts or 'starting'}{running}"

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            self._clear()

    def _tick(self) -> None:
        while not self._stop.wait(_REDRAW):
            with self._lock:
                self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        self._clear()
        self.out.write(self.text()[:_width()])
        self.out.flush()
        self._shown = True

    def _clear(self) -> None:
        if self.enabled and self._shown:
            self.out.write("\r\033[K")
            self.out.flush()
            self._shown = False


def _width() -> int:
    import shutil

    return max(20, shutil.get_terminal_size((100, 24)).columns - 1)
