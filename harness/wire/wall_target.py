"""What every wall-clock target with a wire engine shares: the clock, injecting through the
engine, and the settle pause a call takes after an inject.
"""

from __future__ import annotations

import time

from ..target import Target, TargetConfig
from .engine import WireEngine
from .links import Link


class WallClockTarget(Target):
    """A Target whose frames go through a WireEngine (`self.engine`) on the wall clock."""

    answers_arp = True               # the engine does, at once (see engine.py)

    def __init__(self, config: TargetConfig):
        super().__init__(config)
        self.engine: WireEngine | None = None
        self._last_inject = 0.0
        # A device that takes frames in on another thread (lwIP's tap reader and tcpip thread; a
        # board's GMAC, IP task and agent poll) may not have seen the last injected frame when
        # the case's next call arrives: a call waits the profile's measured `timing.settle`.
        self._settle = config.timing("settle")

    def now(self) -> float:
        return time.time()

    def _close_engine(self, link: Link | None = None) -> None:
        """Close the engine, then the link it listened on (if the target made one)."""
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        if link is not None:
            link.close()

    def inject(self, frame: bytes) -> float:
        assert self.engine is not None, "reset() first"
        self._last_inject = self.engine.send(frame)
        return self._last_inject

    def _settle_after_inject(self) -> None:
        pause = self._last_inject + self._settle - time.time()
        if pause > 0:
            time.sleep(pause)
