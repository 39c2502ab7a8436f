"""`--results`: the harness writes only into a folder that is its own, deletes only what it wrote, and
every problem with the path is one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(results: Path | str, *cases: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", "run", "-q", "--results", str(results),
                           *(cases or ("testcases/listen",))], cwd=REPO, capture_output=True, text=True)


def test_a_planted_file_survives_every_run(tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert _run(results).returncode == 0
    planted = [results / "notes.txt", results / "pcaps" / "mine.pcap", results / "pcaps" / "keep.txt"]
    for path in planted:
        path.write_text("the user's")
    ours = sorted(p.name for p in (results / "pcaps").glob("listen__*.pcap"))
    assert ours
    assert _run(results, "testcases/recv").returncode == 0           # other cases: listen's pcaps go
    assert all(p.read_text() == "the user's" for p in planted)
    assert not list((results / "pcaps").glob("listen__*.pcap")) and list((results / "pcaps").glob("recv__*"))


def test_a_folder_of_someone_elses_files_is_refused_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_text("meow")
    (folder / "pcaps").mkdir()
    (folder / "pcaps" / "capture.pcap").write_text("theirs")
    out = _run(folder)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith(f"--results: {folder}: holds files the harness did not write (cat.jpg)")
    assert sorted(p.name for p in folder.rglob("*")) == ["capture.pcap", "cat.jpg", "pcaps"]


def test_an_old_results_folder_without_the_marker_is_still_ours(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    (folder / "pcaps").mkdir(parents=True)
    (folder / "summary.json").write_text("{}")
    (folder / "junit.xml").write_text("<x/>")
    assert _run(folder).returncode == 0
    assert (folder / ".tch-results").is_file()


def test_path_problems_are_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for results, words in ((a_file, "is a file, not a folder"),
                           ("/proc/tch-no-such/results", "can not be written")):
        out = _run(results)
        assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
        assert words in out.stderr and "Traceback" not in out.stderr
