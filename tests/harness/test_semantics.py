"""The bundled copy of the semantic IDs agrees with ../shared/SEMANTICS.md when both exist."""

from __future__ import annotations

import dataclasses

import pytest

from harness.semantics import SHARED_CATALOGUE, load_bundled, parse_markdown


def test_bundled_ids_match_shared_catalogue() -> None:
    if not SHARED_CATALOGUE.is_file():
        pytest.skip(f"{SHARED_CATALOGUE} is not beside this clone; the bundled copy is used alone")
    shared = [s.id for s in parse_markdown(SHARED_CATALOGUE.read_text(encoding="utf-8"))]
    assert [s.id for s in load_bundled()] == shared, "regenerate with `python -m harness.semantics`"


def test_parser_reads_all_three_groups() -> None:
    text = (
        "| FS-1 | a claim. | 000 |\n"
        "- **FR-KA-2** Probe: ACK only.\n"
        "- **RFC-KA** (RFC 1122) Keep-alive. More.\n"
    )
    assert [(s.id, s.group) for s in parse_markdown(text)] == [
        ("FS-1", "FS"),
        ("FR-KA-2", "FR"),
        ("RFC-KA", "RFC"),
    ]
    assert parse_markdown(text)[2].summary == "(RFC 1122) Keep-alive."


def test_bundled_catalogue_has_every_group() -> None:
    groups = {s.group for s in load_bundled()}
    assert groups == {"FS", "FR", "RFC"}


def test_measured_corrections_survive_the_shared_catalogue_and_regeneration(tmp_path) -> None:
    from harness.semantics import catalogue, dump_yaml, with_measured

    bundled = load_bundled()
    measured = {s.id: s.measured for s in bundled if s.measured}
    assert {"FR-KA-4", "FR-RTO-1", "FR-HS-4"} <= set(measured)
    # Whichever source the IDs come from, the corrections are attached.
    assert {i: catalogue()[i].measured for i in measured} == measured
    stripped = [dataclasses.replace(s, measured=None) for s in bundled]
    again = tmp_path / "semantics.yaml"
    again.write_text(dump_yaml(with_measured(stripped, bundled)), encoding="utf-8")
    assert load_bundled(again) == bundled


def test_summary_json_carries_the_measured_wording(tmp_path) -> None:
    from harness.reports.summary import _measured

    assert _measured("FR-KA-4")["measured"].startswith("The drop does not stop")
    assert _measured("FS-1") == {}


def test_catalogue_document_is_current(suite) -> None:  # type: ignore[no-untyped-def]
    """docs/semantics.md ships with the project and every report links to it: it must say what
    harness/semantics.yaml and testcases/ say now."""
    from harness.reports import CATALOGUE_DOC
    from harness.semantics import catalogue
    from harness.semantics_doc import DOC, render

    assert CATALOGUE_DOC == DOC
    assert DOC.read_text(encoding="utf-8") == render(catalogue(), suite), (
        "docs/semantics.md is stale: regenerate with `python -m harness.semantics_doc`")
    text = DOC.read_text(encoding="utf-8")
    for sem in catalogue().values():
        assert f'<a id="{sem.id.lower()}"></a>' in text and sem.source, sem.id
    assert "[`close/closesocket-sends-nothing`](../testcases/close/closesocket.yaml#L1)" in text


def test_bundled_copy_carries_whole_wording_and_source() -> None:
    if not SHARED_CATALOGUE.is_file():
        pytest.skip(f"{SHARED_CATALOGUE} is not beside this clone; the bundled copy is used alone")
    shared = {s.id: s for s in parse_markdown(SHARED_CATALOGUE.read_text(encoding="utf-8"))}
    for sem in load_bundled():
        assert (sem.wording, sem.source) == (shared[sem.id].wording, shared[sem.id].source), sem.id
    assert shared["FS-5"].source.startswith("forum thread 001")
    assert shared["RFC-KA"].source == "RFC 1122 4.2.3.6"
    assert shared["FR-CLOSE-1"].source.endswith(": Close and shutdown")
