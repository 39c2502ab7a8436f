"""Shared fixtures: the suite, the in-process target, and the mutation figure in pytest's summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.loader import load_cases
from harness.model import Case
from harness.runner import CaseResult, run_cases
from harness.target import TARGETS_DIR, TargetConfig, load_target
from harness.verdicts import Expected, load_expected

from .paths import SUITE

# Switch -> the cases that caught it; filled by test_mutations.py, printed at the end of the run.
MATRIX_KEY = pytest.StashKey[dict[str, list[str]]]()


@pytest.fixture(scope="session")
def mutation_matrix(request: pytest.FixtureRequest) -> dict[str, list[str]]:
    return request.config.stash.setdefault(MATRIX_KEY, {})


@pytest.fixture
def trouble_target(tmp_path: Path) -> Path:
    """A target file for the in-process target with trouble on demand (trouble_target.py).

    Its driver lives outside the project's targets package, so it comes in the way a third-party
    driver does: a distribution's entry point in group tch.targets (here a bare .dist-info folder,
    what `pip install` would leave), found through paths.trouble_pythonpath()."""
    info = tmp_path / "plugins" / "tch_trouble-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tch-trouble\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[tch.targets]\ntrouble = tests.harness.trouble_target:TroubleTarget\n"
    )
    text = (TARGETS_DIR / "inprocess.yaml").read_text()
    text = text.replace("targets.inprocess:InProcessTarget", "trouble")
    path = tmp_path / "trouble.yaml"
    path.write_text(text)
    (tmp_path / "trouble.verdicts.yaml").write_text((TARGETS_DIR / "inprocess.verdicts.yaml").read_text())
    return path


@pytest.fixture(scope="session")
def suite() -> list[Case]:
    return load_cases([SUITE])


@pytest.fixture(scope="session")
def inprocess() -> TargetConfig:
    return load_target("inprocess")


@pytest.fixture(scope="session")
def inprocess_expected(inprocess: TargetConfig) -> dict[str, Expected]:
    return load_expected(inprocess.verdicts_path)


@pytest.fixture(scope="session")
def baseline(suite: list[Case], inprocess: TargetConfig) -> dict[str, CaseResult]:
    """The whole suite on the unmodified stack."""
    return {r.case.id: r for r in run_cases(suite, inprocess.open())}


# Switch -> catching cases, gathered from the reports' properties: under pytest-xdist the tests run
# in workers, and only their reports reach the process that prints the summary.
_REPORTED: dict[str, list[str]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = dict(report.user_properties)
    if report.when == "call" and "switch" in props:
        _REPORTED[str(props["switch"])] = str(props.get("caught_by", "")).split()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    matrix = _REPORTED
    if not matrix:
        return
    caught = sum(1 for cases in matrix.values() if cases)
    terminalreporter.section("mutation matrix (in-process stack fault switches)")
    for switch, cases in matrix.items():
        terminalreporter.write_line(
            f"{switch:32} {'caught by ' + ', '.join(cases) if cases else 'NOT CAUGHT'}"
        )
    terminalreporter.write_line(f"switches caught / total: {caught}/{len(matrix)}")
