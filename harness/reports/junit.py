"""junit.xml through junit-xml: one testcase per case, the true verdict, target and semantics as properties.

junit-xml has no per-testcase properties, so they are added to its output with
ElementTree (JUnit readers such as Jenkins and GitLab accept them there). Built from
journal records (harness/reports/journal.py).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from junit_xml import TestCase, TestSuite, to_xml_report_string

from ..scoring import Scorecard


def _testcase(r: Mapping[str, Any], folder: Path) -> TestCase:
    # The pcap as an attachment in the form CI servers pick up from system-out (Jenkins' JUnit
    # Attachments, GitLab's artifacts links): an absolute path, so it resolves from any workspace.
    attachment = [f"[[ATTACHMENT|{(folder / r['pcap']).resolve()}]]"] if r["pcap"] else []
    tc = TestCase(
        name=r["id"],
        classname=f"{r['target']}.{r['area']}",
        elapsed_sec=r["wall_time"],
        file=r["file"],
        line=r["line"],
        stdout="\n".join([*attachment, *r["log"]]) or None,
        stderr="\n".join(r["warnings"]) or None,
    )
    note = ""
    if r["expected"] != "pass":
        note = f"[expected {r['expected']} on {r['target']}: {r['expected_reason']}] "
    message = r["message"] or ""
    first_line = (message.splitlines() or [""])[0]
    if r["verdict"] == "fail":
        tc.add_failure_info(message=note + first_line, output=_detail(r))
    elif r["verdict"] == "error":
        tc.add_error_info(message=note + first_line, output=message)
    elif r["verdict"] == "skip":
        tc.add_skipped_info(message=message)
    return tc


def _detail(r: Mapping[str, Any]) -> str:
    step = f"{r['step']} ({r['step_action']})" if r["step"] else "case"
    lines = [f"{r['where']}: {step}", r["message"] or ""]
    for m in r["mismatches"]:
        lines.append(f"  {m['field']}: expected {m['expected']}")
        lines.append(f"  {' ' * len(m['field'])}  observed {m['observed']}")
    return "\n".join(lines)


def render(
    records: Sequence[Mapping[str, Any]],
    target: str,
    card: Scorecard,
    run_properties: Mapping[str, str],
    folder: Path,
) -> str:
    """`folder` is the results folder the records' pcap paths are relative to."""
    suite_props = {"target": target, **run_properties, "score.overall": card.overall.text()}
    suite_props.update({f"score.{g}": s.text() for g, s in card.per_group.items()})
    suite_props.update({f"score.{sid}": s.text() for sid, s in card.per_semantic.items()})
    cases = [_testcase(r, folder) for r in records]
    suite = TestSuite(f"conformance.{target}", cases, properties=suite_props)
    root = ET.fromstring(to_xml_report_string([suite], encoding="utf-8"))
    for element, r in zip(root.iter("testcase"), records, strict=True):
        props = ET.Element("properties")
        values = [
            ("target", target),
            ("semantics", " ".join(r["semantics"])),
            ("verdict", r["verdict"]),
            ("expected_verdict", r["expected"]),
        ]
        values += [("semantic", sid) for sid in r["semantics"]]
        if r["expected_reason"]:
            values.append(("expected_reason", r["expected_reason"]))
        if r["pcap"]:
            values.append(("pcap", r["pcap"]))
        for name, value in values:
            ET.SubElement(props, "property", name=name, value=value)
        element.insert(0, props)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
