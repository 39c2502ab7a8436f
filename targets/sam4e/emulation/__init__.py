"""An emulated SAM4E Xplained Pro behind a software debug probe, for pyOCD without hardware.

Layers, bottom up:

- bus.py: the AHB address decoder; SRAM is a ctypes buffer shared with host-compiled C code.
- eefc.py: the flash array and the EEFC (page latch, WP/EWP/EPA/EA, lock and GPNVM bits).
- core.py: the Cortex-M4 halting-debug model (DHCSR/DCRSR/DCRDR/DEMCR/DFSR/AIRCR, resets).
- ppb.py: ROM table and CoreSight IDs (SCS, DWT, FPB, ITM, TPIU) for pyOCD's discovery.
- dap.py: SW-DP + AHB-AP register model, and the DP/AP transaction counters.
- board.py: `EmulatedSam4e`, the memory map, boot (ROM vs flash per GPNVM1), firmware hooks.
- probe.py: `EmulatedProbe`, a pyOCD DebugProbe ("emu:<name>"), and its plugin class.
- flm.py / pack.py: the flash algorithm and `make_pack()`, the CMSIS pack pyOCD loads.
- elf.py: an ELF32 writer and `build_firmware_elf()` (no toolchain needed).

How pyOCD programs the emulated flash: through a CMSIS pack with a generated FLM (option a).
pyOCD treats it like any DFP algorithm — loads PrgCode into SRAM, sets PC/r0-r3/SP/R9/LR via
DCRSR, resumes, polls for the halt, reads r0 — and the emulated core recognises the entry
points (`BKPT #0x5A` + operation number) and performs Init/EraseSector/ProgramPage/UnInit with
EEFC commands host-side. This was preferred over a host-driven Flash subclass registered in
pyocd.target.TARGET (option b) because (b) bypasses pyOCD's pack and FLM code and collides
with `target_override="atsam4e16e"` + `pack=` (a pack target is not populated when a builtin of
that name exists, so the adapter's production arguments would silently change meaning under
test), whereas (a) runs exactly the code path the adapter uses with a real DFP on hardware.

Typical use (tests):

    board = EmulatedSam4e(firmware=my_model)
    uid = register_board(board)                # "emu:sam4e-0"
    pack = make_pack(tmp_path / "sam4e.pack")
    session = ConnectHelper.session_with_chosen_probe(unique_id=uid, target_override="atsam4e16e",
                                                      pack=[str(pack)], no_config=True, ...)
"""

from __future__ import annotations

# pyOCD first, fully: importing any of pyocd runs its package __init__, which loads the
# `pyocd.probe` entry points, and ours is .probe. Were .probe the module that set that off, the
# entry point would find it half-initialised ("partially initialized module ... no attribute").
import pyocd.probe.aggregator  # noqa: F401

from .board import EmulatedSam4e, Firmware
from .dap import DapStats
from .elf import FirmwareImage, build_firmware_elf
from .pack import TARGET_NAME, make_pack
from .probe import EmulatedProbe, EmulatedProbePlugin, register_board, unregister_board

__all__ = [
    "TARGET_NAME",
    "DapStats",
    "EmulatedProbe",
    "EmulatedProbePlugin",
    "EmulatedSam4e",
    "Firmware",
    "FirmwareImage",
    "build_firmware_elf",
    "make_pack",
    "register_board",
    "unregister_board",
]
