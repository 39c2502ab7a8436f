"""junit.xml, summary.json and pcaps: they parse, agree with each other, and survive an interrupted run."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from scapy.utils import rdpcap

from harness.cli import main
from harness.model import Case
from harness.reports import ResultsWriter
from harness.runner import CaseResult
from harness.target import TargetConfig
from harness.verdicts import Expected


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("results")
    assert main(["run", "--target", "inprocess", "--results", str(results), "-q"]) == 0
    return results


def _junit_cases(path: Path) -> dict[str, ET.Element]:
    return {tc.get("name"): tc for tc in ET.parse(path).getroot().iter("testcase")}


def _verdict(tc: ET.Element) -> str:
    for tag, verdict in (("failure", "fail"), ("error", "error"), ("skipped", "skip")):
        if tc.find(tag) is not None:
            return verdict
    return "pass"


def test_junit_has_one_testcase_per_case_agreeing_with_summary(full_run: Path, suite: list[Case]) -> None:
    summary = json.loads((full_run / "summary.json").read_text())
    junit = _junit_cases(full_run / "junit.xml")
    assert set(junit) == {c.id for c in suite} == {c["id"] for c in summary["cases"]}
    assert summary["complete"] is True
    for entry in summary["cases"]:
        tc = junit[entry["id"]]
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        assert _verdict(tc) == entry["verdict"] == props["verdict"]
        assert props["target"] == "inprocess"
        assert props["semantics"].split() == entry["semantics"]
        assert props["expected_verdict"] == entry["expected"]


def test_scores_agree_between_summary_and_junit(full_run: Path) -> None:
    summary = json.loads((full_run / "summary.json").read_text())
    suite_props = {
        p.get("name"): p.get("value")
        for p in ET.parse(full_run / "junit.xml").getroot().find("testsuite/properties")
    }
    for sid, score in summary["semantics"].items():
        assert suite_props[f"score.{sid}"].startswith(f"{score['passed']}/{score['run']}")
    totals = summary["totals"]
    assert suite_props["score.overall"].startswith(f"{totals['passed']}/{totals['run']}")
    # Both link the catalogue that ships with the project (each ID's wording, source, cases).
    assert suite_props["semantics_catalogue"] == summary["semantics_catalogue"]
    assert Path(summary["semantics_catalogue"]).is_file()


def test_findings_show_fs_claims_the_target_does_not_honour(
    full_run: Path, inprocess_expected: dict[str, Expected]
) -> None:
    summary = json.loads((full_run / "summary.json").read_text())
    assert {f["id"] for f in summary["findings"]} == set(inprocess_expected)
    assert any("FS" in f["groups"] for f in summary["findings"])
    assert summary["drift"] == []


def test_each_junit_testcase_attaches_its_pcap(full_run: Path) -> None:
    """`[[ATTACHMENT|path]]` in system-out (what CI servers pick up), the file there and readable;
    the semantics as properties beside it."""
    summary = {c["id"]: c for c in json.loads((full_run / "summary.json").read_text())["cases"]}
    for name, tc in _junit_cases(full_run / "junit.xml").items():
        out = tc.findtext("system-out") or ""
        attached = re.findall(r"\[\[ATTACHMENT\|(.+?)\]\]", out)
        if summary[name]["verdict"] == "skip":
            assert attached == []
            continue
        assert attached == [str((full_run / summary[name]["pcap"]).resolve())], name
        assert len(rdpcap(attached[0])) == summary[name]["frames"]
        props = [(p.get("name"), p.get("value")) for p in tc.iter("property")]
        assert [v for k, v in props if k == "semantic"] == summary[name]["semantics"]


def test_one_readable_pcap_per_case_with_both_directions(full_run: Path) -> None:
    summary = json.loads((full_run / "summary.json").read_text())
    for entry in summary["cases"]:
        packets = rdpcap(str(full_run / entry["pcap"]))
        assert len(packets) == entry["frames"]
    packets = rdpcap(str(full_run / "pcaps" / "listen__passive-open-linux-syn.pcap"))
    sources = {p["Ether"].src for p in packets}
    assert sources == {"02:74:63:68:00:01", "02:74:63:68:00:02"}


def test_interrupted_run_leaves_valid_files(
    tmp_path: Path, inprocess: TargetConfig, baseline: dict[str, CaseResult]
) -> None:
    writer = ResultsWriter(tmp_path, inprocess, {})
    finished = list(baseline.values())[:3]
    for result in finished:
        writer.add(result)
    # Until the run ends the reports stay the valid, empty ones written at the start (rewriting
    # them per case made a run quadratic); the journal has every finished case.
    assert json.loads((tmp_path / "summary.json").read_text())["totals"]["cases"] == 0
    writer.close("interrupted (Ctrl-C)")   # as the CLI does on Ctrl-C in the fourth case
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["complete"] is False and summary["ended"] == "interrupted (Ctrl-C)"
    assert [c["id"] for c in summary["cases"]] == [r.case.id for r in finished]
    assert len(_junit_cases(tmp_path / "junit.xml")) == 3
    assert not list(tmp_path.rglob("*.tmp"))


def test_table_summary_and_junit_carry_the_same_scores(
    tmp_path: Path, inprocess: TargetConfig, baseline: dict[str, CaseResult]
) -> None:
    """Per semantic, per group (FS and RFC apart) and overall, skips shown apart, in all three reports."""
    import copy
    import io
    import re

    from harness.cli import _table
    from harness.scoring import score

    results = list(baseline.values())
    skipped = copy.copy(results[0])
    skipped.verdict, skipped.message = "skip", "pretend the target lacks a capability"
    results[0] = skipped
    writer = ResultsWriter(tmp_path, inprocess, {})
    for result in results:
        writer.add(result)
    writer.finish()
    summary = json.loads((tmp_path / "summary.json").read_text())
    props = {
        p.get("name"): p.get("value")
        for p in ET.parse(tmp_path / "junit.xml").getroot().find("testsuite/properties")
    }
    out = io.StringIO()
    _table(score(results), out)
    table = out.getvalue()
    shown = dict(re.findall(r"^  (\S+)\s+(\d+/\d+.*)$", table, re.M))
    groups = dict(re.findall(r"(FS|FR|RFC) (\d+/\d+ \(\d+%\)(?:, \d+ skipped)?)", table))

    def text(score: dict) -> str:
        ratio = f" ({score['score']:.0%})" if score["run"] else ""
        skips = f", {score['skipped']} skipped" if score["skipped"] else ""
        return f"{score['passed']}/{score['run']}{ratio}{skips}"

    assert summary["semantics"], "no per-semantic scores"
    for sid, s in summary["semantics"].items():
        assert s["run"] == s["passed"] + s["failed"] + s["errors"]
        assert shown[sid] == props[f"score.{sid}"] == text(s), sid
    assert {"FS", "RFC"} <= set(summary["groups"])
    for group, s in summary["groups"].items():
        if s["run"] or s["skipped"]:
            assert groups[group] == props[f"score.{group}"] == text(s), group
    assert f"Overall: {text(summary['overall'])}" in table
    assert props["score.overall"] == text(summary["overall"])
    assert summary["overall"]["skipped"] == 1
    assert any(s["skipped"] for s in summary["semantics"].values())
