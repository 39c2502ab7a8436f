"""Several runs side by side (`harness report RESULTS RESULTS...`): rows are semantics and cases,
columns the runs' targets, each cell the verdict (linked to that run's case in its report.html)
with the reason the target's verdicts file gives; as a terminal table, matrix.json and matrix.html.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..semantics import catalogue
from ..semantics_doc import DOC
from ..verdicts import drifts

_SHORT = {"pass": "pass", "fail": "FAIL", "error": "ERR", "skip": "skip"}


@dataclass(frozen=True)
class Run:
    folder: Path
    label: str          # the column title: the target, with the folder when a target repeats
    summary: dict[str, Any]


def load_runs(folders: Sequence[Path]) -> list[Run]:
    summaries = [json.loads((f / "summary.json").read_text(encoding="utf-8")) for f in folders]
    targets = [s["target"] for s in summaries]
    return [
        Run(f, t if targets.count(t) == 1 else f"{t} ({f.name})", s)
        for f, t, s in zip(folders, targets, summaries, strict=True)
    ]


def _reason(case: dict[str, Any]) -> str:
    if case["verdict"] == "pass":
        return ""
    if case["verdict"] == case["expected"] and case.get("expected_reason"):
        return case["expected_reason"]
    return (case.get("message") or "").split("\n", 1)[0]


def build(runs: Sequence[Run]) -> dict[str, Any]:
    """The matrix as data (what matrix.json holds and the other two renderings show)."""
    known = catalogue()
    sids: list[str] = []
    cases: dict[str, dict[str, Any]] = {}
    for run in runs:
        sids += [s for s in run.summary["semantics"] if s not in sids]
        for case in run.summary["cases"]:
            row = cases.setdefault(case["id"], {"id": case["id"], "title": case["title"],
                                                "semantics": case["semantics"], "cells": {}})
            row["cells"][run.label] = {
                "verdict": case["verdict"],
                "expected": case["expected"],
                "drift": drifts(case["verdict"], case["expected"]),
                "reason": _reason(case),
                "href": f"{run.folder.resolve()}/report.html#{case['id']}",
            }
    order = {sid: i for i, sid in enumerate(known)}
    sids.sort(key=lambda s: order.get(s, len(order)))
    return {
        "runs": [{"label": r.label, "target": r.summary["target"], "folder": str(r.folder.resolve()),
                  "complete": r.summary["complete"], "overall": r.summary["overall"]} for r in runs],
        "semantics": [
            {"id": sid, "summary": known[sid].summary if sid in known else "",
             "cells": {r.label: r.summary["semantics"][sid] for r in runs if sid in r.summary["semantics"]}}
            for sid in sids
        ],
        "cases": list(cases.values()),
    }


def _score(s: dict[str, Any] | None) -> str:
    if not s:
        return "-"
    return f"{s['passed']}/{s['run']}" + (f" +{s['skipped']}s" if s["skipped"] else "")


def print_table(matrix: dict[str, Any], out: IO[str]) -> None:
    labels = [r["label"] for r in matrix["runs"]]
    width = [max(9, len(label)) for label in labels]

    def line(first: str, cells: list[str], first_width: int) -> str:
        return f"{first:{first_width}}  " + "  ".join(f"{c:{w}}" for c, w in zip(cells, width, strict=True))

    sid_width = max([len("semantic")] + [len(s["id"]) for s in matrix["semantics"]])
    print(line("semantic", labels, sid_width), file=out)
    print(line("overall", [_score(r["overall"]) for r in matrix["runs"]], sid_width), file=out)
    for sem in matrix["semantics"]:
        print(line(sem["id"], [_score(sem["cells"].get(label)) for label in labels], sid_width), file=out)
    case_width = max([len("case")] + [len(c["id"]) for c in matrix["cases"]])
    print("", file=out)
    print(line("case", labels, case_width), file=out)
    for case in matrix["cases"]:
        cells = []
        for label in labels:
            cell = case["cells"].get(label)
            cells.append("-" if cell is None else _SHORT[cell["verdict"]] + ("!" if cell["drift"] else ""))
        print(line(case["id"], cells, case_width), file=out)
    print("\n(! = differs from that target's expected verdict; reasons in matrix.json/matrix.html)", file=out)


def write(matrix: dict[str, Any], out_dir: Path) -> list[Path]:
    """matrix.json and matrix.html in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "matrix.json"
    json_path.write_text(json.dumps(matrix, indent=2) + "\n", encoding="utf-8")
    html_path = out_dir / "matrix.html"
    html_path.write_text(render_html(matrix), encoding="utf-8")
    return [json_path, html_path]


def render_html(matrix: dict[str, Any]) -> str:
    from .html_report import environment  # jinja2 only when a page is rendered

    runs = [{**r, "folder_uri": Path(r["folder"]).as_uri()} for r in matrix["runs"]]
    cases = [
        {**c, "cells": {label: {**cell, "href_uri": _uri(cell["href"])} for label, cell in c["cells"].items()}
         } for c in matrix["cases"]
    ]
    page = environment().get_template("matrix.html.j2")
    return page.render(runs=runs, semantics=matrix["semantics"], cases=cases, catalogue=DOC.as_uri())


def _uri(href: str) -> str:
    path, _, fragment = href.partition("#")
    return Path(path).as_uri() + (f"#{fragment}" if fragment else "")
