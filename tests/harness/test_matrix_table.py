"""Issue 14 item 1: the state x segment matrix is generated from harness/matrix/table.yaml, and the
generated cases are the table's, current and complete."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from harness import matrix
from harness.loader import load_cases


def test_the_checked_in_matrix_is_what_the_table_gives() -> None:
    assert matrix.stale() == [], "run python -m harness.matrix"
    assert matrix.main(["--check"]) == 0


def test_every_state_has_every_class() -> None:
    table = matrix.load_table()
    generated = matrix.cases(table)
    assert len(table["states"]) == 11 and len(table["classes"]) == 19
    assert sum(map(len, generated.values())) == 11 * 19
    ids = [c.id for c in load_cases([matrix.OUT])]
    assert len(ids) == len(set(ids)) == 11 * 19


def test_a_missing_cell_or_unknown_answer_is_named(tmp_path: Path) -> None:
    table = matrix.load_table()
    broken = copy.deepcopy(table)
    del broken["states"]["listen"]["cells"]["syn"]
    with pytest.raises(matrix.TableError, match="state listen: no cell for syn"):
        matrix.cases(broken)
    broken = copy.deepcopy(table)
    broken["states"]["listen"]["cells"]["syn"] = "shrug FR-LISTEN-1"
    with pytest.raises(matrix.TableError, match="listen x syn: unknown answer 'shrug'"):
        matrix.cases(broken)
    broken = copy.deepcopy(table)
    broken["states"]["listen"]["cells"]["rst_in"] = "rst FR-LISTEN-1"
    with pytest.raises(matrix.TableError, match="class rst_in has no rst"):
        matrix.cases(broken)


def test_a_stale_file_is_reported(tmp_path: Path) -> None:
    matrix.write(tmp_path)
    assert matrix.stale(tmp_path) == []
    (tmp_path / "listen.yaml").write_text("# edited by hand\n", encoding="utf-8")
    (tmp_path / "extra.yaml").write_text("", encoding="utf-8")
    assert matrix.stale(tmp_path) == ["extra.yaml", "listen.yaml"]


def test_a_cell_becomes_an_ordinary_case() -> None:
    cases = {c["id"]: c for c in matrix.cases(matrix.load_table())["fin_wait_1"]}
    case = cases["matrix/fin_wait_1-rst-in"]
    assert case["semantics"] == ["FR-RST-2"] and "measured" in case["notes"]
    inject = {"flags": "R", "seq": "rcv.nxt + 100", "ack": "snd.nxt - 1", "win": 1000}
    assert case["steps"][-2] == {"inject": inject}
    reflect = {c["id"]: c for c in matrix.cases(matrix.load_table())["syn_sent"]}["matrix/syn_sent-fin-in"]
    assert reflect["steps"][-1]["expect"]["flags"] == "RA"     # FIN dropped from the reflected flags
