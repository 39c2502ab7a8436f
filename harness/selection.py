"""Choosing cases: `-k` keyword expressions (as in pytest) and `--semantic` IDs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from .model import Case
from .yamlsrc import InputError, Problem

_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def matches_keyword(case: Case, expression: str) -> bool:
    """`-k "keepalive and not fs"`: words match case-insensitively inside the id, title or semantic IDs."""
    haystack = " ".join((case.id, case.title, *case.semantics)).lower()
    words = []
    for token in _TOKEN.findall(expression):
        low = token.lower()
        if low in ("and", "or", "not", "(", ")"):
            words.append(low)
        else:
            words.append(str(low in haystack))
    try:
        return bool(eval(" ".join(words) or "True", {"__builtins__": {}}, {}))  # only True/False/and/or/not
    except SyntaxError:
        raise InputError([Problem("-k", 0, "expression", f"can not parse {expression!r}")]) from None


def select(cases: Iterable[Case], keyword: str | None = None, semantics: Sequence[str] = ()) -> list[Case]:
    chosen = []
    for case in cases:
        if keyword and not matches_keyword(case, keyword):
            continue
        if semantics and not set(semantics) & set(case.semantics):
            continue
        chosen.append(case)
    return chosen
