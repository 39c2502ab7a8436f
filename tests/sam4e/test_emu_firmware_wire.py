"""The emulated agent firmware on a real link: the harness's wire engine on one end of a veth pair,
the emulated GMAC on the other; socket calls through the mailbox, frames through the engine.

Both ends stay in the root namespace with no address (make_veth_pair): the emulated stack, not the
host kernel, is the only one answering for 198.18.0.2. Needs root, iproute2, ethtool (links.py)
and gcc.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from harness import HARNESS_IP, HARNESS_MAC
from harness.packets import Endpoints, Segment, build_segment, parse
from harness.wire.engine import WireEngine
from harness.wire.links import Link, make_veth_pair, missing_requirements, owned_names
from targets.sam4e.emulation import FirmwareImage
from targets.sam4e.mailbox import Op, Status
from tests.conftest import require

from .test_emu_firmware import Booted, halt, image, resume  # noqa: F401 - `image` is a fixture

DEVICE_IP, DEVICE_MAC = "198.18.0.2", "02:74:63:68:00:02"
ENDS = Endpoints(HARNESS_MAC, HARNESS_IP, DEVICE_MAC, DEVICE_IP)
# Linux's SYN options: a shorter SYN trips the modelled FR-HS-4 SYN|ACK checksum defect.
SYN_OPTIONS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)]
PORT, SPORT = 7000, 40001


def _ours() -> list[str]:
    return [n for names in owned_names().values() for n in names if n.startswith(f"tch{os.getpid()}")]


@pytest.fixture
def link() -> Iterator[Link]:
    require(missing_requirements() is None, missing_requirements() or "")
    with make_veth_pair(HARNESS_MAC) as made:
        yield made
    assert _ours() == [], "a tch link was left behind"


@pytest.fixture
def wired(link: Link, image: FirmwareImage) -> Iterator[tuple[Booted, WireEngine]]:  # noqa: F811
    with WireEngine(link.harness_if, DEVICE_IP, HARNESS_IP, HARNESS_MAC) as engine:
        booted = Booted(image, gmac_if=link.device_if, gmac_netns=link.netns)
        try:
            assert booted.fw.gmac_error is None, booted.fw.gmac_error
            yield booted, engine
        finally:
            booted.close()


def _next_segment(engine: WireEngine, timeout: float = 3.0) -> Segment:
    """The device's next TCP segment (its ARP requests are answered by the engine on the way)."""
    end = time.time() + timeout
    while time.time() < end:
        for frame in engine.receive(end):
            seg = parse(frame.data)
            if isinstance(seg, Segment):
                return seg
    raise AssertionError(f"no segment from the device within {timeout} s")


def _handshake(dev: Booted, engine: WireEngine) -> tuple[int, Segment]:
    """socket/bind/listen, accept pending in slot 0, SYN -> SYN|ACK -> ACK: (accepted handle, SYN|ACK)."""
    h = dev.host
    sock = h.ok(Op.SOCKET)
    assert h.ok(Op.BIND, sock, PORT) == 0 and h.ok(Op.LISTEN, sock, 1) == 0
    accept = h.submit(0, Op.ACCEPT, (sock,))
    engine.send(build_segment(ENDS, sport=SPORT, dport=PORT, seq=1000, ack=0, flags="S", win=64240,
                              options=SYN_OPTIONS))
    synack = _next_segment(engine)
    assert (synack.src_ip, synack.flags, synack.ack) == (DEVICE_IP, "SA", 1001), synack
    assert synack.checksum_ok and engine.stats.arp_answered >= 1
    assert not h.answered(0, accept)
    engine.send(build_segment(ENDS, sport=SPORT, dport=PORT, seq=1001, ack=synack.seq + 1, flags="A",
                              win=64240, options=[]))
    r = h.wait(0, accept)
    assert r.status == Status.OK and r.result not in (0, -1, sock), r
    return r.result, synack


def test_syn_to_a_listening_socket_is_answered_and_accepted(wired: tuple[Booted, WireEngine]) -> None:
    dev, engine = wired
    conn, _ = _handshake(dev, engine)
    assert conn == 2
    assert dev.host.ok(Op.ISCONNECTED, conn) == 1
    assert dev.host.ok(Op.CONNSTATUS, conn) == 5                # eESTABLISHED


def test_blocking_recv_in_slot_0_while_slot_1_answers(wired: tuple[Booted, WireEngine]) -> None:
    dev, engine = wired
    h = dev.host
    conn, synack = _handshake(dev, engine)
    recv = h.submit(0, Op.RECV, (conn, 100, 0))
    time.sleep(0.05)
    assert not h.answered(0, recv)
    assert h.ok(Op.ISCONNECTED, conn, slot=1) == 1              # slot 1 is free meanwhile
    assert not h.answered(0, recv)
    engine.send(build_segment(ENDS, sport=SPORT, dport=PORT, seq=1001, ack=synack.seq + 1, flags="PA",
                              win=64240, options=[], payload=b"hello"))
    r = h.wait(0, recv)
    assert (r.status, r.result, r.data) == (Status.OK, 5, b"hello")
    ack = _next_segment(engine)
    assert "A" in ack.flags and ack.ack == 1006


def test_a_halted_core_sends_nothing_and_takes_queued_frames_on_resume(
        wired: tuple[Booted, WireEngine]) -> None:
    dev, engine = wired
    h = dev.host
    conn, synack = _handshake(dev, engine)
    engine.drain()
    halt(dev.board)
    engine.send(build_segment(ENDS, sport=SPORT, dport=PORT, seq=1001, ack=synack.seq + 1, flags="PA",
                              win=64240, options=[], payload=b"queued"))
    assert engine.receive(time.time() + 0.3) == [], "a halted core answered"
    resume(dev.board)
    ack = _next_segment(engine)
    assert ack.ack == 1007                                      # the frame waited in the ring
    r = h.call(Op.RECV, conn, 100, 0)
    assert (r.result, r.data) == (6, b"queued")
