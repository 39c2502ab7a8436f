"""junit.xml through junit-xml: one testcase per case, the true verdict, target and semantics as properties.

junit-xml has no per-testcase properties, so they are added to its output with
ElementTree (JUnit readers such as Jenkins and GitLab accept them there).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from junit_xml import TestCase, TestSuite, to_xml_report_string

from ..runner import CaseResult
from ..scoring import Scorecard
from ..verdicts import Expected, expected_verdict


def _testcase(result: CaseResult, expected: Mapping[str, Expected]) -> TestCase:
    case = result.case
    tc = TestCase(
        name=case.id,
        classname=f"{result.target}.{case.area}",
        elapsed_sec=result.wall_time,
        file=str(case.file),
        line=case.line,
        stdout="\n".join(result.log) or None,
        stderr="\n".join(result.warnings) or None,
    )
    want = expected_verdict(case.id, expected)
    note = f"[expected {want.verdict} on {result.target}: {want.reason}] " if want.verdict != "pass" else ""
    first_line = (result.message.splitlines() or [""])[0]
    if result.verdict == "fail":
        tc.add_failure_info(message=note + first_line, output=_detail(result))
    elif result.verdict == "error":
        tc.add_error_info(message=note + first_line, output=result.message)
    elif result.verdict == "skip":
        tc.add_skipped_info(message=result.message)
    return tc


def _detail(result: CaseResult) -> str:
    step = f"{result.step.where} ({result.step.action})" if result.step else "case"
    lines = [f"{result.where}: {step}", result.message]
    for m in result.mismatches:
        lines.append(f"  {m.field}: expected {m.expected}")
        lines.append(f"  {' ' * len(m.field)}  observed {m.observed}")
    return "\n".join(lines)


def render(
    results: Sequence[CaseResult],
    target: str,
    card: Scorecard,
    expected: Mapping[str, Expected],
    run_properties: Mapping[str, str],
) -> str:
    suite_props = {"target": target, **run_properties, "score.overall": card.overall.text()}
    suite_props.update({f"score.{g}": s.text() for g, s in card.per_group.items()})
    suite_props.update({f"score.{sid}": s.text() for sid, s in card.per_semantic.items()})
    suite = TestSuite(
        f"conformance.{target}", [_testcase(r, expected) for r in results], properties=suite_props
    )
    root = ET.fromstring(to_xml_report_string([suite], encoding="utf-8"))
    for element, result in zip(root.iter("testcase"), results, strict=True):
        props = ET.Element("properties")
        want = expected_verdict(result.case.id, expected)
        values = [
            ("target", target),
            ("semantics", " ".join(result.case.semantics)),
            ("verdict", result.verdict),
            ("expected_verdict", want.verdict),
        ]
        values += [("semantic", sid) for sid in result.case.semantics]
        if want.reason:
            values.append(("expected_reason", want.reason))
        for name, value in values:
            ET.SubElement(props, "property", name=name, value=value)
        element.insert(0, props)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
