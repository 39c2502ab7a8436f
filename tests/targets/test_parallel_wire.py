"""`harness run -j` on the real wire targets gives what a serial run gives: the same verdict, failing
step and matched segments per case, in case order, and no `tch…` object left by any worker.

A quick part of the suite (the areas whose cases take well under a second each) runs both ways;
the whole suite runs with workers in test_linux.py and test_lwip.py against the verdicts files,
which serial runs wrote.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.fidelity import SEGMENT_FIELDS
from harness.loader import load_cases
from harness.parallel import run_all
from harness.runner import CaseResult
from harness.target import load_target
from harness.wire.links import missing_requirements as linux_missing
from targets.lwip import missing_requirements as lwip_missing
from tests.conftest import require

from .conftest import orphans

REPO = Path(__file__).resolve().parents[2]
QUICK_AREAS = ("connect", "events", "listen", "recv", "reset")   # ~15 s serially on linux and on lwip


def _segments(result: CaseResult) -> list[dict]:
    """The matched segments as the model-vs-real comparison sees them: no timing."""
    return [{k: s.get(k) for k in ("step", *SEGMENT_FIELDS)} for s in result.matched]


@pytest.mark.parametrize(("name", "missing"), [("linux", linux_missing), ("lwip", lwip_missing)])
def test_parallel_run_equals_serial_run(name: str, missing) -> None:  # type: ignore[no-untyped-def]
    why = missing()
    require(why is None, why or "")
    config = load_target(name)
    cases = [c for c in load_cases([REPO / "testcases"]) if c.area in QUICK_AREAS]
    assert len(cases) >= 30
    serial = run_all(cases, config, 1)
    parallel = run_all(cases, config, 4)
    assert [r.case.id for r in parallel] == [c.id for c in cases]
    ran = [r for r in serial if r.verdict != "skip"]
    assert len(ran) >= 20 and any(r.matched for r in ran)
    for a, b in zip(serial, parallel, strict=True):
        why = f"{a.case.id}: serial {a.message[:200]!r}; parallel {b.message[:200]!r}"
        assert (a.verdict, a.step and a.step.line) == (b.verdict, b.step and b.step.line), why
        # A passing case matched every expect, so both runs saw the same segments; a failing one
        # stops at its first miss, and what it had matched by then may differ with timing.
        if a.verdict == "pass":
            assert _segments(a) == _segments(b), why
    assert orphans() == []
