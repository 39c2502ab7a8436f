"""The wire engine on real links: teardown, ARP, kernel timestamps, offloads, BPF, outgoing echoes.

Needs root, iproute2 and ethtool; skips (or fails under TCH_REQUIRE_ALL=1) with the fix named.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import HARNESS_IP, HARNESS_MAC
from harness.packets import Endpoints, Segment, build_segment, parse
from harness.wire import bpf, links
from harness.wire.agent import Agent
from harness.wire.engine import ETH_P_ALL, WireEngine
from harness.wire.links import Link, LinkError, make_veth, missing_requirements, owned_names, sweep_leftovers
from tests.conftest import DUMP_ON_ABORT, require, where_it_hangs

from .conftest import REPO, ours

AGENT = REPO / "targets" / "linux_agent.py"
DEVICE_IP, DEVICE_MAC = "198.18.0.2", "02:74:63:68:00:02"
ENDS = Endpoints(HARNESS_MAC, HARNESS_IP, DEVICE_MAC, DEVICE_IP)


@pytest.fixture
def wire() -> None:
    require(missing_requirements() is None, missing_requirements() or "")


@pytest.fixture
def link(wire: None) -> Iterator[Link]:
    with make_veth(DEVICE_IP, DEVICE_MAC, HARNESS_IP, HARNESS_MAC) as made:
        yield made


def _netns(link: Link, *cmd: str) -> str:
    return subprocess.run(["ip", "netns", "exec", str(link.netns), *cmd], capture_output=True, text=True,
                          check=True).stdout


# ---- BPF (no root needed) --------------------------------------------------------------------


def _ipv4_frame(src: str, dst: str) -> bytes:
    return (b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + b"\x45" + b"\x00" * 11
            + socket.inet_aton(src) + socket.inet_aton(dst) + b"\x00" * 20)


def test_bpf_keeps_arp_and_the_devices_ipv4_only() -> None:
    program = bpf.test_traffic(DEVICE_IP)
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\x00" * 28
    ipv6 = b"\x33" * 6 + b"\x02" * 6 + b"\x86\xdd" + b"\x00" * 40
    assert bpf.run(program, arp)
    assert bpf.run(program, _ipv4_frame(DEVICE_IP, HARNESS_IP))
    assert bpf.run(program, _ipv4_frame(HARNESS_IP, DEVICE_IP))
    assert not bpf.run(program, _ipv4_frame("198.18.0.9", "198.18.0.10"))
    assert not bpf.run(program, ipv6)
    assert not bpf.run(program, b"\x00" * 10)


# ---- links -----------------------------------------------------------------------------------


def test_link_teardown_leaves_no_tch_objects(wire: None) -> None:
    link = make_veth(DEVICE_IP, DEVICE_MAC, HARNESS_IP, HARNESS_MAC)
    names = owned_names()
    assert link.netns in names["netns"] and link.harness_if in names["links"]
    link.close()
    names = owned_names()
    assert link.netns not in names["netns"] and link.harness_if not in names["links"]


def _logging_ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> Path:
    """An `ip` first on PATH that logs its arguments, waits `delay`, then runs the real one."""
    real = shutil.which("ip") or "/usr/sbin/ip"
    log = tmp_path / "ip.log"
    wrapper = tmp_path / "bin" / "ip"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nsleep {delay}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")
    return log


def test_teardown_deletes_the_pair_before_its_namespace(wire: None, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # The namespace first would leave the pair to the kernel's asynchronous clean-up, and the harness
    # end's `ip link del` to race it.
    link = make_veth(DEVICE_IP, DEVICE_MAC, HARNESS_IP, HARNESS_MAC)
    log = _logging_ip(tmp_path, monkeypatch)
    link.close()
    deletes = [line for line in log.read_text().splitlines() if " del " in line]
    assert deletes == [f"link del {link.harness_if}", f"netns del {link.netns}"]
    names = owned_names()
    assert link.netns not in names["netns"] and link.harness_if not in names["links"]


def test_an_ip_command_that_hangs_is_given_up_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    _logging_ip(tmp_path, monkeypatch, delay=5)
    monkeypatch.setattr(links, "IP_TIMEOUT", 0.5)
    monkeypatch.setattr(links, "IP_SLOW", 0.0)
    start = time.monotonic()
    with pytest.raises(LinkError, match=r"^ip link show lo: no answer in 0.5 s"):
        links._run("ip", "link", "show", "lo")
    assert links._run("ip", "link", "show", "lo", check=False).returncode == 124
    assert time.monotonic() - start < 4
    assert "harness: ip link show lo: no answer" in capsys.readouterr().err
    monkeypatch.setattr(links, "IP_TIMEOUT", 30.0)
    tmp2 = tmp_path / "quick"
    tmp2.mkdir()
    _logging_ip(tmp2, monkeypatch, delay=0)
    links._run("ip", "-V", check=False)
    assert "harness: ip -V took" in capsys.readouterr().err


def test_addresses_outside_the_benchmark_range_are_refused(wire: None) -> None:
    with pytest.raises(RuntimeError, match="198.18.0.0/15"):
        make_veth("10.0.0.2", DEVICE_MAC, HARNESS_IP, HARNESS_MAC)


def test_harness_address_is_not_configured_on_the_host(link: Link) -> None:
    out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    assert HARNESS_IP not in out and DEVICE_IP not in out
    assert HARNESS_MAC not in subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                                             check=True).stdout


def test_checksum_offload_is_off_on_the_device_end(link: Link) -> None:
    require(link.device_if is not None, "veth link expected")
    features = _netns(link, "ethtool", "-k", str(link.device_if))
    assert "tx-checksumming: off" in features
    assert "rx-checksumming: off" in features


_CHILD = textwrap.dedent("""
    import sys, time
    from harness.cli import main
    # A keep-alive case that runs ~10 s on the wall clock: long enough to be killed mid-case.
    # -j 1: the links are this process's own (with workers they would carry the workers' pids).
    sys.exit(main(["run", "--target", "linux", "-q", "-j", "1", "-k", "answered-probes", "--results",
                   sys.argv[1]]))
""")


def _start_case_child(tmp_path: Path) -> subprocess.Popen[bytes]:
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path)], cwd=REPO,
                             env={**os.environ, **DUMP_ON_ABORT},
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # In a case, not in the target's preflight: that makes a link and removes it again at once, so
    # seeing a link proves nothing until the run has started its journal, which comes after it.
    # (Taking the preflight's link for the case's made this test fail now and then: the child was
    # between the two, its link gone, and the old message blamed a hang.)
    journal = tmp_path / "journal.jsonl"

    def in_case() -> bool:
        return journal.exists() and bool(ours(child.pid))

    end = time.monotonic() + 180
    while time.monotonic() < end and not in_case() and child.poll() is None:
        time.sleep(0.1)
    if not in_case():
        if child.poll() is None:
            pytest.fail(f"the child had no case running after 180 s; its stacks:\n{where_it_hangs(child)}")
        why = child.stderr.read().decode() if child.stderr else ""
        pytest.fail(f"the child never started its case (exit {child.poll()}): {why}")
    time.sleep(1.0)  # mid-case: handshake done, waiting for a probe
    assert ours(child.pid), "the case's link went before the case could be interrupted"
    return child


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_killed_run_leaves_no_tch_objects(wire: None, tmp_path: Path, sig: signal.Signals) -> None:
    child = _start_case_child(tmp_path)
    child.send_signal(sig)
    child.wait(15)
    assert ours(child.pid) == []


def test_leftovers_of_a_sigkilled_run_are_swept(wire: None, tmp_path: Path) -> None:
    child = _start_case_child(tmp_path)
    child.kill()
    child.wait(5)
    assert ours(child.pid), "SIGKILL leaves the link behind (nothing can run)"
    removed = sweep_leftovers()
    assert set(ours(child.pid)) == set() and removed


# ---- the engine ------------------------------------------------------------------------------


def _syn(sport: int, dport: int = 9) -> bytes:
    return build_segment(ENDS, sport=sport, dport=dport, seq=1000, ack=0, flags="S", win=64240,
                         options=[("MSS", 1460)])


def test_kernel_timestamps_are_monotonic_and_close_to_the_wall_clock(link: Link) -> None:
    # A SYN to a closed port draws RST|ACK inside the send call: one reply per injection.
    with WireEngine(link.harness_if, DEVICE_IP, HARNESS_IP, HARNESS_MAC) as engine:
        stamps, sends = [], []
        for i in range(50):
            sends.append(engine.send(_syn(41000 + i)))
            got = engine.receive(time.time() + 1)
            assert len(got) == 1 and got[0].outbound
            stamps.append(got[0].time)
            assert abs(got[0].time - time.time()) < 0.05
    assert stamps == sorted(stamps)
    # The reply can not precede the injection (send time is taken before the syscall).
    assert all(s >= t for s, t in zip(stamps, sends, strict=True))
    assert max(s - t for s, t in zip(stamps, sends, strict=True)) < 0.05


def test_captured_segments_have_real_checksums_and_mtu_sizes(link: Link) -> None:
    # 14000 bytes from the device: with offloads on these were 7300 + 6700 byte TSO frames with
    # partial checksums (wire-feasibility.md); with them off, MTU-sized segments, valid checksums.
    with WireEngine(link.harness_if, DEVICE_IP, HARNESS_IP, HARNESS_MAC) as engine:
        agent = Agent(["ip", "netns", "exec", str(link.netns), sys.executable, "-u", str(AGENT)])
        try:
            lsock = agent.call_sync("socket", {})["raw"]
            agent.call_sync("bind", {"sock": lsock, "port": 7000})
            agent.call_sync("listen", {"sock": lsock, "backlog": 1})
            engine.send(build_segment(ENDS, sport=40001, dport=7000, seq=0, ack=0, flags="S", win=64240,
                                      options=[("MSS", 1460)]))
            synack = parse(engine.receive(time.time() + 1)[0].data)
            assert isinstance(synack, Segment) and synack.flags == "SA"
            engine.send(build_segment(ENDS, sport=40001, dport=7000, seq=1, ack=synack.seq + 1, flags="A",
                                      win=64240, options=[]))
            conn = agent.call_sync("accept", {"sock": lsock})["raw"]
            agent.call_sync("send", {"sock": conn, "data": (b"z" * 14000).hex(), "flags": []})
            segments = []
            end = time.time() + 1
            while time.time() < end and sum(s.len for s in segments) < 14000:
                segments += [s for f in engine.receive(end) if isinstance(s := parse(f.data), Segment)]
        finally:
            agent.close()
    data = [s for s in segments if s.len]
    assert data and all(s.checksum_ok for s in segments)
    assert max(s.frame_len for s in data) <= 1514


def test_arp_for_the_harness_address_is_answered(wire: None) -> None:
    with make_veth(DEVICE_IP, DEVICE_MAC, HARNESS_IP, HARNESS_MAC, static_neighbour=False) as link, \
            WireEngine(link.harness_if, DEVICE_IP, HARNESS_IP, HARNESS_MAC) as engine:
        # The device's kernel must resolve the harness address before its SYN can leave.
        probe = subprocess.Popen(["ip", "netns", "exec", str(link.netns), sys.executable, "-c",
                                  f"import socket; socket.create_connection(('{HARNESS_IP}', 9), timeout=1)"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            seen: list[Segment] = []
            ours_too: list[bytes] = []     # frames from the harness MAC: the engine's own ARP answers
            harness_mac = bytes.fromhex(HARNESS_MAC.replace(":", ""))
            end = time.time() + 2
            while time.time() < end and not seen:
                got = engine.receive(end)
                ours_too += [f.data for f in got if f.data[6:12] == harness_mac]
                seen += [s for f in got if isinstance(s := parse(f.data), Segment)]
        finally:
            probe.kill()
            probe.wait()
        assert engine.stats.arp_answered >= 1
        assert ours_too == [], "the engine returned its own ARP answer as a device frame"
        assert seen and seen[0].flags == "S" and seen[0].dst_ip == HARNESS_IP
        neigh = _netns(link, "ip", "neigh", "show", HARNESS_IP)
        assert HARNESS_MAC in neigh


def test_outgoing_echoes_are_skipped(link: Link) -> None:
    with WireEngine(link.harness_if, DEVICE_IP, HARNESS_IP, HARNESS_MAC) as engine:
        # Another packet socket on the same interface: the engine sees its frame as PACKET_OUTGOING.
        other = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            other.bind((link.harness_if, 0))
            other.send(_syn(42000, dport=7))
        finally:
            other.close()
        got = engine.receive(time.time() + 0.5)
        assert engine.stats.outgoing_skipped >= 1
        assert all(parse(f.data).dport == 42000 for f in got)  # type: ignore[union-attr]  # only the RST


def test_no_tch_objects_of_this_process_remain() -> None:
    # Runs last in this file (pytest keeps file order): every fixture above has torn down.
    assert ours(os.getpid()) == []


def test_leftovers_of_a_zombie_are_swept_and_named(wire: None, capsys: pytest.CaptureFixture[str]) -> None:
    """A run killed with SIGKILL whose parent has not reaped it yet is a zombie: its pid exists, but
    its links are leftovers all the same; the sweep removes them and says which."""
    zombie = subprocess.Popen(["true"])
    deadline = time.time() + 5
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.time() < deadline, "the child never became a zombie"
        time.sleep(0.01)
    name = f"tch{zombie.pid}t0"
    subprocess.run(["ip", "tuntap", "add", "dev", name, "mode", "tap"], check=True)
    try:
        removed = sweep_leftovers()
        assert name in removed and name not in owned_names()["links"]
        assert f"harness: removed what a killed run left: {name}" in capsys.readouterr().err
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)
        zombie.wait()
