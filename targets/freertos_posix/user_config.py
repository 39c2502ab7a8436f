"""The user's own FreeRTOSIPConfig.h: what it makes of the settings the harness knows, read by
compiling it on the host exactly as the build will (their header, the harness's fixed values,
FreeRTOSIPConfigDefaults.h for the rest) and printing the macros, so `( 4 * ipconfigTCP_MSS )` or
`ipconfigENABLE` mean what FreeRTOS+TCP makes of them. Those values become the target's setting
defaults: profile expressions (`settings.keepalive_interval`) and every case that asks for nothing
else run with the user's values, and a case asking for another gets a build with that one changed.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from harness.target import TargetConfig, TargetUnavailable

from .build import (
    _FIXED,
    HOST,
    SETTINGS,
    BuildError,
    Sources,
    generate_ip_config,
    header_digest,
    includes,
    ip_config_given,
    missing_build_tools,
    resolve_sources,
)

_PROBE_SETTINGS = {name: option for name, option in SETTINGS.items() if name != "wake_callback"}


def _first_error(stderr: str) -> str:
    for line in stderr.splitlines():
        if "error" in line:
            return line.strip()
    return stderr.strip().splitlines()[0] if stderr.strip() else "no message"


@cache
def _values(sources: Sources, stamp: bytes) -> dict[str, int]:
    """The settings' macros as FreeRTOS+TCP will see them (`stamp`: the header's content, so an
    edited header is read again)."""
    assert sources.ip_config is not None
    prints = "\n".join(f'#ifdef {o.macro}\n    printf("{o.macro} %lld\\n", (long long)({o.macro}));\n#endif'
                       for o in _PROBE_SETTINGS.values())
    program = "\n".join(['#include <stdio.h>', '#include "FreeRTOS.h"', '#include "FreeRTOS_IP.h"',
                         "int main(void)", "{", prints, "    return 0;", "}", ""])
    with tempfile.TemporaryDirectory(prefix="tch-ipconfig-") as tmp:
        work = Path(tmp)
        (work / "FreeRTOSIPConfig.h").write_text(generate_ip_config(None, sources.ip_config))
        (work / "probe.c").write_text(program)
        theirs, _ = includes(sources, work)
        cmd = ["gcc", "-std=gnu99", *theirs, str(work / "probe.c"), "-o", str(work / "probe")]
        built = subprocess.run(cmd, capture_output=True, text=True)
        if built.returncode != 0:
            raise BuildError(f"{sources.ip_config} does not compile on the host with FreeRTOS+TCP "
                             f"{sources.plus_tcp}: {_first_error(built.stderr)}")
        ran = subprocess.run([str(work / "probe")], capture_output=True, text=True, timeout=10)
    return {macro: int(value) for macro, value in re.findall(r"^(\w+) (-?\d+)$", ran.stdout, re.M)}


def header_values(sources: Sources) -> dict[str, int]:
    """Each setting's macro (ipconfig…) as the user's header and FreeRTOS's defaults make it."""
    if sources.ip_config is None:
        return {}
    return _values(sources, header_digest(sources))


def setting_defaults(sources: Sources) -> dict[str, Any]:
    """The harness settings (keepalive, keepalive_interval, mss, …) the user's header amounts to."""
    found = header_values(sources)
    out: dict[str, Any] = {}
    for name, option in _PROBE_SETTINGS.items():
        if option.macro in found:
            value = found[option.macro]
            out[name] = bool(value) if option.kind == "bool" else value
    return out


def replaced(sources: Sources) -> list[str]:
    """What the harness build sets differently from the user's header, as `MACRO yours -> ours`
    (the host build's fixed needs: no DHCP, IPv4 only, a copying driver…)."""
    if sources.ip_config is None:
        return []
    return _replaced(sources, header_digest(sources))


@cache
def _replaced(sources: Sources, stamp: bytes) -> list[str]:
    assert sources.ip_config is not None
    flags, _ = includes(sources, HOST)
    out = subprocess.run(["gcc", "-dM", "-E", "-x", "c", *flags, str(sources.ip_config)],
                         capture_output=True, text=True)
    theirs = dict(re.findall(r"^#define (\w+) (.+)$", out.stdout, re.M))
    return [f"{macro} {theirs[macro].strip()} -> {value}" for macro, value, _ in _FIXED
            if macro in theirs and theirs[macro].strip("() ") != value]


# Build settings whose value decides whether the device can do what a capability names (a firmware
# built with ipconfigTCP_KEEP_ALIVE 0 has no keep-alive to test).
CAPABILITY_OF = {"keepalive": "keepalive", "select": "select", "user_semaphore": "user_semaphore",
                 "hang_protection": "hang_protection"}


def with_header(config: TargetConfig, fixed: bool) -> TargetConfig:
    """`config` with the user's FreeRTOSIPConfig.h values, when the target names one: as the build
    settings' defaults (`fixed` False: freertos-posix builds a variant for a case wanting another),
    or as its fixed settings and the capabilities they decide (`fixed` True: a board runs the one
    firmware the user built from that header)."""
    declared = config.sources
    if not ip_config_given(declared, config.path.parent):
        return config
    why = missing_build_tools()
    try:
        if why:
            raise BuildError(f"reading sources.ip_config {why}")
        found = setting_defaults(resolve_sources(declared, base=config.path.parent))
    except BuildError as exc:
        raise TargetUnavailable(str(exc).splitlines()[0]) from exc
    if not fixed:
        known = {k: v for k, v in found.items() if k in config.runtime_settings}
        return dataclasses.replace(config, default_settings={**config.default_settings, **known})
    known = {k: v for k, v in found.items() if k in config.fixed_settings}
    capabilities = set(config.capabilities)
    for setting, capability in CAPABILITY_OF.items():
        if setting in known:
            (capabilities.add if known[setting] else capabilities.discard)(capability)
    return dataclasses.replace(config, fixed_settings={**config.fixed_settings, **known},
                               capabilities=frozenset(capabilities))
