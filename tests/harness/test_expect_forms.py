"""Issue 14 item 3: the forms an expect can take beyond one segment in order, and a case's own
timing tolerance."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.loader import load_cases
from harness.runner import CaseResult, run_case
from harness.target import load_target
from harness.yamlsrc import InputError

SEND_TEN = """\
  - handshake: {accept: true}
  - call: send
    data: "0123456789"
    returns: 10
"""


def _write(tmp_path: Path, body: str, head: str = "") -> Path:
    path = tmp_path / "case.yaml"
    path.write_text(
        f"id: t-forms\ntitle: t\nsemantics: [FR-HS-1]\n{head}"
        f"setup:\n  listen: {{port: 7000}}\nsteps:\n{body}",
        encoding="utf-8",
    )
    return path


def _run(tmp_path: Path, body: str, head: str = "") -> CaseResult:
    return run_case(load_cases([_write(tmp_path, body, head)])[0], load_target("inprocess").open())


@pytest.mark.parametrize(
    ("tolerance", "verdict"),
    [("", "fail"), ("tolerance: 50ms\n", "pass"), ("tolerance: profile.timing.tolerance * 10\n", "pass")],
)
def test_a_case_may_widen_the_tolerance(tmp_path: Path, tolerance: str, verdict: str) -> None:
    """The data leaves at once; expecting it 40 ms later fails on the profile's 5 ms, passes on 50 ms."""
    body = SEND_TEN + "  - expect: {flags: PA, seq: 1, len: 10, within: [40ms, 40ms]}\n"
    result = _run(tmp_path, body, tolerance)
    assert result.verdict == verdict, result.message
    if verdict == "fail":
        assert result.mismatches[0].expected == "after 0.04 s (±0.005)"


def test_a_case_cannot_narrow_the_tolerance(tmp_path: Path) -> None:
    """The profile's tolerance is what the target measured: a case asking for less gets the profile's."""
    body = SEND_TEN + "  - expect: {flags: PA, seq: 1, len: 10, within: [4ms, 4ms]}\n"
    assert _run(tmp_path, body, "tolerance: 1ms\n").verdict == "pass"


@pytest.mark.parametrize(
    ("value", "message"),
    [("20", "out of range for a timing tolerance"), ("-1ms", "out of range"), ("[1s, 2s]", "tolerance")],
)
def test_a_bad_tolerance_is_one_line_at_load(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        load_cases([_write(tmp_path, SEND_TEN, f"tolerance: {value}\n")])
    text = str(caught.value)
    assert "case.yaml:4" in text and message in text, text
