"""Pieces shared by the wire benches (wire_jitter.py, wire.py).

A `Device` is one fresh wire-target setup: for linux a `tch…` namespace joined by a veth pair
with the linux agent inside; for lwip a `tch…` tap with a fresh lwIP agent on it; for
freertos-posix the target itself (a FreeRTOS+TCP process on a `tch…` veth pair, built with the
keep-alive settings asked for), its calls made through the target's mailbox; in all, a
WireEngine on the harness end and a listening socket on the device. A `Session` is a Device
with one connection already accepted. Both tear everything
down through links.py's context managers, so a bench that is interrupted (Ctrl-C, SIGTERM,
an exception) leaves no `tch…` namespace or link behind.
"""

from __future__ import annotations

import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import HARNESS_IP, HARNESS_MAC  # noqa: E402
from harness.packets import Endpoints, Segment, build_segment, parse  # noqa: E402
from harness.target import CallHandle, Frame, Target  # noqa: E402
from harness.wire.agent import Agent  # noqa: E402
from harness.wire.engine import WireEngine  # noqa: E402
from harness.wire.links import Link, make_tap, missing_requirements, veth  # noqa: E402

# Benchmarking space only (198.18.0.0/15); the same addresses the linux target uses.
DEVICE_IP, DEVICE_MAC = "198.18.0.2", "02:74:63:68:00:02"
AGENT = Path(__file__).resolve().parents[1] / "targets" / "linux_agent.py"
ENDS = Endpoints(HARNESS_MAC, HARNESS_IP, DEVICE_MAC, DEVICE_IP)
PORT, HPORT, ISN = 7000, 40001, 1000


def requirements_problem(target: str = "linux") -> str | None:
    """One line naming the fix (root, iproute2, ethtool, liblwip-dev, gcc, libpcap-dev), or None when
    the bench can run."""
    if target == "freertos-posix":
        from targets.freertos_posix.build import missing_build_tools

        return missing_requirements(need_ethtool=True) or missing_build_tools()
    if target == "lwip":
        from targets.lwip import missing_requirements as lwip_requirements

        return lwip_requirements()
    return missing_requirements(need_ethtool=True)


class TargetAgent:
    """The Agent calls the benches make (request, call_sync), over a harness Target's calls."""

    def __init__(self, target: Target):
        self.target = target

    def request(self, op: str, args: dict[str, Any]) -> CallHandle:
        a = dict(args)
        if "len" in a:
            a["size"] = a.pop("len")
        if "data" in a:
            a["data"] = bytes.fromhex(a["data"])
        a["flags"] = 0          # the benches pass no flags
        return self.target.call(op, **a)

    def call_sync(self, op: str, args: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        if op == "configure":   # the target was reset with these settings already
            return {}
        handle = self.request(op, args)
        deadline = time.time() + timeout
        while not handle.done and time.time() < deadline:
            time.sleep(0.0005)
        result = handle.result()
        if result is None:
            raise RuntimeError(f"{op}: no answer within {timeout:g} s")
        return {"raw": result.raw}


def freertos_settings(keepalive: dict[str, Any] | None) -> dict[str, Any]:
    """The Agent's keep-alive configuration as freertos-posix build settings (FreeRTOS has one
    interval, whole seconds, and a fixed probe count)."""
    if not keepalive or not keepalive.get("on"):
        return {"keepalive": False}
    return {"keepalive": True, "keepalive_interval": max(1, round(keepalive["interval"]))}


def _open_target(stack: ExitStack, keepalive: dict[str, Any] | None) -> tuple[Link, TargetAgent, WireEngine]:
    from harness.target import load_target

    config = load_target("freertos-posix")
    target = config.open()
    stack.callback(target.close)
    plan, why = config.settings_plan(freertos_settings(keepalive))
    if why:
        raise RuntimeError(why)
    target.reset(plan)
    return target.link, TargetAgent(target), target.engine    # type: ignore[attr-defined]


def _open_link_and_agent(stack: ExitStack, target: str) -> tuple[Link, Agent]:
    """The device side of one bench run; every piece is registered on `stack` for teardown."""
    if target == "lwip":
        from targets.lwip import agent_env, build_agent

        link = make_tap()
        stack.callback(link.close)
        agent = Agent([str(build_agent())], env=agent_env(link.harness_if, DEVICE_IP, DEVICE_MAC))
    else:
        link = stack.enter_context(veth(DEVICE_IP, DEVICE_MAC, HARNESS_IP, HARNESS_MAC))
        agent = Agent(["ip", "netns", "exec", str(link.netns), sys.executable, "-u", str(AGENT)])
    stack.callback(agent.close)
    return link, agent


class Device:
    """A fresh namespace + veth + engine + agent with a socket listening on PORT."""

    def __init__(self, keepalive: dict[str, Any] | None, backlog: int = 4, target: str = "linux"):
        with ExitStack() as stack:
            # Everything is registered on the stack: if anything below fails (or Ctrl-C lands
            # mid-setup) it unwinds what exists so far.
            if target == "freertos-posix":
                self.link, self.agent, self.engine = _open_target(stack, keepalive)
            else:
                self.link, self.agent = _open_link_and_agent(stack, target)
                self.engine = stack.enter_context(
                    WireEngine(self.link.harness_if, DEVICE_IP, HARNESS_IP, HARNESS_MAC))
            self.agent.call_sync("configure", {"keepalive": keepalive})
            self.lsock = self.agent.call_sync("socket", {})["raw"]
            self.agent.call_sync("bind", {"sock": self.lsock, "port": PORT})
            self.agent.call_sync("listen", {"sock": self.lsock, "backlog": backlog})
            # Frames received in one batch but not yet handed out: parallel connections' timers
            # fire on the same tick, and their segments arrive together.
            self._pending: list[Frame] = []
            self._stack = stack.pop_all()

    def send(self, flags: str, seq: int, ack: int, payload: bytes = b"", hport: int = HPORT) -> float:
        frame = build_segment(ENDS, sport=hport, dport=PORT, seq=seq, ack=ack, flags=flags, win=64240,
                              options=[("MSS", 1460)] if "S" in flags else [], payload=payload)
        return self.engine.send(frame)

    def next_segment(self, deadline: float, hport: int | None = None) -> tuple[float, Segment] | None:
        """The device's next segment (to `hport` if given) with its kernel capture time."""
        while self._pending or time.time() < deadline:
            if not self._pending:
                self._pending = self.engine.receive(deadline)
            while self._pending:
                frame = self._pending.pop(0)
                seg = parse(frame.data)
                if (isinstance(seg, Segment) and seg.src_ip == DEVICE_IP
                        and (hport is None or seg.dport == hport)):
                    return frame.time, seg
        return None

    def segments_until(self, deadline: float) -> list[tuple[float, Segment]]:
        out = []
        while (got := self.next_segment(deadline)) is not None:
            out.append(got)
            if "R" in got[1].flags:
                break
        return out

    def connect(self, hport: int) -> tuple[int, int, float]:
        """Handshake from `hport` and accept it: (device ISN, agent socket, time the ACK went out)."""
        self.send("S", ISN, 0, hport=hport)
        synack = self.next_segment(time.time() + 2, hport)
        assert synack is not None and synack[1].flags == "SA", synack
        dev_isn = synack[1].seq
        acked = self.send("A", ISN + 1, dev_isn + 1, hport=hport)
        sock = self.agent.call_sync("accept", {"sock": self.lsock})["raw"]
        return dev_isn, sock, acked

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Session(Device):
    """A Device with one connection from HPORT accepted (`sock`, `dev_isn`)."""

    def __init__(self, keepalive: dict[str, Any] | None, target: str = "linux"):
        super().__init__(keepalive, target=target)
        try:
            self.dev_isn, self.sock, _ = self.connect(HPORT)
        except BaseException:
            self.close()
            raise


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of `values` (q in 0..1)."""
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def spread(values: list[float]) -> float:
    """The largest distance of a value from the median (0 for none): what a tolerance must absorb."""
    if not values:
        return 0.0
    med = statistics.median(values)
    return max(abs(x - med) for x in values)


def fig(values: list[float], unit: float = 1e3, label: str = "ms") -> str:
    if not values:
        return "none"
    v = sorted(values)
    med = statistics.median(v)
    return (f"n={len(v)} median {med * unit:.3f} {label}, min {v[0] * unit:.3f}, max {v[-1] * unit:.3f}, "
            f"p99 {percentile(v, 0.99) * unit:.3f}, max |x - median| {spread(v) * unit:.3f} {label}")
