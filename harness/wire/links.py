"""Virtual links for real-wire targets: netns + veth pairs and tap devices, named `tch…`.

Every object this module creates carries the creating process's pid in its name
(`tch<pid>n<k>` for a namespace, `tch<pid>h<k>`/`tch<pid>d<k>` for the harness and
device ends of a veth pair, `tch<pid>t<k>` for a tap; at most 15 characters, the
kernel's limit for interface names). That makes two things possible:

- teardown on every way out: context managers, an atexit hook, and SIGTERM/SIGHUP
  handlers that turn the signal into SystemExit so `finally` blocks and atexit run;
  Ctrl-C arrives as KeyboardInterrupt and unwinds the same way;
- a sweep for leftovers of runs that could not clean up (SIGKILL, a crash of the
  interpreter): any `tch<pid>…` object whose pid no longer exists is removed before
  new links are made.

Addresses are only ever in 198.18.0.0/15 (RFC 2544 benchmarking space), and the
harness's own address is never configured on a host interface: the host kernel must
not see the test traffic as its own, or it answers the device's SYN|ACK with RST
(wire-feasibility.md, Task 1).
"""

from __future__ import annotations

import atexit
import ipaddress
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

PREFIX = "tch"
ALLOWED_NET = ipaddress.ip_network("198.18.0.0/15")
_NAME = re.compile(rf"^{PREFIX}(\d+)[a-z]\d+$")
_counter = itertools.count()
_lock = threading.Lock()
_live: dict[int, Link] = {}          # id(link) -> link, for atexit and signals
_hooks_installed = False


class LinkError(RuntimeError):
    """A link could not be made; the message names the missing tool or privilege."""


class SysctlRefused(LinkError):
    """The kernel refused a sysctl the caller asked for in a new namespace: a name it does not
    have there (unknown, or global to the host) or a value out of its range."""


# An `ip` command normally takes milliseconds. Should one stall (the kernel's rtnl lock is shared by
# every namespace on the host), it says so on stderr, and none waits forever: a run would rather
# fail with a line than hang.
IP_SLOW = 5.0
IP_TIMEOUT = 120.0


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=IP_TIMEOUT)
    except subprocess.TimeoutExpired:
        why = f"{' '.join(cmd)}: no answer in {IP_TIMEOUT:g} s (the kernel's network lock; see dmesg)"
        if check:
            raise LinkError(why) from None
        print(f"harness: {why}", file=sys.stderr)
        return subprocess.CompletedProcess(cmd, 124, "", why)
    took = time.monotonic() - start
    if took > IP_SLOW:
        print(f"harness: {' '.join(cmd)} took {took:.1f} s", file=sys.stderr)
    if check and proc.returncode != 0:
        raise LinkError(f"{' '.join(cmd)}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc


def missing_requirements(need_ethtool: bool = True) -> str | None:
    """Why links can not be made here (with the fix), or None."""
    if os.geteuid() != 0:
        return "needs root: run as root or with CAP_NET_ADMIN"
    if shutil.which("ip") is None:
        return "needs iproute2: apt-get install iproute2"
    if need_ethtool and shutil.which("ethtool") is None:
        return "needs ethtool: apt-get install ethtool"
    return None


def _check_address(addr: str) -> None:
    if ipaddress.ip_address(addr) not in ALLOWED_NET:
        raise LinkError(f"{addr} is outside {ALLOWED_NET}: the harness only uses benchmarking addresses")


def _pid_alive(pid: int) -> bool:
    """Running, that is: a zombie (killed, not yet reaped by its parent) holds its pid but will never
    remove anything, so its objects are leftovers too."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def owned_names() -> dict[str, list[str]]:
    """Every `tch…` namespace and root-namespace link that exists now."""
    netns = [line.split()[0] for line in _run("ip", "netns", "list", check=False).stdout.splitlines()
             if line.startswith(PREFIX)]
    links = []
    for line in _run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        # "12: tch123h0@if11: <...>" -> tch123h0
        parts = line.split(":", 2)
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if name.startswith(PREFIX):
                links.append(name)
    return {"netns": netns, "links": links}


def orphaned_names() -> dict[str, list[str]]:
    """The `tch…` namespaces and links whose maker no longer runs: what a run failed to clean up."""
    return {kind: [n for n in items if (m := _NAME.match(n)) and not _pid_alive(int(m.group(1)))]
            for kind, items in owned_names().items()}


def sweep_leftovers() -> list[str]:
    """Remove `tch…` objects left by processes that no longer exist; returns what was removed."""
    removed = []
    for kind, items in orphaned_names().items():
        for name in items:
            if kind == "netns":
                # Processes still inside (an orphaned agent) would keep the namespace alive.
                for pid in _run("ip", "netns", "pids", name, check=False).stdout.split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                _run("ip", "netns", "del", name, check=False)
            else:
                _run("ip", "link", "del", name, check=False)
            removed.append(name)
    if removed:
        print(f"harness: removed what a killed run left: {', '.join(removed)}", file=sys.stderr)
    return removed


def close_all_links() -> None:
    """Remove every link this process made and has not removed yet (also run at exit)."""
    with _lock:
        links = list(_live.values())
    for link in links:
        link.close()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through every `finally` and context manager, then atexit runs:
    # agents are stopped before their namespace goes.
    raise SystemExit(128 + signum)


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(close_all_links)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            # Respect a handler someone else installed (pytest, an IDE); only replace the default.
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _on_signal)


@dataclass
class Link:
    """One end the harness captures on (`harness_if`, in the root namespace)."""

    harness_if: str
    netns: str | None = None
    device_if: str | None = None
    closed: bool = field(default=False, init=False)

    def _register(self) -> None:
        with _lock:
            _live[id(self)] = self

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with _lock:
            _live.pop(id(self), None)
        if self.netns:
            for pid in _run("ip", "netns", "pids", self.netns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        # The pair first, in this process: deleting the namespace first leaves the pair to the
        # kernel's asynchronous namespace clean-up, and the harness end to an `ip link del` that may
        # race it. This way both ends are gone when the call returns.
        _run("ip", "link", "del", self.harness_if, check=False)
        if self.netns:
            _run("ip", "netns", "del", self.netns, check=False)

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _names(kind: str) -> tuple[str, int]:
    k = next(_counter)
    name = f"{PREFIX}{os.getpid()}{kind}{k}"
    if len(name) > 15:
        raise LinkError(f"interface name {name} longer than 15 characters")
    return name, k


def make_veth(device_ip: str, device_mac: str, harness_ip: str, harness_mac: str,
              prefix_len: int = 24, static_neighbour: bool = True, sysctls: dict[str, str] | None = None
              ) -> Link:
    """A namespace holding the device end of a veth pair; the harness end stays in the root namespace.

    The device end gets `device_ip`/`device_mac`, checksum offload off in both directions
    (tx: real checksums and MTU-sized segments in captures; rx: veth would otherwise mark
    frames from a packet socket as already verified, and a segment with a bad checksum would
    be accepted). The harness end gets no address at all. With `static_neighbour` the device
    knows the harness MAC without ARP (a permanent neighbour entry); without it the engine
    must answer ARP. `sysctls` ({name: value}) are written inside the namespace before any
    address is added; one the kernel refuses raises SysctlRefused naming it.
    """
    for addr in (device_ip, harness_ip):
        _check_address(addr)
    why = missing_requirements()
    if why:
        raise LinkError(why)
    _install_hooks()
    sweep_leftovers()
    _, k = _names("n")
    pid = os.getpid()
    ns, hif, dif = f"{PREFIX}{pid}n{k}", f"{PREFIX}{pid}h{k}", f"{PREFIX}{pid}d{k}"
    link = Link(hif, ns, dif)
    link._register()
    try:
        _run("ip", "netns", "add", ns)
        _run("ip", "link", "add", hif, "type", "veth", "peer", "name", dif)
        # Before the move, so no process has to run inside the namespace for it.
        _run("ethtool", "-K", dif, "tx", "off", "rx", "off", "gso", "off", "tso", "off")
        _run("ip", "link", "set", dif, "netns", ns)
        _quiet_ipv6(hif)
        _write_sysctls(ns, {f"net.ipv6.conf.{dif}.disable_ipv6": "1", "net.ipv6.conf.lo.disable_ipv6": "1"},
                       sysctls or {})
        # The harness end's own MAC differs from the harness MAC, so the device's replies
        # arrive as PACKET_OTHERHOST and the root namespace drops them before IP.
        _run("ip", "link", "set", hif, "address", _sibling_mac(harness_mac))
        _run("ip", "-n", ns, "link", "set", dif, "address", device_mac)
        _run("ip", "-n", ns, "addr", "add", f"{device_ip}/{prefix_len}", "dev", dif)
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "-n", ns, "link", "set", dif, "up")
        _run("ip", "link", "set", hif, "up")
        if static_neighbour:
            _run("ip", "-n", ns, "neigh", "replace", harness_ip, "lladdr", harness_mac, "dev", dif,
                 "nud", "permanent")
    except BaseException:
        link.close()
        raise
    return link


def _write_sysctls(ns: str, ours: dict[str, str], theirs: dict[str, str]) -> None:
    """Write both sets in namespace `ns` with one `sysctl` (one process per case); a refusal of
    one of `theirs` is a SysctlRefused that says which and why, in the kernel's words."""
    cmd = ("ip", "netns", "exec", ns, "sysctl", "-q", "-w",
           *[f"{key}={value}" for key, value in {**ours, **theirs}.items()])
    proc = _run(*cmd, check=False)
    if proc.returncode == 0:
        return
    refused = []
    for line in proc.stderr.splitlines():
        # procps: 'sysctl: setting key "net.ipv4.tcp_syn_retries": Invalid argument',
        #         'sysctl: cannot stat /proc/sys/net/core/nosuch: No such file or directory'
        key = re.search(r'setting key "([^"]+)": (.*)', line)
        missing = re.search(r"cannot stat /proc/sys/(\S+): (.*)", line)
        if key and key.group(1) in theirs:
            name = key.group(1)
            refused.append(f"{name}={theirs[name]} refused by the kernel: {key.group(2)}")
        elif missing and (name := missing.group(1).replace("/", ".")) in theirs:
            refused.append(f"{name}: no such sysctl in a network namespace on this kernel "
                           f"(global to the host, or unknown to it: {missing.group(2)})")
    if refused:
        raise SysctlRefused("; ".join(refused))
    raise LinkError(f"{' '.join(cmd)}: {proc.stderr.strip() or f'exit {proc.returncode}'}")


def make_veth_pair(harness_mac: str) -> Link:
    """A veth pair in the root namespace with no addresses, for a device in user space (the
    emulated board's GMAC opens a packet socket on `device_if`). Offloads and IPv6 off, both up.

    Neither end's own MAC is the harness's or the device's, so the host kernel sees the test
    frames as PACKET_OTHERHOST on both ends and stays out of the conversation.
    """
    why = missing_requirements()
    if why:
        raise LinkError(why)
    _install_hooks()
    sweep_leftovers()
    hif, k = _names("h")
    dif = f"{PREFIX}{os.getpid()}g{k}"
    link = Link(hif, None, dif)
    link._register()
    try:
        _run("ip", "link", "add", hif, "type", "veth", "peer", "name", dif)
        _run("ip", "link", "set", hif, "address", _sibling_mac(harness_mac))
        for end in (hif, dif):
            _run("ethtool", "-K", end, "tx", "off", "rx", "off", "gso", "off", "tso", "off")
            _quiet_ipv6(end)
            _run("ip", "link", "set", end, "up")
    except BaseException:
        link.close()
        raise
    return link


def make_tap(netns: str | None = None) -> Link:
    """A tap device in the root namespace, up, with IPv6 off, for a user-space stack (lwIP).

    The stack attaches to it (PRECONFIGURED_TAPIF) and the engine captures on it. A tap
    with no process attached drops what is sent to it silently: wait for LOWER_UP.
    """
    why = missing_requirements(need_ethtool=False)
    if why:
        raise LinkError(why)
    if netns is not None:
        raise LinkError("taps in a namespace are not supported yet")
    _install_hooks()
    sweep_leftovers()
    name, _ = _names("t")
    link = Link(name)
    link._register()
    try:
        _run("ip", "tuntap", "add", "dev", name, "mode", "tap")
        _quiet_ipv6(name)
        _run("ip", "link", "set", name, "up")
    except BaseException:
        link.close()
        raise
    return link


def _quiet_ipv6(ifname: str) -> None:
    # No router solicitations, DAD or MLD reports on the link: only test traffic.
    _run("sysctl", "-q", "-w", f"net.ipv6.conf.{ifname}.disable_ipv6=1", check=False)


def _sibling_mac(harness_mac: str) -> str:
    """A MAC for the harness end's interface: the harness MAC with the last byte changed."""
    octets = harness_mac.split(":")
    octets[-1] = f"{int(octets[-1], 16) ^ 0xfe:02x}"
    return ":".join(octets)


def lower_up(ifname: str) -> bool:
    return "LOWER_UP" in _run("ip", "-o", "link", "show", ifname, check=False).stdout


@contextmanager
def veth(device_ip: str, device_mac: str, harness_ip: str, harness_mac: str, **kwargs: object
         ) -> Iterator[Link]:
    link = make_veth(device_ip, device_mac, harness_ip, harness_mac, **kwargs)  # type: ignore[arg-type]
    try:
        yield link
    finally:
        link.close()
