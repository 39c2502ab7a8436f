"""The SAM4E agent's C code builds with -Werror: for the host (the protocol library the emulated
board runs) with gcc, and every firmware file for the Cortex-M4F with arm-none-eabi-gcc against the
declaration-only FreeRTOS stubs. Skips without the compiler (naming the apt package), fails
without it under TCH_REQUIRE_ALL=1."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from targets.sam4e import build
from targets.sam4e.build import BuildError, build_host_library, cross_compile, firmware_sources
from targets.sam4e.mailbox import HostMailboxLibrary
from tests.conftest import require

ARM_GCC = "needs arm-none-eabi-gcc: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
EM_ARM = 40


def require_arm_gcc() -> None:
    require(shutil.which("arm-none-eabi-gcc"), ARM_GCC)


def symbols(obj: Path) -> dict[str, str]:
    """name -> nm type letter (T text, B bss, U undefined...)."""
    out = subprocess.run(["arm-none-eabi-nm", str(obj)], capture_output=True, text=True, check=True).stdout
    return {parts[-1]: parts[-2] for parts in (line.split() for line in out.splitlines())}


def test_host_library_builds_with_werror_and_is_cached(tmp_path: Path) -> None:
    require(shutil.which("gcc"), "needs gcc: apt-get install gcc")
    library = build_host_library.__wrapped__(tmp_path)     # not the process-wide cached one
    assert library.parent == tmp_path and library.name.startswith("tch-mailbox-")
    mtime = library.stat().st_mtime_ns
    assert build_host_library.__wrapped__(tmp_path) == library
    assert library.stat().st_mtime_ns == mtime, "rebuilt although nothing changed"
    assert [p.name for p in tmp_path.iterdir()] == [library.name]          # no temporary left over
    assert HostMailboxLibrary(library).layout()


def test_host_build_names_the_missing_compiler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    with pytest.raises(BuildError, match="needs gcc: apt-get install gcc"):
        build_host_library.__wrapped__(tmp_path)
    with pytest.raises(BuildError, match="gcc-arm-none-eabi"):
        cross_compile(tmp_path)


# FreeRTOS+TCP's select API: the agent calls it only when built with ipconfigSUPPORT_SELECT_FUNCTION 1.
SELECT_CALLS = {"FreeRTOS_CreateSocketSet", "FreeRTOS_DeleteSocketSet", "FreeRTOS_FD_SET", "FreeRTOS_FD_CLR",
                "FreeRTOS_select"}
NO_SELECT = "ipconfigSUPPORT_SELECT_FUNCTION=0"


@pytest.mark.parametrize("defines", [(), ("TCH_USE_SEGGER_RTT=1", "configSUPPORT_STATIC_ALLOCATION=0"),
                                     (NO_SELECT,), (NO_SELECT, "configSUPPORT_STATIC_ALLOCATION=0")],
                         ids=["builtin-rtt-static", "segger-rtt-dynamic", "no-select", "no-select-dynamic"])
def test_firmware_cross_compiles_for_cortex_m4f_with_werror(tmp_path: Path, defines: tuple[str, ...]) -> None:
    """The stubs' default is the README's build (select on); each variant builds with -Werror."""
    require_arm_gcc()
    objects = cross_compile(tmp_path, defines)
    assert sorted(o.stem for o in objects) == sorted(s.stem for s in firmware_sources())
    for obj in objects:
        header = obj.read_bytes()[:20]
        assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == EM_ARM
    agent = symbols(tmp_path / "tch_agent_freertos.o")
    # The symbol the adapter looks up, and the FreeRTOS+TCP calls the agent makes.
    assert agent["tch_mailbox"] in "BC" and agent["tch_agent_start"] == "T" and agent["tch_log"] == "T"
    assert {"FreeRTOS_socket", "FreeRTOS_accept", "FreeRTOS_recv", "FreeRTOS_setsockopt",
            "FreeRTOS_connstatus", "xQueueSemaphoreTake"} <= {n for n, t in agent.items() if t == "U"}
    assert ("xTaskCreateStatic" in agent) == ("configSUPPORT_STATIC_ALLOCATION=0" not in defines)
    called = {n for n, t in agent.items() if t == "U"}
    if NO_SELECT in defines:
        assert not called & SELECT_CALLS, "a build without select must not reference the select API"
    else:
        assert SELECT_CALLS <= called
    rtt = symbols(tmp_path / "tch_rtt.o")
    if "TCH_USE_SEGGER_RTT=1" in defines:
        assert rtt["SEGGER_RTT_Write"] == "U" and "_SEGGER_RTT" not in rtt
    else:
        assert rtt["_SEGGER_RTT"] in "BC" and not any(t == "U" and n != "memcpy" for n, t in rtt.items())


def test_mailbox_code_needs_nothing_from_freertos(tmp_path: Path) -> None:
    """tch_mailbox.c is the protocol only: the host runs the same file."""
    require_arm_gcc()
    cross_compile(tmp_path)
    undefined = {n for n, t in symbols(tmp_path / "tch_mailbox.o").items() if t == "U"}
    assert undefined <= {"memset", "memcpy"}


def test_a_compiler_warning_is_a_build_error(tmp_path: Path) -> None:
    require_arm_gcc()
    # TCH_DATA_SIZE is the protocol's: redefining it on the command line is a warning, so an error.
    with pytest.raises(BuildError, match=r"cross-compiling \w+\.c failed:(.|\n)*TCH_DATA_SIZE"):
        cross_compile(tmp_path, ["TCH_DATA_SIZE=512"])
