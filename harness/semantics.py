"""The catalogue of semantic IDs that cases cite and scores are grouped by.

The source of truth is ../shared/SEMANTICS.md beside the repository. CI clones
the repository with shared/ next to it, but an installed copy of the harness has
no shared/, so harness/semantics.yaml carries the same list; a test keeps the two
in agreement.

Where the real FreeRTOS+TCP (the freertos-posix target) showed an FR item's
wording to be wrong or incomplete, harness/semantics.yaml adds a `measured:`
text to that item. It is ours, not SEMANTICS.md's: the catalogue merges it in
whichever source the IDs come from, and regenerating the copy keeps it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from .yamlsrc import load_own

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
SHARED_CATALOGUE = REPO_ROOT.parent / "shared" / "SEMANTICS.md"
BUNDLED_CATALOGUE = PACKAGE_DIR / "semantics.yaml"

_FS_ROW = re.compile(r"^\| (FS-\d+) \| (.+?) \| (\d+) \|$", re.M)
_BULLET = re.compile(r"^- \*\*((?:FR|RFC)-[A-Z0-9-]+)\*\* (.*)$", re.M)
_HEADING = re.compile(r"^###? (.+)$", re.M)
_RFC_REF = re.compile(r"^\((RFC [^)]*)\) ")
FR_SOURCE = "FreeRTOS+TCP V4.4.1 (27a96812), read from source and measured on the wire"

GROUPS = ("FS", "FR", "RFC")


@dataclass(frozen=True)
class Semantic:
    id: str
    group: str
    summary: str
    measured: str | None = None     # the correction the real stack called for, if any
    wording: str = ""               # the whole item as SEMANTICS.md words it
    source: str = ""                # where it comes from: a forum thread, FreeRTOS's source, an RFC


def group_of(semantic_id: str) -> str:
    return semantic_id.split("-", 1)[0]


def parse_markdown(text: str) -> list[Semantic]:
    """The IDs in SEMANTICS.md's FS table and FR/RFC bullet lists, in document order, each with its
    whole wording and its source (the forum thread, the FR section, the RFC sections it cites)."""
    headings = [(m.start(), m.group(1).strip()) for m in _HEADING.finditer(text)]

    def section(at: int) -> str:
        above = [h for start, h in headings if start < at]
        return above[-1] if above else "FR"

    found = [(m.start(), m.group(1), m.group(2), f"forum thread {m.group(3)} (seeds/{m.group(3)}_*.txt)")
             for m in _FS_ROW.finditer(text)]
    for m in _BULLET.finditer(text):
        sid, wording = m.group(1), m.group(2)
        if sid.startswith("RFC"):
            ref = _RFC_REF.match(wording)
            source = ref.group(1) if ref else "RFC"
        else:
            source = f"{FR_SOURCE}: {section(m.start())}"
        found.append((m.start(), sid, wording, source))
    return [Semantic(i, group_of(i), _first_sentence(w), None, w.strip(), src)
            for _, i, w, src in sorted(found)]


def _first_sentence(text: str) -> str:
    text = text.strip()
    cut = text.find(". ")
    return text if cut < 0 else text[: cut + 1]


def load_bundled(path: Path = BUNDLED_CATALOGUE) -> list[Semantic]:
    rows = load_own(path.read_text(encoding="utf-8"))
    return [Semantic(r["id"], group_of(r["id"]), r["summary"], r.get("measured"),
                     r.get("wording", r["summary"]), r.get("source", "")) for r in rows]


def with_measured(items: list[Semantic], bundled: list[Semantic]) -> list[Semantic]:
    """`items` with the `measured:` corrections of the bundled copy attached by ID."""
    measured = {s.id: s.measured for s in bundled if s.measured}
    return [Semantic(s.id, s.group, s.summary, measured.get(s.id, s.measured), s.wording, s.source)
            for s in items]


@cache
def catalogue() -> dict[str, Semantic]:
    """Every known semantic by ID: from ../shared/SEMANTICS.md when present, else the bundled copy;
    the bundled copy's `measured:` corrections in both cases."""
    bundled = load_bundled()
    if SHARED_CATALOGUE.is_file():
        items = with_measured(parse_markdown(SHARED_CATALOGUE.read_text(encoding="utf-8")), bundled)
    else:
        items = bundled
    return {s.id: s for s in items}


def dump_yaml(items: list[Semantic]) -> str:
    """The bundled copy's format (regenerate with `python -m harness.semantics`)."""
    header = ("# Copy of the IDs in ../shared/SEMANTICS.md; regenerate with `python -m harness.semantics`.\n"
              "# `measured:` is ours: what the real FreeRTOS+TCP V4.4.1 (freertos-posix) showed where the\n"
              "# summary's wording is wrong or incomplete; regenerating keeps it.\n")
    rows = [{"id": s.id, "summary": s.summary, "wording": s.wording, "source": s.source,
             **({"measured": s.measured} if s.measured else {})} for s in items]
    return header + yaml.safe_dump(rows, sort_keys=False, allow_unicode=True, width=110)


if __name__ == "__main__":
    shared = parse_markdown(SHARED_CATALOGUE.read_text(encoding="utf-8"))
    BUNDLED_CATALOGUE.write_text(dump_yaml(with_measured(shared, load_bundled())), encoding="utf-8")
    print(f"wrote {BUNDLED_CATALOGUE}")
