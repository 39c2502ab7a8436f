"""Fixtures shared by the bundled-stack tests; the helpers live in wirekit.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from wirekit import NetRig

from stack_under_test.config import StackConfig


@pytest.fixture
def rig() -> NetRig:
    """A NetIf with the default StackConfig (198.18.0.2/24, no gateway) but no gratuitous ARP:
    its periodic ARP timer would keep next_deadline() from ever being None and add an announcement
    every 30 s; test_netif's gratuitous-ARP tests cover it on the default config."""
    return NetRig()


@pytest.fixture
def make_rig() -> Callable[..., NetRig]:
    """NetRig factory taking StackConfig keyword arguments (gratuitous ARP off unless given)."""
    return lambda **config: NetRig(StackConfig(**{"gratuitous_arp": False, **config}))
