"""Small arithmetic over names, for the values cases and profiles compute.

Cases say `seq: snd.nxt-1`, `within: profile.keepalive.first_probe` or
`wait: settings.keepalive_interval + 5s`; profiles say
`first_probe: [settings.keepalive_interval, settings.keepalive_interval + 20s]`.
One evaluator serves all of them, on Python's own parser restricted to numbers,
dotted names and + - * / so that a case file can never run code.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}
_DURATION_LITERAL = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(us|ms|min|s|h)\b")

# Roots a case or profile may name; anything else is a typo caught at load time.
ROOTS = ("snd", "rcv", "peer", "profile", "settings")


# The connection's own numbers, known once a peer has a connection (harness/peer.py), and the
# peer's ISN so far, which only a handshake's or device_connects' `isn` may name (a new ISN
# written relative to the old one, as a rebooted peer's would be).
PEER_NAMES = ("snd.nxt", "rcv.nxt", "peer.isn")
_PEER_ROOTS = ("snd", "rcv", "peer")


class ExprError(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    """A closed interval of seconds, e.g. when a keep-alive probe may come."""

    lo: float
    hi: float


def _python_source(text: str) -> str:
    return _DURATION_LITERAL.sub(lambda m: repr(float(m.group(1)) * _UNITS[m.group(2)]), text)


@lru_cache(maxsize=4096)
def parse(text: str) -> ast.expression:
    """Parse and check an expression; raises ExprError with a short reason. Memoised: a suite
    repeats the same few expressions thousands of times, and nothing changes a parsed tree."""
    try:
        tree = ast.parse(_python_source(text.strip()), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"bad expression {text!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in ROOTS:
            raise ExprError(f"bad expression {text!r}: unknown name {node.id!r} (known: {', '.join(ROOTS)})")
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in _PEER_ROOTS
        ):
            name = f"{node.value.id}.{node.attr}"
            if name not in PEER_NAMES:
                raise ExprError(
                    f"bad expression {text!r}: unknown name {name!r} (known: {', '.join(PEER_NAMES)})"
                )
        if not isinstance(node, _ALLOWED):
            raise ExprError(f"bad expression {text!r}: {type(node).__name__.lower()} is not allowed")
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, int | float)
        ):
            raise ExprError(f"bad expression {text!r}: only numbers are allowed")
        if isinstance(node, ast.Constant) and not math.isfinite(node.value):
            raise ExprError(f"bad expression {text!r}: {node.value} is not a finite number")
    return tree


_ALLOWED = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Name,
    ast.Attribute,
    ast.Load,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.USub,
    ast.UAdd,
)


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise ExprError("only dotted names may be used")
    parts.append(node.id)
    return ".".join(reversed(parts))


_MAX_EXPONENT = 64
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
}


def names(text: str) -> list[str]:
    """The dotted names an expression uses, outermost first (`settings.a + profile.b.c`)."""
    found = []
    for node in ast.walk(parse(text)):
        if isinstance(node, ast.Attribute | ast.Name):
            try:
                found.append(_dotted(node))
            except ExprError:
                continue
    return [n for n in found if not any(o != n and o.startswith(n + ".") for o in found)]


def evaluate(text: str, resolve: Callable[[str], Any]) -> Any:
    """Evaluate; `resolve` maps a dotted name to a number (or a Window, used alone)."""
    return _eval(parse(text).body, resolve, text)


def _eval(node: ast.AST, resolve: Callable[[str], Any], text: str) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExprError(f"bad expression {text!r}: only numbers are allowed")
        return node.value
    if isinstance(node, ast.Attribute | ast.Name):
        return resolve(_dotted(node))
    if isinstance(node, ast.UnaryOp):
        value = _number(_eval(node.operand, resolve, text), text)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left = _number(_eval(node.left, resolve, text), text)
        right = _number(_eval(node.right, resolve, text), text)
        if isinstance(node.op, ast.Pow) and (abs(right) > _MAX_EXPONENT or abs(left) > 2**64):
            raise ExprError(
                f"bad expression {text!r}: a power above 2**64 or with an exponent above {_MAX_EXPONENT}"
            )
        try:
            return _BINOPS[type(node.op)](left, right)
        except (ArithmeticError, ValueError) as exc:  # 1/0, 1e308*1e308 as a power
            raise ExprError(f"bad expression {text!r}: {exc}") from None
    raise ExprError(f"bad expression {text!r}")


def _number(value: Any, text: str) -> float | int:
    if isinstance(value, Window):
        raise ExprError(f"{text!r}: a window [lo, hi] can not take part in arithmetic")
    return value


def value_of(value: Any, resolve: Callable[[str], Any]) -> Any:
    """A YAML value that may be a number, an expression string or a [lo, hi] window."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return evaluate(value, resolve)
    if isinstance(value, list) and len(value) == 2:
        lo, hi = (value_of(v, resolve) for v in value)
        return Window(float(lo), float(hi))
    raise ExprError(f"can not evaluate {value!r}")
