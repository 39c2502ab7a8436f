"""Reports in results/: journal.jsonl as the run goes, then junit.xml, summary.json and
report.html, and one pcap per case.

Each finished case is one flushed journal line and its pcap; junit.xml, summary.json and
report.html are rendered from the journal's records once, when the run ends, however it ends
(the CLI closes the writer on Ctrl-C, SIGTERM and crashes too). Every file is written through a
temporary name and a rename, so what is in results/ is always whole. A run that was killed before it
could render can be rendered later from its journal (`harness report`).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import __version__
from ..runner import CaseResult
from ..scoring import score_of
from ..semantics_doc import DOC as CATALOGUE_DOC  # every report links it
from ..target import TargetConfig
from ..verdicts import Expected
from . import html_report, junit, summary
from .journal import JOURNAL, Journal, read_journal, record
from .ownership import ResultsFolderError, claim, previous_pcaps
from .pcap import pcap_name, write_pcap

__all__ = ["ResultsFolderError", "ResultsWriter", "previous_wall_times", "render", "render_from_journal"]


def _versions() -> dict[str, str]:
    out = {"harness": __version__, "python": platform.python_version()}
    for package in ("scapy", "PyYAML", "junit-xml", "jsonschema"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C or SIGTERM mid-write: no half file left behind
        tmp.unlink(missing_ok=True)
        raise


class ResultsWriter:
    """Use as a context manager (or call `close`): leaving renders the reports, complete or not."""

    def __init__(
        self, folder: Path, config: TargetConfig, expected: Mapping[str, Expected], planned: int = 0
    ):
        self.folder, self.config, self.expected = folder, config, expected
        self.results: list[CaseResult] = []
        self.records: list[dict[str, Any]] = []
        self.epoch = time.time()
        self.complete = False
        self.ended: str | None = None  # why the run stopped early, when it did
        claim(folder)  # ResultsFolderError: not a folder the harness may write into
        # The previous run's pcaps would not match this summary; only those it wrote go.
        for old in previous_pcaps(folder):
            old.unlink(missing_ok=True)
        self.pcaps = folder / "pcaps"
        self.header = {
            "target": config.name,
            "target_file": str(config.path),
            "clock": config.clock,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": _versions(),
            "expected_verdicts": str(config.verdicts_path) if config.verdicts_path else None,
            "semantics_catalogue": str(CATALOGUE_DOC),
            "planned": planned,
        }
        self.journal = Journal(folder / JOURNAL, self.header)
        self._rendered = False
        # Valid, empty reports from the start: even a run killed outright before its first case
        # leaves none of the previous run's reports beside this run's journal.
        render(folder, self.header, [], complete=False, ended="running")

    @property
    def junit_path(self) -> Path:
        return self.folder / "junit.xml"

    @property
    def summary_path(self) -> Path:
        return self.folder / "summary.json"

    def add(self, result: CaseResult, index: int | None = None) -> None:
        """A finished case; `index` is its place in the run (results may finish out of order)."""
        position = len(self.results) if index is None else index
        if result.verdict != "skip":
            write_pcap(self.pcaps / pcap_name(result.case.id), result, self.epoch)
        entry = record(result, self.expected, position)
        self.journal.write(entry)
        self.results.append(result)
        self.records.append(entry)

    def in_case_order(self) -> list[CaseResult]:
        """The finished cases in the run's order (workers finish them in any order)."""
        places = [r["index"] for r in self.records]
        return [result for _, result in sorted(zip(places, self.results, strict=True), key=lambda p: p[0])]

    def finish(self) -> dict[str, Any]:
        """Every case ran: render the reports as complete."""
        self.complete = True
        return self.close()

    def close(self, ended: str | None = None) -> dict[str, Any]:
        """Render the reports once; `ended` says why the run stopped early (interrupt, crash)."""
        if ended and not self.complete:
            self.ended = ended
        self.journal.close()
        elapsed = round(time.time() - self.epoch, 3)
        header = {**self.header, "elapsed": elapsed}
        data = render(self.folder, header, self.records, self.complete, self.ended)
        self._rendered = True
        return data

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if not self._rendered:
            self.close(None if kind is None else _why(kind, exc))


def _why(kind: type[BaseException], exc: BaseException | None) -> str:
    if issubclass(kind, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    if issubclass(kind, SystemExit):
        return f"terminated (exit {exc.code if isinstance(exc, SystemExit) else '?'})"
    return f"crashed: {kind.__name__}: {exc}"


def render(
    folder: Path,
    header: Mapping[str, Any],
    records: list[dict[str, Any]],
    complete: bool,
    ended: str | None = None,
) -> dict[str, Any]:
    """junit.xml, summary.json and report.html from journal records, in case order."""
    ordered = sorted(records, key=lambda r: r["index"])
    card = score_of((r["verdict"], r["semantics"]) for r in ordered)
    run = {
        **header,
        "complete": complete,
        "ended": ended,
        "wall_time": round(sum(r["wall_time"] for r in ordered), 6),
        "protocol_time": round(sum(r["protocol_time"] for r in ordered), 6),
    }
    data = summary.build(ordered, card, run)
    _write_atomically(folder / "summary.json", json.dumps(data, indent=2) + "\n")
    properties = {"complete": str(complete).lower(), **({"ended": ended} if ended else {})}
    if header.get("semantics_catalogue"):
        properties["semantics_catalogue"] = header["semantics_catalogue"]
    _write_atomically(folder / "junit.xml", junit.render(ordered, header["target"], card, properties, folder))
    _write_atomically(folder / "report.html", html_report.render(run, ordered, card))
    return data


def render_from_journal(folder: Path) -> dict[str, Any]:
    """Reports for a run that could not render its own (killed outright): from its journal."""
    header, records = read_journal(folder / JOURNAL)
    if not header:
        raise ValueError(f"{folder / JOURNAL} has no header line")
    complete = bool(header.get("planned")) and len(records) == header["planned"]
    ended = None if complete else "rendered afterwards from the journal"
    return render(folder, header, records, complete, ended)


def previous_wall_times(folder: Path, target: str) -> dict[str, float]:
    """How long each case took in the last run on `target` in `folder`, from its journal (or nothing)."""
    try:
        header, records = read_journal(folder / JOURNAL)
    except (OSError, UnicodeDecodeError):
        return {}
    if header.get("target") != target:
        return {}
    return {r["id"]: r["wall_time"] for r in records}
