"""What every real-wire target shares: a link, the wire engine on it, and an agent process.

A subclass says only what differs: how its link is made (`_make_link`), how its agent is
started (`_agent_command`), whether the link lives for one case or for the target
(`fresh_link_per_case`), the calls it does not offer (`unsupported`), its default keep-alive
interval, and any check or clean-up around the agent's start (`_agent_started`,
`_agent_configured`). The rest is here, once:

- `reset`: stop the previous agent (and, per case, the link and engine), start a fresh agent,
  wake the engine's poll on its completion pipe, apply the case's settings (`configure`);
- `frames`: the device's frames from the engine; a completed call returns at once with what
  was captured so far, and an agent that died under a pending call is an error, not silence;
- `inject`, `call` (with the FreeRTOS-only calls refused by name), `notes`, `close`.

Clock: the wall clock (time.time()), the clock of kernel packet stamps and agent results.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .. import HARNESS_IP, HARNESS_MAC
from ..target import CallHandle, Frame, TargetConfig, TargetUnavailable
from .agent import Agent, AgentCall, AgentError, freertos_args
from .engine import WireEngine
from .links import Link, missing_requirements
from .wall_target import WallClockTarget

# FreeRTOS calls no BSD-style agent can make; a target adds its own (e.g. connstatus) to these.
FREERTOS_ONLY: Mapping[str, str] = {
    "semaphore_create": "user semaphores are FreeRTOS-only",
    "semaphore_take": "user semaphores are FreeRTOS-only",
}


class WireTarget(WallClockTarget):
    """A target whose device is a real stack behind a `tch…` link, driven by an agent process."""

    # Calls with no counterpart on this device; calling one is an error verdict that names it.
    unsupported: ClassVar[Mapping[str, str]] = FREERTOS_ONLY
    parallel = True  # every instance makes its own links and agents
    # Cases mostly wait on protocol timers and the agents sleep meanwhile, so several per core
    # overlap; 4 per core is as fast as 8 here (linux suite 61.2 s at 8 workers, 61.7 s at 16; lwip
    # 60.5 s at 8, 60.6 s at 16: both bound by a 60 s case) and starts half the agents at once.
    workers_per_core = 4
    # True: a new link and engine for every case; False: they live as long as the target.
    fresh_link_per_case: ClassVar[bool] = False
    # veth links need ethtool (checksum offload off); a tap has no offload to turn off.
    needs_ethtool: ClassVar[bool] = True
    # keepalive_interval when the case's settings do not give one (seconds).
    keepalive_default_interval: ClassVar[float] = 7200.0

    def __init__(self, config: TargetConfig):
        super().__init__(config)
        self.link: Link | None = None
        self.agent: Agent | None = None
        self._watched: list[AgentCall] = []
        self._notes: list[tuple[float, str]] = []

    # ---- what a subclass says -----------------------------------------------------------------

    def _make_link(self) -> Link:
        raise NotImplementedError

    def _agent_command(self, link: Link) -> tuple[Sequence[str], Mapping[str, str] | None]:
        """The agent's command line and extra environment, for an agent on `link`."""
        raise NotImplementedError

    def _device_note(self, agent: Agent, link: Link) -> str:
        """The note that opens the case's ladder: which device this is."""
        raise NotImplementedError

    def preflight(self) -> None:
        why = missing_requirements(need_ethtool=self.needs_ethtool)
        if why:
            raise TargetUnavailable(why)

    def _prepare(self) -> None:
        """Runs first in every reset, before anything is torn down (e.g. build the agent)."""

    def _agent_started(self, agent: Agent, link: Link) -> None:
        """Runs once the agent said ready, before it is watched or configured (e.g. a carrier check)."""

    def _agent_configured(self, engine: WireEngine) -> None:
        """Runs after `configure` (e.g. drop frames the device sent while coming up)."""

    # ---- lifecycle ----------------------------------------------------------------------------

    def reset(self, settings: Mapping[str, Any]) -> None:
        self._prepare()
        self._stop_agent()
        self._notes = []
        if self.fresh_link_per_case:
            self._close_link()
        if self.link is None or self.link.closed:
            self.link = self._make_link()
        if self.engine is None:
            self.engine = WireEngine(self.link.harness_if, self.config.device_ip, HARNESS_IP, HARNESS_MAC)
        command, env = self._agent_command(self.link)
        self.agent = Agent(command, env=env)
        self._agent_started(self.agent, self.link)
        self.engine.watch(self.agent.wake_r)
        self.agent.call_sync("configure", {"keepalive": self._keepalive(settings)})
        self._agent_configured(self.engine)
        self._watched = []
        self._notes = [(time.time(), self._device_note(self.agent, self.link))]

    def _keepalive(self, settings: Mapping[str, Any]) -> dict[str, Any] | None:
        if not settings.get("keepalive"):
            return None
        # FreeRTOS's keep-alive interval is the idle time before the first probe; the agents take
        # the same value for the gap between unanswered probes (TCP_KEEPINTVL), and the probe
        # count from the profile (TCP_KEEPCNT).
        interval = float(settings.get("keepalive_interval", self.keepalive_default_interval))
        ka = self.config.profile.get("keepalive", {})
        return {"on": True, "idle": interval, "interval": interval, "count": int(ka.get("probes", 3))}

    def _stop_agent(self) -> None:
        if self.agent is not None:
            if self.engine is not None:
                self.engine.unwatch(self.agent.wake_r)
            self.agent.close()
            self.agent = None

    def _close_link(self) -> None:
        self._close_engine(self.link)
        self.link = None

    def close(self) -> None:
        self._stop_agent()
        self._close_link()

    # ---- the contract -------------------------------------------------------------------------

    def frames(self, deadline: float) -> list[Frame]:
        assert self.engine is not None and self.agent is not None, "reset() first"
        if self._a_call_completed():
            return self.engine.drain()
        out = self.engine.receive(deadline)
        self.agent.drain_wake()
        if not self.agent.alive and any(not c.done for c in self._watched):
            self.agent.raise_death()
        return out

    def _a_call_completed(self) -> bool:
        before = len(self._watched)
        self._watched = [c for c in self._watched if not c.done]
        return len(self._watched) < before

    def call(self, op: str, **args: Any) -> CallHandle:
        assert self.agent is not None, "reset() first"
        if op in self.unsupported:
            raise AgentError(f"{op}: {self.unsupported[op]}")
        self._settle_after_inject()
        # connstatus is the agent's `tcpstate`, the stack's own state under FreeRTOS's names.
        wire_op = "tcpstate" if op == "connstatus" else None
        handle = self.agent.request(op, freertos_args(op, args), wire_op=wire_op)
        self._watched.append(handle)
        return handle

    def notes(self) -> list[tuple[float, str]]:
        agent_notes = self.agent.notes() if self.agent is not None else []
        return sorted(self._notes + agent_notes)
