"""The emulated agent firmware (emulation/firmware.py) behind the emulated board, without a link:
boot (mailbox header, RTT block pyOCD reads), statuses, per-slot blocking, halt, reset.

The "host" drives the mailbox straight in `board.sram` as PROTOCOL.md's host rules say (request,
then req_seq last; poll resp_seq), so no pyOCD session is needed. Needs gcc (the mailbox's C code
is compiled for the host); the RTT check uses pyocd's own reader.
"""

from __future__ import annotations

import shutil
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stack_under_test import StackConfig
from stack_under_test.constants import Errno, SockOpt
from targets.sam4e.emulation import EmulatedSam4e, FirmwareImage, build_firmware_elf
from targets.sam4e.emulation.constants import (
    C_DEBUGEN,
    C_HALT,
    DBGKEY,
    DHCSR,
    GPNVM_BOOT_FLASH,
    SRAM_BASE,
    SRAM_SIZE,
)
from targets.sam4e.emulation.firmware import AgentFirmware
from targets.sam4e.mailbox import (
    DATA_SIZE,
    FOREVER,
    LAYOUT_VERSION,
    MAGIC,
    SLOT,
    SLOT_SIZE,
    SLOTS,
    Op,
    Response,
    Status,
    decode_header,
    decode_response,
    encode_request,
    slot_offset,
)
from tests.conftest import require

# ---- helpers (the wire tests import them) -----------------------------------------------------


class Host:
    """The adapter's side of the mailbox, straight over the board's SRAM."""

    def __init__(self, board: EmulatedSam4e, mailbox: int) -> None:
        self.sram, self.base = board.sram, mailbox - SRAM_BASE

    def header(self) -> dict[str, int]:
        return decode_header(bytes(self.sram[self.base:self.base + 32]))

    def _u32(self, slot: int, field: str) -> int:
        return struct.unpack_from("<I", self.sram, self.base + slot_offset(slot) + SLOT[field])[0]

    def idle(self, slot: int) -> bool:
        return self._u32(slot, "req_seq") == self._u32(slot, "resp_seq")

    def submit(self, slot: int, op: int, args: tuple[int, ...] = (), data: bytes = b"") -> int:
        """Rule 2: op/args/data first, then req_seq = resp_seq + 1, written last."""
        assert self.idle(slot), f"slot {slot} is busy"
        start = self.base + slot_offset(slot)
        for offset, chunk in encode_request(op, args, data):
            self.sram[start + offset:start + offset + len(chunk)] = chunk
        seq = (self._u32(slot, "resp_seq") + 1) & 0xFFFFFFFF
        struct.pack_into("<I", self.sram, start + SLOT["req_seq"], seq)
        return seq

    def answered(self, slot: int, seq: int) -> bool:
        return self._u32(slot, "resp_seq") == seq

    def wait(self, slot: int, seq: int, timeout: float = 5.0) -> Response:
        end = time.monotonic() + timeout
        while not self.answered(slot, seq):
            assert time.monotonic() < end, f"slot {slot} did not answer request {seq} within {timeout} s"
            time.sleep(0.001)
        start = self.base + slot_offset(slot)
        return decode_response(bytes(self.sram[start:start + SLOT_SIZE]))

    def call(self, op: int, *args: int, slot: int = 0, data: bytes = b"", timeout: float = 5.0) -> Response:
        return self.wait(slot, self.submit(slot, op, args, data), timeout)

    def ok(self, op: int, *args: int, slot: int = 0, data: bytes = b"") -> int:
        """A call that must run (status OK): its result."""
        r = self.call(op, *args, slot=slot, data=data)
        assert r.status == Status.OK, r
        return r.result


def flash_and_boot(board: EmulatedSam4e, image: FirmwareImage) -> None:
    """What pyOCD's load + reset does, through the backdoor: the image in flash, GPNVM1 set
    (boot from flash), a system reset; the core runs and the firmware's on_reset starts it."""
    board.flash[:len(image.text)] = image.text
    board.eefc.gpnvm |= 1 << GPNVM_BOOT_FLASH
    board.system_reset()


def halt(board: EmulatedSam4e) -> None:
    board.write32(DHCSR, DBGKEY | C_DEBUGEN | C_HALT)


def resume(board: EmulatedSam4e) -> None:
    board.write32(DHCSR, DBGKEY | C_DEBUGEN)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> FirmwareImage:
    require(shutil.which("gcc"), "needs gcc: apt-get install gcc")
    return build_firmware_elf(Path(tmp_path_factory.mktemp("fw")) / "agent.elf")


class Booted:
    def __init__(self, image: FirmwareImage, **kw: Any) -> None:
        self.image = image
        self.fw = AgentFirmware(image, **kw)
        self.board = EmulatedSam4e(firmware=self.fw)
        flash_and_boot(self.board, image)
        self.host = Host(self.board, image.symbols["tch_mailbox"])

    def close(self) -> None:
        self.fw.close()


@pytest.fixture
def dev(image: FirmwareImage) -> Iterator[Booted]:
    booted = Booted(image, gmac_if=None)
    try:
        yield booted
    finally:
        booted.close()
    assert not [t for t in threading.enumerate() if t.name == "IP-task"], "a boot's threads survived"


class BoardView:
    """What pyOCD's RTT code calls on a target (SoCTarget), over the board's backdoor."""

    def __init__(self, board: EmulatedSam4e) -> None:
        self.board = board

    def read_memory_block8(self, addr: int, size: int) -> list[int]:
        return list(self.board.read_memory(addr, size))

    def read_memory_block32(self, addr: int, size: int) -> list[int]:
        return list(struct.unpack(f"<{size}I", self.board.read_memory(addr, 4 * size)))

    def read32(self, addr: int) -> int:
        return self.board.read32(addr)

    def write32(self, addr: int, value: int) -> None:
        self.board.write32(addr, value)


# ---- tests -------------------------------------------------------------------------------------


def test_boot_writes_the_header_and_an_rtt_block_pyocd_reads(dev: Booted) -> None:
    rtt = pytest.importorskip("pyocd.debug.rtt")
    header = dev.host.header()
    assert header["magic"] == MAGIC and header["layout_version"] == LAYOUT_VERSION
    assert (header["slot_count"], header["slot_size"], header["data_size"]) == (SLOTS, SLOT_SIZE, DATA_SIZE)
    assert header["boot_id"] == dev.fw.boot_id and dev.board.boot_count == 1
    time.sleep(0.02)
    assert dev.host.header()["heartbeat"] > header["heartbeat"], "the workers poll"

    # pyOCD's own reader, searching all of SRAM as it does without an address.
    block = rtt.RTTControlBlock.from_target(BoardView(dev.board), address=SRAM_BASE, size=SRAM_SIZE)
    block.start()
    assert [c.name for c in block.up_channels] == ["Terminal"] and len(block.down_channels) == 1
    mailbox = dev.image.symbols["tch_mailbox"]
    boot_line = block.up_channels[0].read().decode()
    assert boot_line.endswith(f"tch: agent up, layout {LAYOUT_VERSION}, 4 slots, mailbox 0x{mailbox:08x}, "
                              f"boot {header['boot_id']:08x}\n"), boot_line
    dev.host.ok(Op.NOP, slot=2)
    time.sleep(0.01)  # the log line follows the answer (tch_ops.done)
    assert block.up_channels[0].read().decode().endswith(" tch2 op 0 status 0 result 0\n")


def test_the_log_drops_what_does_not_fit_and_never_blocks(dev: Booted) -> None:
    # Nobody reads RTT here: ~45-byte lines fill the 1 KiB ring after ~22 calls; calls go on.
    for _ in range(60):
        dev.host.ok(Op.NOP)
    _name, _buf, size, wr, rd, _flags = BoardView(dev.board).read_memory_block32(
        dev.image.symbols["_SEGGER_RTT"] + 24, 6)
    assert rd == 0 and 900 < wr < size


def test_statuses_and_freertos_results(dev: Booted) -> None:
    h = dev.host
    assert h.call(99).status == Status.BAD_OP
    assert h.call(Op.BIND, 3, 7000).status == Status.BAD_SOCKET
    sock = h.ok(Op.SOCKET)
    assert sock == 1
    assert h.call(Op.BIND, sock, 70000).status == Status.BAD_ARG
    assert h.call(Op.RECV, sock, DATA_SIZE + 1, 0).status == Status.BAD_ARG      # tch_mailbox.c
    assert h.call(Op.RECV, sock, 10, 1).status == Status.BAD_ARG                 # FREERTOS_ZERO_COPY
    assert h.call(Op.SETSOCKOPT, sock, SockOpt.RCVTIMEO, -2).status == Status.BAD_ARG
    assert h.call(Op.SETSOCKOPT, sock, SockOpt.WAKEUP_CALLBACK, 1).status == Status.BAD_ARG
    assert h.call(Op.SETSOCKOPT, sock, SockOpt.SET_SEMAPHORE, 3).status == Status.BAD_ARG
    assert h.call(Op.SETSOCKOPT, sock, SockOpt.WIN_PROPERTIES, 0, data=b"\0" * 12).status == Status.BAD_ARG
    assert h.call(Op.SEM_TAKE, 1, 0).status == Status.BAD_ARG
    # FreeRTOS's own return values, untouched.
    assert h.ok(Op.LISTEN, sock, 1) == -Errno.EOPNOTSUPP                         # not bound
    assert h.ok(Op.SETSOCKOPT, sock, SockOpt.RCVTIMEO, FOREVER) == 0
    assert h.ok(Op.SETSOCKOPT, sock, 99, 0) == -Errno.ENOPROTOOPT
    assert h.ok(Op.SETSOCKOPT, sock, SockOpt.WIN_PROPERTIES, 0,
                data=struct.pack("<4i", 2920, 2, 2920, 2)) == 0
    assert h.ok(Op.BIND, sock, 7000) == 0
    assert h.ok(Op.BIND, sock, 7001) == -Errno.EINVAL                            # already bound
    assert h.ok(Op.ISCONNECTED, sock) == 0
    assert h.ok(Op.CONNSTATUS, sock) == 0                                        # eCLOSED
    assert h.ok(Op.CLOSESOCKET, sock) == 1
    assert h.call(Op.CLOSESOCKET, sock).status == Status.BAD_SOCKET              # the handle is free
    handles = [h.ok(Op.SOCKET) for _ in range(8)]
    assert handles == list(range(1, 9))                                          # 1..N, reused
    full = h.call(Op.SOCKET)
    assert (full.status, full.result) == (Status.NO_HANDLE, 0)
    assert [h.ok(Op.SEM_CREATE) for _ in range(4)] == [1, 2, 3, 4]
    assert h.call(Op.SEM_CREATE).status == Status.NO_HANDLE


# ---- SELECT (op 15) -------------------------------------------------------------------------

READ, WRITE, EXCEPT = 1, 2, 4     # eSELECT_*


@pytest.fixture
def dev_select(image: FirmwareImage) -> Iterator[Booted]:
    """A firmware built with ipconfigSUPPORT_SELECT_FUNCTION 1."""
    booted = Booted(image, gmac_if=None, config=StackConfig(select=True))
    try:
        yield booted
    finally:
        booted.close()


def test_select_without_select_support_is_unsupported(dev: Booted) -> None:
    """The default build (ipconfigSUPPORT_SELECT_FUNCTION 0): UNSUPPORTED before the handle is looked
    up; the argument checks of tch_mailbox.c come first."""
    h = dev.host
    sock = h.ok(Op.SOCKET)
    for handle in (sock, 7):
        r = h.call(Op.SELECT, handle, READ, 0)
        assert (r.status, r.result) == (Status.UNSUPPORTED, 0)
    assert h.call(Op.SELECT, sock, 0x10, 0).status == Status.BAD_ARG
    assert h.call(Op.SELECT, sock, READ, -2).status == Status.BAD_ARG


def test_select_statuses_and_results(dev_select: Booted) -> None:
    h = dev_select.host
    boot = dev_select.fw._boot
    assert boot is not None
    assert h.call(Op.SELECT, 3, READ, 0).status == Status.BAD_SOCKET
    assert h.call(Op.SELECT, 1, 0x1F, 0).status == Status.BAD_ARG
    sock = h.ok(Op.SOCKET)
    assert h.ok(Op.BIND, sock, 7000) == 0 and h.ok(Op.LISTEN, sock, 2) == 0
    # A listening socket with nobody to accept: nothing ready, 0 at once for timeout 0.
    assert h.ok(Op.SELECT, sock, READ | WRITE | EXCEPT, 0) == 0
    assert h.ok(Op.SELECT, sock, 0, 0) == 0
    # A fresh (closed-state) socket is EXCEPT (vSocketSelectTCP: eCLOSED), only when asked for.
    other = h.ok(Op.SOCKET)
    assert h.ok(Op.SELECT, other, READ | EXCEPT, 0) == EXCEPT
    assert h.ok(Op.SELECT, other, READ, 0) == 0          # FD_CLR first: the old EXCEPT is gone
    assert set(boot.socket_sets) == {sock, other}       # one set per handle, made on first use
    # CLOSESOCKET forgets the handle's set; the next socket in that handle gets a new one.
    assert h.ok(Op.CLOSESOCKET, other) == 1
    assert h.call(Op.SELECT, other, READ, 0).status == Status.BAD_SOCKET
    assert set(boot.socket_sets) == {sock}
    assert h.ok(Op.SOCKET) == other
    assert h.ok(Op.SELECT, other, EXCEPT, 0) == EXCEPT


def test_select_waits_its_timeout_in_its_own_slot(dev_select: Booted) -> None:
    h = dev_select.host
    sock = h.ok(Op.SOCKET)
    assert h.ok(Op.BIND, sock, 7000) == 0 and h.ok(Op.LISTEN, sock, 1) == 0
    seq = h.submit(0, Op.SELECT, (sock, READ, 300))      # nobody connects: 0 after 300 ms
    for slot in (1, 2, 3):
        assert h.ok(Op.CONNSTATUS, sock, slot=slot) == 1  # eTCP_LISTEN
    assert not h.answered(0, seq)
    r = h.wait(0, seq)
    assert (r.status, r.result) == (Status.OK, 0)
    assert 290 <= r.t_end - r.t_start <= 400             # ticks: 1 kHz


def test_a_blocking_call_holds_only_its_own_slot(dev: Booted) -> None:
    h = dev.host
    sem = h.ok(Op.SEM_CREATE)
    seq = h.submit(0, Op.SEM_TAKE, (sem, 300))        # nothing gives it: times out after 300 ms
    for slot in (1, 2, 3):
        assert h.ok(Op.NOP, slot=slot) == 0
    assert not h.answered(0, seq)
    r = h.wait(0, seq)
    assert (r.status, r.result) == (Status.OK, 0)
    assert 290 <= r.t_end - r.t_start <= 400          # ticks: 1 kHz


def test_halt_freezes_the_mailbox_and_the_core_clock(dev: Booted) -> None:
    h = dev.host
    sem = h.ok(Op.SEM_CREATE)
    take = h.submit(0, Op.SEM_TAKE, (sem, 200))
    halt(dev.board)
    beat = h.header()["heartbeat"]
    nop = h.submit(1, Op.NOP)
    time.sleep(0.4)                                   # longer than the take's timeout
    assert not h.answered(1, nop) and not h.answered(0, take)
    assert h.header()["heartbeat"] == beat, "a halted core made progress"
    resume(dev.board)
    assert h.wait(1, nop).status == Status.OK
    r = h.wait(0, take)
    assert r.result == 0 and 190 <= r.t_end - r.t_start <= 300, "the halt counted as run time"


def test_reset_mid_call_starts_a_clean_boot(dev: Booted) -> None:
    h = dev.host
    first = dev.fw.boot_id
    assert h.ok(Op.SOCKET) == 1
    sem = h.ok(Op.SEM_CREATE)
    seq = h.submit(0, Op.SEM_TAKE, (sem, FOREVER))
    time.sleep(0.02)
    dev.board.system_reset()
    header = h.header()
    assert header["magic"] == MAGIC and header["boot_id"] == dev.fw.boot_id != first
    assert dev.board.boot_count == 2
    time.sleep(0.1)
    assert h.idle(0) and not h.answered(0, seq), "the old request was answered"
    assert h.ok(Op.SOCKET) == 1                       # a fresh handle table and stack
    assert h.call(Op.SEM_TAKE, sem, 0).status == Status.BAD_ARG
    assert len([t for t in threading.enumerate() if t.name == "IP-task"]) == 1


def test_reset_of_a_halted_core_boots_again(dev: Booted) -> None:
    first = dev.fw.boot_id
    halt(dev.board)
    dev.board.system_reset()                          # the reset clears C_HALT: the core runs
    assert dev.fw.boot_id != first and dev.board.boot_count == 2
    assert dev.host.ok(Op.NOP) == 0
    assert len([t for t in threading.enumerate() if t.name == "IP-task"]) == 1
