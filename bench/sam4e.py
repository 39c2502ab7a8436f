"""The SAM4E adapter's mailbox cost, on the emulated board (no hardware, no root).

    python bench/sam4e.py [--calls 2000] [--remote]

The unchanged adapter (targets/sam4e/adapter.py) opens a pyOCD session on the emulated probe,
flashes the emulated firmware, sets GPNVM1, resets, and makes mailbox calls that the agent's
real C protocol code answers (host-compiled, over the emulated SRAM). Printed per operation:

- mailbox round trips per second (wall time here: Python all the way down, so this is the
  harness's own cost, not the board's);
- probe transactions per call (DP/AP register accesses) and estimated CMSIS-DAP USB packets per
  call, counted by the emulated probe. On a real EDBG (full-speed USB HID, one packet per 1 ms
  frame in each direction) the packet count times ~1-2 ms estimates a call's cost on the bench.

`--remote` runs the same through pyOCD's remote probe server (`remote:localhost:<port>`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stack_under_test import StackConfig  # noqa: E402
from targets.sam4e.adapter import Sam4eBoard  # noqa: E402
from targets.sam4e.config import BoardConfig  # noqa: E402
from targets.sam4e.emulation import (  # noqa: E402
    EmulatedSam4e,
    build_firmware_elf,
    make_pack,
    register_board,
    unregister_board,
)
from targets.sam4e.emulation.firmware import AgentFirmware  # noqa: E402
from targets.sam4e.emulation.server import remote_probe  # noqa: E402
from targets.sam4e.mailbox import Op  # noqa: E402


def measure(board: Sam4eBoard, probe_stats: object, op: Op, args: tuple[int, ...], data: bytes,
            calls: int) -> tuple[float, float, float]:
    """(round trips per second, probe transactions per call, USB packets per call)."""
    before = probe_stats.snapshot()  # type: ignore[attr-defined]
    started = time.perf_counter()
    for _ in range(calls):
        board.call(op, args, data, timeout=2.0)
    wall = time.perf_counter() - started
    spent = probe_stats.since(before)  # type: ignore[attr-defined]
    return calls / wall, spent.transactions / calls, spent.round_trips / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--remote", action="store_true", help="through pyOCD's remote probe server")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tch-bench-") as tmp:
        workdir = Path(tmp)
        image = build_firmware_elf(workdir / "fw.elf")
        firmware = AgentFirmware(image, gmac_if=None, config=StackConfig(user_semaphore=True))
        emulated = EmulatedSam4e(firmware=firmware)
        emu_id = register_board(emulated, f"bench-{os.getpid()}")
        cwd = os.getcwd()
        try:
            with contextlib.ExitStack() as stack:
                probe = stack.enter_context(remote_probe(emu_id, workdir)) if opts.remote else emu_id
                config = BoardConfig(probe=probe, pack=make_pack(workdir / "sam4e.pack"), elf=image.path,
                                     nic="lo", project_dir=workdir / "pyocd", boot_timeout=5.0,
                                     source="bench/sam4e.py")
                board = stack.enter_context(Sam4eBoard(config))
                board.open()
                board.flash()
                board.ensure_boot_from_flash()
                board.reset()
                stats = emulated.stats
                print(f"sam4e mailbox on the emulated board via {'remote:' if opts.remote else 'emu:'} "
                      f"({opts.calls} calls each)")
                print(f"{'call':<28}{'calls/s':>10}{'probe transactions/call':>26}{'USB packets/call':>19}")
                sock = board.call(Op.SOCKET, (), b"").result
                rows = [("NOP", Op.NOP, (), b""),
                        ("ISCONNECTED (1 argument)", Op.ISCONNECTED, (sock,), b""),
                        ("CONNSTATUS", Op.CONNSTATUS, (sock,), b""),
                        ("SEND 1 KiB (not connected)", Op.SEND, (sock, 0), bytes(1024))]
                per_call = []
                for name, op, args, data in rows:
                    rate, transactions, packets = measure(board, stats, op, args, data, opts.calls)
                    per_call.append(packets)
                    print(f"{name:<28}{rate:>10.0f}{transactions:>26.1f}{packets:>19.1f}")
                print(f"estimate on a real EDBG at 1-2 ms per USB packet: "
                      f"{min(per_call):.0f}-{2 * max(per_call):.0f} ms per mailbox call, "
                      f"plus the agent's 1-tick poll (1 ms)")
        finally:
            os.chdir(cwd)
            firmware.close()
            unregister_board(emu_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
