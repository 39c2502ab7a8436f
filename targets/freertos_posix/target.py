"""`FreertosPosixTarget`: the real FreeRTOS+TCP (the user's checkout, or the pinned V4.4.1 in
../shared/third_party) with the FreeRTOS-Kernel POSIX port, on a `tch…` veth pair, wall clock.

- the device: one process per case (build.py compiles it on first use, one binary per build-time
  setting combination, so a case asking for keep-alive or another interval gets that build
  instead of a skip); its libpcap NetworkInterface opens the device end of the veth pair;
- calls: the harness agent (targets/sam4e/firmware, unchanged) through its mailbox in the
  process's memory (/proc/PID/mem), with the board's mailbox rules (targets/mailbox_target.py);
- frames: the shared wire engine on the harness end, kernel timestamps, ARP answered at once;
- notes: the agent's RTT log, read from the process's memory as the board's is over SWD.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from harness import HARNESS_IP, HARNESS_MAC
from harness.target import TargetConfig, TargetUnavailable
from harness.wire.engine import WireEngine
from harness.wire.links import Link, LinkError, make_veth_pair, missing_requirements
from targets.mailbox_target import MailboxTarget, MailboxTargetError

from .build import SETTINGS, BuildError, Sources, build_agent, missing_build_tools, resolve_sources
from .device import AgentProcessError, PosixDevice, PosixDeviceError
from .user_config import replaced, with_header


class FreertosPosixError(MailboxTargetError):
    pass


def build_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a case's settings that selects a build (the rest are socket options)."""
    return {key: value for key, value in settings.items() if key in SETTINGS}


class FreertosPosixTarget(MailboxTarget):
    """FreeRTOS+TCP on the host: a process per case, its mailbox in process memory."""

    error = FreertosPosixError
    parallel = True  # every instance makes its own veth pair and stack processes
    # CPU-bound sooner than the other wall-clock targets: each FreeRTOS process takes ~9 % of a core
    # while idle (the POSIX port's 1 kHz SIGALRM tick). The suite on 2 cores, longest first, no
    # drift alone: 8 workers 247 s, 12 166 s, 16 151 s, 20 152 s (CPU-bound); 24 missed a 10 ms
    # window, and 12 beside the project's other tests missed tick-exact keep-alive cases. 4 per core.
    workers_per_core = 4
    device_errors = (PosixDeviceError, AgentProcessError)

    def __init__(self, config: TargetConfig, sources: Sources | None = None, seed: int = 0):
        super().__init__(config)
        self._sources = sources
        self.seed = seed
        self.link: Link | None = None
        self.device: PosixDevice | None = None

    @classmethod
    def completed(cls, config: TargetConfig) -> TargetConfig:
        """With the user's FreeRTOSIPConfig.h: its values as the build settings' defaults."""
        return with_header(config, fixed=False)

    @property
    def sources(self) -> Sources:
        if self._sources is None:
            self._sources = resolve_sources(self.config.sources, base=self.config.path.parent)
        return self._sources

    def _defaults(self) -> dict[str, Any]:
        plan, _ = self.config.settings_plan({})
        return build_settings(plan)

    def preflight(self) -> None:
        """Root, ethtool, gcc, libpcap and the sources, then the default build (each a one-line error)."""
        why = missing_requirements() or missing_build_tools()
        if why:
            raise TargetUnavailable(why)
        try:
            build_agent(self.sources, self._defaults())
        except BuildError as exc:
            raise TargetUnavailable(str(exc).splitlines()[0]) from exc

    def reset(self, settings: Mapping[str, Any]) -> None:
        try:
            binary = build_agent(self.sources, build_settings(settings))
        except BuildError as exc:
            raise FreertosPosixError(str(exc)) from exc
        self._stop_calls()
        self._stop_device()
        if self.link is None or self.link.closed:
            try:
                self.link = make_veth_pair(HARNESS_MAC)
            except LinkError as exc:
                raise FreertosPosixError(str(exc)) from exc
        assert self.link.device_if is not None
        if self.engine is None:
            self.engine = WireEngine(self.link.harness_if, self.config.device_ip, HARNESS_IP, HARNESS_MAC)
        self.engine.drain()
        self.device = PosixDevice(binary, self.link.device_if, self.config.device_ip, self.config.device_mac,
                                  seed=self.seed)
        # What the stack sent while coming up (its first ARP traffic) is not the case's.
        self.engine.drain()
        where = f"{self.link.device_if}, {self.config.device_ip} {self.config.device_mac}"
        self._notes = [(time.time(), f"device: FreeRTOS+TCP {self.sources.plus_tcp} on {where}")]
        if self.sources.ip_config is not None:
            ours = replaced(self.sources)
            changed = f"; the build replaces {', '.join(ours)}" if ours else ""
            self._notes.append((time.time(), f"config: {self.sources.ip_config}{changed}"))
        self._start_calls()

    def frames(self, deadline: float) -> list[Any]:
        out = super().frames(deadline)
        device = self.device
        if not out and device is not None and not device.alive and self._live:
            raise FreertosPosixError(f"the FreeRTOS+TCP process died under a pending call: "
                                     f"{device.process.stderr_tail()}")
        return out

    def _stop_device(self) -> None:
        if self.device is not None:
            self.device.close()
            self.device = None

    def close(self) -> None:
        self._stop_calls()
        self._stop_device()
        self._close_engine(self.link)
        self.link = None
        self._close_wake()
