"""pyOCD end to end against the emulated SAM4E: the adapter's own calls, locally and via `remote:`.

Session through ConnectHelper with target_override="atsam4e16e" and the generated pack; CHIPID;
FileProgrammer with the pack's FLM (verified, smart flash skipping what is unchanged); GPNVM1
through EEFC commands; reset into the firmware hook; reset_and_halt at the reset vector; memory
access while the core runs; ELF symbols; RTT. The same flow runs through pyOCD's
DebugProbeServer and a `remote:localhost:<port>` id.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyocd.core.helpers import ConnectHelper
from pyocd.core.session import Session
from pyocd.core.target import Target
from pyocd.debug.elf.elf import ELFBinaryFile
from pyocd.debug.rtt import RTTControlBlock
from pyocd.flash.file_programmer import FileProgrammer

from targets.sam4e.emulation import (
    TARGET_NAME,
    EmulatedSam4e,
    FirmwareImage,
    build_firmware_elf,
    make_pack,
    register_board,
    unregister_board,
)
from targets.sam4e.emulation.constants import CHIPID_CIDR, CIDR_SAM4E16E, EEFC_FCR, EEFC_FRR, EEFC_FSR
from targets.sam4e.emulation.server import probe_uid, remote_probe
from tests.conftest import require

MAILBOX_HEARTBEAT, MAILBOX_BOOT_ID = 16, 20  # offsets in struct tch_mailbox (PROTOCOL.md)


class TestFirmware:
    """A stand-in for the firmware: what it does is what the real one does first after a reset.

    on_reset: boot id into the mailbox header, an RTT control block (ID written last, as
    SEGGER_RTT_Init does) with "boot <n>" in up-channel 0, then a heartbeat thread that bumps
    tch_mailbox.heartbeat through ctypes while the core runs; on_halt stops it.
    """

    __test__ = False  # not a pytest class

    def __init__(self, image: FirmwareImage) -> None:
        self.sym = image.symbols
        self.events: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _word(self, board: EmulatedSam4e, address: int) -> ctypes.c_uint32:
        return ctypes.c_uint32.from_address(board.sram_address(address))

    def on_reset(self, board: EmulatedSam4e) -> None:
        self.events.append("reset")
        mailbox, rtt = self.sym["tch_mailbox"], self.sym["_SEGGER_RTT"]
        self._word(board, mailbox + MAILBOX_BOOT_ID).value = board.boot_count
        ctypes.memset(board.sram_address(rtt), 0, 72)
        name = self.sym["_rtt_name"]
        ctypes.memmove(board.sram_address(name), b"Terminal\0", 9)
        message = f"boot {board.boot_count}\r\n".encode()
        ctypes.memmove(board.sram_address(self.sym["_rtt_up_buffer"]), message, len(message))
        up = struct.pack("<6I", name, self.sym["_rtt_up_buffer"], 1024, len(message), 0, 0)
        down = struct.pack("<6I", name, self.sym["_rtt_down_buffer"], 64, 0, 0, 0)
        ctypes.memmove(board.sram_address(rtt + 16), struct.pack("<ii", 1, 1) + up + down, 56)
        ctypes.memmove(board.sram_address(rtt), b"SEGGER RTT\0\0\0\0\0\0", 16)
        self._start(board)

    def on_resume(self, board: EmulatedSam4e) -> None:
        self.events.append("resume")
        self._start(board)

    def on_halt(self, board: EmulatedSam4e) -> None:
        self.events.append("halt")
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _start(self, board: EmulatedSam4e) -> None:
        heartbeat = self._word(board, self.sym["tch_mailbox"] + MAILBOX_HEARTBEAT)
        self._stop = stop = threading.Event()

        def run() -> None:
            while not stop.wait(0.0005):
                heartbeat.value = (heartbeat.value + 1) & 0xFFFFFFFF

        self._thread = threading.Thread(target=run, name="emulated-firmware", daemon=True)
        self._thread.start()


@dataclass
class Rig:
    board: EmulatedSam4e
    firmware: TestFirmware
    image: FirmwareImage
    pack: Path
    workdir: Path
    emu_id: str


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    image = build_firmware_elf(tmp_path / "fw.elf")
    firmware = TestFirmware(image)
    board = EmulatedSam4e(firmware=firmware)
    emu_id = register_board(board, f"test-{os.getpid()}-{id(board):x}")
    cwd = os.getcwd()
    try:
        yield Rig(board, firmware, image, make_pack(tmp_path / "sam4e.pack"), tmp_path, emu_id)
    finally:
        os.chdir(cwd)  # pyOCD's Session chdir()s into project_dir
        firmware.on_halt(board)
        unregister_board(emu_id)


def probe_id(rig: Rig, transport: str) -> AbstractContextManager[str]:
    return probe_uid(rig.emu_id, rig.workdir, transport)


@contextmanager
def session_for(rig: Rig, unique_id: str, **options: object) -> Iterator[Session]:
    session = ConnectHelper.session_with_chosen_probe(
        unique_id=unique_id, target_override=TARGET_NAME, pack=[str(rig.pack)], no_config=True,
        project_dir=str(rig.workdir), blocking=False, return_first=False,
        options={"hide_programming_progress": True, "resume_on_disconnect": True, **options})
    assert session is not None, f"no probe {unique_id}"
    with session:
        yield session


def eefc_command(target: Target, cmd: int, arg: int = 0) -> int:
    """What the adapter does for GPNVM: FCR with the key, then poll FSR.FRDY."""
    target.write32(EEFC_FCR, (0x5A << 24) | (arg << 8) | cmd)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        fsr = target.read32(EEFC_FSR)
        if fsr & 1:
            return fsr
    raise AssertionError("EEFC never became ready")


def flash_image(session: Session, image: FirmwareImage) -> None:
    FileProgrammer(session, chip_erase="sector", smart_flash=True).program(str(image.path))


def assert_flashed(board: EmulatedSam4e, image: FirmwareImage) -> None:
    text_end = len(image.text)
    assert bytes(board.flash[:text_end]) == image.text
    lma = image.data_lma - 0x0040_0000
    assert bytes(board.flash[lma:lma + len(image.data)]) == image.data


@pytest.mark.parametrize("transport", ["emu", "remote"])
def test_flash_boot_and_debug_through_pyocd(rig: Rig, transport: str) -> None:
    board, fw, image = rig.board, rig.firmware, rig.image
    with probe_id(rig, transport) as uid, session_for(rig, uid) as session:
        target = session.target
        assert target.part_number == "ATSAM4E16E"
        assert target.read32(CHIPID_CIDR) & ~0x1F == CIDR_SAM4E16E & ~0x1F
        assert target.get_state() == Target.State.HALTED  # connect_mode "halt"

        flash_image(session, image)
        assert_flashed(board, image)
        assert bytes(target.read_memory_block8(0x0040_0000, 64)) == image.text[:64]
        # The FLM ran through pyOCD's pack flow: Init, EraseSector, ProgramPage, UnInit.
        assert set(board.algo_calls) >= {1, 2, 3, 4}

        # GPNVM1 (boot from flash) with EEFC commands, read back with GGPB.
        eefc_command(target, 0x0D)
        assert target.read32(EEFC_FRR) & 0b10 == 0
        assert eefc_command(target, 0x0B, 1) & 0xE == 0  # no FCMDE/FLOCKE/FLERR
        eefc_command(target, 0x0D)
        assert target.read32(EEFC_FRR) & 0b10 == 0b10

        target.reset()
        assert board.booted_from == "flash" and board.boot_count == 1
        assert fw.events[-1] == "reset" and target.get_state() == Target.State.RUNNING

        target.reset_and_halt()
        assert target.get_state() == Target.State.HALTED
        assert target.read_core_register("pc") == image.reset_handler & ~1
        assert target.read_core_register("sp") == image.initial_sp
        assert fw.events[-1] == "halt" and board.boot_count == 1  # not started while halted
        target.resume()
        assert fw.events[-1] == "reset" and board.boot_count == 2


def test_smart_flash_skips_unchanged_pages_and_repairs_one(rig: Rig) -> None:
    board, image = rig.board, rig.image
    with session_for(rig, rig.emu_id) as session:
        flash_image(session, image)
        first = board.flash_stats.pages_programmed
        assert first >= len(image.text) // 512

        flash_image(session, image)  # identical: nothing erased or programmed
        assert board.flash_stats.pages_programmed == first
        before_erased = board.flash_stats.pages_erased

        board.flash[0x2200:0x2204] = b"\0\0\0\0"  # damage one page in the second 8 KiB sector
        flash_image(session, image)
        assert_flashed(board, image)
        assert board.flash_stats.pages_erased - before_erased == 16  # exactly that sector
        assert 0 < board.flash_stats.pages_programmed - first <= 16


def test_memory_access_while_running_and_probe_traffic(rig: Rig) -> None:
    board, image = rig.board, rig.image
    with session_for(rig, rig.emu_id) as session:
        target = session.target
        flash_image(session, image)
        eefc_command(target, 0x0B, 1)
        target.reset()
        assert target.get_state() == Target.State.RUNNING

        heartbeat = image.symbols["tch_mailbox"] + MAILBOX_HEARTBEAT
        first = target.read32(heartbeat)
        time.sleep(0.02)
        assert target.read32(heartbeat) != first  # the firmware thread runs meanwhile
        assert target.read32(image.symbols["tch_mailbox"] + MAILBOX_BOOT_ID) == 1

        scratch = 0x2001_0F00  # a block that crosses a 4 KiB TAR auto-increment boundary
        pattern = bytes((i * 7 + 3) & 0xFF for i in range(0x300))
        target.write_memory_block8(scratch, pattern)
        assert bytes(target.read_memory_block8(scratch, len(pattern))) == pattern
        assert board.read_memory(scratch, len(pattern)) == pattern
        words = [0x1000_0000 + i for i in range(300)]
        target.write_memory_block32(scratch, words)
        assert target.read_memory_block32(scratch, 300) == words
        target.write16(scratch + 2, 0xBEEF)
        target.write8(scratch + 1, 0x5A)
        assert target.read32(scratch) == (0xBEEF << 16) | (0x5A << 8) | (words[0] & 0xFF)

        before = board.stats.snapshot()
        target.write32(scratch, 0xA5A5A5A5)
        assert target.read32(scratch) == 0xA5A5A5A5
        used = board.stats.since(before)
        # TAR + DRW for each access (CSW and SELECT stay cached in pyOCD).
        assert used.transactions == 4 and used.round_trips <= 2
        assert target.get_state() == Target.State.RUNNING


def test_symbols_and_rtt_from_the_elf(rig: Rig) -> None:
    board, image = rig.board, rig.image
    elf = ELFBinaryFile(str(image.path))
    rtt_addr = elf.symbol_decoder.get_symbol_for_name("_SEGGER_RTT").address
    mailbox = elf.symbol_decoder.get_symbol_for_name("tch_mailbox").address
    assert (rtt_addr, mailbox) == (image.symbols["_SEGGER_RTT"], image.symbols["tch_mailbox"])
    with session_for(rig, rig.emu_id) as session:
        target = session.target
        flash_image(session, image)
        eefc_command(target, 0x0B, 1)
        target.reset()
        control_block = RTTControlBlock.from_target(target, address=rtt_addr)
        control_block.start()
        up = control_block.up_channels[0]
        assert up.name == "Terminal" and up.size == 1024
        assert up.read() == b"boot 1\r\n"
        assert up.read() == b""
        rdoff = image.symbols["_SEGGER_RTT"] + 24 + 16  # aUp[0].RdOff, written back by pyOCD
        assert board.read32(rdoff) == len(b"boot 1\r\n")
        assert control_block.down_channels[0].write(b"help\n") == 5
        assert board.read_memory(image.symbols["_rtt_down_buffer"], 5) == b"help\n"


def test_connect_under_reset_and_hardware_reset(rig: Rig) -> None:
    board, fw, image = rig.board, rig.firmware, rig.image
    with session_for(rig, rig.emu_id) as session:
        flash_image(session, image)
        eefc_command(session.target, 0x0B, 1)
    with session_for(rig, rig.emu_id, connect_mode="under-reset") as session:
        target = session.target
        assert target.get_state() == Target.State.HALTED
        assert target.read_core_register("pc") == image.reset_handler & ~1
        assert fw.events == []  # never ran: held in reset, then halted at the vector
        target.reset(Target.ResetType.HARDWARE)  # nRESET through the probe's pin access
        assert fw.events == ["reset"] and board.booted_from == "flash"


def test_probe_writes_are_single_word_stores_for_c_readers(rig: Rig, tmp_path: Path) -> None:
    """A C thread (GIL released) watches a word while pyOCD rewrites it: it must never see a mix."""
    require(shutil.which("gcc"), "needs gcc: apt-get install gcc")
    source = tmp_path / "watch.c"
    source.write_text(
        "#include <stdint.h>\n"
        "long watch(volatile uint32_t *p, volatile int *stop, long *reads) {\n"
        "  long torn = 0, n = 0;\n"
        "  while (!*stop) { uint32_t v = *p; if (v != 0u && v != 0xFFFFFFFFu) torn++; n++; }\n"
        "  *reads = n; return torn; }\n")
    lib_path = tmp_path / "libwatch.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(lib_path), str(source)], check=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.watch.restype = ctypes.c_long
    lib.watch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_long)]

    address = 0x2001_8000
    stop, reads, result = ctypes.c_int(0), ctypes.c_long(0), []
    with session_for(rig, rig.emu_id) as session:
        target = session.target
        target.write32(address, 0)
        watcher = threading.Thread(target=lambda: result.append(
            lib.watch(rig.board.sram_address(address), ctypes.byref(stop), ctypes.byref(reads))))
        watcher.start()
        for i in range(2000):
            target.write32(address, 0xFFFFFFFF if i & 1 else 0)
            target.write_memory_block32(address, [0 if i & 1 else 0xFFFFFFFF])
        stop.value = 1
        watcher.join()
    assert reads.value > 0 and result == [0]


def test_remote_probe_cannot_drive_nreset(rig: Rig) -> None:
    """Characterises pyOCD 0.46, not the emulator: its remote client forwards the served probe's
    PIN_ACCESS capability but has no read_pins/write_pins, so a HARDWARE reset (the ResetHardware
    sequence) over `remote:` fails. A real EDBG (CMSIS-DAP, which has PIN_ACCESS) behind
    `pyocd server` fails the same way; over remote the adapter must reset with SYSRESETREQ."""
    with remote_probe(rig.emu_id, rig.workdir) as uid, session_for(rig, uid) as session:
        with pytest.raises(NotImplementedError):
            session.target.reset(Target.ResetType.HARDWARE)
        session.target.reset(Target.ResetType.SYSRESETREQ)


def test_plugin_serves_a_board_from_another_process(rig: Rig) -> None:
    """`pyocd server --uid emu:auto-…` in a subprocess finds the probe through the entry point."""
    names = {ep.name for ep in importlib.metadata.entry_points(group="pyocd.probe")}
    require("emu" in names, "the pyocd.probe entry point 'emu' is not installed: pip install -e .")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "pyocd", "server", "--uid", "emu:auto-subprocess", "--port", str(port),
         "--no-config", "-j", str(rig.workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("localhost", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"pyocd server did not come up: {server.communicate()[0]}")
                time.sleep(0.1)
        image = rig.image
        with session_for(rig, f"remote:localhost:{port}") as session:
            target = session.target
            assert target.read32(CHIPID_CIDR) & ~0x1F == CIDR_SAM4E16E & ~0x1F
            flash_image(session, image)
            assert bytes(target.read_memory_block8(0x0040_0000, len(image.text))) == image.text
            eefc_command(target, 0x0B, 1)
            target.reset_and_halt()
            assert target.read_core_register("pc") == image.reset_handler & ~1
    finally:
        server.terminate()
        server.wait(timeout=10)
