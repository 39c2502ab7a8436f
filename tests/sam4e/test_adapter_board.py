"""Smoke tests on a real SAM4E Xplained Pro (targets/sam4e.yaml's board section): skipped unless an
EDBG (USB 03eb:2111) is attached. They cover what no emulator can: the pack's flash algorithm,
GPNVM1 on silicon, EDBG timing, and the agent answering over SWD."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.target import load_target
from targets.sam4e.adapter import Sam4eBoard
from targets.sam4e.config import load_board
from targets.sam4e.mailbox import Op, Status

EDBG = (0x03EB, 0x2111)
SKIP = "no EDBG probe (03eb:2111) attached: connect a SAM4E Xplained Pro"


def _edbg_attached() -> bool:
    for device in Path("/sys/bus/usb/devices").glob("*"):
        try:
            vid = int((device / "idVendor").read_text(), 16)
            pid = int((device / "idProduct").read_text(), 16)
        except (OSError, ValueError):
            continue
        if (vid, pid) == EDBG:
            return True
    return False


board = pytest.mark.skipif(not _edbg_attached(), reason=SKIP)


@board
def test_board_flash_boot_and_nop() -> None:
    config = load_board(load_target("sam4e").path)
    with Sam4eBoard(config) as sam4e:
        sam4e.flash()
        sam4e.ensure_boot_from_flash()
        sam4e.reset()
        for _ in range(100):
            assert sam4e.call(Op.NOP, timeout=1.0).status == Status.OK
        assert sam4e.log_lines(), "no RTT line from the firmware"
