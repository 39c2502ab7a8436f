"""The linux target: the host kernel's TCP in a network namespace, over a veth pair, on the wall clock.

Every reset builds a fresh namespace and veth pair and a fresh agent: a kernel keeps
connections alive after their sockets are closed (FIN_WAIT, TIME_WAIT, orphaned
retransmissions), and the harness reuses its ports from case to case, so only a new
namespace gives each case a device that has never seen the previous one (~50 ms).

The agent (targets/linux_agent.py) makes the case's socket calls with Python's socket module
inside the namespace; results are BSD results, normalised by harness.vocabulary_bsd.

The kernel's own knobs are `sysctl.*` settings (harness.sysctl): the target file's defaults
with the case's over them are written into each fresh namespace before its address is added,
and named in the note that opens the case's ladder. preflight() tries the file's own in a
throwaway namespace first, so a value this kernel refuses stops the run before any case.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import HARNESS_IP, HARNESS_MAC, sysctl
from harness.target import TargetConfig, TargetUnavailable
from harness.wire.agent import Agent
from harness.wire.links import Link, LinkError, SysctlRefused, make_veth
from harness.wire.target_base import WireTarget

AGENT = Path(__file__).with_name("linux_agent.py")


class LinuxTarget(WireTarget):
    fresh_link_per_case = True        # a new namespace per case: see the module doc
    keepalive_default_interval = 20.0
    applies_sysctls = True

    def __init__(self, config: TargetConfig):
        super().__init__(config)
        self._sysctls: dict[str, str] = {}

    def preflight(self) -> None:
        super().preflight()
        defaults, _ = self.config.settings_plan({})
        if sysctl.of(defaults):
            try:
                make_veth(self.config.device_ip, self.config.device_mac, HARNESS_IP, HARNESS_MAC,
                          sysctls=sysctl.of(defaults)).close()
            except LinkError as exc:
                fix = f": fix settings in {self.config.path}" if isinstance(exc, SysctlRefused) else ""
                raise TargetUnavailable(f"{exc}{fix}") from exc

    def reset(self, settings: Mapping[str, Any]) -> None:
        # For _make_link, which the base reset calls. The runner passes the planned settings,
        # which hold the file's sysctls already; a bare reset({}) (tests, benches) gets them too.
        self._sysctls = sysctl.of({**self.config.settings_plan({})[0], **settings})
        super().reset(settings)

    def _make_link(self) -> Link:
        link = make_veth(self.config.device_ip, self.config.device_mac, HARNESS_IP, HARNESS_MAC,
                         sysctls=self._sysctls)
        assert link.netns and link.device_if
        return link

    def _agent_command(self, link: Link) -> tuple[Sequence[str], Mapping[str, str] | None]:
        return ["ip", "netns", "exec", str(link.netns), sys.executable, "-u", str(AGENT)], None

    def _device_note(self, agent: Agent, link: Link) -> str:
        knobs = "".join(f", {name}={value}" for name, value in sorted(self._sysctls.items()))
        return f"device: kernel TCP in netns {link.netns}, {link.device_if} {self.config.device_ip}{knobs}"
