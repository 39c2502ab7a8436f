"""pytest plugin (entry point `pytest11`): YAML cases under testcases/ become test items.

`pytest testcases/ --target inprocess` runs the suite through pytest; the
project's own `pytest tests` never sees a case file, because only files inside
a folder named `testcases` are collected. A case the target's expected-verdicts
file lists as failing is a strict xfail: should it start passing, pytest says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .loader import CASE_SUFFIXES, load_cases
from .model import Case
from .runner import CaseResult, run_case
from .target import Target, TargetConfig, load_target
from .verdicts import Expected, expected_verdict, load_expected
from .yamlsrc import InputError

_TARGET_KEY = pytest.StashKey[tuple[TargetConfig, Target, dict[str, Expected]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "TCP conformance cases (YAML under testcases/)")
    group.addoption(
        "--target", default=None, help="target name or YAML file for testcases/ (default: inprocess)"
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in CASE_SUFFIXES and "testcases" in file_path.parts:
        return CaseFile.from_parent(parent, path=file_path)
    return None


def _target(config: pytest.Config) -> tuple[TargetConfig, Target, dict[str, Expected]]:
    if _TARGET_KEY not in config.stash:
        try:
            target_config = load_target(config.getoption("target") or "inprocess")
        except InputError as exc:
            raise pytest.UsageError(str(exc)) from None
        target = target_config.open()
        config.stash[_TARGET_KEY] = (target_config, target, load_expected(target_config.verdicts_path))
        config.add_cleanup(target.close)
    return config.stash[_TARGET_KEY]


class CaseFile(pytest.File):
    def collect(self) -> list[pytest.Item]:
        try:
            cases = load_cases([self.path])
        except InputError as exc:
            raise self.CollectError(str(exc)) from None
        return [CaseItem.from_parent(self, name=case.id, case=case) for case in cases]


class CaseFailed(Exception):
    def __init__(self, result: CaseResult):
        super().__init__(result.message)
        self.result = result


class CaseItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any):
        super().__init__(**kwargs)
        self.case = case
        for sid in case.semantics:
            self.user_properties.append(("semantic", sid))

    def setup(self) -> None:
        target_config, _, expected = _target(self.config)
        want: Expected = expected_verdict(self.case.id, expected)
        self.user_properties.append(("target", target_config.name))
        if want.verdict in ("fail", "error"):
            self.add_marker(pytest.mark.xfail(reason=want.reason, strict=True, raises=CaseFailed))

    def runtest(self) -> None:
        _, target, _ = _target(self.config)
        result = run_case(self.case, target)
        if result.verdict == "skip":
            pytest.skip(result.message)
        if result.verdict != "pass":
            raise CaseFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailed):
            r = excinfo.value.result
            lines = [f"{r.verdict}: {r.where}: {r.step.where if r.step else ''}", r.message]
            lines += [f"  {m.field}: expected {m.expected}; observed {m.observed}" for m in r.mismatches]
            return "\n".join(lines + ["", "frames and device notes:", *r.log])
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"{self.case.id}: {self.case.title}"
