"""Issue 14 item 2: the `fuzz` step. Mutants come from a seed and a template patched at byte level;
the same seed gives the same segments; addresses are never touched; checksums are right unless the
checksum is what is broken; a case goes on after the campaign and its log holds the seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import fuzzing
from harness.loader import load_cases
from harness.packets import Endpoints, Segment, build_segment, parse
from harness.runner import run_case
from harness.target import load_target
from harness.yamlsrc import InputError

ENDS = Endpoints("02:00:00:00:00:01", "198.18.0.1", "02:00:00:00:00:02", "198.18.0.2")
TEMPLATE = build_segment(ENDS, sport=40000, dport=7000, seq=1000, ack=5000, flags="PA", win=502,
                         options=[("NOP", None), ("NOP", None), ("Timestamp", (1, 2))], payload=b"fuzz")
EDGES = fuzzing.Edges(rcv_nxt=1000, snd_nxt=5000, window=2920)


def _mutants(seed: int, count: int = 300) -> list[tuple[str, bytes]]:
    return [fuzzing.mutant(TEMPLATE, seed, i, fuzzing.KINDS, EDGES) for i in range(count)]


def test_a_seed_gives_the_same_segments_and_another_seed_others() -> None:
    assert _mutants(7) == _mutants(7)
    assert _mutants(7) != _mutants(8)
    assert {kind for kind, _ in _mutants(7)} == set(fuzzing.KINDS)


def test_mutants_keep_their_addresses_and_checksums_unless_told() -> None:
    for kind, frame in _mutants(11, 2000):
        assert frame[:12] == TEMPLATE[:12], "the MAC addresses are never touched"
        if len(frame) >= 34:
            assert frame[26:34] == TEMPLATE[26:34], "nor the IP addresses"
        seg = parse(frame)
        if kind in ("flags", "seq", "ack", "oversize"):
            assert isinstance(seg, Segment) and seg.checksum_ok, kind
        if kind == "checksum":
            assert isinstance(seg, Segment) and not seg.checksum_ok
        assert len(frame) <= 1514


def test_a_target_that_raises_names_the_segment() -> None:
    def inject(frame: bytes) -> None:
        if frame[47] & 0x04:
            raise ValueError("boom")

    with pytest.raises(fuzzing.FuzzError, match=r"fuzz segment \d+ of seed 3 \(flags: [0-9a-f]+\): boom"):
        fuzzing.run(TEMPLATE, 3, 500, ("flags",), EDGES, inject, lambda: [], lambda data, answer: None)


CASE = """\
id: t-fuzz
title: t
semantics: [RFC-CHECKSUM]
setup:
  listen: {{port: 7000, backlog: 4}}
steps:
  - handshake: {{accept: true}}
  - fuzz: {{seed: 5, count: {count}{extra}}}
  - handshake: {{peer: b}}
"""


def _case(tmp_path: Path, count: str = "2000", extra: str = "") -> Path:
    path = tmp_path / "case.yaml"
    path.write_text(CASE.format(count=count, extra=extra), encoding="utf-8")
    return path


def test_a_campaign_runs_in_the_cases_flow_and_is_repeatable(tmp_path: Path) -> None:
    first = run_case(load_cases([_case(tmp_path)])[0], load_target("inprocess").open())
    again = run_case(load_cases([_case(tmp_path)])[0], load_target("inprocess").open())
    assert first.verdict == "pass", first.message
    (campaign,) = first.campaigns
    assert campaign.seed == 5 and campaign.count == 2000 and sum(campaign.kinds.values()) == 2000
    assert first.log[0].startswith("fuzz: 2000 segments from seed 5 (")
    assert campaign.replies == again.campaigns[0].replies
    # The pcap holds the first 50 mutants (and what they drew) beside the handshakes' frames.
    sent = [f.data for f in first.frames if not f.outbound]     # ..., 50 mutants, SYN, ACK
    wanted = [fuzzing.mutant(campaign.template, 5, i, fuzzing.KINDS, campaign.edges)[1] for i in range(50)]
    assert sent[-52:-2] == wanted


def test_only_the_kinds_asked_for(tmp_path: Path) -> None:
    case = load_cases([_case(tmp_path, extra=", mutate: [seq, ack]")])[0]
    result = run_case(case, load_target("inprocess").open())
    assert set(result.campaigns[0].kinds) == {"seq", "ack"}


@pytest.mark.parametrize(
    ("count", "extra", "message"),
    [
        ("0", "", "count: 0 is out of range for a count of fuzzed segments"),
        ("10", ", mutate: [bits]", "mutate[0]"),
        ("10", ", seed: -1", "seed: -1 is out of range for a seed"),
    ],
)
def test_a_bad_fuzz_step_is_one_line(tmp_path: Path, count: str, extra: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        load_cases([_case(tmp_path, count, extra)])
    assert message in str(caught.value) and "case.yaml:8" in str(caught.value), str(caught.value)


def test_the_seed_is_in_every_report(tmp_path: Path) -> None:
    import json

    from harness.cli import main

    results = tmp_path / "results"
    assert main(["run", "-q", "--results", str(results), str(_case(tmp_path, "300"))]) == 0
    (case,) = json.loads((results / "summary.json").read_text())["cases"]
    assert case["fuzz"][0]["seed"] == 5 and case["fuzz"][0]["count"] == 300
    assert "<code>seed 5</code>: fuzz: 300 segments from seed 5" in (results / "report.html").read_text()
    assert "fuzz: 300 segments from seed 5" in (results / "junit.xml").read_text()
