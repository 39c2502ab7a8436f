"""docs/semantics.md: the catalogue the suite scores, shipped with the project.

Each ID with its whole wording, its source (a forum thread, FreeRTOS+TCP's source and wire, an RFC),
the correction the real stack called for where there is one, and the cases that score it. Generated
from harness/semantics.yaml and testcases/; regenerate with `python -m harness.semantics_doc`
(a test fails when the committed file is stale).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from .model import Case
from .semantics import GROUPS, REPO_ROOT, Semantic, catalogue

DOC = REPO_ROOT / "docs" / "semantics.md"
_GROUP_TITLES = {
    "FS": "FS: what the FreeRTOS forum threads tell users",
    "FR": "FR: what FreeRTOS+TCP V4.4.1 really does",
    "RFC": "RFC: requirements checked on every target",
}


def anchor(semantic_id: str) -> str:
    """The fragment a report links to (`docs/semantics.md#fr-close-1`)."""
    return semantic_id.lower()


def render(items: Mapping[str, Semantic], cases: Iterable[Case], doc: Path = DOC) -> str:
    scored: dict[str, list[Case]] = {}
    for case in cases:
        for sid in case.semantics:
            scored.setdefault(sid, []).append(case)
    lines = [
        "# Semantics catalogue",
        "",
        "What the suite scores, and what every report links to. Generated from `harness/semantics.yaml`",
        "and `testcases/` by `python -m harness.semantics_doc`; do not edit by hand.",
        "",
        f"{len(items)} IDs: " + ", ".join(f"{sum(s.group == g for s in items.values())} {g}" for g in GROUPS)
        + f"; {sum(1 for s in items if s in scored)} scored by at least one case.",
    ]
    for group in GROUPS:
        lines += ["", f"## {_GROUP_TITLES[group]}"]
        for sem in (s for s in items.values() if s.group == group):
            lines += ["", f'<a id="{anchor(sem.id)}"></a>', "", f"### {sem.id}", "",
                      f"> {sem.wording or sem.summary}", ""]
            lines.append(f"- Source: {sem.source or 'SEMANTICS.md'}")
            if sem.measured:
                lines.append(f"- Measured on the real stack: {sem.measured}")
            cases_here = scored.get(sem.id, [])
            if cases_here:
                lines.append(f"- Scored by {len(cases_here)} case{'s' if len(cases_here) > 1 else ''}:")
                lines += [f"  - [`{c.id}`]({_relative(c, doc)}#L{c.line}): {c.title}" for c in cases_here]
            else:
                lines.append("- Scored by no case yet.")
    return "\n".join(lines) + "\n"


def _relative(case: Case, doc: Path) -> str:
    path = Path(case.file)
    path = path if path.is_absolute() else REPO_ROOT / path
    try:
        return str(Path("..") / path.resolve().relative_to(doc.parent.parent))
    except ValueError:
        return str(path)


def main() -> None:
    from .loader import load_cases

    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render(catalogue(), load_cases([REPO_ROOT / "testcases"])), encoding="utf-8")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
