"""results/report.html: the scorecard, the cases and each case's ladder diagram, in one file.

Rendered from the same journal records as junit.xml and summary.json, through the jinja2
templates beside this module (inline CSS and SVG, no script, nothing fetched), so the file can be
mailed or attached to a CI run as it is. Links into the results folder are relative (pcaps,
summary.json); links to the repository's files (case YAML, docs/semantics.md) are file:// URIs.

jinja2 is imported on the first render only; the compiled templates are kept for the process (a
run renders at its start, empty reports, and again at its end) and in jinja2's bytecode cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from ..scoring import Scorecard
from ..semantics import REPO_ROOT, catalogue
from ..semantics_doc import DOC as SEMANTICS_DOC
from ..verdicts import drifts
from . import ladder_svg

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Drifted cases first (what needs a look), then failures and errors, passes, skips.
_RANK = {"fail": 1, "error": 1, "pass": 2, "skip": 3}


@cache
def environment() -> Any:
    """The jinja2 environment of every HTML report (report.html, matrix.html)."""
    import jinja2  # only a run that renders pays for it

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        undefined=jinja2.StrictUndefined,
        # Compiling the templates takes longer than rendering 130 cases: keep the compiled code
        # (in a private folder of the temporary directory, checked against the template's source).
        bytecode_cache=jinja2.FileSystemBytecodeCache(),
    )
    env.globals.update(
        hx=ladder_svg.HARNESS_X,
        dx=ladder_svg.DEVICE_X,
        mid=(ladder_svg.HARNESS_X + ladder_svg.DEVICE_X) / 2,
        sidex=ladder_svg.SIDE_X,
        timex=ladder_svg.HARNESS_X - 66,
    )
    return env


def _template() -> Any:
    return environment().get_template("report.html.j2")


@cache
def _file_uri(name: str | None) -> str:
    """A repository file as a file:// URI; a relative name is taken from the working folder, or
    from the repository when it is not there (a journal rendered later, from elsewhere)."""
    if not name:
        return ""
    path = Path(name)
    if not path.is_absolute():
        here = Path.cwd() / path
        path = here if here.exists() or not (REPO_ROOT / path).exists() else REPO_ROOT / path
    return path.resolve().as_uri()


def _case(record: Mapping[str, Any]) -> dict[str, Any]:
    known = catalogue()
    entries = record.get("ladder") or []  # journals written before the ladder existed have none
    return {
        **record,
        "drift": drifts(record["verdict"], record["expected"]),
        "file_href": _file_uri(record["file"]),
        "semantic_text": [known[s].summary if s in known else "" for s in record["semantics"]],
        "step_line": record.get("step_line"),
        "step_action": record.get("step_action"),
        "ladder": ladder_svg.layout(entries) if entries else None,
    }


def render(run: Mapping[str, Any], records: Sequence[Mapping[str, Any]], card: Scorecard) -> str:
    """The whole page for `records` (journal records in case order) and their scorecard."""
    cases = sorted(
        (_case(r) for r in records),
        key=lambda c: (0 if c["drift"] else _RANK.get(c["verdict"], 4), c["index"]),
    )
    known = catalogue()
    versions = run.get("versions") or {}
    view_run = {
        "target": run.get("target", "?"),
        "target_file": run.get("target_file") or "",
        "clock": run.get("clock", "?"),
        "started": run.get("started", "?"),
        "elapsed": run.get("elapsed"),
        "complete": run.get("complete", False),
        "ended": run.get("ended"),
        "planned": run.get("planned") or 0,
        "versions": {k: versions.get(k, "?") for k in ("harness", "python", "scapy")},
    }
    links = {
        "semantics": SEMANTICS_DOC.as_uri(),
        "target_file": _file_uri(run.get("target_file")),
        "expected": _file_uri(run.get("expected_verdicts")),
    }
    return _template().render(
        run=view_run,
        links=links,
        groups=[(g, s) for g, s in card.per_group.items()],
        overall=card.overall,
        semantics=[(sid, known[sid].summary if sid in known else "", s)
                   for sid, s in card.per_semantic.items()],
        # The table of every ID is long and folded; the IDs that lost cases are named above it.
        below=[(sid, s) for sid, s in card.per_semantic.items() if s.passed < s.run],
        cases=cases,
        drifted=sum(1 for c in cases if c["drift"]),
    )
