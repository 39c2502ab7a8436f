"""Which folders `harness run` may write its reports into, and which files in them it may delete.

A results folder is the harness's when it is new or empty (it is then marked with MARKER), when it
carries MARKER, or when everything in it has a name the harness writes (a folder from before the
marker existed). Anything else is the user's: the run stops with one line before touching it. In
its own folder the harness deletes only the pcaps its previous run listed in its journal, so a file
someone put there survives every run.
"""

from __future__ import annotations

from pathlib import Path

from .journal import JOURNAL, read_journal

MARKER = ".tch-results"
_OURS = {MARKER, JOURNAL, "junit.xml", "summary.json", "report.html", "report.png", "pcaps"}


class ResultsFolderError(Exception):
    """The folder can not be used for results; the message says why and what to do."""


def _refuse_strangers(folder: Path, what_to_do: str) -> None:
    names = {p.name for p in folder.iterdir()}
    if names and MARKER not in names and not names <= _OURS:
        strangers = ", ".join(sorted(names - _OURS)[:3])
        raise ResultsFolderError(f"holds files the harness did not write ({strangers}): {what_to_do}")


def claim(folder: Path) -> None:
    """Make `folder` a results folder of ours, or raise ResultsFolderError."""
    if folder.exists() and not folder.is_dir():
        raise ResultsFolderError("is a file, not a folder: give --results a folder")
    if folder.is_dir():
        _refuse_strangers(folder, "give --results a new or empty folder, or one an earlier run wrote")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MARKER).write_text("results of `harness run`; the harness writes here\n", encoding="utf-8")
        (folder / "pcaps").mkdir(exist_ok=True)
    except OSError as exc:
        raise ResultsFolderError(f"can not be written: {exc.strerror or exc}") from None


def check_ours(folder: Path) -> None:
    """`harness report` renders only into a folder a run wrote, so it can not overwrite a user's files."""
    if not folder.is_dir():
        raise ResultsFolderError("is a file, not a results folder" if folder.exists() else "no such folder")
    _refuse_strangers(folder, "not a folder `harness run` wrote")
    if not (folder / JOURNAL).is_file():
        raise ResultsFolderError(f"no {JOURNAL} here: not a folder `harness run` wrote, or it was emptied")


def previous_pcaps(folder: Path) -> list[Path]:
    """The pcaps the previous run in `folder` wrote, as its journal lists them."""
    try:
        _, records = read_journal(folder / JOURNAL)
    except (OSError, UnicodeDecodeError):
        return []
    out = []
    for record in records:
        pcap = record.get("pcap")
        if isinstance(pcap, str) and pcap.startswith("pcaps/") and "/" not in pcap[len("pcaps/"):]:
            out.append(folder / pcap)
    return out
