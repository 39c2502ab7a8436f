"""The catalogue of semantic IDs that cases cite and scores are grouped by.

The source of truth is ../shared/SEMANTICS.md beside the repository. CI clones
the repository with shared/ next to it, but an installed copy of the harness has
no shared/, so harness/semantics.yaml carries the same list; a test keeps the two
in agreement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
SHARED_CATALOGUE = REPO_ROOT.parent / "shared" / "SEMANTICS.md"
BUNDLED_CATALOGUE = PACKAGE_DIR / "semantics.yaml"

_FS_ROW = re.compile(r"^\| (FS-\d+) \| (.+?) \| \d+ \|$", re.M)
_BULLET = re.compile(r"^- \*\*((?:FR|RFC)-[A-Z0-9-]+)\*\* (.*)$", re.M)

GROUPS = ("FS", "FR", "RFC")


@dataclass(frozen=True)
class Semantic:
    id: str
    group: str
    summary: str


def group_of(semantic_id: str) -> str:
    return semantic_id.split("-", 1)[0]


def parse_markdown(text: str) -> list[Semantic]:
    """The IDs in SEMANTICS.md's FS table and FR/RFC bullet lists, in document order."""
    found = [(m.start(), m.group(1), m.group(2)) for m in _FS_ROW.finditer(text)]
    found += [(m.start(), m.group(1), m.group(2)) for m in _BULLET.finditer(text)]
    return [Semantic(i, group_of(i), _first_sentence(s)) for _, i, s in sorted(found)]


def _first_sentence(text: str) -> str:
    text = text.strip()
    cut = text.find(". ")
    return text if cut < 0 else text[: cut + 1]


def load_bundled() -> list[Semantic]:
    rows = yaml.safe_load(BUNDLED_CATALOGUE.read_text(encoding="utf-8"))
    return [Semantic(r["id"], group_of(r["id"]), r["summary"]) for r in rows]


@cache
def catalogue() -> dict[str, Semantic]:
    """Every known semantic by ID: from ../shared/SEMANTICS.md when present, else the bundled copy."""
    if SHARED_CATALOGUE.is_file():
        items = parse_markdown(SHARED_CATALOGUE.read_text(encoding="utf-8"))
    else:
        items = load_bundled()
    return {s.id: s for s in items}


def dump_yaml(items: list[Semantic]) -> str:
    """The bundled copy's format (regenerate with `python -m harness.semantics`)."""
    header = "# Copy of the IDs in ../shared/SEMANTICS.md; regenerate with `python -m harness.semantics`.\n"
    rows = [{"id": s.id, "summary": s.summary} for s in items]
    return header + yaml.safe_dump(rows, sort_keys=False, allow_unicode=True, width=110)


if __name__ == "__main__":
    BUNDLED_CATALOGUE.write_text(
        dump_yaml(parse_markdown(SHARED_CATALOGUE.read_text(encoding="utf-8"))), encoding="utf-8"
    )
    print(f"wrote {BUNDLED_CATALOGUE}")
