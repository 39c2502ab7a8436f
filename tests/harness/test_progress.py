"""On a terminal, a long run keeps a status line (counts, the cases running and for how long) below
the per-case lines; piped to a file or a CI log it prints none."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from harness.progress import StatusLine

from .paths import trouble_pythonpath

REPO = Path(__file__).resolve().parents[2]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_line_counts_and_names_the_running_cases() -> None:
    out = Tty()
    status = StatusLine(3, out)
    status.started("close/a")
    status.started("keepalive/b")
    assert status.text().startswith("[0/3] starting | running 2: close/a 0s, keepalive/b 0s")
    status.finished("close/a", "fail", "[1/3] FAIL close/a\n")
    assert status.text().startswith("[1/3] 1 fail | running 1: keepalive/b")
    status.close()
    text = out.getvalue()
    # The case's line replaced the status line (cleared first), and the status came back below it.
    assert "\r\033[K[1/3] FAIL close/a\n[1/3] 1 fail | running 1: keepalive/b" in text
    assert text.endswith("\r\033[K")


def test_no_status_line_off_a_terminal() -> None:
    out = io.StringIO()
    status = StatusLine(1, out)
    status.started("close/a")
    status.finished("close/a", "pass", "line\n")
    status.close()
    assert out.getvalue() == "line\n"


def test_a_run_on_a_terminal_shows_the_running_case(tmp_path: Path, trouble_target: Path) -> None:
    """A real `harness run` in a pseudo-terminal, its second case held for a while."""
    main, child = pty.openpty()
    env = {**os.environ, "TCH_TROUBLE": f"hold:2:{tmp_path}", "TCH_HOLD": "2.5",
           "PYTHONPATH": trouble_pythonpath(trouble_target)}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "--target", str(trouble_target),
                             "--results", str(tmp_path / "r"), "testcases/listen"],
                            cwd=REPO, env=env, stdin=child, stdout=child, stderr=child)
    os.close(child)
    seen = b""
    end = time.monotonic() + 60
    while time.monotonic() < end:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    proc.wait(10)
    os.close(main)
    text = seen.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "[1/13] 1 pass | running 1: listen/" in text and " 2s" in text   # redrawn while it waited
    assert "[13/13]" in text
