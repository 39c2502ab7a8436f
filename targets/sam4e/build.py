"""Builds of the SAM4E agent's C code that need no board and no FreeRTOS tree.

- `build_host_library()`: the protocol code (tch_mailbox.c, plus the RTT block and the log
  formatter, and host/tch_layout.c exporting the layout) as a host shared library, so Python runs
  the very C the board runs over an emulated SRAM (targets/sam4e/mailbox.py).
- `cross_compile()`: every firmware .c for the Cortex-M4F with -Werror against the declaration-only
  FreeRTOS headers in firmware/stubs: the agent compiles as the board's compiler sees it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

FIRMWARE = Path(__file__).with_name("firmware")
STUBS = FIRMWARE / "stubs"
HOST_SOURCES = ("tch_mailbox.c", "tch_rtt.c", "tch_format.c", "host/tch_layout.c")
HOST_CFLAGS = ("-std=c99", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror")
CROSS_CC = "arm-none-eabi-gcc"
CROSS_CFLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-std=c99",
                "-Wall", "-Wextra", "-Werror", "-Os", "-c")
HOST_HINT = "apt-get install gcc"
CROSS_HINT = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"


class BuildError(RuntimeError):
    """A build failed or can not run here; the message holds the compiler's complaint or the fix."""


def cache_dir() -> Path:
    """$TCH_CACHE, else $XDG_CACHE_HOME/tch, else ~/.cache/tch (the lwip target's cache too)."""
    if os.environ.get("TCH_CACHE"):
        return Path(os.environ["TCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tch"


def firmware_sources() -> list[Path]:
    """The firmware's translation units (host/ is the host shim, not firmware)."""
    return sorted(FIRMWARE.glob("*.c"))


def _compile(cmd: Sequence[str], what: str) -> None:
    proc = subprocess.run(list(cmd), capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{what} failed:\n$ {' '.join(cmd)}\n{proc.stderr.strip()}")


def _compiler_version(cc: str) -> bytes:
    return subprocess.run([cc, "-dumpfullversion"], capture_output=True).stdout.strip()


@cache
def build_host_library(folder: Path | None = None) -> Path:
    """The host shared library, compiled now unless this source/flags/compiler was built before."""
    if shutil.which("gcc") is None:
        raise BuildError(f"needs gcc: {HOST_HINT}")
    sources = [FIRMWARE / name for name in HOST_SOURCES]
    # Every input of the build is in the key: an edited header or another gcc builds a new library.
    inputs = sorted([*sources, *FIRMWARE.glob("*.h")])
    key = hashlib.sha256(b"\0".join([
        *(p.name.encode() + b"\0" + p.read_bytes() for p in inputs),
        " ".join(HOST_CFLAGS).encode(), _compiler_version("gcc"),
    ])).hexdigest()[:16]
    folder = folder or cache_dir()
    library = folder / f"tch-mailbox-{key}.so"
    if library.is_file():
        return library
    folder.mkdir(parents=True, exist_ok=True)
    # Build beside the final name and rename: two runs building at once never load half a library.
    fd, tmp = tempfile.mkstemp(prefix=library.name + ".", dir=folder)
    os.close(fd)
    try:
        _compile(["gcc", *HOST_CFLAGS, "-o", tmp, *map(str, sources)], "building the host mailbox library")
        os.replace(tmp, library)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return library


def cross_compile(folder: Path | None = None, defines: Sequence[str] = ()) -> list[Path]:
    """Every firmware .c compiled for the Cortex-M4F into `folder` (default: a new temporary
    folder); `defines` are extra -D values, e.g. "TCH_USE_SEGGER_RTT=1". Returns the objects."""
    if shutil.which(CROSS_CC) is None:
        raise BuildError(f"needs {CROSS_CC}: {CROSS_HINT}")
    folder = folder or Path(tempfile.mkdtemp(prefix="tch-sam4e-"))
    folder.mkdir(parents=True, exist_ok=True)
    objects = []
    for source in firmware_sources():
        obj = folder / (source.stem + ".o")
        cmd = [CROSS_CC, *CROSS_CFLAGS, "-I", str(STUBS), "-I", str(FIRMWARE), *(f"-D{d}" for d in defines)]
        _compile([*cmd, "-o", str(obj), str(source)], f"cross-compiling {source.name}")
        objects.append(obj)
    return objects
