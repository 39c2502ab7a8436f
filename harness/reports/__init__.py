"""Reports in results/: junit.xml, summary.json and one pcap per case.

All three are rewritten after every case (each through a temporary file and a
rename), so an interrupted run leaves whole, valid files for the cases that
finished.
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
from ..scoring import score
from ..target import TargetConfig
from ..verdicts import Expected, drift
from . import junit, summary
from .pcap import pcap_name, write_pcap


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
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class ResultsWriter:
    def __init__(self, folder: Path, config: TargetConfig, expected: Mapping[str, Expected]):
        self.folder, self.config, self.expected = folder, config, expected
        self.results: list[CaseResult] = []
        self.epoch = time.time()
        self.started = datetime.now(UTC).isoformat(timespec="seconds")
        folder.mkdir(parents=True, exist_ok=True)
        pcaps = folder / "pcaps"
        pcaps.mkdir(exist_ok=True)
        for old in pcaps.glob("*.pcap"):  # a previous run's pcaps would not match this summary
            old.unlink()
        self.pcaps = pcaps

    @property
    def junit_path(self) -> Path:
        return self.folder / "junit.xml"

    @property
    def summary_path(self) -> Path:
        return self.folder / "summary.json"

    def add(self, result: CaseResult) -> None:
        self.results.append(result)
        if result.verdict != "skip":
            write_pcap(self.pcaps / pcap_name(result.case.id), result, self.epoch)
        self._write(complete=False)

    def finish(self) -> dict[str, Any]:
        return self._write(complete=True)

    def _write(self, complete: bool) -> dict[str, Any]:
        card = score(self.results)
        drifted = drift(self.results, self.expected)
        run = {
            "target": self.config.name,
            "target_file": str(self.config.path),
            "clock": self.config.clock,
            "started": self.started,
            "complete": complete,
            "versions": _versions(),
            "wall_time": round(sum(r.wall_time for r in self.results), 6),
            "protocol_time": round(sum(r.protocol_time for r in self.results), 6),
            "expected_verdicts": str(self.config.verdicts_path) if self.config.verdicts_path else None,
        }
        data = summary.build(self.results, card, self.expected, drifted, run)
        _write_atomically(self.summary_path, json.dumps(data, indent=2) + "\n")
        _write_atomically(
            self.junit_path,
            junit.render(
                self.results, self.config.name, card, self.expected, {"complete": str(complete).lower()}
            ),
        )
        return data
