"""Fuzzed segments per second through the harness (issue 14 item 2), and the campaign's seed.

Times what the user waits for: the whole `harness run` of a case that fuzzes an established
connection with N segments, start-up and reports included. Its baseline, measured in the same run,
is the bundled stack alone taking the same N mutants (no harness, no reports): the ratio says what
the harness costs on top of the stack. The goal is at least 10,000 segments per second through the
harness on the in-process target; exits 1 if the run missed it or ended in anything but a pass.

Usage: python bench/fuzz.py [--count N] [--seed S] [--target NAME]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import fuzzing  # noqa: E402
from harness.loader import load_cases  # noqa: E402
from harness.runner import run_case  # noqa: E402
from harness.target import load_target  # noqa: E402

GOAL = 10_000  # fuzzed segments per second through `harness run` on inprocess

CASE = """\
id: bench-fuzz
title: a fuzz campaign on an established connection, then a fresh handshake
semantics: [RFC-CHECKSUM]
setup:
  listen: {{port: 7000, backlog: 8}}
steps:
  - handshake: {{accept: true}}
  - fuzz: {{seed: {seed}, count: {count}}}
  - handshake: {{peer: b}}
"""


def _direct(folder: Path, seed: int, count: int) -> float:
    """The same mutants straight into the bundled stack, in the state the case's fuzz step found
    (the case run with one fuzzed segment drives it there): the time the stack itself takes."""
    path = folder / "probe.yaml"
    path.write_text(CASE.format(seed=seed, count=1), encoding="utf-8")
    target = load_target("inprocess").open()
    (campaign,) = run_case(load_cases([path])[0], target).campaigns
    stack = target.stack
    started = time.perf_counter()
    for index in range(count):
        _, frame = fuzzing.mutant(campaign.template, seed, index, fuzzing.KINDS, campaign.edges)
        stack.receive(frame, stack.now)
        stack.pop_frames()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--target", default="inprocess")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tch-bench-") as tmp:
        folder = Path(tmp)
        case = folder / "fuzz.yaml"
        case.write_text(CASE.format(seed=args.seed, count=args.count), encoding="utf-8")
        results = folder / "results"
        cmd = [sys.executable, "-m", "harness.cli", "run", "-q", "--target", args.target,
               "--results", str(results), str(case)]
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        whole = time.perf_counter() - started
        if proc.returncode not in (0, 1) or not (results / "summary.json").exists():
            sys.exit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
        summary = json.loads((results / "summary.json").read_text())
        verdict = summary["cases"][0]["verdict"]
        junit = (results / "junit.xml").read_text(encoding="utf-8")
        line = next((ln for ln in junit.splitlines() if "fuzz: " in ln), "")
        direct = None
        if args.target == "inprocess":
            direct = _direct(folder, args.seed, args.count)
    rate = args.count / whole
    print(f"target:                  {args.target}")
    print(f"seed:                    {args.seed} (python bench/fuzz.py --seed {args.seed} repeats it)")
    print(f"segments:                {args.count:,}")
    print(f"verdict:                 {verdict}")
    print(f"whole harness run:       {whole:.2f} s, start-up and reports included")
    print(f"through the harness:     {rate:,.0f} segments/s (goal >= {GOAL:,} on inprocess)")
    if direct is not None:
        print(f"bundled stack alone:     {args.count / direct:,.0f} segments/s (the same mutants)")
        print(f"harness / stack alone:   {whole / direct:.2f}x the time")
    print(f"campaign:                {line.strip()[line.find('fuzz: '):][:300]}")
    missed = verdict != "pass" or (args.target == "inprocess" and rate < GOAL)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
