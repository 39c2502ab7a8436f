"""What the user waits for: the whole `harness run` command, start-up and reports included,
against the time of `python -c "import scapy.all"` measured in the same run.

The goal (issue 11): on the in-process target, the whole suite's command takes no more than
twice the scapy import (these machines are shared and noisy, so only the ratio of two
figures taken side by side means anything). The two commands alternate, `--repeat` times
each, and the medians are compared. Prints the case count, whole-command time, the scapy
import time, their ratio, the time per case and the protocol time the cases cover; exits 1
when the goal is missed. With `--target` and `-j`, times that target's run the same way
(no goal then: the figures are for the issue notes).

Usage: python bench/suite.py [case paths] [--target NAME] [-j N] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_RATIO = 2.0  # whole `harness run` on inprocess / `import scapy.all`


def _timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - started
    if proc.returncode not in (0, 1):  # 1 is drift: still a whole run, timed all the same
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[])
    parser.add_argument("--target", default="inprocess")
    parser.add_argument("-j", dest="jobs", type=int, default=None, help="harness run -j N")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command; medians are compared")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tch-bench-") as results:
        run = [sys.executable, "-m", "harness.cli", "run", "-q", "--target", args.target,
               "--results", results, *args.paths, *(["-j", str(args.jobs)] if args.jobs else [])]
        scapy = [sys.executable, "-c", "import scapy.all"]
        runs, imports = [], []
        for _ in range(max(1, args.repeat)):
            imports.append(_timed(scapy))
            runs.append(_timed(run))
        summary = json.loads((Path(results) / "summary.json").read_text())
    whole, base = statistics.median(runs), statistics.median(imports)
    cases = summary["totals"]["cases"]
    ratio = whole / base
    counts = ", ".join(f"{summary['totals'][k]} {k}" for k in ("passed", "failed", "errors", "skipped"))
    print(f"target:               {args.target}" + (f", -j {args.jobs}" if args.jobs else ""))
    print(f"cases:                {cases} ({counts})")
    spread = f"min {min(runs):.3f}, max {max(runs):.3f}"
    print(f"harness run (whole):  {whole:.3f} s median of {len(runs)} ({spread})")
    print(f"import scapy.all:     {base:.3f} s median of {len(imports)} (baseline, same run)")
    print(f"ratio:                {ratio:.2f}x the scapy import")
    print(f"per case:             {whole / cases * 1000:.1f} ms whole-command, "
          f"{summary['wall_time'] / cases * 1000:.2f} ms running the case")
    print(f"protocol time:        {summary['protocol_time']:.1f} s ({summary['protocol_time'] / whole:.0f}x "
          "the whole command)")
    if args.target != "inprocess":
        return 0
    verdict = "met" if ratio <= GOAL_RATIO else "MISSED"
    print(f"goal:                 <= {GOAL_RATIO:g}x: {verdict}")
    return 0 if ratio <= GOAL_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
