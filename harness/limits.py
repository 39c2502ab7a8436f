"""Ranges the numbers in a case must fall in, checked when the file loads.

A value out of range used to load and then misbehave at run time: a repeat of 10^17 hung the
run, a seq of 1.2e38 was silently reduced mod 2^32, a silence of 10^8 s looked like a stuck
clock. Each field here gets the range a real case can use, refused as one `file:line` problem.
Expressions with names are checked constant by constant (the names are only known per target).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import expr

DAY = 86400.0


@dataclass(frozen=True)
class Bound:
    lo: float
    hi: float
    what: str
    whole: bool = False  # must be a whole number
    note: str = ""

    def problem(self, value: float) -> str | None:
        if not math.isfinite(value):
            return f"{value} is not a finite number"
        if self.whole and value != int(value):
            return f"{_show(value)} is not a whole number ({self.what})"
        if not self.lo <= value <= self.hi:
            span = f"{_show(self.lo)} to {_show(self.hi)}{self.note}"
            return f"{_show(value)} is out of range for {self.what} ({span})"
        return None


_SEQ = Bound(-(2**32) + 1, 2**32 - 1, "a 32-bit sequence number", whole=True)
_DURATION = Bound(0, DAY, "a duration in seconds", note=", a day")
BOUNDS = {
    "seq": _SEQ,
    "ack": _SEQ,
    "isn": _SEQ,
    "win": Bound(0, 65535, "a window field", whole=True),
    "port": Bound(0, 65535, "a port", whole=True),
    "repeat": Bound(1, 1000, "a repeat count", whole=True),
    "size": Bound(0, 1 << 24, "a byte count (at most 16 MiB)", whole=True),
    "urg": Bound(0, 65535, "an urgent pointer", whole=True),
    "ttl": Bound(0, 255, "a TTL", whole=True),
    "tos": Bound(0, 255, "a TOS byte", whole=True),
    "ecn": Bound(0, 3, "an ECN codepoint", whole=True),
    "count": Bound(1, 10_000_000, "a count of fuzzed segments", whole=True),
    "seed": Bound(0, 2**32 - 1, "a seed", whole=True),
    "tolerance": Bound(0, 10, "a timing tolerance in seconds", note=": a wider one hides the timing"),
    **{
        key: _DURATION
        for key in (
            "within",
            "after",
            "for",
            "timeout",
            "wait",
            "expect_silence",
            "keepalive_interval",
            "hang_protection_time",
        )
    },
}


def problems(key: str, value: Any) -> Iterator[str]:
    """What is wrong with `value` given for field `key`: out of range, or a window [lo, hi] reversed."""
    bound = BOUNDS.get(key)
    if bound is None or isinstance(value, bool):
        return
    if isinstance(value, dict):
        for sub in value.get("in", []) if isinstance(value.get("in"), list) else []:
            yield from _scalar(bound, sub)
        if isinstance(value.get("range"), list):
            yield from _pair(bound, value["range"], "range")
        return
    if isinstance(value, list):
        yield from _pair(bound, value, "window")
        return
    yield from _scalar(bound, value)


def _pair(bound: Bound, pair: list, word: str) -> Iterator[str]:
    found = [p for item in pair for p in _scalar(bound, item)]
    yield from found
    if found or len(pair) != 2:
        return
    lo, hi = (literal(item) for item in pair)
    if lo is not None and hi is not None and lo > hi:
        first, second = pair
        yield f"{word} [{first}, {second}] ends before it starts: write [{second}, {first}]"


def _scalar(bound: Bound, value: Any) -> Iterator[str]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        found = bound.problem(value)
        if found:
            yield found
        return
    if not isinstance(value, str):
        return
    try:
        known = literal(value)
    except expr.ExprError as exc:
        yield str(exc)
        return
    if known is not None:
        found = bound.problem(known)
        if found:
            yield found
        return
    magnitude = max(abs(bound.lo), abs(bound.hi))
    for node in ast.walk(expr.parse(value)):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int | float)
            and abs(node.value) > magnitude
        ):
            yield f"{_show(node.value)} in {value!r} is out of range for {bound.what}"
            return


def literal(value: Any) -> float | None:
    """The number a value stands for when it names nothing (5, '2s', '3 * 100ms'), else None.

    Raises ExprError when the value is not a good expression (1/0, 9**9**9).
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        return None

    def named(name: str) -> float:
        raise LookupError(name)

    try:
        result = expr.evaluate(value, named)
    except LookupError:
        return None
    return result if isinstance(result, int | float) else None


def _show(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    return f"{value:,}".replace(",", "_") if abs(value) >= 100_000 else str(value)
