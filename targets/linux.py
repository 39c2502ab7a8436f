"""The linux target: the host kernel's TCP in a network namespace, over a veth pair, on the wall clock.

Every reset builds a fresh namespace and veth pair and a fresh agent: a kernel keeps
connections alive after their sockets are closed (FIN_WAIT, TIME_WAIT, orphaned
retransmissions), and the harness reuses its ports from case to case, so only a new
namespace gives each case a device that has never seen the previous one (~50 ms).

The agent (targets/linux_agent.py) makes the case's socket calls with Python's socket module
inside the namespace; results are BSD results, normalised by harness.vocabulary_bsd.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness import HARNESS_IP, HARNESS_MAC
from harness.wire.agent import Agent
from harness.wire.links import Link, make_veth
from harness.wire.target_base import WireTarget

AGENT = Path(__file__).with_name("linux_agent.py")


class LinuxTarget(WireTarget):
    fresh_link_per_case = True        # a new namespace per case: see the module doc
    keepalive_default_interval = 20.0

    def _make_link(self) -> Link:
        link = make_veth(self.config.device_ip, self.config.device_mac, HARNESS_IP, HARNESS_MAC)
        assert link.netns and link.device_if
        return link

    def _agent_command(self, link: Link) -> tuple[Sequence[str], Mapping[str, str] | None]:
        return ["ip", "netns", "exec", str(link.netns), sys.executable, "-u", str(AGENT)], None

    def _device_note(self, agent: Agent, link: Link) -> str:
        return f"device: kernel TCP in netns {link.netns}, {link.device_if} {self.config.device_ip}"
