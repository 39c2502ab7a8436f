"""The harness's runner and the in-process target with the gratuitous ARP (vARPAgeCache) on.

The runner answers only ARP requests for the harness address and files every other ARP request
away (runner._CaseRun._capture), so the stack's own announcements never count as a segment, a
stray frame for expect_silence, or a reply to an expect.
"""

from __future__ import annotations

from pathlib import Path

from scapy.layers.l2 import ARP, Ether

from harness.loader import load_cases
from harness.runner import run_case
from harness.target import load_target

CASE = """\
id: stack/gratuitous-arp-in-a-long-case
title: An idle connection across two gratuitous ARPs
semantics: [FR-KA-7]
setup:
  listen: {port: 7000}
steps:
  - handshake: {accept: true}
  - expect_silence: 45s
  - inject: {flags: PA, payload: "ping"}
  - expect: {flags: A, seq: 1, ack: 5, within: 100ms}
  - wait: 30s
  - inject: {flags: PA, payload: "pong"}
  - expect: {flags: A, seq: 1, ack: 9, within: 100ms}
"""


def test_vARPAgeCache_announcements_do_not_disturb_expect_or_silence(tmp_path: Path) -> None:
    path = tmp_path / "stack" / "case.yaml"
    path.parent.mkdir()
    path.write_text(CASE)
    [case] = load_cases([path])
    result = run_case(case, load_target("inprocess").open())
    assert (result.verdict, result.message) == ("pass", "")
    announced = [round(f.time - result.t0, 3) for f in result.frames
                 if f.outbound and ARP in (p := Ether(f.data)) and p[ARP].psrc == p[ARP].pdst]
    assert announced == [10.0, 40.0, 70.0]
