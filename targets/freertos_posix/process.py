"""One run of the host-built FreeRTOS+TCP agent (build.py) on a Linux interface.

The process is the "board": started with its interface and addresses in the environment, in its
own process group (so a kill reaches every thread and nothing it might fork), with stdout and
stderr read by threads into timestamped lines, and its memory open through /proc/PID/mem for the
mailbox and the RTT log. It also dies with its parent (PR_SET_PDEATHSIG in main.c: note that this
follows the *thread* that started it, so start it from a thread that lives as long as the run),
and every live one is killed at interpreter exit.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from functools import cache
from pathlib import Path
from typing import IO

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from harness.wire.priority import favour

from .procmem import ProcessGone, ProcessMemory, ProcessMemoryError

MAGIC = 0x31484354                       # tch_mailbox.magic once tch_mailbox_init() finished
SYMBOLS = ("tch_mailbox", "_SEGGER_RTT")
_READY = re.compile(r"^ready mailbox=(0x[0-9a-f]+) rtt=(0x[0-9a-f]+) ticks_per_s=(\d+)$")
_live: dict[int, AgentProcess] = {}
_live_lock = threading.Lock()



class AgentProcessError(RuntimeError):
    """The agent process died, never got ready, or could not start; the message has its stderr."""


@cache
def _elf_symbols(binary: Path, mtime_ns: int) -> dict[str, int]:
    with open(binary, "rb") as f:
        elf = ELFFile(f)
        table = elf.get_section_by_name(".symtab")
        if not isinstance(table, SymbolTableSection):
            raise AgentProcessError(f"{binary} has no symbol table (stripped?): the mailbox can not be found")
        found = {}
        for name in SYMBOLS:
            symbols = table.get_symbol_by_name(name)
            if symbols:
                found[name] = symbols[0]["st_value"]
    missing = [n for n in SYMBOLS if n not in found]
    if missing:
        raise AgentProcessError(f"{binary} defines no {', '.join(missing)}: not a harness agent build")
    return found


def elf_symbols(binary: Path) -> dict[str, int]:
    """The agent's tch_mailbox and _SEGGER_RTT addresses (a non-PIE build: as in the process)."""
    return dict(_elf_symbols(Path(binary), Path(binary).stat().st_mtime_ns))


class AgentProcess:
    """The agent running on `interface` as `ip`/`mac`; `wait_ready()` before using `memory`."""

    def __init__(self, binary: Path, interface: str, ip: str, mac: str, *, seed: int = 0,
                 netmask: str = "255.255.255.0", gateway: str = "198.18.0.1"):
        self.binary = Path(binary)
        self.symbols = elf_symbols(self.binary)
        self.ready_info: dict[str, int] = {}
        self._lines: list[tuple[float, str]] = []
        self._stderr: deque[str] = deque(maxlen=200)
        self._ready = threading.Event()
        self._closed = False
        env = {**os.environ, "TCH_IF": interface, "TCH_IP": ip, "TCH_MAC": mac, "TCH_NETMASK": netmask,
               "TCH_GW": gateway, "TCH_SEED": str(seed)}
        try:
            self.proc = subprocess.Popen([str(self.binary)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, env=env, process_group=0)
        except OSError as exc:
            raise AgentProcessError(f"could not start {self.binary}: {exc}") from exc
        self.pid = self.proc.pid
        favour(self.pid)   # its clock must not lag on a loaded host
        with _live_lock:
            _live[id(self)] = self
        self._readers = [threading.Thread(target=self._read, args=(stream, is_err), daemon=True,
                                          name=f"agent-{self.pid}-{'err' if is_err else 'out'}")
                         for stream, is_err in ((self.proc.stdout, False), (self.proc.stderr, True))]
        for reader in self._readers:
            reader.start()
        self._memory: ProcessMemory | None = None
        try:
            # Popen returned after the exec: this is the agent's memory, not the forked parent's.
            self._memory = ProcessMemory(self.pid)
        except ProcessGone:
            pass                            # it exited at once: wait_ready() reports why, with stderr
        except ProcessMemoryError as exc:
            self.close()
            raise AgentProcessError(f"agent {self.pid}: {exc}") from exc

    @property
    def memory(self) -> ProcessMemory:
        """The process's memory (/proc/PID/mem), for the mailbox driver and the RTT reader."""
        if self._memory is None:
            raise AgentProcessError(f"FreeRTOS+TCP agent {self.pid} exited at start: {self.stderr_tail(5)}")
        return self._memory

    # ---- output -------------------------------------------------------------------------------

    def _read(self, stream: IO[bytes] | None, is_err: bool) -> None:
        assert stream is not None
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self._lines.append((time.time(), line))
            if is_err:
                self._stderr.append(line)
            elif (m := _READY.match(line)) and not self._ready.is_set():
                self.ready_info = {"mailbox": int(m.group(1), 16), "rtt": int(m.group(2), 16),
                                   "ticks_per_s": int(m.group(3))}
                self._ready.set()
        stream.close()

    def output_lines(self) -> list[tuple[float, str]]:
        """Every stdout and stderr line so far, with the time.time() it was read."""
        return list(self._lines)

    def stderr_tail(self, lines: int = 20) -> str:
        tail = list(self._stderr)[-lines:]
        return " | ".join(tail) if tail else "(no stderr output)"

    # ---- state --------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _died(self, what: str) -> AgentProcessError:
        code = self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=1)          # the last stderr lines say why
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        return AgentProcessError(f"FreeRTOS+TCP agent {self.pid} {what} ({how}): {self.stderr_tail(5)}")

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Until the agent printed its ready line (network up, agent started) and its mailbox has
        the magic; AgentProcessError with its stderr if it dies or takes longer than `timeout`."""
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.01):
            if not self.alive:
                raise self._died("exited before it was ready")
            if time.monotonic() >= deadline:
                raise AgentProcessError(f"FreeRTOS+TCP agent {self.pid} not ready within {timeout:g} s: "
                                        f"{self.stderr_tail(5)}")
        for name, key in (("tch_mailbox", "mailbox"), ("_SEGGER_RTT", "rtt")):
            if self.ready_info[key] != self.symbols[name]:
                raise AgentProcessError(f"agent {self.pid} reports {name} at {self.ready_info[key]:#x}, its "
                                        f"ELF {self.binary} at {self.symbols[name]:#x}: a different binary?")
        if self._memory is None:
            raise self._died("exited at start")
        while True:
            try:
                if self._memory.read32(self.symbols["tch_mailbox"]) == MAGIC:
                    return
            except ProcessMemoryError as exc:
                if not self.alive:
                    raise self._died("exited before its mailbox was ready") from exc
                raise AgentProcessError(f"agent {self.pid}: {exc}") from exc
            if time.monotonic() >= deadline:
                raise AgentProcessError(f"agent {self.pid}: no mailbox magic within {timeout:g} s")
            time.sleep(0.001)

    def close(self) -> None:
        """Kill the agent's process group and reap it; safe to call again."""
        if self._closed:
            return
        self._closed = True
        with _live_lock:
            _live.pop(id(self), None)
        if self.proc.poll() is None:
            # Not reaped yet, so the group id can not have been reused by another process.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        if self._memory is not None:
            self._memory.close()
        for reader in self._readers:
            reader.join(timeout=1)

    def __enter__(self) -> AgentProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@atexit.register
def _kill_all() -> None:
    with _live_lock:
        live = list(_live.values())
    for agent in live:
        agent.close()
