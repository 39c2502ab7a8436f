"""The host build of the real FreeRTOS+TCP: the generated FreeRTOSIPConfig.h follows the settings and
FreeRTOS's defaults, the cache is keyed by every input (and a cached build compiles nothing), the
kernel objects are shared between variants, errors are one line naming the fix, and the FreeRTOS
sources are compiled where they are, never copied into the project."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stack_under_test.config import StackConfig
from targets.freertos_posix import build
from targets.freertos_posix.build import (
    SETTINGS,
    BuildError,
    Sources,
    build_agent,
    generate_ip_config,
    ip_config_values,
    resolve_sources,
)

from .conftest import need_build_tools

REPO = Path(__file__).resolve().parents[2]


def defines(text: str) -> dict[str, str]:
    return dict(re.findall(r"^#define (\w+)\s+(\S+)", text, re.M))


# ---- FreeRTOSIPConfig.h -------------------------------------------------------------------------


def test_generated_config_reflects_settings() -> None:
    text = generate_ip_config({"keepalive": True, "keepalive_interval": 2.0, "hang_protection": False,
                               "hang_protection_time": 10.0, "user_semaphore": True, "mss": 536,
                               "reuse_listen": True})   # a socket option, not a build option: ignored
    d = defines(text)
    assert d["ipconfigTCP_KEEP_ALIVE"] == "1" and d["ipconfigTCP_KEEP_ALIVE_INTERVAL"] == "2"
    assert d["ipconfigTCP_HANG_PROTECTION"] == "0" and d["ipconfigTCP_HANG_PROTECTION_TIME"] == "10"
    assert d["ipconfigSOCKET_HAS_USER_SEMAPHORE"] == "1" and d["ipconfigTCP_MSS"] == "536"
    # FreeRTOS's default buffers follow the MSS (4 x MSS).
    assert d["ipconfigTCP_RX_BUFFER_LENGTH"] == d["ipconfigTCP_TX_BUFFER_LENGTH"] == "2144"
    # What the agent needs, whatever the settings.
    assert d["ipconfigUSE_DHCP"] == "0" and d["ipconfigUSE_TCP"] == "1" and d["ipconfigUSE_IPv6"] == "0"
    assert "reuse_listen" not in text
    # Every line that defines something says why.
    assert all("/*" in line for line in text.splitlines() if line.startswith("#define ipconfig"))


def test_defaults_are_the_models_defaults() -> None:
    """Without settings the build is what the model (StackConfig) and inprocess.yaml call default."""
    model = StackConfig()
    values = ip_config_values({})
    for name, option in SETTINGS.items():
        assert values[option.macro] == int(getattr(model, name)), name
    # The harness's own defaults (durations already as seconds) give the same file as no settings.
    explicit = {f.name: getattr(model, f.name) for f in dataclasses.fields(model) if f.name in SETTINGS}
    assert generate_ip_config(explicit) == generate_ip_config({})


def test_defaults_are_freertos_defaults(sources: Sources) -> None:
    """... and FreeRTOSIPConfigDefaults.h's, read from the header itself."""
    header = (sources.plus_tcp / "source/include/FreeRTOSIPConfigDefaults.h").read_text()
    theirs = dict(re.findall(r"^\s*#define (ipconfig\w+)\s+(.+?)\s*$", header, re.M))
    known = {"ipconfigENABLE": 1, "ipconfigDISABLE": 0, "( 20 )": 20, "( 30 )": 30,
             "( ipconfigNETWORK_MTU - 40U )": 1460, "( 4 * ipconfigTCP_MSS )": 5840}
    values = ip_config_values({})
    for option in SETTINGS.values():
        assert known[theirs[option.macro]] == values[option.macro], option.macro


def test_equal_settings_give_equal_files() -> None:
    assert generate_ip_config({"keepalive_interval": 20, "mss": 1460}) == generate_ip_config(
        {"mss": 1460.0, "keepalive_interval": "20s"})
    assert generate_ip_config({"keepalive": True}) != generate_ip_config({"keepalive": False})


@pytest.mark.parametrize("settings, words", [
    ({"keepalive_interval": 2.5}, ["keepalive_interval", "whole seconds"]),
    ({"hang_protection_time": "1500ms"}, ["hang_protection_time", "whole seconds"]),
    ({"mss": 0}, ["mss", "positive whole number"]),
    ({"keepalive": 2}, ["keepalive", "true/false"]),
])
def test_bad_setting_is_a_one_line_error(settings: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(BuildError) as info:
        generate_ip_config(settings)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


# ---- where the sources are ----------------------------------------------------------------------


@pytest.fixture
def no_source_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in build.ENV.values():
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_missing_source_dir_is_a_one_line_error(no_source_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(BuildError) as info:
        resolve_sources({"plus_tcp": "nowhere"}, base=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "nowhere") in message and "TCH_FREERTOS_PLUS_TCP" in message
    assert "plus_tcp" in message


def test_declared_relative_paths_resolve_against_the_target_folder(
        no_source_env: pytest.MonkeyPatch, sources: Sources, tmp_path: Path) -> None:
    (tmp_path / "tcp").symlink_to(sources.plus_tcp)
    (tmp_path / "kern").symlink_to(sources.kernel)
    assert resolve_sources({"plus_tcp": "tcp", "kernel": "kern"}, base=tmp_path) == sources


def test_env_overrides_declared(no_source_env: pytest.MonkeyPatch, sources: Sources, tmp_path: Path) -> None:
    no_source_env.setenv("TCH_FREERTOS_PLUS_TCP", str(sources.plus_tcp))
    no_source_env.setenv("TCH_FREERTOS_KERNEL", str(sources.kernel))
    assert resolve_sources({"plus_tcp": "nowhere", "kernel": "nowhere"}, base=tmp_path) == sources
    no_source_env.setenv("TCH_FREERTOS_KERNEL", str(tmp_path / "gone"))
    with pytest.raises(BuildError, match=r"FreeRTOS-Kernel tree at .*gone \(\$TCH_FREERTOS_KERNEL"):
        resolve_sources({"kernel": str(sources.kernel)})


def test_default_sources_are_the_pinned_copies_outside_the_project(no_source_env: pytest.MonkeyPatch,
                                                                   sources: Sources) -> None:
    found = resolve_sources()
    for tree in (found.plus_tcp, found.kernel):
        assert tree.is_relative_to(REPO.parent / "shared" / "third_party")
        assert not tree.is_relative_to(REPO)


# ---- building -----------------------------------------------------------------------------------


class Recorder:
    """Every subprocess the build module runs, still run for real."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.commands: list[list[str]] = []
        real = subprocess.run

        def run(cmd: Any, *args: Any, **kwargs: Any) -> Any:
            self.commands.append([str(c) for c in cmd])
            return real(cmd, *args, **kwargs)

        monkeypatch.setattr(build.subprocess, "run", run)

    def compiled(self) -> list[str]:
        """The source files gcc compiled (-c)."""
        return [cmd[cmd.index("-c") + 1] for cmd in self.commands if "-c" in cmd]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("freertos-cache")


@pytest.fixture(scope="module")
def default_build(sources: Sources, folder: Path) -> Path:
    need_build_tools()
    return build_agent(sources, {}, folder)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    yield Recorder(monkeypatch)


def test_build_makes_an_executable_with_its_config_beside_it(default_build: Path) -> None:
    assert default_build.is_file() and os.access(default_build, os.X_OK)
    assert Path(f"{default_build}.h").read_text() == generate_ip_config({})
    head = default_build.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and int.from_bytes(head[16:18], "little") == 2   # ET_EXEC: not PIE


def test_cached_build_compiles_nothing(default_build: Path, sources: Sources, folder: Path,
                                       recorder: Recorder) -> None:
    before = default_build.stat()
    again = build_agent(sources, {"mss": 1460, "keepalive_interval": 20.0, "reuse_listen": False}, folder)
    after = again.stat()
    assert again == default_build
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert recorder.compiled() == [] and not any(cmd[0] == "gcc" for cmd in recorder.commands)


def test_another_setting_is_another_binary_sharing_the_kernel(default_build: Path, sources: Sources,
                                                              folder: Path, recorder: Recorder) -> None:
    variant = build_agent(sources, {"keepalive": True, "keepalive_interval": 2.0}, folder)
    assert variant != default_build and variant.is_file()
    assert defines(Path(f"{variant}.h").read_text())["ipconfigTCP_KEEP_ALIVE"] == "1"
    compiled = recorder.compiled()
    assert str(sources.plus_tcp / "source/FreeRTOS_TCP_IP.c") in compiled
    assert not any(Path(c).is_relative_to(sources.kernel) for c in compiled), "the kernel was recompiled"
    # Compiled in place: FreeRTOS files from their trees, the project's own from targets/.
    ours = (REPO / "targets/sam4e/firmware", REPO / "targets/freertos_posix/host")
    assert all(Path(c).is_relative_to(sources.plus_tcp) or Path(c).parent in ours for c in compiled), compiled
    assert len(list(folder.glob("freertos-posix-kernel-*"))) == 1
    # Nothing of a build is left behind but its results.
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(variant.name)) == [
        variant.name, f"{variant.name}.h"]


def test_sources_are_never_copied_into_the_project(default_build: Path) -> None:
    names = {"FreeRTOS_IP.c", "FreeRTOS_TCP_IP.c", "tasks.c", "port.c", "NetworkInterface.c",
             "FreeRTOSIPConfigDefaults.h", "FreeRTOSIPConfig.h"}
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        assert not names & set(files), f"FreeRTOS files in {root}"


def test_compiler_error_is_a_build_error_with_the_message(no_source_env: pytest.MonkeyPatch, sources: Sources,
                                                          tmp_path: Path) -> None:
    need_build_tools()
    broken = tmp_path / "FreeRTOS-Plus-TCP"
    shutil.copytree(sources.plus_tcp, broken)
    (broken / "source/FreeRTOS_ARP.c").write_text("this is not C;\n")
    with pytest.raises(BuildError) as info:
        build_agent(Sources(broken, sources.kernel), {}, tmp_path / "cache")
    message = str(info.value)
    assert "FreeRTOS_ARP.c" in message.splitlines()[0] and "error:" in message
    assert not list((tmp_path / "cache").glob("freertos-posix-agent-*")), "a failed build left a binary"


def test_missing_tools_name_the_packages(monkeypatch: pytest.MonkeyPatch, sources: Sources,
                                        tmp_path: Path) -> None:
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    assert build.missing_build_tools() == "needs gcc: apt-get install gcc libpcap-dev"
    with pytest.raises(BuildError, match="apt-get install gcc libpcap-dev"):
        build_agent(sources, {}, tmp_path)
