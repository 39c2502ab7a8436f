"""`harness report A B`: runs side by side, from their journals: a column per run, the verdict per
case with the target's reason, scores per semantic; terminal table and matrix.json agree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.target import TARGETS_DIR

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, capture_output=True,
                          text=True)


def test_two_runs_side_by_side(tmp_path: Path) -> None:
    # A second target: the model under another name, with an expected-verdicts file that lists
    # one passing case as failing, so its column must show that drift.
    other = tmp_path / "other.yaml"
    other.write_text((TARGETS_DIR / "inprocess.yaml").read_text().replace("name: inprocess", "name: other"))
    (tmp_path / "other.verdicts.yaml").write_text('listen/accept-returns-new-socket: {fail: "pretend"}\n')
    cases = ("testcases/listen", "testcases/close")
    assert _run("run", "-q", "--results", str(tmp_path / "a"), *cases).returncode == 0
    assert _run("run", "-q", "--target", str(other), "--results", str(tmp_path / "b"),
                *cases).returncode == 1
    (tmp_path / "a" / "summary.json").unlink()                      # rendered again from the journal
    out = _run("report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "m"))
    assert out.returncode == 0, out.stderr
    header = next(line for line in out.stdout.splitlines() if line.startswith("case"))
    assert header.split() == ["case", "inprocess", "other"]
    lines = out.stdout.splitlines()
    row = next(line for line in lines if line.startswith("listen/accept-returns-new-socket"))
    assert row.split()[1:] == ["pass", "pass!"]
    data = json.loads((tmp_path / "m" / "matrix.json").read_text())
    assert [r["label"] for r in data["runs"]] == ["inprocess", "other"]
    cell = next(c for c in data["cases"] if c["id"] == "listen/accept-returns-new-socket")["cells"]["other"]
    assert cell["drift"] is True and cell["expected"] == "fail"
    assert cell["href"].endswith("/b/report.html#listen/accept-returns-new-socket")
    failing = [c for c in data["cases"] if c["cells"]["inprocess"]["verdict"] == "fail"]
    assert failing and all(c["cells"]["inprocess"]["reason"] for c in failing)   # the verdicts file's
    html = (tmp_path / "m" / "matrix.html").read_text()
    assert html.count('<tr data-id="') == len(data["semantics"]) + len(data["cases"])
    assert (f'href="{(tmp_path / "b" / "report.html").as_uri()}#listen/accept-returns-new-socket"' in html)
    assert "http://" not in html and "https://" not in html          # nothing fetched
    sem = next(s for s in data["semantics"] if s["id"] == "FS-6")
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert sem["cells"]["inprocess"] == summary["semantics"]["FS-6"]


def test_a_folder_without_a_journal_is_named(tmp_path: Path) -> None:
    out = _run("report", str(tmp_path / "none"), str(tmp_path / "nothing"))
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 2
    assert all(line.endswith("results: no such folder") for line in out.stderr.splitlines()), out.stderr
