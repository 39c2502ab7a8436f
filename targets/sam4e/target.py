"""`Sam4eTarget`: a SAM4E Xplained Pro running FreeRTOS+TCP with the harness agent, on a real wire.

- frames: the shared wire engine (harness/wire/engine.py) on the host NIC cabled to the board
  (`board.nic` in targets/sam4e.yaml), kernel timestamps, ARP answered at once;
- calls: the agent mailbox over SWD (adapter.py), through the machinery every mailbox target
  shares (targets/mailbox_target.py: call handles, a poller, calls split to the 1 KiB data area);
- notes: what the adapter did (boot, resynchronisation) and the firmware's RTT log lines.

Clock: the wall clock (time.time()), the clock of the kernel's packet stamps.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness import HARNESS_IP, HARNESS_MAC
from harness.target import TargetConfig, TargetUnavailable
from harness.wire.engine import WireEngine
from targets.mailbox_target import MailboxTarget, MailboxTargetError

from .adapter import BoardError, Sam4eBoard
from .config import BoardConfig, load_board


class Sam4eError(MailboxTargetError):
    pass


def check_interface(nic: str, source: str) -> None:
    """The NIC must exist and be up with a carrier, or the first frame would vanish silently."""
    sys_dir = Path("/sys/class/net") / nic
    if not sys_dir.exists():
        raise Sam4eError(f"network interface {nic} does not exist: fix nic: in {source} (ip link lists them)")
    flags = int((sys_dir / "flags").read_text().strip(), 16)
    if not flags & 0x1:   # IFF_UP
        raise Sam4eError(f"network interface {nic} is down: ip link set {nic} up")
    try:
        carrier = (sys_dir / "carrier").read_text().strip()
    except OSError:
        carrier = "1"
    if carrier != "1":
        raise Sam4eError(f"network interface {nic} has no carrier: plug the board's Ethernet cable into it")


class Sam4eTarget(MailboxTarget):
    """FreeRTOS+TCP on a SAM4E board (or the emulated one): socket calls through the SWD mailbox,
    frames through the wire engine on the NIC cabled to the board."""

    error = Sam4eError
    parallel_note = "it drives one board"
    device_errors = (BoardError,)

    @classmethod
    def completed(cls, config: TargetConfig) -> TargetConfig:
        """With the FreeRTOSIPConfig.h the firmware was built from (`sources.ip_config`): its values
        as the fixed settings, and the capabilities they decide (no keep-alive cases against a
        firmware built without it), instead of copying them into the target file by hand."""
        from targets.freertos_posix.user_config import with_header  # the same reading as the host build

        return with_header(config, fixed=True)

    def __init__(self, config: TargetConfig, board: BoardConfig | None = None, flash: bool = True):
        super().__init__(config)
        self.board_config = board or load_board(config.path)
        self.flash_on_open = flash
        self.board: Sam4eBoard | None = None

    # ---- lifecycle ----------------------------------------------------------------------------

    def _open_board(self) -> Sam4eBoard:
        if self.board is None:
            board = Sam4eBoard(self.board_config).open()
            try:
                if self.flash_on_open:
                    board.flash()
                board.ensure_boot_from_flash()
            except BaseException:
                board.close()
                raise
            self.board = board
        return self.board

    def preflight(self) -> None:
        """The bench, checked before any case: NIC, pack, ELF, probe, chip (each a one-line error)."""
        try:
            check_interface(self.board_config.nic, self.board_config.source)
            self._open_board()
        except (Sam4eError, BoardError) as exc:
            raise TargetUnavailable(str(exc)) from exc

    def reset(self, settings: Mapping[str, Any]) -> None:
        check_interface(self.board_config.nic, self.board_config.source)
        board = self._open_board()
        self._stop_calls()
        board.reset(clear_log=True)
        self.device = board
        if self.engine is None:
            self.engine = WireEngine(self.board_config.nic, self.config.device_ip, HARNESS_IP, HARNESS_MAC)
        self.engine.drain()   # what the board sent while booting (gratuitous ARP) is not the case's
        self._notes = [(time.time(), f"SAM4E board (probe {self.board_config.probe}), agent boot_id "
                                     f"{board.boot_id:#010x}, NIC {self.board_config.nic}")]
        self._start_calls()

    def close(self) -> None:
        self._stop_calls()
        self._close_engine()
        if self.board is not None:
            self.board.close()
            self.board = None
        self.device = None
        self._close_wake()
