"""Every FR item of SEMANTICS.md is pinned by at least one test whose name cites it."""

import re
from pathlib import Path

from harness.semantics import catalogue

HERE = Path(__file__).resolve().parent
TEST_NAME = re.compile(r"^\s*def (test_\w+)", re.M)


def cited_ids() -> dict[str, list[str]]:
    cited: dict[str, list[str]] = {}
    for path in sorted(HERE.glob("test_*.py")):
        for name in TEST_NAME.findall(path.read_text(encoding="utf-8")):
            for m in re.finditer(r"FR_([A-Z]+)_(\d+)", name):
                cited.setdefault(f"FR-{m.group(1)}-{m.group(2)}", []).append(f"{path.name}::{name}")
    return cited


def test_every_fr_item_is_cited_by_a_test() -> None:
    fr_ids = [i for i in catalogue() if i.startswith("FR-")]
    assert len(fr_ids) >= 40, "the FR catalogue looks truncated"
    cited = cited_ids()
    missing = [i for i in fr_ids if i not in cited]
    assert not missing, f"FR items no test cites: {', '.join(missing)}"


def test_no_test_cites_an_unknown_fr_item() -> None:
    known = set(catalogue())
    unknown = {i: where for i, where in cited_ids().items() if i not in known}
    assert not unknown, f"tests cite FR IDs that SEMANTICS.md does not have: {unknown}"
