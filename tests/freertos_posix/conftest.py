"""Shared by the freertos_posix tests: the real FreeRTOS+TCP built for the host, and its process on
a veth pair. Everything needing gcc, libpcap-dev, the pinned sources or root goes through
`require()`: a skip naming the fix, or a failure under TCH_REQUIRE_ALL=1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import HARNESS_MAC
from harness.wire.links import Link, make_veth_pair
from harness.wire.links import missing_requirements as link_requirements
from targets.freertos_posix.build import (
    BuildError,
    Sources,
    build_agent,
    missing_build_tools,
    resolve_sources,
)
from targets.freertos_posix.process import AgentProcess
from tests.conftest import require

DEVICE_IP, DEVICE_MAC = "198.18.0.2", "02:74:63:68:00:02"


def need_sources() -> Sources:
    try:
        return resolve_sources()
    except BuildError as exc:
        require(False, f"needs the FreeRTOS sources: {exc}")
        raise


def need_build_tools() -> None:
    why = missing_build_tools()
    require(why is None, why or "")


@pytest.fixture(scope="session")
def sources() -> Sources:
    return need_sources()


@pytest.fixture(scope="session")
def binary(sources: Sources) -> Path:
    """The default-settings agent, in the shared cache (built once, reused by later runs)."""
    need_build_tools()
    return build_agent(sources, {})


@pytest.fixture
def link() -> Iterator[Link]:
    why = link_requirements()
    require(why is None, why or "")
    with make_veth_pair(HARNESS_MAC) as link:
        yield link


@pytest.fixture
def agent(binary: Path, link: Link) -> Iterator[AgentProcess]:
    assert link.device_if is not None
    with AgentProcess(binary, link.device_if, DEVICE_IP, DEVICE_MAC, seed=7) as agent:
        agent.wait_ready()
        yield agent
