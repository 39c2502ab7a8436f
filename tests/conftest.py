"""Shared by every test folder: `require`, the one place a missing tool or privilege becomes a skip.

A test that needs root, iproute2, ethtool or a library calls `require(condition, reason)`;
the reason names the fix ("needs ethtool: apt-get install ethtool"). Elsewhere that is a skip;
with TCH_REQUIRE_ALL=1 (CI sets it, .ci/run) it is a failure, because CI provides all of it
and a silent skip there would hide that a target never ran.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# The files that wait longest (whole suites on wall-clock targets, the emulated board), collected
# first. Under tox, pytest-xdist's loadfile still sorts files by their test count; keeping this order
# instead (--no-loadscope-reorder) took the run from 305 s to 262 s, but with every wall-clock file
# starting at once a killed-run test's child went 90 s without making its link, so it is not used yet.
# Four xdist workers (tox.ini): more crowd the suites' timers on a 2-core host.
LONGEST_FIRST = (
    "tests/freertos_posix/test_suite.py",
    "tests/targets/test_linux.py",
    "tests/targets/test_lwip.py",
    "tests/targets/test_parallel_wire.py",
    "tests/sam4e/test_target.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)


# Test files that time a real stack on the wall clock. Run three or four at once beside the
# in-process tests on a 2-core host and their timers slip: a SYN|ACK 0.1 s late, a select 30 ms late.
# So xdist workers take the one lane for such a file; the other workers go on with the rest.
WALL_CLOCK_DIRS = ("freertos_posix", "targets", "sam4e")
WALL_CLOCK_LANES = int(os.environ.get("TCH_WALL_CLOCK_LANES", "1"))


@pytest.fixture(scope="module", autouse=True)
def _wall_clock_lane(request: pytest.FixtureRequest) -> Iterator[None]:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None or Path(str(request.path)).parent.name not in WALL_CLOCK_DIRS:
        yield
        return
    folder = Path(tempfile.gettempdir()) / f"tch-lanes-{run}"
    folder.mkdir(exist_ok=True)
    with _Lane(folder):
        yield


class _Lane:
    """An exclusive lock on one of WALL_CLOCK_LANES files; the kernel drops it if the worker dies."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.fd = folder, -1

    def __enter__(self) -> None:
        while True:
            for index in range(WALL_CLOCK_LANES):
                fd = os.open(self.folder / f"{index}.lock", os.O_CREAT | os.O_RDWR)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                self.fd = fd
                return
            time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # closing the last descriptor releases the lock


def require_all() -> bool:
    return os.environ.get("TCH_REQUIRE_ALL", "") not in ("", "0")


def require(condition: object, reason: str) -> None:
    """Skip (or, under TCH_REQUIRE_ALL=1, fail) the calling test unless `condition` holds."""
    if condition:
        return
    if require_all():
        pytest.fail(f"TCH_REQUIRE_ALL=1 and {reason}", pytrace=False)
    pytest.skip(reason)


# Children a test starts with this in their environment print every thread's stack on SIGABRT,
# so a child that hangs under a loaded CI host says where, instead of only timing out.
DUMP_ON_ABORT = {"PYTHONFAULTHANDLER": "1"}


def _kernel_view(pid: int) -> str:
    """What the kernel says of `pid` and of the busiest processes: a stack alone can not tell a
    process the scheduler never ran from one blocked in a system call."""
    lines = []
    for name in ("stat", "wchan", "stack", "schedstat"):
        try:
            text = Path(f"/proc/{pid}/{name}").read_text(errors="replace").strip()
        except OSError as exc:
            text = f"({exc.strerror})"
        lines.append(f"/proc/{pid}/{name}: {text}")
    for name in ("cpu", "io", "memory"):
        try:
            pressure = Path(f"/proc/pressure/{name}").read_text().replace("\n", "; ")
        except OSError:
            continue
        lines.append(f"pressure {name}: {pressure}")
    # The second frame: CPU use over the last half second, not since each process started.
    top = subprocess.run(["top", "-b", "-n", "2", "-d", "0.5", "-w", "160"], capture_output=True, text=True,
                         check=False).stdout
    busiest = top[top.rfind("top - "):].splitlines()[:20]
    return "\n".join([*lines, "busiest processes:", *busiest])


def where_it_hangs(proc: subprocess.Popen) -> str:
    """Abort a child started with DUMP_ON_ABORT and return what it printed on stderr (its stacks),
    after what the kernel says of it."""
    view = _kernel_view(proc.pid)
    proc.send_signal(signal.SIGABRT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    stacks = err.decode(errors="replace") if isinstance(err, bytes) else (err or "")
    return f"{view}\n{stacks}"
