"""The rig the adapter and target tests share (no tests here): an emulated board whose firmware
stand-in serves the mailbox with the firmware's own C protocol code (HostMailboxLibrary.service
over the board's SRAM, one thread per slot, as the board's workers), logs to RTT, stops serving
while the core is halted, and can hold single slots back to make answers late on purpose.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from targets.sam4e.config import BoardConfig
from targets.sam4e.emulation import (
    EmulatedSam4e,
    FirmwareImage,
    build_firmware_elf,
    make_pack,
    register_board,
    unregister_board,
)
from targets.sam4e.emulation.constants import SRAM_BASE
from targets.sam4e.emulation.rtt import RttLog
from targets.sam4e.emulation.server import probe_uid
from targets.sam4e.mailbox import SLOTS, HostMailboxLibrary, Op, Status

_lib: HostMailboxLibrary | None = None


def library() -> HostMailboxLibrary:
    global _lib
    if _lib is None:
        _lib = HostMailboxLibrary()
    return _lib


class StandInFirmware:
    """What the agent does on the board, minus the TCP stack: NOP; SEND echoes its data back
    (so a stale answer is recognisable); SEM_TAKE sleeps arg1 ms; everything else BAD_OP."""

    def __init__(self, image: FirmwareImage, agent: bool = True) -> None:
        self.sym = image.symbols
        self.agent = agent
        self.served: list[tuple[int, int, bytes]] = []   # (slot, op, data) in the order served
        self.held: set[int] = set()                      # slots whose worker does not serve yet
        self.boot_ids: list[int] = []
        self.rtt: RttLog | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._board: EmulatedSam4e | None = None

    # board hooks (called with board.lock held: never block on the board here)
    def on_reset(self, board: EmulatedSam4e) -> None:
        self._stop_workers()
        self._board, self.held = board, set()
        rtt = RttLog(board.sram_address, self.sym["_SEGGER_RTT"], self.sym["_rtt_up_buffer"], 1024,
                     self.sym["_rtt_down_buffer"], 64, self.sym["_rtt_name"])
        rtt.init()
        self.rtt = rtt
        self.log(f"boot {board.boot_count}")
        if self.agent:
            boot_id = random.getrandbits(32)
            self.boot_ids.append(boot_id)
            library().init(board.sram, self.sym["tch_mailbox"] - SRAM_BASE, boot_id)
            self._start_workers()

    def on_resume(self, board: EmulatedSam4e) -> None:
        if self.agent:
            self._start_workers()

    def on_halt(self, board: EmulatedSam4e) -> None:
        self._stop_workers()

    def log(self, text: str) -> int:
        assert self.rtt is not None
        return self.rtt.write(f"{text}\r\n".encode())

    def _start_workers(self) -> None:
        self._stop = stop = threading.Event()
        self._threads = [threading.Thread(target=self._worker, args=(slot, stop), daemon=True,
                                          name=f"standin-slot{slot}") for slot in range(SLOTS)]
        for t in self._threads:
            t.start()

    def _stop_workers(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()
        self._threads = []

    def _worker(self, slot: int, stop: threading.Event) -> None:
        board = self._board
        assert board is not None
        offset = self.sym["tch_mailbox"] - SRAM_BASE

        def call(op: int, args: tuple[int, ...], data: bytes) -> tuple[int, int, bytes]:
            self.served.append((slot, op, data))
            if op == Op.NOP:
                return Status.OK, 0, b""
            if op == Op.SEND:
                return Status.OK, len(data), data
            if op == Op.SEM_TAKE:
                stop.wait(args[1] / 1000)
                return Status.OK, 1, b""
            return Status.BAD_OP, 0, b""

        while not stop.is_set():
            if slot in self.held or not library().service(board.sram, offset, slot, call):
                stop.wait(0.0002)


@dataclass
class Rig:
    board: EmulatedSam4e
    firmware: StandInFirmware
    image: FirmwareImage
    pack: Path
    workdir: Path
    emu_id: str

    def config(self, probe: str | None = None, **overrides: object) -> BoardConfig:
        values: dict[str, object] = {"probe": probe or self.emu_id, "pack": self.pack, "elf": self.image.path,
                                     "nic": "lo", "project_dir": self.workdir / "pyocd", "boot_timeout": 2.0,
                                     "source": "test board config"}
        values.update(overrides)
        return BoardConfig(**values)  # type: ignore[arg-type]


@contextmanager
def make_rig(tmp_path: Path, agent: bool = True,
             firmware: Callable[[FirmwareImage], object] | None = None) -> Iterator[Rig]:
    image = build_firmware_elf(tmp_path / "fw.elf")
    fw = firmware(image) if firmware else StandInFirmware(image, agent=agent)
    board = EmulatedSam4e(firmware=fw)  # type: ignore[arg-type]
    emu_id = register_board(board, f"adapter-{os.getpid()}-{id(board):x}")
    cwd = os.getcwd()
    try:
        yield Rig(board, fw, image, make_pack(tmp_path / "sam4e.pack"), tmp_path, emu_id)  # type: ignore[arg-type]
    finally:
        os.chdir(cwd)
        fw.on_halt(board)  # type: ignore[attr-defined]
        unregister_board(emu_id)


def probe_for(rig: Rig, transport: str) -> AbstractContextManager[str]:
    return probe_uid(rig.emu_id, rig.workdir, transport)


def wait_for(condition: Callable[[], object], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)
