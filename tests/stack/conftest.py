"""Fixtures shared by the bundled-stack tests; the helpers live in wirekit.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from wirekit import NetRig

from stack_under_test.config import StackConfig


@pytest.fixture
def rig() -> NetRig:
    """A NetIf with the default StackConfig (198.18.0.2/24, no gateway)."""
    return NetRig()


@pytest.fixture
def make_rig() -> Callable[..., NetRig]:
    """NetRig factory taking StackConfig keyword arguments."""
    return lambda **config: NetRig(StackConfig(**config))
