"""The generated ELF, FLM and pack, read back with pyOCD's own parsers (what the adapter relies on)."""

from __future__ import annotations

import importlib.metadata
import struct
from pathlib import Path

from elftools.elf.elffile import ELFFile
from pyocd.core.helpers import ConnectHelper
from pyocd.core.memory_map import MemoryType
from pyocd.debug.elf.elf import ELFBinaryFile
from pyocd.probe import aggregator
from pyocd.target.pack.cmsis_pack import CmsisPack
from pyocd.target.pack.flash_algo import PackFlashAlgo

from targets.sam4e.emulation import (
    EmulatedProbe,
    EmulatedSam4e,
    build_firmware_elf,
    make_pack,
    register_board,
    unregister_board,
)
from targets.sam4e.emulation.flm import FLM_NAME, HOSTCALL, build_flm
from tests.conftest import require


def test_firmware_elf_symbols_and_segments(tmp_path: Path) -> None:
    image = build_firmware_elf(tmp_path / "fw.elf", text_size=0x800)
    elf = ELFBinaryFile(str(image.path))
    decoder = elf.symbol_decoder
    for name in ("tch_mailbox", "_SEGGER_RTT"):
        sym = decoder.get_symbol_for_name(name)
        assert sym is not None and sym.type == "STT_OBJECT" and sym.address == image.symbols[name]
        assert 0x2000_0000 <= sym.address < 0x2002_0000
    assert decoder.get_symbol_for_name("Reset_Handler").type == "STT_FUNC"
    assert decoder.get_symbol_for_name("tch_mailbox").size == 4368
    with image.path.open("rb") as f:
        loads = [(s["p_paddr"], s["p_vaddr"], s["p_filesz"]) for s in ELFFile(f).iter_segments()
                 if s["p_type"] == "PT_LOAD"]
    text, data, bss = loads
    assert text[:2] == (0x0040_0000, 0x0040_0000) and text[2] == len(image.text)
    assert data[0] == image.data_lma and data[1] >= 0x2000_0000  # .data loads from flash
    assert bss[2] == 0  # .bss has no file data
    sp, pc = struct.unpack_from("<II", image.text)
    assert (sp, pc) == (0x2002_0000, 0x0040_0101)


def test_flm_is_a_valid_pack_flash_algorithm() -> None:
    import io

    algo = PackFlashAlgo(io.BytesIO(build_flm()))
    assert (algo.flash_start, algo.flash_size, algo.page_size) == (0x0040_0000, 0x10_0000, 512)
    assert algo.sector_sizes == [(0, 0x2000)]
    assert set(algo.symbols) >= {"Init", "UnInit", "EraseSector", "ProgramPage", "EraseChip"}
    code = bytes(algo.algo_data)
    offset = algo.symbols["ProgramPage"] & ~1
    assert struct.unpack_from("<HH", code, offset) == (HOSTCALL, 4)


def test_pack_gives_a_flash_region_with_the_algorithm(tmp_path: Path) -> None:
    for path in (tmp_path / "dir-pack", tmp_path / "zip.pack"):
        pack = CmsisPack(str(make_pack(path)))
        (device,) = pack.devices
        assert device.part_number == "ATSAM4E16E"
        flash = device.memory_map.get_boot_memory()
        assert flash.type is MemoryType.FLASH and flash.start == 0x0040_0000
        assert flash.flm is not None and flash.attributes["_RAMsize"] == 0x2000
        ram = device.memory_map.get_default_region_of_type(MemoryType.RAM)
        assert (ram.start, ram.length) == (0x2000_0000, 0x2_0000)
        assert device.svd is not None  # <debug svd=...> resolves inside the pack
    assert (tmp_path / "dir-pack" / "Flash" / FLM_NAME).is_file()


def test_probe_ids() -> None:
    board = EmulatedSam4e()
    uid = register_board(board)
    try:
        assert uid.startswith("emu:sam4e-")
        (probe,) = ConnectHelper.get_all_connected_probes(unique_id=uid.upper(), blocking=False)
        assert probe.board is board and probe.unique_id == uid.split(":")[1]
        assert ConnectHelper.get_all_connected_probes(unique_id="emu:no-such-board", blocking=False) == []
        (auto,) = ConnectHelper.get_all_connected_probes(unique_id="emu:auto-registry-test", blocking=False)
        assert auto.board is not board and auto.board.booted_from == "rom"  # a blank, new part
    finally:
        unregister_board(uid)
        unregister_board("emu:auto-registry-test")


def test_probe_type_is_registered() -> None:
    assert aggregator.PROBE_CLASSES["emu"] is EmulatedProbe
    # The entry point is there once the project is (re)installed with the pyproject entry.
    names = {ep.name for ep in importlib.metadata.entry_points(group="pyocd.probe")}
    require("emu" in names, "the pyocd.probe entry point 'emu' is not installed: pip install -e .")
