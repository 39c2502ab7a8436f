"""The suite covers the catalogue: every semantic ID has a case, no case cites an unknown one,
each forum (FS) semantic has at least three cases, and `harness list` shows at least 80 cases.
"""

from __future__ import annotations

from collections import Counter

import pytest

from harness.cli import main
from harness.model import Case
from harness.semantics import catalogue

MIN_CASES = 80
MIN_PER_FS = 3  # a direct case, a variation of state or timing, and one where it must not happen


def test_every_semantic_id_is_covered(suite: list[Case]) -> None:
    cited = {sid for case in suite for sid in case.semantics}
    uncovered = [sid for sid in catalogue() if sid not in cited]
    assert uncovered == [], f"semantic IDs no case cites: {', '.join(uncovered)}"


def test_no_case_cites_an_unknown_id(suite: list[Case]) -> None:
    known = set(catalogue())
    unknown = {case.id: sorted(set(case.semantics) - known) for case in suite if set(case.semantics) - known}
    assert unknown == {}


def test_every_forum_semantic_has_three_cases(suite: list[Case]) -> None:
    counts = Counter(sid for case in suite for sid in set(case.semantics))
    short = {sid: counts[sid] for sid in catalogue() if sid.startswith("FS-") and counts[sid] < MIN_PER_FS}
    assert short == {}


def test_every_case_names_its_source(suite: list[Case]) -> None:
    assert [c.id for c in suite if not (c.source or "").strip()] == []


def test_harness_list_shows_enough_cases(capsys: pytest.CaptureFixture[str]) -> None:
    from .paths import SUITE

    assert main(["list", str(SUITE)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    count = int(last.split()[0])
    assert last == f"{count} cases"
    assert count >= MIN_CASES
