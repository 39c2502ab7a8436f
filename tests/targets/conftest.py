"""Shared by the wire-target tests (linux, lwip, the wire engine): the suite's cases, opening a
target as a fixture, and the checks every real-wire target must pass the same way.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from harness.loader import load_cases
from harness.model import Case
from harness.parallel import run_all
from harness.runner import CaseResult
from harness.target import CallHandle, TargetConfig
from harness.verdicts import drift, load_expected
from harness.vocabulary import Result
from harness.wire.agent import AgentError
from harness.wire.links import orphaned_names, owned_names
from harness.wire.target_base import WireTarget
from tests.conftest import require

REPO = Path(__file__).resolve().parents[2]

T = TypeVar("T", bound=WireTarget)


def ours(pid: int) -> list[str]:
    """The `tch…` links and namespaces process `pid` made that still exist."""
    names = owned_names()
    # tch<pid><letter><n>: a bare prefix test would count pid 1234's links as pid 123's.
    return [n for kind in names.values() for n in kind if re.fullmatch(rf"tch{pid}[a-z]\d+", n)]


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    return {c.id: c for c in load_cases([REPO / "testcases"])}


def open_target(config: TargetConfig, cls: type[T], missing: str | None) -> Iterator[T]:
    """A fixture body: the target `config` opens, closed afterwards; skips naming `missing` if set."""
    require(missing is None, missing or "")
    target = config.open()
    assert isinstance(target, cls)
    try:
        yield target
    finally:
        target.close()


def assert_agent_death_is_an_error(target: WireTarget) -> None:
    target.reset({})
    assert target.agent is not None
    target.agent.proc.kill()
    target.agent.proc.wait(5)
    time.sleep(0.1)
    with pytest.raises(AgentError, match="agent died"):
        target.call("socket")


def _finish(target: WireTarget, handle: CallHandle, timeout: float = 5.0) -> Result:
    end = time.time() + timeout
    while (result := handle.result()) is None:
        assert time.time() < end, f"{handle.op} did not return within {timeout} s"
        target.frames(min(end, time.time() + 0.05))
    return result


def assert_connstatus_reports_freertos_names(target: WireTarget, native_listen: str) -> None:
    """connstatus is the stack's own state under FreeRTOS's name, the native name kept raw."""
    target.reset({})
    sock = _finish(target, target.call("socket")).handle
    fresh = _finish(target, target.call("connstatus", sock=sock))
    assert fresh.name == "CLOSED" and fresh.raw in ("CLOSE", "CLOSED"), fresh.describe()
    assert _finish(target, target.call("bind", sock=sock, port=7000)).means("ok")
    assert _finish(target, target.call("listen", sock=sock, backlog=1)).means("ok")
    listening = _finish(target, target.call("connstatus", sock=sock))
    assert (listening.name, listening.raw) == ("LISTEN", native_listen), listening.describe()


def assert_semaphores_are_errors(target: WireTarget) -> None:
    """A FreeRTOS-only call is an error verdict naming it, never a made-up result."""
    target.reset({})
    with pytest.raises(AgentError, match="semaphore_create: user semaphores are FreeRTOS-only"):
        target.call("semaphore_create")


def orphans() -> list[str]:
    """`tch…` links and namespaces whose maker no longer runs: what a run failed to clean up."""
    return [n for names in orphaned_names().values() for n in names]


def assert_suite_matches_verdicts(target: WireTarget, config: TargetConfig, cases: dict[str, Case]) -> None:
    """Every case, as `harness run` runs them (the target's default workers, each with its own
    target): no drift from the verdicts file (written from serial runs), and no `tch…` object
    left behind by any worker. `target` only proves the requirements; it is closed unused.
    (bench/ has the timings; this is not a timed test.)"""
    target.close()
    expected = load_expected(config.verdicts_path)
    assert set(expected) <= set(cases), f"{config.name}.verdicts.yaml names cases that do not exist"
    results: list[CaseResult] = run_all(list(cases.values()), config)
    drifted = drift(results, expected)
    by_id = {r.case.id: r for r in results}
    assert not drifted, {d.case_id: (str(d), by_id[d.case_id].message.splitlines()[:1]) for d in drifted}
    assert ours(os.getpid()) == [] and orphans() == [], f"the {config.name} target left a tch link behind"
