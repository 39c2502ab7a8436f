"""The lwip target: lwIP 2.1.3 (Debian's liblwip-dev, the contrib unix port) on a tap device, wall clock.

The device is a small C agent (targets/lwip/agent.c) linked against the library: it brings lwIP
up on a `tch…` tap handed to it with PRECONFIGURED_TAPIF, sets the device MAC over tapif's
hard-coded one, and performs the case's socket calls through lwIP's socket API, speaking the
agent protocol (harness/wire/agent_protocol.md). The harness end is the shared wire engine on
the same tap: it injects frames, captures lwIP's with kernel timestamps, and answers ARP (lwIP
has no static ARP entries, so its SYN|ACK waits for that answer).

The agent is compiled on first use with gcc and pkg-config into a cache keyed by a hash of its
source, the flags and the library version; every reset starts a fresh agent process, i.e. a
fresh lwIP with no pcbs, timers or ARP entries left from the previous case (its first ISN is
then always 6510). The tap lives as long as the target.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

from harness import HARNESS_IP
from harness.target import TargetUnavailable
from harness.wire.agent import Agent, AgentError
from harness.wire.engine import WireEngine
from harness.wire.links import Link, lower_up, make_tap
from harness.wire.links import missing_requirements as link_requirements
from harness.wire.target_base import WireTarget

AGENT_SOURCE = Path(__file__).with_name("lwip") / "agent.c"
CFLAGS = ("-O2", "-Wall", "-Wextra", "-Werror")
INSTALL_HINT = "apt-get install liblwip-dev pkg-config gcc"


class BuildError(RuntimeError):
    """The agent could not be compiled; the message holds the tool's complaint and the fix."""


def missing_build_tools() -> str | None:
    """Why the agent can not be built here (naming the fix), or None."""
    for tool in ("gcc", "pkg-config"):
        if shutil.which(tool) is None:
            return f"needs {tool}: {INSTALL_HINT}"
    if subprocess.run(["pkg-config", "--exists", "lwip"], capture_output=True).returncode != 0:
        return f"needs liblwip-dev: {INSTALL_HINT}"
    return None


def missing_requirements() -> str | None:
    """Why the lwip target can not run here (naming the fix), or None."""
    return missing_build_tools() or link_requirements(need_ethtool=False) or (
        None if os.path.exists("/dev/net/tun") else "needs /dev/net/tun (the tun module): modprobe tun")


def cache_dir() -> Path:
    """Where built agents go: $TCH_CACHE, else $XDG_CACHE_HOME/tch, else ~/.cache/tch."""
    if os.environ.get("TCH_CACHE"):
        return Path(os.environ["TCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tch"


def _out(*cmd: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


@cache
def build_agent(folder: Path | None = None) -> Path:
    """The compiled agent, built now if this source/flags/library/compiler was never built before."""
    why = missing_build_tools()
    if why:
        raise BuildError(why)
    pkg = _out("pkg-config", "--cflags", "--libs", "lwip").split()
    # Everything that changes the binary is in the key: an upgraded liblwip or gcc rebuilds it.
    key = hashlib.sha256(b"\0".join([
        AGENT_SOURCE.read_bytes(), " ".join(CFLAGS + tuple(pkg)).encode(),
        _out("pkg-config", "--modversion", "lwip").encode(), _out("gcc", "-dumpfullversion").encode(),
    ])).hexdigest()[:16]
    folder = folder or cache_dir()
    binary = folder / f"lwip-agent-{key}"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    # Build beside the final name and rename: two runs building at once never see half a binary.
    fd, tmp = tempfile.mkstemp(prefix=binary.name + ".", dir=folder)
    os.close(fd)
    try:
        proc = subprocess.run(["gcc", *CFLAGS, "-o", tmp, str(AGENT_SOURCE), *pkg, "-pthread"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"building {AGENT_SOURCE.name} failed:\n{proc.stderr.strip()}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, binary)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return binary


def agent_env(tap: str, ip: str, mac: str, netmask: str = "255.255.255.0",
              gateway: str = HARNESS_IP) -> dict[str, str]:
    # PRECONFIGURED_TAPIF always: without it tapif_init creates tap0 and runs ifconfig on the host.
    return {"PRECONFIGURED_TAPIF": tap, "LWIP_IP": ip, "LWIP_MAC": mac, "LWIP_NETMASK": netmask,
            "LWIP_GW": gateway}


class LwipTarget(WireTarget):
    fresh_link_per_case = False       # the tap lives as long as the target; the agent is per case
    # lwIP counts keep-alive times in whole seconds; the agent rounds a fraction up.
    keepalive_default_interval = 7200.0
    needs_ethtool = False             # a tap: no offload to turn off

    def preflight(self) -> None:
        super().preflight()
        try:
            build_agent()
        except BuildError as exc:
            raise TargetUnavailable(str(exc).splitlines()[0]) from exc

    def _prepare(self) -> None:
        build_agent()                 # a BuildError before the previous case's agent is stopped

    def _make_link(self) -> Link:
        return make_tap()

    def _agent_command(self, link: Link) -> tuple[Sequence[str], Mapping[str, str] | None]:
        return [str(build_agent())], agent_env(link.harness_if, self.config.device_ip, self.config.device_mac)

    def _agent_started(self, agent: Agent, link: Link) -> None:
        # tapif attaches before the agent says ready; a tap without its process drops every frame
        # silently, so check rather than inject into the void.
        if not lower_up(link.harness_if):
            raise AgentError(f"{link.harness_if} has no carrier after the lwIP agent started: "
                             f"{agent.stderr_tail()}")

    def _agent_configured(self, engine: WireEngine) -> None:
        engine.drain()                # lwIP's gratuitous ARP from netif_set_up: not part of the case

    def _device_note(self, agent: Agent, link: Link) -> str:
        return (f"device: lwIP {agent.ready_info.get('lwip', '?')} on {link.harness_if}, "
                f"{self.config.device_ip} {self.config.device_mac}")
