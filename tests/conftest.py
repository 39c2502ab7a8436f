"""Shared by every test folder: `require`, the one place a missing tool or privilege becomes a skip.

A test that needs root, iproute2, ethtool or a library calls `require(condition, reason)`;
the reason names the fix ("needs ethtool: apt-get install ethtool"). Elsewhere that is a skip;
with TCH_REQUIRE_ALL=1 (CI sets it, .ci/run) it is a failure, because CI provides all of it
and a silent skip there would hide that a target never ran.
"""

from __future__ import annotations

import os
import signal
import subprocess

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


def where_it_hangs(proc: subprocess.Popen) -> str:
    """Abort a child started with DUMP_ON_ABORT and return what it printed on stderr (its stacks)."""
    proc.send_signal(signal.SIGABRT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err.decode(errors="replace") if isinstance(err, bytes) else (err or "")
