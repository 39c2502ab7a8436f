"""Comparing what a device did with what a case expects.

A field spec is a value (exact), `{in: [...]}`, `{range: [lo, hi]}`, `{not: v}`
or `{absent: true}`; values may be expressions, evaluated by the caller's
`evaluate`. Sequence numbers compare modulo 2**32. Each check returns None on a
match, else a Mismatch saying what was expected and what was seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .expr import Window
from .packets import Segment, canonical_flags, payload_bytes
from .vocabulary import PENDING, Result

Evaluate = Callable[[Any], Any]
SEQ_FIELDS = ("seq", "ack")
MOD = 2**32


@dataclass(frozen=True)
class Mismatch:
    field: str
    expected: str
    observed: str

    def __str__(self) -> str:
        return f"{self.field}: expected {self.expected}, observed {self.observed}"


def _same(expected: Any, observed: Any, modular: bool) -> bool:
    if modular:
        return (int(expected) - int(observed)) % MOD == 0
    return expected == observed


def _describe(spec: Any, evaluate: Evaluate) -> str:
    if isinstance(spec, Mapping):
        ((kind, value),) = spec.items()
        if kind == "absent":
            return "absent"
        if kind == "in":
            return "one of " + ", ".join(_describe(v, evaluate) for v in value)
        if kind == "range":
            return f"in [{_describe(value[0], evaluate)}, {_describe(value[1], evaluate)}]"
        return "not " + _describe(value, evaluate)
    shown = evaluate(spec)
    return f"{shown} ({spec})" if isinstance(spec, str) and str(shown) != spec else str(shown)


def match_field(
    name: str,
    spec: Any,
    observed: Any,
    evaluate: Evaluate,
    *,
    modular: bool = False,
    shown: str | None = None,
) -> Mismatch | None:
    """Check one value against a spec; `observed` None means the field is absent."""
    shown = str(observed) if shown is None else shown
    if isinstance(spec, Mapping):
        ((kind, value),) = spec.items()
        if kind == "absent":
            ok = observed is None or observed == 0
        elif observed is None:
            ok = False
        elif kind == "in":
            ok = any(_same(evaluate(v), observed, modular) for v in value)
        elif kind == "range":
            lo, hi = (evaluate(v) for v in value)
            ok = ((observed - lo) % MOD <= (hi - lo) % MOD) if modular else lo <= observed <= hi
        else:  # not
            ok = not _same(evaluate(value), observed, modular)
    else:
        ok = observed is not None and _same(evaluate(spec), observed, modular)
    return None if ok else Mismatch(name, _describe(spec, evaluate), shown)


def match_flags(spec: Any, observed: str) -> Mismatch | None:
    def same(letters: str) -> bool:
        return canonical_flags(letters) == observed

    if isinstance(spec, Mapping):
        ((kind, value),) = spec.items()
        ok = any(same(v) for v in value) if kind == "in" else not same(value)
        wanted = (
            " or ".join(canonical_flags(v) or "none" for v in value)
            if kind == "in"
            else f"not {canonical_flags(value)}"
        )
    else:
        ok, wanted = same(spec), canonical_flags(spec) or "none"
    return None if ok else Mismatch("flags", wanted, observed or "none")


def _option_key(item: Any, evaluate: Evaluate) -> tuple[str, Any]:
    if isinstance(item, str):
        return item, ...  # a bare name matches any value of that option
    ((kind, value),) = item.items()
    if kind == "sack":
        value = [[evaluate(v) for v in block] for block in value]
    elif kind == "mss" and isinstance(value, str):
        value = int(evaluate(value))
    return kind, value


def _option_matches(want: tuple[str, Any], have: tuple[str, Any]) -> bool:
    return want[0] == have[0] and (want[1] is ... or want[1] == have[1])


def _show_options(options: Any) -> str:
    return "[" + ", ".join(k if v is None or v is ... else f"{k} {v}" for k, v in options) + "]"


def match_options(spec: Any, observed: tuple[tuple[str, Any], ...], evaluate: Evaluate) -> Mismatch | None:
    if isinstance(spec, list):
        wanted = [_option_key(i, evaluate) for i in spec]
        ok = len(wanted) == len(observed) and all(
            _option_matches(w, h) for w, h in zip(wanted, observed, strict=True)
        )
        return None if ok else Mismatch("options", _show_options(wanted), _show_options(observed))
    includes = [_option_key(i, evaluate) for i in spec.get("includes", [])]
    excludes = spec.get("excludes", [])
    missing = [w for w in includes if not any(_option_matches(w, h) for h in observed)]
    present = [k for k in excludes if any(h[0] == k for h in observed)]
    if not missing and not present:
        return None
    wanted = []
    if includes:
        wanted.append("including " + _show_options(includes))
    if excludes:
        wanted.append("without " + ", ".join(excludes))
    return Mismatch("options", " and ".join(wanted), _show_options(observed))


def match_segment(
    spec: Mapping[str, Any],
    seg: Segment,
    relative: Mapping[str, int],
    evaluate: Evaluate,
    options: tuple[tuple[str, Any], ...] | None = None,
) -> list[Mismatch]:
    """Every field of an expect step against a segment; `relative` holds seq/ack relative to the ISNs,
    `options` the segment's options with SACK blocks relative to the harness's ISN (else as sent)."""
    found: list[Mismatch | None] = []
    if "flags" in spec:
        found.append(match_flags(spec["flags"], seg.flags))
    for name in SEQ_FIELDS:
        if name in spec:
            value = relative[name]
            found.append(
                match_field(
                    name,
                    spec[name],
                    value,
                    evaluate,
                    modular=True,
                    shown=f"{_signed(value)} (raw {getattr(seg, name)})",
                )
            )
    for name in ("win", "len", "urg", "ttl", "tos", "ecn"):
        if name in spec:
            found.append(match_field(name, spec[name], getattr(seg, name), evaluate))
    if "df" in spec and spec["df"] != seg.df:
        found.append(Mismatch("df", "DF set" if spec["df"] else "DF clear", "set" if seg.df else "clear"))
    if "payload" in spec:
        wanted = payload_bytes(spec["payload"])
        found.append(None if seg.payload == wanted else Mismatch("payload", repr(wanted), repr(seg.payload)))
    if "options" in spec:
        found.append(match_options(spec["options"], seg.options if options is None else options, evaluate))
    checksum = spec.get("checksum", "valid")
    if checksum != "any" and seg.checksum_ok != (checksum == "valid"):
        found.append(
            Mismatch(
                "checksum",
                "a correct TCP checksum" if checksum == "valid" else "a bad checksum",
                f"0x{seg.checksum:04x}, correct is 0x{seg.checksum_expected:04x}",
            )
        )
    return [m for m in found if m is not None]


def _signed(value: int) -> int:
    value %= MOD
    return value - MOD if value >= MOD // 2 else value


def when(elapsed: float) -> str:
    """A segment's time from the moment its expect counts from; one queued before that moment
    (a `since` label later than the segment) came before it, which "+-0.016 s" hid."""
    return f"at +{elapsed:.3f} s" if elapsed >= 0 else f"{-elapsed:.3f} s before it"


def match_timing(
    at: float, ref: float, after: float | None, within: float | Window | None, tolerance: float
) -> Mismatch | None:
    """`after`/`within` are seconds since `ref` (a Window gives both bounds)."""
    if isinstance(within, Window):
        after, within = within.lo if after is None else after, within.hi
    elapsed = at - ref
    if after is not None and elapsed < after - tolerance:
        return Mismatch("time", f"after {after:g} s (±{tolerance:g})", when(elapsed))
    if within is not None and elapsed > within + tolerance:
        return Mismatch("time", f"within {within:g} s (±{tolerance:g})", when(elapsed))
    return None


def match_result(spec: Any, result: Result | None, evaluate: Evaluate) -> Mismatch | None:
    """`returns:` against a call's result: raw int, true/false, a name or meaning, or a matcher."""
    if result is None:
        return None if spec == PENDING else Mismatch("returns", _result_spec(spec), "still pending")
    if spec == PENDING:
        return Mismatch("returns", "still pending", result.describe())
    ok = _result_matches(spec, result, evaluate)
    return None if ok else Mismatch("returns", _result_spec(spec), result.describe())


def _result_matches(spec: Any, result: Result, evaluate: Evaluate) -> bool:
    if isinstance(spec, bool):
        return result.name is spec
    if isinstance(spec, int):
        return result.raw == spec and not isinstance(result.raw, bool)
    if isinstance(spec, str):
        return result.means(spec)
    ((kind, value),) = spec.items()
    if kind == "in":
        return any(_result_matches(v, result, evaluate) for v in value)
    if kind == "not":
        return not _result_matches(value, result, evaluate)
    lo, hi = value
    return isinstance(result.raw, int) and lo <= result.raw <= hi


def _result_spec(spec: Any) -> str:
    if isinstance(spec, Mapping):
        ((kind, value),) = spec.items()
        return {"in": "one of ", "not": "not ", "range": "in "}[kind] + str(value)
    return str(spec).lower() if isinstance(spec, bool) else str(spec)
