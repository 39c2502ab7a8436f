"""What a loaded case is: plain data the runner walks, with YAML lines for messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Actions a step may carry (exactly one per step), and keys every step may add.
ACTIONS = (
    "inject",
    "expect",
    "expect_unordered",
    "expect_silence",
    "fuzz",
    "wait",
    "call",
    "await",
    "handshake",
    "device_connects",
    "listen",
)
STEP_MODIFIERS = ("repeat", "label", "comment")


@dataclass(frozen=True)
class Step:
    action: str
    body: Any  # the value of the action key, e.g. the inject mapping or "recv"
    opts: Mapping[str, Any]  # the step's other keys (call arguments, returns, repeat, ...)
    line: int
    where: str  # "steps[3]" or "setup[0]", for messages

    @property
    def repeat(self) -> int | str:
        """A count, or an expression (profile.keepalive.probes - 1) the runner evaluates."""
        return self.opts.get("repeat", 1)

    @property
    def label(self) -> str | None:
        return self.opts.get("label")

    def get(self, key: str, default: Any = None) -> Any:
        """A field from the action mapping first, then from the step's siblings."""
        if isinstance(self.body, Mapping) and key in self.body:
            return self.body[key]
        return self.opts.get(key, default)


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    semantics: tuple[str, ...]
    steps: tuple[Step, ...]
    file: Path
    line: int
    setup: tuple[Step, ...] = ()
    requires: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    peers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str | None = None
    notes: str | None = None
    # Widens the target profile's timing tolerance for this case only; never narrows it.
    tolerance: str | float | None = None
    # Tick-exact timing: on a parallel target the case runs after the others, with none beside it.
    alone: bool = False

    @property
    def area(self) -> str:
        return self.id.split("/", 1)[0] if "/" in self.id else self.file.parent.name

    def where(self) -> str:
        return f"{self.file}:{self.line}"
