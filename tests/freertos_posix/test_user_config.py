"""The user's own FreeRTOSIPConfig.h (`sources.ip_config`, $TCH_FREERTOS_IP_CONFIG): the build includes
it and replaces only what the host build and the case need; its values become the target's setting
defaults, read by compiling it as FreeRTOS+TCP will; a header that does not compile is one line; and
a case run on the real stack sees the header's MSS on the wire."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.target import Profile, load_target
from harness.wire.links import missing_requirements
from harness.yamlsrc import InputError
from targets.freertos_posix.build import IP_CONFIG_ENV, Sources, agent_path, generate_ip_config
from targets.freertos_posix.user_config import replaced, setting_defaults
from tests.conftest import require

from .conftest import need_build_tools

REPO = Path(__file__).resolve().parents[2]

# As a board's FreeRTOSIPConfig.h says it: FreeRTOS's own spellings, a logging hook, DHCP on.
BOARD_HEADER = """\
#ifndef FREERTOS_IP_CONFIG_H
#define FREERTOS_IP_CONFIG_H
#define ipconfigUSE_DHCP                    1
#define ipconfigTCP_KEEP_ALIVE              ipconfigENABLE
#define ipconfigTCP_KEEP_ALIVE_INTERVAL     ( 5 )
#define ipconfigTCP_MSS                     1200
#define ipconfigHAS_PRINTF                  1
#define FreeRTOS_printf( X )                vLoggingPrintf X
#define ipconfigIP_TASK_PRIORITY            ( configMAX_PRIORITIES - 2 )
#endif
"""


def _target_file(folder: Path, header: str = BOARD_HEADER) -> Path:
    """A copy of targets/freertos-posix.yaml that names `header`, as a user would make one."""
    (folder / "FreeRTOSIPConfig.h").write_text(header)
    text = (REPO / "targets" / "freertos-posix.yaml").read_text()
    text = re.sub(r"^# sources: .*$", "sources: {ip_config: FreeRTOSIPConfig.h}", text, flags=re.M)
    text += f"verdicts: {REPO / 'targets' / 'freertos-posix.verdicts.yaml'}\n"
    mine = folder / "mine.yaml"
    mine.write_text(text)
    return mine


def test_the_generated_header_builds_on_the_users() -> None:
    text = generate_ip_config({"mss": 536}, Path("/fw/FreeRTOSIPConfig.h"))
    assert '#include "/fw/FreeRTOSIPConfig.h"' in text
    # Their header has the usual guard; ours must not hide it.
    assert "#ifndef TCH_FREERTOS_IP_CONFIG_H" in text and "#define FREERTOS_IP_CONFIG_H" not in text
    lines = text.splitlines()
    for macro in ("ipconfigUSE_DHCP", "ipconfigTCP_MSS", "ipconfigTCP_KEEP_ALIVE"):
        at = next(i for i, line in enumerate(lines) if line.startswith(f"#define {macro} "))
        assert lines[at - 1] == f"#undef {macro}", macro
    assert re.search(r"^#define ipconfigTCP_MSS\s+536\b", text, re.M)
    assert "#undef FreeRTOS_printf" in lines
    # Settings left to the header (how user_config reads it): only the host build's fixed values.
    probe = generate_ip_config(None, Path("/fw/FreeRTOSIPConfig.h"))
    assert "ipconfigUSE_DHCP" in probe and "ipconfigTCP_MSS" not in probe
    # Without a header: the plain file, no #undef.
    assert "#undef" not in generate_ip_config({}) and "#define FREERTOS_IP_CONFIG_H" in generate_ip_config({})


def test_the_headers_values_are_what_freertos_makes_of_them(sources: Sources, tmp_path: Path) -> None:
    need_build_tools()
    header = tmp_path / "FreeRTOSIPConfig.h"
    header.write_text(BOARD_HEADER)
    mine = Sources(sources.plus_tcp, sources.kernel, header)
    found = setting_defaults(mine)
    # ipconfigENABLE and ( 5 ) as FreeRTOS reads them; the buffers follow the MSS (4 x 1200).
    assert found["keepalive"] is True and found["keepalive_interval"] == 5 and found["mss"] == 1200
    assert found["rx_buffer"] == found["tx_buffer"] == 4800
    assert found["hang_protection"] is True and found["hang_protection_time"] == 30  # FreeRTOS's defaults
    assert replaced(mine) == ["ipconfigUSE_DHCP 1 -> 0", "ipconfigHAS_PRINTF 1 -> 0"]
    # An edited header is read again and builds another binary.
    before = agent_path(mine, found)
    header.write_text(BOARD_HEADER.replace("1200", "1000"))
    assert setting_defaults(mine)["mss"] == 1000
    assert agent_path(mine, found) != before


def test_a_file_the_header_includes_is_part_of_the_build(sources: Sources, tmp_path: Path) -> None:
    need_build_tools()
    (tmp_path / "board_tcp.h").write_text("#define ipconfigTCP_MSS 1100\n")
    header = tmp_path / "FreeRTOSIPConfig.h"
    header.write_text(BOARD_HEADER.replace("#define ipconfigTCP_MSS                     1200",
                                           '#include "board_tcp.h"'))
    mine = Sources(sources.plus_tcp, sources.kernel, header)
    found = setting_defaults(mine)
    assert found["mss"] == 1100
    before = agent_path(mine, found)
    (tmp_path / "board_tcp.h").write_text("#define ipconfigTCP_MSS 1000 /* the board header edited */\n")
    assert setting_defaults(mine)["mss"] == 1000
    assert agent_path(mine, found) != before


def test_the_target_takes_the_headers_values_as_defaults(sources: Sources, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    need_build_tools()
    config = load_target(str(_target_file(tmp_path)))
    assert config.default_settings["mss"] == 1200 and config.default_settings["keepalive"] is True
    plan, why = config.plan([], {})
    assert why is None and plan["keepalive_interval"] == 5
    # The profile follows: MSS and window (2 x MSS) as the device will send them.
    assert Profile(config.profile, plan).resolve("profile.window") == 2400
    # The environment variable wins over the file.
    other = tmp_path / "other.h"
    other.write_text(BOARD_HEADER.replace("1200", "1000"))
    monkeypatch.setenv(IP_CONFIG_ENV, str(other))
    assert load_target(str(tmp_path / "mine.yaml")).default_settings["mss"] == 1000


def test_a_header_that_does_not_compile_is_one_line_naming_it(sources: Sources, tmp_path: Path) -> None:
    need_build_tools()
    broken = BOARD_HEADER.replace("#define ipconfigUSE_DHCP", '#include "board.h"\n#define X')
    mine = _target_file(tmp_path, broken)
    with pytest.raises(InputError) as caught:
        load_target(str(mine))
    (problem,) = caught.value.problems
    assert problem.file == str(mine) and problem.field == "sources"
    assert f"{tmp_path / 'FreeRTOSIPConfig.h'}:3" in problem.message and "board.h" in problem.message
    # Through the command: exit 2, one line, no traceback.
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--target", str(mine), "--results",
                           str(tmp_path / "results")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "board.h" in proc.stderr


def test_a_missing_header_names_where_it_was_looked_for(sources: Sources, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # `sources`: the FreeRTOS trees are checked first, so without them this would be their error.
    mine = _target_file(tmp_path)
    (tmp_path / "FreeRTOSIPConfig.h").unlink()
    with pytest.raises(InputError, match=r"no FreeRTOSIPConfig.h at .*sources.ip_config"):
        load_target(str(mine))
    monkeypatch.setenv(IP_CONFIG_ENV, str(tmp_path / "nowhere.h"))
    with pytest.raises(InputError, match=rf"nowhere.h \(\${IP_CONFIG_ENV}\)"):
        load_target(str(mine))


def test_the_real_stack_runs_with_the_users_header(sources: Sources, tmp_path: Path) -> None:
    need_build_tools()
    why = missing_requirements()
    require(why is None, why or "")
    mine = _target_file(tmp_path)
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "-q", "--target", str(mine), "-j", "2",
                           "--results", str(results), "testcases/connect/active-open.yaml",
                           "testcases/handshake/short-syn-checksum.yaml"],
                          cwd=REPO, capture_output=True, text=True, env=env)
    summary = json.loads((results / "summary.json").read_text())
    by_id = {c["id"]: c for c in summary["cases"]}
    # The SYN and SYN|ACK carry the header's MSS and 2 x that window: these cases pass only so.
    for case in ("connect/active-open", "handshake/short-syn-synack-bad-checksum"):
        assert by_id[case]["verdict"] == "pass", (case, by_id[case]["mismatches"], proc.stderr[-2000:])
        assert by_id[case]["settings"]["mss"] == 1200
    report = (results / "report.html").read_text()
    header = tmp_path / "FreeRTOSIPConfig.h"
    assert f"config: {header}; the build replaces ipconfigUSE_DHCP 1 -&gt; 0" in report


def test_the_board_takes_the_header_it_was_built_from(sources: Sources, tmp_path: Path) -> None:
    """sam4e: the firmware is built once, from the user's header, so its values become the fixed
    settings and decide the capabilities; a case wanting another value is skipped, saying why."""
    need_build_tools()
    (tmp_path / "FreeRTOSIPConfig.h").write_text(BOARD_HEADER)
    text = (REPO / "targets" / "sam4e.yaml").read_text()
    text = re.sub(r"^# sources: .*$", "sources: {ip_config: FreeRTOSIPConfig.h}", text, flags=re.M)
    board = tmp_path / "myboard.yaml"
    board.write_text(text)
    plain = load_target("sam4e")
    config = load_target(str(board))
    assert plain.fixed_settings["keepalive"] is False and "keepalive" not in plain.capabilities
    assert config.fixed_settings["keepalive"] is True and config.fixed_settings["keepalive_interval"] == 5
    assert config.fixed_settings["mss"] == 1200 and config.runtime_settings == plain.runtime_settings
    # Keep-alive cases now run; select and the user semaphore are FreeRTOS's default 0 in that header.
    assert "keepalive" in config.capabilities
    assert "select" not in config.capabilities and "user_semaphore" not in config.capabilities
    _, why = config.plan(["keepalive"], {"keepalive": True, "keepalive_interval": "2s"})
    assert why == "needs keepalive_interval=2; sam4e is built with keepalive_interval=5"
    plan, why = config.plan([], {})
    assert why is None and Profile(config.profile, plan).resolve("profile.window") == 2400
