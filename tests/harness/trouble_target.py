"""The in-process target with trouble on demand, for the run-lifecycle tests (a driver a
test's target file names): at its Nth reset, in whichever process first claims the trouble,
it sleeps, dies or crashes.

TCH_TROUBLE="<sleep|hold|die|crash>:<N>:<folder>" (hold: TCH_HOLD seconds, then on as usual).
The claiming process writes its pid to <folder>/claimed (created exclusively, so with workers
only one of them acts).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from targets.inprocess import InProcessTarget


class Crash(BaseException):
    """Not an Exception: the runner's per-case guard does not catch it, as with a harness bug
    that escapes it."""


class TroubleTarget(InProcessTarget):
    resets = 0

    def reset(self, settings: Mapping[str, Any]) -> None:
        TroubleTarget.resets += 1
        action, nth, folder = os.environ.get("TCH_TROUBLE", "none:0:.").split(":", 2)
        if TroubleTarget.resets == int(nth) and self._claim(Path(folder)):
            if action == "sleep":
                time.sleep(120)
            elif action == "hold":  # a slow case that then runs as usual
                time.sleep(float(os.environ.get("TCH_HOLD", "1")))
            elif action == "die":
                os._exit(9)
            elif action == "crash":
                raise Crash("trouble_target crashed on purpose")
        super().reset(settings)

    @staticmethod
    def _claim(folder: Path) -> bool:
        try:
            fd = os.open(folder / "claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return True
