"""A small ELF32 little-endian ARM writer, and the test firmware image the emulator tests flash.

Enough ELF for pyOCD's consumers: FileProgrammer (PT_LOAD segments at their physical address),
ELFBinaryFile/ElfSymbolDecoder (sections, .symtab with STT_FUNC/STT_OBJECT symbols) and the
FLM loader (PrgCode/PrgData/DevDscr sections, FlashDevice symbol). One PT_LOAD segment per
allocated section; a section with `lma` gets p_paddr = lma (the .data-in-flash convention), so
no toolchain is needed to make images shaped like a linker's output.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from .constants import FLASH_BASE, SRAM_BASE, SRAM_SIZE

EM_ARM = 40
ET_EXEC = 2
EF_ARM_EABI5 = 0x0500_0000
EF_ARM_ABI_FLOAT_HARD = 0x0000_0400

SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS = 1, 2, 3, 8
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
PT_LOAD = 1
PF_X, PF_W, PF_R = 1, 2, 4
STB_GLOBAL = 1
STT_NOTYPE, STT_OBJECT, STT_FUNC = 0, 1, 2

_EHDR = struct.Struct("<16sHHIIIIIHHHHHH")
_PHDR = struct.Struct("<IIIIIIII")
_SHDR = struct.Struct("<IIIIIIIIII")
_SYM = struct.Struct("<IIIBBH")


@dataclass
class Section:
    name: str
    addr: int
    data: bytes = b""
    size: int | None = None  # for NOBITS sections (no file data)
    flags: int = SHF_ALLOC
    lma: int | None = None  # load address when it differs from addr (initialised data)
    align: int = 4

    @property
    def nobits(self) -> bool:
        return self.size is not None

    @property
    def mem_size(self) -> int:
        return self.size if self.size is not None else len(self.data)


@dataclass
class Symbol:
    name: str
    value: int
    section: str
    size: int = 0
    kind: int = STT_OBJECT


def _strtab(names: list[str]) -> tuple[bytes, dict[str, int]]:
    table = bytearray(b"\0")
    offsets: dict[str, int] = {"": 0}
    for name in names:
        if name not in offsets:
            offsets[name] = len(table)
            table += name.encode() + b"\0"
    return bytes(table), offsets


def _pad(buf: bytearray, align: int) -> None:
    buf += b"\0" * (-len(buf) % align)


def build_elf(sections: list[Section], symbols: list[Symbol], entry: int = 0,
              flags: int = EF_ARM_EABI5 | EF_ARM_ABI_FLOAT_HARD) -> bytes:
    """An ET_EXEC ELF32 image with the given sections, one PT_LOAD per section, and a .symtab."""
    alloc = [s for s in sections if s.flags & SHF_ALLOC]
    out = bytearray(_EHDR.size + _PHDR.size * len(alloc))

    offsets: dict[str, int] = {}
    for sec in sections:
        _pad(out, max(sec.align, 4))
        offsets[sec.name] = len(out)
        if not sec.nobits:
            out += sec.data

    # Section header table order: null, the user sections, .symtab, .strtab, .shstrtab.
    index = {sec.name: i + 1 for i, sec in enumerate(sections)}
    strtab, str_off = _strtab([s.name for s in symbols])
    symtab = bytearray(_SYM.size)  # the null symbol
    for sym in symbols:
        symtab += _SYM.pack(str_off[sym.name], sym.value, sym.size, (STB_GLOBAL << 4) | sym.kind, 0,
                            index[sym.section])
    _pad(out, 4)
    symtab_off = len(out)
    out += symtab
    strtab_off = len(out)
    out += strtab
    shstrtab, sh_off = _strtab([s.name for s in sections] + [".symtab", ".strtab", ".shstrtab"])
    shstrtab_off = len(out)
    out += shstrtab
    _pad(out, 4)
    shoff = len(out)

    headers = [b"\0" * _SHDR.size]
    for sec in sections:
        kind = SHT_NOBITS if sec.nobits else SHT_PROGBITS
        headers.append(_SHDR.pack(sh_off[sec.name], kind, sec.flags, sec.addr, offsets[sec.name],
                                  sec.mem_size, 0, 0, sec.align, 0))
    n = len(sections)
    headers.append(_SHDR.pack(sh_off[".symtab"], SHT_SYMTAB, 0, 0, symtab_off, len(symtab),
                              n + 2, 1, 4, _SYM.size))  # link: .strtab; info: first global
    headers.append(_SHDR.pack(sh_off[".strtab"], SHT_STRTAB, 0, 0, strtab_off, len(strtab), 0, 0, 1, 0))
    headers.append(_SHDR.pack(sh_off[".shstrtab"], SHT_STRTAB, 0, 0, shstrtab_off, len(shstrtab),
                              0, 0, 1, 0))
    for h in headers:
        out += h

    ident = b"\x7fELF" + bytes([1, 1, 1]) + b"\0" * 9  # ELFCLASS32, little-endian, version 1
    out[0:_EHDR.size] = _EHDR.pack(ident, ET_EXEC, EM_ARM, 1, entry, _EHDR.size, shoff, flags,
                                   _EHDR.size, _PHDR.size, len(alloc), _SHDR.size, len(headers), n + 3)
    at = _EHDR.size
    for sec in alloc:
        pflags = PF_R | (PF_W if sec.flags & SHF_WRITE else 0) | (PF_X if sec.flags & SHF_EXECINSTR else 0)
        filesz = 0 if sec.nobits else len(sec.data)
        paddr = sec.addr if sec.lma is None else sec.lma
        out[at:at + _PHDR.size] = _PHDR.pack(PT_LOAD, offsets[sec.name], sec.addr, paddr, filesz,
                                             sec.mem_size, pflags, max(sec.align, 4))
        at += _PHDR.size
    return bytes(out)


# --- the test firmware image ------------------------------------------------------------------

RTT_CB_SIZE = 16 + 8 + 24 * 2  # ID, counts, one up and one down descriptor
# sizeof(struct tch_mailbox), layout v1 (targets/sam4e/firmware/PROTOCOL.md): a 32-byte header
# and 4 slots of 15 words + 1 KiB data.
MAILBOX_SIZE = 32 + 4 * (15 * 4 + 1024)


@dataclass
class FirmwareImage:
    """Where things landed in a built test image (the same facts the ELF's symbols carry)."""

    path: Path
    initial_sp: int
    reset_handler: int
    text: bytes
    data_lma: int
    data: bytes
    symbols: dict[str, int] = field(default_factory=dict)


def build_firmware_elf(path: str | Path, text_size: int = 0x5000, seed: int = 1,
                       rtt_up_size: int = 1024, rtt_down_size: int = 64) -> FirmwareImage:
    """Write a firmware-shaped ELF: vectors + code + filler in flash, .data/.bss in SRAM.

    .text at 0x00400000 holds the vector table (initial SP = top of SRAM, Reset_Handler at
    0x00400100 with the Thumb bit), a `b .` loop and `text_size` bytes of a seed-dependent
    pattern, so images span several flash sectors and differ per seed. .data (LMA right after
    .text) and .bss are in SRAM; .bss holds `tch_mailbox`, `_SEGGER_RTT` and the RTT buffers.
    """
    path = Path(path)
    reset_handler = FLASH_BASE + 0x100
    vectors = [SRAM_BASE + SRAM_SIZE, reset_handler | 1] + [(reset_handler + 0x10) | 1] * 14
    text = bytearray(struct.pack("<16I", *vectors))
    text += b"\0" * (0x100 - len(text))
    text += struct.pack("<H", 0xE7FE) * 8  # Reset_Handler: b .
    text += struct.pack("<H", 0xE7FE) * 8  # Default_Handler: b .
    state = seed & 0xFFFFFFFF or 1
    filler = bytearray()
    while len(filler) < text_size:
        state = (state * 1103515245 + 12345) & 0xFFFFFFFF  # LCG: deterministic, seed-dependent
        filler += struct.pack("<I", state)
    text += filler[:text_size]
    _pad(text, 4)

    data_addr = SRAM_BASE + 0x2000  # above the 8 KiB the flash algorithm borrows
    data = b"TCH test firmware\0\0\0"
    data_lma = FLASH_BASE + len(text)
    bss_addr = data_addr + len(data)
    layout = {"tch_mailbox": MAILBOX_SIZE, "_SEGGER_RTT": RTT_CB_SIZE,
              "_rtt_up_buffer": rtt_up_size, "_rtt_down_buffer": rtt_down_size, "_rtt_name": 16}
    symbols: dict[str, int] = {}
    at = bss_addr
    for name, size in layout.items():
        at = (at + 7) & ~7
        symbols[name] = at
        at += size
    bss_size = at - bss_addr
    symbols.update(Reset_Handler=reset_handler | 1, g_firmware_id=data_addr)

    sections = [
        Section(".text", FLASH_BASE, bytes(text), flags=SHF_ALLOC | SHF_EXECINSTR),
        Section(".data", data_addr, data, flags=SHF_ALLOC | SHF_WRITE, lma=data_lma),
        Section(".bss", bss_addr, size=bss_size, flags=SHF_ALLOC | SHF_WRITE),
    ]
    syms = [Symbol("Reset_Handler", reset_handler | 1, ".text", 16, STT_FUNC),
            Symbol("g_firmware_id", data_addr, ".data", len(data), STT_OBJECT)]
    syms += [Symbol(name, symbols[name], ".bss", size, STT_OBJECT) for name, size in layout.items()]
    path.write_bytes(build_elf(sections, syms, entry=reset_handler | 1))
    return FirmwareImage(path, vectors[0], reset_handler | 1, bytes(text), data_lma, data, symbols)
