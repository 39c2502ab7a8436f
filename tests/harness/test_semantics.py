"""The bundled copy of the semantic IDs agrees with ../shared/SEMANTICS.md when both exist."""

from __future__ import annotations

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
