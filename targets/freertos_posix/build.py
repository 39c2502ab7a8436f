"""Build the real FreeRTOS+TCP + FreeRTOS-Kernel (POSIX port) as a host executable running the
harness agent (targets/sam4e/firmware, compiled unchanged) on a Linux interface through libpcap.

- `resolve_sources()`: where the two FreeRTOS trees are, and the user's own FreeRTOSIPConfig.h if
  one is given. They are compiled in place, never copied.
- `generate_ip_config(settings, base)`: FreeRTOSIPConfig.h for a case's settings, on top of the
  user's header when there is one (user_config.py reads that header's values). Keep-alive, hang
  protection, buffer sizes... are compile-time options in FreeRTOS+TCP: one binary per combination.
- `build_agent(sources, settings)`: the executable, built on first use into the cache shared with
  the other targets (targets.sam4e.build.cache_dir), keyed by a hash of every input. The kernel's
  objects do not depend on FreeRTOSIPConfig.h and are cached on their own, so a new setting
  combination only recompiles FreeRTOS+TCP, the agent and the host files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from targets.sam4e.build import FIRMWARE, cache_dir
from targets.sam4e.build import BuildError as _Sam4eBuildError

HOST = Path(__file__).with_name("host")
REPO = Path(__file__).resolve().parents[2]
DEFAULT_PLUS_TCP = REPO.parent / "shared" / "third_party" / "FreeRTOS-Plus-TCP"
DEFAULT_KERNEL = REPO.parent / "shared" / "third_party" / "FreeRTOS-Kernel"
ENV = {"plus_tcp": "TCH_FREERTOS_PLUS_TCP", "kernel": "TCH_FREERTOS_KERNEL"}
IP_CONFIG_ENV = "TCH_FREERTOS_IP_CONFIG"
INSTALL_HINT = "apt-get install gcc libpcap-dev"

# What each tree must hold (checked before anything is compiled) and what is compiled from it.
_MARKERS = {"plus_tcp": ("source/FreeRTOS_IP.c", "source/include/FreeRTOSIPConfigDefaults.h",
                         "source/portable/NetworkInterface/linux/NetworkInterface.c"),
            "kernel": ("tasks.c", "include/FreeRTOS.h", "portable/ThirdParty/GCC/Posix/port.c")}
_POSIX = "portable/ThirdParty/GCC/Posix"
KERNEL_SOURCES = ("tasks.c", "queue.c", "list.c", "timers.c", "event_groups.c", "stream_buffer.c",
                  "portable/MemMang/heap_3.c", f"{_POSIX}/port.c", f"{_POSIX}/utils/wait_for_event.c")
KERNEL_HEADERS = ("include/*.h", f"{_POSIX}/*.h", f"{_POSIX}/utils/*.h")
PLUS_TCP_SOURCES = ("source/*.c", "source/portable/BufferManagement/BufferAllocation_2.c",
                    "source/portable/NetworkInterface/linux/NetworkInterface.c")
PLUS_TCP_HEADERS = ("source/include/*.h", "source/portable/Compiler/GCC/*.h",
                    "source/portable/NetworkInterface/include/*.h")
AGENT_SOURCES = ("tch_agent_freertos.c", "tch_mailbox.c", "tch_rtt.c", "tch_format.c")
HOST_SOURCES = ("main.c", "glue.c")

# -fno-pie/-no-pie: tch_rtt.c keeps buffer addresses in 32-bit fields (a Cortex-M layout), so the
# image must sit below 4 GiB. -fno-strict-aliasing: FreeRTOS+TCP reads headers through casts of
# byte buffers.
CFLAGS = ("-std=gnu99", "-O2", "-g", "-pthread", "-fno-pie", "-fno-strict-aliasing")
WARNINGS = ("-Wall", "-Wextra", "-Werror")         # the agent and host files: ours, kept clean
LDFLAGS = ("-no-pie", "-pthread")
# glue.c's wrappers: the tick thread's sleep, libpcap immediate mode, the interface list.
WRAPS = ("usleep", "pcap_activate", "pcap_findalldevs")
LIBS = ("-lpcap",)


class BuildError(_Sam4eBuildError):
    """The agent can not be built; the message's first line says why and what to change."""


@dataclass(frozen=True)
class Sources:
    plus_tcp: Path
    kernel: Path
    ip_config: Path | None = None  # the user's FreeRTOSIPConfig.h; None: FreeRTOS's defaults


def _given(name: str, var: str, declared: Mapping[str, str] | None, base: Path | None
           ) -> tuple[Path, str] | None:
    """$var, else the target file's `sources.<name>` (relative to `base`), with where it came from."""
    if os.environ.get(var):
        path, origin = Path(os.environ[var]), f"${var}"
    elif declared and declared.get(name):
        path, origin = Path(declared[name]), f"the target's sources.{name}"
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
    else:
        return None
    return path.expanduser().resolve(), origin


def ip_config_given(declared: Mapping[str, str] | None = None, base: Path | None = None) -> bool:
    """Whether the user names a FreeRTOSIPConfig.h of their own (checked by resolve_sources)."""
    return _given("ip_config", IP_CONFIG_ENV, declared, base) is not None


def resolve_sources(declared: Mapping[str, str] | None = None, base: Path | None = None) -> Sources:
    """The FreeRTOS trees to compile: $TCH_FREERTOS_PLUS_TCP / $TCH_FREERTOS_KERNEL, else `declared`
    ({"plus_tcp": DIR, "kernel": DIR}; relative to `base`, the target file's folder), else the
    pinned copies in ../shared/third_party. The user's FreeRTOSIPConfig.h likewise
    ($TCH_FREERTOS_IP_CONFIG, else `ip_config`); without one, FreeRTOS's defaults."""
    found: dict[str, Path] = {}
    for name, var in ENV.items():
        default = DEFAULT_PLUS_TCP if name == "plus_tcp" else DEFAULT_KERNEL
        path, origin = _given(name, var, declared, base) or (default.resolve(), "the default")
        missing = [m for m in _MARKERS[name] if not (path / m).is_file()]
        if missing:
            what = "FreeRTOS-Plus-TCP" if name == "plus_tcp" else "FreeRTOS-Kernel"
            raise BuildError(f"no {what} tree at {path} ({origin}; {missing[0]} missing): set {var} or the "
                             f"target's declared {name} to a {what} checkout")
        found[name] = path
    header = _given("ip_config", IP_CONFIG_ENV, declared, base)
    if header is not None and not header[0].is_file():
        raise BuildError(f"no FreeRTOSIPConfig.h at {header[0]} ({header[1]}): set {IP_CONFIG_ENV} or the "
                         "target's sources.ip_config to your FreeRTOSIPConfig.h")
    return Sources(found["plus_tcp"], found["kernel"], header[0] if header else None)


# ---- FreeRTOSIPConfig.h -------------------------------------------------------------------------

@dataclass(frozen=True)
class _Option:
    macro: str
    kind: str            # "bool", "int" or "seconds"
    default: Any
    why: str


# Harness setting name -> the ipconfig option it sets. Defaults: FreeRTOSIPConfigDefaults.h V4.4.1
# (the model's StackConfig and targets/inprocess.yaml use the same).
SETTINGS: dict[str, _Option] = {
    "keepalive": _Option("ipconfigTCP_KEEP_ALIVE", "bool", False, "keep-alive probes on idle connections"),
    "keepalive_interval": _Option("ipconfigTCP_KEEP_ALIVE_INTERVAL", "seconds", 20,
                                  "seconds of silence before a probe"),
    "hang_protection": _Option("ipconfigTCP_HANG_PROTECTION", "bool", True,
                               "drop connections stuck in a closing/connecting state"),
    "hang_protection_time": _Option("ipconfigTCP_HANG_PROTECTION_TIME", "seconds", 30,
                                    "seconds before hang protection drops them"),
    "user_semaphore": _Option("ipconfigSOCKET_HAS_USER_SEMAPHORE", "bool", False,
                              "FREERTOS_SO_SET_SEMAPHORE (the FS-10 cases)"),
    "select": _Option("ipconfigSUPPORT_SELECT_FUNCTION", "bool", False,
                      "FreeRTOS_select() (the agent's SELECT op, mailbox PROTOCOL v2)"),
    "ignore_unknown_packets": _Option("ipconfigIGNORE_UNKNOWN_PACKETS", "bool", False,
                                      "0: RST for segments that match no socket"),
    "tcp_win": _Option("ipconfigUSE_TCP_WIN", "bool", True, "sliding windows (0: FreeRTOS_Tiny_TCP)"),
    "mss": _Option("ipconfigTCP_MSS", "int", 1460, "ipconfigNETWORK_MTU - 40"),
    "rx_buffer": _Option("ipconfigTCP_RX_BUFFER_LENGTH", "int", None, "bytes per connection (4 x MSS)"),
    "tx_buffer": _Option("ipconfigTCP_TX_BUFFER_LENGTH", "int", None, "bytes per connection (4 x MSS)"),
    "wake_callback": _Option("ipconfigSOCKET_HAS_USER_WAKE_CALLBACK", "bool", False,
                             "FREERTOS_SO_WAKEUP_CALLBACK (the agent refuses it: code addresses)"),
}

# What the agent and this host build need, whatever the case's settings.
_FIXED: tuple[tuple[str, str, str], ...] = (
    ("ipconfigBYTE_ORDER", "pdFREERTOS_LITTLE_ENDIAN", "x86-64 and arm64 hosts (FreeRTOS requires it)"),
    ("ipconfigUSE_IPv4", "1", "the agent's sockets are FREERTOS_AF_INET"),
    ("ipconfigUSE_IPv6", "0", "IPv4 only: no ND/RA/MLD frames on the test link"),
    ("ipconfigUSE_RA", "0", "router advertisements are IPv6"),
    ("ipconfigUSE_DHCP", "0", "the static address the harness expects; it answers only ARP"),
    ("ipconfigUSE_DHCPv6", "0", "IPv6"),
    ("ipconfigUSE_TCP", "1", "the agent #errors without it"),
    ("ipconfigUSE_DNS", "0", "no name server on the link; TCP behaviour does not depend on it"),
    ("ipconfigUSE_LLMNR", "0", "no name services: only test traffic on the link"),
    ("ipconfigUSE_NBNS", "0", "as above"),
    ("ipconfigUSE_MDNS", "0", "as above"),
    ("ipconfigUSE_NETWORK_EVENT_HOOK", "1", "the ready line waits for eNetworkUp"),
    ("ipconfigIPv4_BACKWARD_COMPATIBLE", "0", "main.c uses FreeRTOS_FillEndPoint + FreeRTOS_IPInit_Multi"),
    ("ipconfigZERO_COPY_RX_DRIVER", "0", "the libpcap driver copies (the SAM GMAC driver needs 1)"),
    ("ipconfigZERO_COPY_TX_DRIVER", "0", "as above"),
    ("ipconfigHAS_PRINTF", "0", "stdout carries the ready line; the log is RTT"),
    ("ipconfigHAS_DEBUG_PRINTF", "0", "as above"),
)


def _value(name: str, option: _Option, value: Any) -> int:
    """A setting as the macro's integer, or a BuildError naming the setting."""
    if isinstance(value, str):
        from harness.target import _durations  # "2s" as the runner converts it
        try:
            value = _durations({name: value})[name]
        except Exception as exc:  # noqa: BLE001 - any unreadable value is the same one-line error
            raise BuildError(f"setting {name}={value!r}: not a number or duration ({exc})") from None
    if option.kind == "bool":
        if isinstance(value, bool) or value in (0, 1):
            return int(value)
        raise BuildError(f"setting {name}={value!r}: {option.macro} is on or off (true/false)")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BuildError(f"setting {name}={value!r}: {option.macro} needs a number")
    if option.kind == "seconds" and (value != int(value) or value < 0):
        raise BuildError(f"setting {name}={value:g}s: FreeRTOS+TCP counts {option.macro} in whole seconds; "
                         "use a whole number of seconds")
    if option.kind == "int" and (value != int(value) or value < 1):
        raise BuildError(f"setting {name}={value!r}: {option.macro} needs a positive whole number")
    return int(value)


def ip_config_values(settings: Mapping[str, Any]) -> dict[str, int]:
    """Each SETTINGS macro's value for `settings` (unknown names, such as runtime socket options,
    are not build options and are ignored); the buffer lengths default to 4 x MSS, as in FreeRTOS."""
    values: dict[str, int] = {}
    for name, option in SETTINGS.items():
        if name in settings and settings[name] is not None:
            values[option.macro] = _value(name, option, settings[name])
        elif option.default is not None:
            values[option.macro] = int(option.default)
    mss = values["ipconfigTCP_MSS"]
    values.setdefault("ipconfigTCP_RX_BUFFER_LENGTH", 4 * mss)
    values.setdefault("ipconfigTCP_TX_BUFFER_LENGTH", 4 * mss)
    return values


def generate_ip_config(settings: Mapping[str, Any] | None, base: Path | None = None) -> str:
    """FreeRTOSIPConfig.h: FreeRTOSIPConfigDefaults.h (V4.4.1) for everything not named here.

    With `base` (the user's own FreeRTOSIPConfig.h) the file includes it first, and every value it
    sets below replaces the user's (#undef first): their header decides everything else. `settings`
    None (only with a base) leaves the settings' macros to the user's header and FreeRTOS's
    defaults: user_config.py compiles that to read what the header makes of them."""
    values = ip_config_values(settings or {})
    width = max(len(m) for m in [*values, *(f[0] for f in _FIXED)])
    guard = "TCH_FREERTOS_IP_CONFIG_H" if base else "FREERTOS_IP_CONFIG_H"  # theirs has the usual guard

    def define(macro: str, value: Any, why: str) -> list[str]:
        return [*([f"#undef {macro}"] if base else []), f"#define {macro:<{width}} {value:>5}  /* {why} */"]

    lines = [
        "/* FreeRTOSIPConfig.h for the harness agent on the host (targets/freertos_posix/build.py).",
        " * Generated: edit the build's settings, not this file. Everything not defined here keeps",
        f" * {'the header included below, then ' if base else ''}FreeRTOSIPConfigDefaults.h's default. */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
    ]
    if base:
        lines += ["/* Your FreeRTOSIPConfig.h: every value below replaces yours. */", f'#include "{base}"',
                  "/* ipconfigHAS_PRINTF is 0 here: FreeRTOS's empty defaults, not your logging. */",
                  "#undef FreeRTOS_printf", "#undef FreeRTOS_debug_printf", ""]
    lines.append("/* What the agent and the host build need. */")
    for macro, value, why in _FIXED:
        lines += define(macro, value, why)
    if settings is not None or not base:
        lines += ["", "/* The case's settings (harness name: why). */"]
        for name, option in SETTINGS.items():
            lines += define(option.macro, values[option.macro], f"{name}: {option.why}")
    lines += ["", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


# ---- toolchain ----------------------------------------------------------------------------------

@cache
def _gcc_version() -> str:
    return subprocess.run(["gcc", "-dumpfullversion"], capture_output=True, text=True).stdout.strip()


@cache
def _pcap_library() -> str:
    """The libpcap the link will use, as its real file name (e.g. libpcap.so.1.10.3) and size."""
    out = subprocess.run(["gcc", "-print-file-name=libpcap.so"], capture_output=True, text=True)
    path = Path(out.stdout.strip())
    if not path.is_absolute() or not path.exists():
        return ""
    real = path.resolve()
    return f"{real.name}:{real.stat().st_size}"


@cache
def _pcap_header_ok() -> bool:
    proc = subprocess.run(["gcc", "-x", "c", "-fsyntax-only", "-"], input="#include <pcap.h>\n",
                          capture_output=True, text=True)
    return proc.returncode == 0


def missing_build_tools() -> str | None:
    """Why the agent can not be built here (naming the fix), or None."""
    if shutil.which("gcc") is None:
        return f"needs gcc: {INSTALL_HINT}"
    if not _pcap_header_ok() or not _pcap_library():
        return f"needs libpcap-dev (pcap.h and libpcap.so): {INSTALL_HINT}"
    return None


# ---- hashing ------------------------------------------------------------------------------------

def _files(root: Path, patterns: Iterable[str]) -> list[Path]:
    return sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})


_digests: dict[tuple[tuple[str, int, int], ...], bytes] = {}


def _digest(files: Sequence[Path]) -> bytes:
    """The content hash of `files`, memoised on their stat (a cached build stays in milliseconds;
    an edited file, whose mtime or size changed, is read again)."""
    stamp = []
    for p in files:
        st = p.stat()
        stamp.append((str(p), st.st_mtime_ns, st.st_size))
    key = tuple(stamp)
    if key not in _digests:
        h = hashlib.sha256()
        for p in files:
            h.update(str(p).encode() + b"\0" + p.read_bytes() + b"\0")
        _digests[key] = h.digest()
    return _digests[key]


_header_files: dict[tuple[str, int, int], list[Path]] = {}


def header_digest(sources: Sources) -> bytes:
    """The content of the user's FreeRTOSIPConfig.h and of every file it includes: a board header
    it pulls in changes the build as much as the header itself does. b"" without one."""
    header = sources.ip_config
    if header is None:
        return b""
    st = header.stat()
    stamp = (str(header), st.st_mtime_ns, st.st_size)
    if stamp not in _header_files and shutil.which("gcc"):
        flags, _ = includes(sources, HOST)
        # -MM: system headers left out; -MG: one it can not find is listed, not an error (the build
        # says so, naming it).
        deps = subprocess.run(["gcc", "-MM", "-MG", "-x", "c", *flags, str(header)], capture_output=True,
                              text=True).stdout.replace("\\\n", " ").split()[1:]
        _header_files[stamp] = sorted({header, *(Path(d).resolve() for d in deps if Path(d).is_file())})
    return _digest(_header_files.get(stamp, [header]))


def _key(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update((part.encode() if isinstance(part, str) else part) + b"\0")
    return h.hexdigest()[:16]


# ---- building -----------------------------------------------------------------------------------

@dataclass
class _Plan:
    """Everything one build needs, computed before deciding whether anything must be compiled."""

    sources: Sources
    ip_config: str
    kernel_sources: list[Path]
    kernel_key: str
    ip_sources: list[Path]
    own_sources: list[Path]
    key: str


def _plan(sources: Sources, settings: Mapping[str, Any]) -> _Plan:
    ip_config = generate_ip_config(settings, sources.ip_config)
    toolchain = f"{_gcc_version()} {_pcap_library()} {' '.join(CFLAGS + WARNINGS + LDFLAGS + LIBS + WRAPS)}"
    kernel_sources = [sources.kernel / s for s in KERNEL_SOURCES]
    kernel_inputs = _files(sources.kernel, (*KERNEL_SOURCES, *KERNEL_HEADERS)) + [HOST / "FreeRTOSConfig.h"]
    kernel_key = _key(_digest(kernel_inputs), toolchain)
    ip_sources = _files(sources.plus_tcp, PLUS_TCP_SOURCES)
    ip_inputs = _files(sources.plus_tcp, (*PLUS_TCP_SOURCES, *PLUS_TCP_HEADERS))
    own_sources = [FIRMWARE / s for s in AGENT_SOURCES] + [HOST / s for s in HOST_SOURCES]
    own_inputs = sorted({*own_sources, *FIRMWARE.glob("*.h"), *HOST.glob("*.h")})
    header = header_digest(sources)
    key = _key(kernel_key, _digest(ip_inputs), _digest(own_inputs), ip_config, header, toolchain)
    return _Plan(sources, ip_config, kernel_sources, kernel_key, ip_sources, own_sources, key)


def agent_path(sources: Sources, settings: Mapping[str, Any], folder: Path | None = None) -> Path:
    """Where build_agent() puts (or finds) the executable for these inputs; nothing is compiled."""
    return (folder or cache_dir()) / f"freertos-posix-agent-{_plan(sources, settings).key}"


def build_agent(sources: Sources, settings: Mapping[str, Any], folder: Path | None = None) -> Path:
    """The agent executable for `settings` (SETTINGS' names; others are ignored), compiled now unless
    these exact inputs were built before. Its FreeRTOSIPConfig.h is kept beside it (`<binary>.h`)."""
    why = missing_build_tools()
    if why:
        raise BuildError(why)
    plan = _plan(sources, settings)
    folder = folder or cache_dir()
    binary = folder / f"freertos-posix-agent-{plan.key}"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    kernel_dir = folder / f"freertos-posix-kernel-{plan.kernel_key}"
    work = Path(tempfile.mkdtemp(prefix=binary.name + ".", dir=folder))
    try:
        (work / "FreeRTOSIPConfig.h").write_text(plan.ip_config)
        kernel_new = None if kernel_dir.is_dir() else work / "kernel"
        jobs = _jobs(plan, work, kernel_new or kernel_dir)
        _compile_all(jobs)
        if kernel_new is not None:
            # Published whole or not at all; a concurrent build that won the race is just as good.
            try:
                os.rename(kernel_new, kernel_dir)
            except OSError:
                if not kernel_dir.is_dir():
                    raise
        objects = [obj for _, obj, _ in jobs if obj.parent != kernel_new]
        objects += sorted(kernel_dir.glob("*.o"))
        _link(objects, work / "agent")
        shutil.copyfile(work / "FreeRTOSIPConfig.h", work / "agent.h")
        os.replace(work / "agent.h", binary.with_name(binary.name + ".h"))
        # Rename last: a binary that exists is complete, for this process and any other.
        os.replace(work / "agent", binary)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return binary


def includes(sources: Sources, work: Path) -> tuple[list[str], list[str]]:
    """(-I flags for FreeRTOS's own sources, -I/-isystem flags for ours: FreeRTOS headers are
    system headers there, so -Werror applies to our code only). `work` holds FreeRTOSIPConfig.h."""
    tcp, kernel = sources.plus_tcp, sources.kernel
    config = [HOST, work]
    freertos = [tcp / "source/include", tcp / "source/portable/Compiler/GCC", kernel / "include",
                kernel / _POSIX, kernel / _POSIX / "utils"]
    theirs = [f"-I{p}" for p in (*config, *freertos, FIRMWARE)]
    ours = [f"-I{p}" for p in (*config, FIRMWARE)] + [f"-isystem{p}" for p in freertos]
    return theirs, ours


def _jobs(plan: _Plan, work: Path, kernel_out: Path) -> list[tuple[Path, Path, list[str]]]:
    """(source, object, flags) for every object still to compile."""
    theirs, ours = includes(plan.sources, work)
    jobs: list[tuple[Path, Path, list[str]]] = []
    if not kernel_out.is_dir():
        kernel_out.mkdir()
        kernel_flags = [f"-I{HOST}", f"-I{plan.sources.kernel / 'include'}",
                        f"-I{plan.sources.kernel / _POSIX}", f"-I{plan.sources.kernel / _POSIX / 'utils'}"]
        jobs += [(s, kernel_out / f"{s.stem}.o", [*CFLAGS, *kernel_flags]) for s in plan.kernel_sources]
    objs = work / "objs"
    objs.mkdir()
    jobs += [(s, objs / f"{s.stem}.o", [*CFLAGS, *theirs]) for s in plan.ip_sources]
    jobs += [(s, objs / f"{s.stem}.o", [*CFLAGS, *WARNINGS, *ours]) for s in plan.own_sources]
    # Biggest first: on two cores the long FreeRTOS_TCP_IP/tasks compiles should not run last.
    jobs.sort(key=lambda job: -job[0].stat().st_size)
    return jobs


def _compile_all(jobs: Sequence[tuple[Path, Path, list[str]]]) -> None:
    def one(job: tuple[Path, Path, list[str]]) -> str | None:
        source, obj, flags = job
        cmd = ["gcc", *flags, "-c", str(source), "-o", str(obj)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            return f"compiling {source} failed:\n{proc.stderr.strip()}"
        return None

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        errors = [e for e in pool.map(one, jobs) if e]
    if errors:
        raise BuildError(f"building the FreeRTOS+TCP host agent: {errors[0]}")


def _link(objects: Sequence[Path], out: Path) -> None:
    wraps = ",".join(f"--wrap={w}" for w in WRAPS)
    cmd = ["gcc", *LDFLAGS, f"-Wl,{wraps}", "-o", str(out), *map(str, objects), *LIBS]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"linking the FreeRTOS+TCP host agent failed:\n{proc.stderr.strip()}")
