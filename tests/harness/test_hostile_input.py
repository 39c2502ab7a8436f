"""The catalogue of hostile and broken input (issue 13): every kind is refused with exactly one
line `where:line: field: what is wrong` and exit 2, no traceback, within 10 s and 200 MB.

Each input runs in a child `harness` process whose wall time and peak memory (ru_maxrss from
wait4) are measured; an address-space cap keeps a regression from taking the machine down with it
(before the loader limits, a 425-byte billion-laughs file grew to 5.2 GB in 60 s).
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from .paths import REPO

LIMIT_SECONDS = 10.0
LIMIT_MB = 200
ADDRESS_SPACE_CAP = 4 << 30  # far above what a refusal needs, far below what the machine has

HEAD = "id: {id}\ntitle: t\nsemantics: [FR-HS-1]\nsetup:\n  listen: {{port: 7000}}\nsteps:\n"


def case(steps: str, case_id: str = "hostile-one") -> str:
    return HEAD.format(id=case_id) + steps


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


@dataclass(frozen=True)
class Hostile:
    """One input: files to write (relative path -> text or bytes), the harness arguments (with
    {tmp} for the test's folder), and words the one line must hold."""

    files: dict[str, str | bytes]
    argv: tuple[str, ...]
    words: str
    where: str = ""  # what the line starts with (default: the first file written)


def _target_file(replace: str, by: str) -> str:
    return (REPO / "targets" / "inprocess.yaml").read_text().replace(replace, by)


DRIVER = "targets.inprocess:InProcessTarget"
HANDSHAKE = "testcases/handshake"

CATALOGUE: dict[str, Hostile] = {
    # --- case files
    "billion laughs": Hostile({"c.yaml": LAUGHS}, ("validate", "{tmp}/c.yaml"), "aliases"),
    "not UTF-8": Hostile({"c.yaml": b"id: caf\xe9\n"}, ("validate", "{tmp}/c.yaml"), "UTF-8"),
    "binary": Hostile({"c.yaml": bytes(range(256)) * 4}, ("validate", "{tmp}/c.yaml"), "byte"),
    "NUL in text": Hostile({"c.yaml": case("  - wait: 1s\n").replace("t\n", "t\0\n", 1)},
                           ("validate", "{tmp}/c.yaml"), "character"),
    "20,000 deep": Hostile({"c.yaml": "[" * 20_000 + "]" * 20_000}, ("validate", "{tmp}/c.yaml"), "deep"),
    "over 1 MiB": Hostile({"c.yaml": "# " + "x" * (1 << 20) + "\n"}, ("validate", "{tmp}/c.yaml"), "MiB"),
    "1001 documents": Hostile({"c.yaml": "---\n{}\n" * 1001}, ("validate", "{tmp}/c.yaml"), "documents"),
    "huge repeat": Hostile({"c.yaml": case("  - wait: 1s\n    repeat: 99999999999999999\n")},
                           ("validate", "{tmp}/c.yaml"), "repeat count (1 to 1000)"),
    "huge silence": Hostile({"c.yaml": case("  - expect_silence: 100000000s\n")},
                            ("validate", "{tmp}/c.yaml"), "expect_silence"),
    "reversed window": Hostile(
        {"c.yaml": case("  - expect: {flags: SA, within: [5s, 1s]}\n")},
        ("validate", "{tmp}/c.yaml"), "ends before it starts"),
    "seq 1.2e38": Hostile({"c.yaml": case("  - inject: {flags: S, seq: 1.2e38}\n")},
                          ("validate", "{tmp}/c.yaml"), "seq"),
    "window above 16 bits": Hostile({"c.yaml": case("  - inject: {flags: A, win: 100000}\n")},
                                    ("validate", "{tmp}/c.yaml"), "window field (0 to 65535)"),
    "peer out of range": Hostile(
        {"c.yaml": case("  - wait: 1s\n").replace("setup:", "peers: {a: {isn: 1000000000000}}\nsetup:")},
        ("validate", "{tmp}/c.yaml"), "peers.a.isn: 1_000_000_000_000 is out of range"),
    "infinite number": Hostile({"c.yaml": case("  - wait: .inf\n")}, ("validate", "{tmp}/c.yaml"), "finite"),
    "id area not its folder": Hostile({"close/c.yaml": case("  - wait: 1s\n", "listen/one")},
                                      ("validate", "{tmp}/close"), "folder"),
    "300-character id": Hostile({"c.yaml": case("  - wait: 1s\n", "x" * 300)},
                                ("validate", "{tmp}/c.yaml"), "at most 120"),
    "empty file (validate)": Hostile({"c.yaml": ""}, ("validate", "{tmp}/c.yaml"), "no case in this file"),
    "empty file (run)": Hostile({"c.yaml": "# nothing\n"},
                                ("run", "-q", "--results", "{tmp}/r", "{tmp}/c.yaml"),
                                "no case in this file"),
    "folder without cases": Hostile({"none/readme.txt": "x"}, ("validate", "{tmp}/none"), "no case files",
                                    where="{tmp}/none"),
    "unknown profile key": Hostile(
        {"c.yaml": case("  - expect: {flags: SA, within: [0s, profile.timing.nonesuch]}\n")},
        ("validate", "--target", "inprocess", "{tmp}/c.yaml"), "nonesuch"),
    # --- target files
    "driver os:system": Hostile({"t.yaml": _target_file(DRIVER, "os:system")},
                                ("run", "--target", "{tmp}/t.yaml", "--results", "{tmp}/r", HANDSHAKE),
                                "entry point group tch.targets"),
    "driver not a Target": Hostile({"t.yaml": _target_file(DRIVER, "targets.inprocess:Path")},
                                   ("run", "--target", "{tmp}/t.yaml", "--results", "{tmp}/r", HANDSHAKE),
                                   "not a Target subclass"),
    "driver entry point missing": Hostile({"t.yaml": _target_file(DRIVER, "nonesuch")},
                                          ("validate", "--target", "{tmp}/t.yaml"),
                                          "no entry point 'nonesuch'"),
    "target file binary": Hostile({"t.yaml": b"\xff\xfe\x00"}, ("validate", "--target", "{tmp}/t.yaml"),
                                  "UTF-8"),
    # --- the command line
    "unknown target": Hostile({}, ("run", "--target", "nonesuch"), "unknown target", where="--target"),
    "target file missing": Hostile({}, ("run", "--target", "{tmp}/no.yaml"), "no such file",
                                   where="--target"),
    "results is a file": Hostile({"f": "x"}, ("run", "--results", "{tmp}/f", HANDSHAKE), "is a file",
                                 where="--results: {tmp}/f"),
    "results unwritable": Hostile({}, ("run", "--results", "/proc/tch-no-such/r", HANDSHAKE),
                                  "can not be written", where="--results: /proc/tch-no-such/r"),
    "results holds user files": Hostile({"r/mine.txt": "x"}, ("run", "--results", "{tmp}/r", HANDSHAKE),
                                        "did not write", where="--results: {tmp}/r"),
    "-j 0": Hostile({}, ("run", "-j", "0"), "whole number of workers", where="harness run"),
    "-j text": Hostile({}, ("run", "-j", "many"), "whole number of workers", where="harness run"),
    "unknown flag": Hostile({}, ("run", "--colour"), "unrecognized arguments", where="harness"),
    "unknown command": Hostile({}, ("frobnicate",), "invalid choice", where="harness"),
    "unknown semantic": Hostile({}, ("run", "--semantic", "FS-999"), "FS-999", where="--semantic"),
    "bad -k": Hostile({}, ("list", "-k", "close and ("), "can not parse", where="-k"),
    "missing path": Hostile({}, ("validate", "{tmp}/nowhere"), "no such file", where="{tmp}/nowhere"),
    "unknown switch": Hostile({}, ("mutants", "--switch", "nonesuch"), "unknown fault switch",
                              where="--switch"),
    "report of a stranger's folder": Hostile({"s/mine.txt": "x"}, ("report", "{tmp}/s"), "did not write",
                                             where="{tmp}/s"),
    "report --out a file": Hostile({"f": "x"}, ("report", "{tmp}/a", "{tmp}/b", "--out", "{tmp}/f"),
                                   "is a file", where="{tmp}/f"),
}


@dataclass
class Outcome:
    code: int
    stderr: str
    seconds: float
    peak_mb: float


def run_harness(argv: list[str]) -> Outcome:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))

    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *argv], cwd=REPO, preexec_fn=cap,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = start + 3 * LIMIT_SECONDS
    while (status := os.wait4(proc.pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"harness {' '.join(argv)} still running after {3 * LIMIT_SECONDS:.0f} s")
        time.sleep(0.01)
    seconds = time.monotonic() - start
    _, wait_status, usage = status
    proc.returncode = os.waitstatus_to_exitcode(wait_status)
    assert proc.stderr is not None
    return Outcome(proc.returncode, proc.stderr.read(), seconds, usage.ru_maxrss / 1024)


def _write(tmp: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write: Callable = path.write_bytes if isinstance(content, bytes) else path.write_text
        write(content)


@pytest.mark.parametrize("kind", CATALOGUE)
def test_hostile_input_is_one_line_and_exit_two(kind: str, tmp_path: Path) -> None:
    given = CATALOGUE[kind]
    _write(tmp_path, given.files)
    if kind == "report --out a file":  # two folders a run wrote, so only --out is wrong
        for name in ("a", "b"):
            assert run_harness(["run", "-q", "--results", str(tmp_path / name), "-k", "passive-open",
                                HANDSHAKE]).code == 0
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in given.argv]
    out = run_harness(argv)
    lines = out.stderr.splitlines()
    assert out.code == 2 and len(lines) == 1, f"exit {out.code}:\n{out.stderr}"
    where = (given.where or str(tmp_path / next(iter(given.files)))).replace("{tmp}", str(tmp_path))
    assert lines[0].startswith(where), lines[0]
    if not where.startswith("harness"):
        assert re.match(re.escape(where) + r"(:\d+)?: [^:]+: \S", lines[0]), lines[0]
    assert given.words in lines[0] and "Traceback" not in out.stderr
    assert out.seconds < LIMIT_SECONDS, f"{out.seconds:.1f} s to refuse it"
    assert out.peak_mb < LIMIT_MB, f"{out.peak_mb:.0f} MB to refuse it"


def test_a_broken_file_does_not_hide_the_others(tmp_path: Path) -> None:
    """Before the loader limits, one binary file's traceback hid every other file's diagnostics."""
    _write(tmp_path, {"a.yaml": b"\x00\xff", "b.yaml": case("  - wait: 1s\n    repeat: 0\n"),
                      "c.yaml": LAUGHS})
    out = run_harness(["validate", str(tmp_path)])
    assert out.code == 2, out.stderr
    files = [line.split(":", 1)[0] for line in out.stderr.splitlines()]
    assert files == [str(tmp_path / n) for n in ("a.yaml", "b.yaml", "c.yaml")], out.stderr


def test_empty_file_is_the_same_error_to_validate_and_run(tmp_path: Path) -> None:
    _write(tmp_path, {"c.yaml": "\n"})
    said = {run_harness([*cmd, str(tmp_path / "c.yaml")]).stderr
            for cmd in (["validate"], ["run", "-q", "--results", str(tmp_path / "r")])}
    assert len(said) == 1 and "no case in this file" in said.pop()
