"""The SAM4E target's board settings (probe, pack, ELF, NIC, SWD clock): the `board:` section of
its target file. harness/target.schema.json leaves the section's shape to the driver; this module
validates it (BOARD_SCHEMA) with the same `file:line: field: message` errors as the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.validation import validate
from harness.yamlsrc import InputError, Problem, read_documents

DEFAULT_FREQUENCY = 4_000_000   # Hz: EDBG is reliable at 4 MHz SWD; raise it once measured
RESET_TYPES = ("hardware", "sysresetreq")

BOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["probe", "pack", "elf", "nic"],
    "properties": {
        "probe": {"type": "string", "minLength": 1,
                  "x-error": "expected the EDBG's USB serial (ATML...), emu:<name> or remote:host:port"},
        "pack": {"type": "string", "minLength": 1},
        "elf": {"type": "string", "minLength": 1},
        "nic": {"type": "string", "minLength": 1, "maxLength": 15},
        "frequency": {"type": "integer", "minimum": 100_000, "maximum": 50_000_000},
        "reset": {"enum": list(RESET_TYPES), "x-what": "reset type"},
        "project_dir": {"type": "string", "minLength": 1},
        "boot_timeout": {"type": "number", "exclusiveMinimum": 0},
    },
}


@dataclass(frozen=True)
class BoardConfig:
    """Where the board is and what to put on it. Relative paths are relative to the target file."""

    probe: str
    pack: Path
    elf: Path
    nic: str
    frequency: int = DEFAULT_FREQUENCY
    reset: str = "hardware"      # "sysresetreq" for a probe without nRESET (pyOCD's remote: probes)
    # pyOCD's Session chdir()s into project_dir and would load pyocd.yaml/pyocd_user.py from it
    # without no_config; a fixed, harmless folder keeps both out of the harness's way.
    project_dir: Path = Path.home() / ".cache" / "tch" / "pyocd"
    boot_timeout: float = 5.0    # seconds from reset until the agent's mailbox header is up
    source: str = "targets/sam4e.yaml"   # where to fix a wrong value (error messages name it)

    @classmethod
    def from_mapping(cls, data: dict[str, Any], base: Path, source: str) -> BoardConfig:
        def path(value: str) -> Path:
            p = Path(value).expanduser()
            return p if p.is_absolute() else (base / p).resolve()

        extra: dict[str, Any] = {}
        for key in ("frequency", "reset", "boot_timeout"):
            if key in data:
                extra[key] = data[key]
        if "project_dir" in data:
            extra["project_dir"] = path(data["project_dir"])
        return cls(probe=str(data["probe"]), pack=path(data["pack"]), elf=path(data["elf"]),
                   nic=str(data["nic"]), source=source, **extra)


def load_board(path: Path) -> BoardConfig:
    """The `board:` section of the target file at `path`, validated (one line per problem)."""
    doc = next(iter(read_documents(path)))
    if "board" not in doc.data:
        raise InputError([Problem(str(path), 1, "board", "missing: the SAM4E target needs a board: section "
                                  "(probe, pack, elf, nic)")])
    schema: dict[str, Any] = {"type": "object", "properties": {"board": BOARD_SCHEMA}}
    section = doc.data["board"]
    problems = validate(doc, schema)
    if problems:
        raise InputError(problems)
    return BoardConfig.from_mapping(section, path.parent, str(path))
