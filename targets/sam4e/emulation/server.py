"""pyOCD's remote probe server around an emulated probe, for `remote:` ids in tests and benches."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyocd.core.session import Session
from pyocd.probe.tcp_probe_server import DebugProbeServer

from .probe import EmulatedProbe


@contextmanager
def remote_probe(emu_id: str, project_dir: Path) -> Iterator[str]:
    """Serve the emulated probe `emu_id` with DebugProbeServer; yields its `remote:localhost:<port>` id."""
    probe = EmulatedProbe.get_probe_with_id(emu_id)
    cwd = os.getcwd()
    session = Session(None, no_config=True, project_dir=str(project_dir))
    os.chdir(cwd)                    # Session chdir()s into project_dir
    server = DebugProbeServer(session, probe, port=0, serve_local_only=True)
    server.start()
    # Not server.port: right after start() it can still read 0 (a race in pyOCD 0.46).
    port = server._server.socket.getsockname()[1]
    try:
        yield f"remote:localhost:{port}"
    finally:
        server.stop()


@contextmanager
def probe_uid(emu_id: str, project_dir: Path, transport: str) -> Iterator[str]:
    """The unique id to open the emulated probe with: `emu:…` itself (transport "local"), or a
    `remote:` id through pyOCD's probe server (transport "remote")."""
    if transport == "remote":
        with remote_probe(emu_id, project_dir) as uid:
            yield uid
    else:
        yield emu_id
