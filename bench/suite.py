"""Wall time of the whole YAML suite on the in-process target, against the protocol time it covers.

The goal (issue 5): less than one second of wall time per hundred cases, however
many minutes of protocol time the cases span (the in-process target runs on a
virtual clock). Prints the case count, wall time, protocol time, their ratio and
the wall time per hundred cases; exits 1 when that goal is missed.

Usage: python bench/suite.py [case files or folders, default testcases/] [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.loader import load_cases  # noqa: E402
from harness.runner import run_cases  # noqa: E402
from harness.target import load_target  # noqa: E402

GOAL_PER_100 = 1.0  # seconds of wall time per hundred cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[str(ROOT / "testcases")])
    parser.add_argument("--repeat", type=int, default=3, help="runs; the fastest is reported")
    args = parser.parse_args(argv)
    cases = load_cases(args.paths)
    config = load_target("inprocess")
    best, first, protocol, verdicts = float("inf"), None, 0.0, {}
    for _ in range(max(1, args.repeat)):
        target = config.open()
        started = time.perf_counter()
        results = run_cases(cases, target)
        wall = time.perf_counter() - started
        target.close()
        first = wall if first is None else first
        if wall < best:
            best, protocol = wall, sum(r.protocol_time for r in results)
            verdicts = {v: sum(r.verdict == v for r in results) for v in ("pass", "fail", "error", "skip")}
    # The first run is what `harness run` sees (a fresh process: no frames memoised yet); it is the
    # figure held against the goal. Later runs show the steady state.
    assert first is not None
    per_100 = first / len(cases) * 100 if cases else 0.0
    print(f"cases:          {len(cases)} ({', '.join(f'{n} {v}' for v, n in verdicts.items())})")
    print(f"wall time:      {first:.3f} s first run; {best:.3f} s fastest of {args.repeat}")
    print(f"protocol time:  {protocol:.1f} s ({protocol / 60:.1f} min)")
    print(f"ratio:          {protocol / first:.0f}x protocol seconds per wall second (first run)")
    verdict = "met" if per_100 < GOAL_PER_100 else "MISSED"
    print(f"per 100 cases:  {per_100:.3f} s wall (goal < {GOAL_PER_100:g} s): {verdict}")
    return 0 if per_100 < GOAL_PER_100 else 1


if __name__ == "__main__":
    sys.exit(main())
