"""The host-built FreeRTOS+TCP as a process on a veth pair: the SAM4E host code drives its mailbox
through /proc/PID/mem and reads its RTT log, the real stack answers on the wire, and no process
outlives its owner. No mocks: real FreeRTOS+TCP V4.4.1, real frames. Needs root (the veth pair and
the process's memory), gcc and libpcap-dev."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from harness import HARNESS_IP, HARNESS_MAC
from harness.wire.engine import WireEngine
from harness.wire.links import Link
from harness.wire.priority import DEVICE_NICE, niceness
from targets.freertos_posix.process import AgentProcess, AgentProcessError
from targets.freertos_posix.procmem import ProcessGone, ProcessMemory
from targets.sam4e.driver import Mailbox
from targets.sam4e.mailbox import Op, Response, Status
from targets.sam4e.rtt import RttStream
from tests.conftest import require

from .conftest import DEVICE_IP, DEVICE_MAC

REPO = Path(__file__).resolve().parents[2]
PORT = 7000


def call(mailbox: Mailbox, op: Op, *args: int) -> Response:
    pending = mailbox.submit(op, args)
    try:
        return mailbox.wait(pending, 2.0)
    finally:
        mailbox.release(pending)


def linux_syn(sport: int, dport: int, seq: int) -> bytes:
    """A SYN with Linux's options (74 bytes): a shorter one trips FR-HS-4's checksum defect."""
    return bytes(Ether(dst=DEVICE_MAC, src=HARNESS_MAC) / IP(src=HARNESS_IP, dst=DEVICE_IP)
                 / TCP(sport=sport, dport=dport, flags="S", seq=seq, window=64240,
                       options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None),
                                ("WScale", 7)]))


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[2]) == pgid and stat[0] != "Z":
                members.append(int(entry))
    return members


def test_mailbox_calls_and_the_stack_answers_a_syn(agent: AgentProcess, link: Link) -> None:
    assert agent.ready_info == {"mailbox": agent.symbols["tch_mailbox"], "rtt": agent.symbols["_SEGGER_RTT"],
                                "ticks_per_s": 1000}
    mailbox = Mailbox(agent.memory, agent.symbols["tch_mailbox"])
    head = mailbox.attach()
    assert head["slot_count"] == 4
    assert call(mailbox, Op.NOP).status == Status.OK
    sock = call(mailbox, Op.SOCKET)
    assert (sock.status, sock.result) == (Status.OK, 1)
    assert call(mailbox, Op.BIND, sock.result, PORT).result == 0
    assert call(mailbox, Op.LISTEN, sock.result, 1).result == 0

    with WireEngine(link.harness_if, DEVICE_IP, HARNESS_IP, HARNESS_MAC) as engine:
        engine.drain()
        sent = engine.send(linux_syn(40000, PORT, 1000))
        deadline = sent + 0.1
        synack = None
        while synack is None and time.time() < deadline:
            for frame in engine.receive(deadline):
                tcp = Ether(frame.data).getlayer(TCP)
                if tcp is not None and tcp.flags == "SA" and tcp.sport == PORT and tcp.ack == 1001:
                    synack = frame
    assert synack is not None, "no SYN|ACK within 100 ms of the SYN"
    assert synack.time - sent < 0.1


def test_rtt_log_reads_through_process_memory(agent: AgentProcess) -> None:
    stream = RttStream(agent.memory, agent.symbols["_SEGGER_RTT"], threading.RLock(), poll=0.005).start()
    try:
        assert stream.wait_attached(5), stream.error
        end = time.monotonic() + 5
        while not any("tch: agent up" in text for _, text in stream.lines) and time.monotonic() < end:
            time.sleep(0.01)
    finally:
        stream.stop()
    texts = [text for _, text in stream.lines]
    assert any(t.split(" ", 1)[1].startswith("tch: agent up, layout ") for t in texts), texts
    assert stream.error is None


def test_every_thread_of_the_stack_runs_favoured(agent: AgentProcess) -> None:
    """Niceness -10 on every thread (the tick thread, the tasks, libpcap's), so a loaded host does not
    make the device late (harness/wire/priority.py)."""
    nice = niceness(agent.pid)
    assert len(nice) > 3 and set(nice.values()) == {DEVICE_NICE}, nice


def test_close_leaves_no_process(agent: AgentProcess) -> None:
    pid = agent.pid
    assert agent.alive and group_members(pid)
    agent.close()
    agent.close()                     # idempotent
    assert not agent.alive and group_members(pid) == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ProcessGone):
        ProcessMemory(pid)


def test_memory_of_a_dead_process_is_a_clear_error(agent: AgentProcess) -> None:
    memory = ProcessMemory(agent.pid)     # opened while it lives
    try:
        os.kill(agent.pid, 9)
        agent.proc.wait(5)
        with pytest.raises(ProcessGone, match=f"process {agent.pid} has exited"):
            memory.read32(agent.symbols["tch_mailbox"])
    finally:
        memory.close()


def test_agent_dies_with_the_process_that_started_it(binary: Path, link: Link) -> None:
    """A harness killed with SIGKILL runs no cleanup: the agent must go anyway (PR_SET_PDEATHSIG)."""
    script = textwrap.dedent(f"""
        import sys, time
        from targets.freertos_posix.process import AgentProcess
        agent = AgentProcess({str(binary)!r}, {link.device_if!r}, {DEVICE_IP!r}, {DEVICE_MAC!r})
        agent.wait_ready()
        print(agent.pid, flush=True)
        time.sleep(60)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=REPO, text=True)
    try:
        assert owner.stdout is not None
        agent_pid = int(owner.stdout.readline())
        assert group_members(agent_pid)
    finally:
        owner.kill()
        owner.wait()
    end = time.monotonic() + 5
    while group_members(agent_pid) and time.monotonic() < end:
        time.sleep(0.01)
    assert group_members(agent_pid) == [], "the agent outlived the process that started it"


def test_bad_interface_is_an_error_naming_it(binary: Path) -> None:
    require(os.geteuid() == 0, "needs root: run as root (the agent's memory is read through /proc/PID/mem)")
    with AgentProcess(binary, "tchnosuch0", DEVICE_IP, DEVICE_MAC) as agent:
        with pytest.raises(AgentProcessError, match="no interface named tchnosuch0") as info:
            agent.wait_ready(5)
    assert "exit status 2" in str(info.value)
    assert "\n" not in str(info.value)
