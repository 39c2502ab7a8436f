"""The contract between the runner and a device under test, and target configuration files.

The runner only ever sees this interface (as packetdrill sees its netdev):
reset with settings, inject a frame, collect the device's frames with capture
timestamps, make a socket call, read the clock. What a target declares about
itself (profile, capabilities, which settings it can apply) lives in its YAML
file under targets/.
"""

from __future__ import annotations

import importlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from . import drivers, expr, sysctl
from .semantics import PACKAGE_DIR, REPO_ROOT
from .validation import validate
from .vocabulary import Result
from .yamlsrc import Document, InputError, KeyPath, Problem, dotted, read_documents

TARGETS_DIR = REPO_ROOT / "targets"


@dataclass(frozen=True)
class Frame:
    time: float  # capture (or injection) time on the target's clock, seconds
    data: bytes
    outbound: bool  # True: sent by the device


class CallHandle(ABC):
    """A socket call on the device; blocking ones may still be pending."""

    op: str
    started: float

    @property
    @abstractmethod
    def done(self) -> bool: ...

    @property
    @abstractmethod
    def finished(self) -> float | None: ...

    @abstractmethod
    def result(self) -> Result | None:
        """The normalised result once done, else None."""


class TargetUnavailable(RuntimeError):
    """No case can run on this target here (no root, a missing package, no board, a NIC that is
    down): the run stops before the first case with this one line, which names the fix."""


class Target(ABC):
    """A device under test. Subclasses take the TargetConfig as their first argument."""

    # True when the target itself answers ARP for the harness address (a wire engine must, at
    # once, whatever the runner is doing); the runner then leaves ARP requests alone.
    answers_arp: bool = False
    # True when reset() applies the `sysctl.*` settings to the device (a Linux kernel's
    # namespace); a target file giving sysctls to any other driver is an input error.
    applies_sysctls: bool = False
    # True when several instances can run cases at once in separate processes (`harness run -j`),
    # each with its own links and agents; else why not, for the error a -j asks for.
    parallel: bool = False
    parallel_note: str = "cases share one device"
    # Workers per CPU core `harness run` uses when -j is not given (0: one case at a time).
    workers_per_core: float = 0.0

    def __init__(self, config: TargetConfig):
        self.config = config

    @property
    def default_workers(self) -> int:
        """Workers for `harness run` without -j: workers_per_core times the cores here, at least 1."""
        return max(1, int(self.workers_per_core * (os.cpu_count() or 1)))

    @abstractmethod
    def reset(self, settings: Mapping[str, Any]) -> None:
        """A fresh device with these settings (already checked against config.settings)."""

    @abstractmethod
    def now(self) -> float:
        """The target's clock, seconds (virtual or wall)."""

    @abstractmethod
    def inject(self, frame: bytes) -> float:
        """Deliver an Ethernet frame to the device; returns the injection time."""

    @abstractmethod
    def frames(self, deadline: float) -> list[Frame]:
        """Frames the device sent, waiting at most until `deadline`.

        Returns as soon as there is at least one frame or a pending call has
        completed (then possibly with no frame); with neither, returns [] once
        the clock has reached the deadline.
        """

    @abstractmethod
    def call(self, op: str, **args: Any) -> CallHandle:
        """One socket API call in the FreeRTOS+TCP vocabulary (see README, "Writing a case")."""

    @classmethod
    def completed(cls, config: TargetConfig) -> TargetConfig:
        """The target file's config completed from the device's own inputs (freertos-posix and
        sam4e: the user's FreeRTOSIPConfig.h gives the build's settings). TargetUnavailable if those
        inputs are unreadable. Most targets have none: the file says it all."""
        return config

    def preflight(self) -> None:  # noqa: B027 - optional: most targets need nothing checked
        """Raise TargetUnavailable if no case could run (checked once, before the first case)."""

    def notes(self) -> list[tuple[float, str]]:
        """Timestamped lines about the device's inner life (state changes) for reports."""
        return []

    def close(self) -> None:  # noqa: B027 - optional: most targets hold nothing to release
        """Release whatever the target holds (processes, links)."""


@dataclass(frozen=True)
class TargetConfig:
    name: str
    driver: str
    clock: str
    device_ip: str
    device_mac: str
    capabilities: frozenset[str]
    runtime_settings: frozenset[str]
    fixed_settings: Mapping[str, Any]
    default_settings: Mapping[str, Any]
    profile: Mapping[str, Any]
    path: Path
    api: str = "freertos"
    description: str = ""
    verdicts_path: Path | None = None
    # Where the file first gives sysctls (settings.runtime's `sysctl`, or a `sysctl.*` default
    # or fixed value), for the error when the driver has none: (field, line); line 0 if none.
    sysctl_where: tuple[str, int] = ("", 0)
    driver_line: int = 0
    # The file's `sources:` (checkouts and headers a driver builds or reads the device from).
    sources: Mapping[str, str] = field(default_factory=dict)

    def plan(self, requires: Iterable[str], wanted: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The settings a case runs with here, or the reason it is skipped (a capability, a setting)."""
        missing = [c for c in requires if c not in self.capabilities]
        if missing:
            return {}, f"{self.name} does not declare {', '.join(missing)}"
        return self.settings_plan(wanted)

    def settings_plan(self, wanted: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The settings a case runs with, or a reason to skip it on this target.

        `sysctl.*` settings are runtime settings when the file lists `sysctl` under
        `settings.runtime`; the effective ones (the file's defaults with the case's over them)
        are part of what is returned, so a case's reported settings name every sysctl it ran with.
        """
        effective = {**_durations(self.default_settings), **_durations(self.fixed_settings)}
        for key, value in _durations(wanted).items():
            if key in self.runtime_settings or (sysctl.is_sysctl(key) and "sysctl" in self.runtime_settings):
                effective[key] = value
            elif key in self.fixed_settings:
                if effective[key] != value:
                    return effective, (
                        f"needs {key}={_show(value)}; {self.name} is built with {key}={_show(effective[key])}"
                    )
            elif sysctl.is_sysctl(key) and key in effective:
                if effective[key] != value:
                    return effective, (
                        f"needs {key}={_show(value)}; {self.name} sets {key}={_show(effective[key])} "
                        "(settings.runtime does not list sysctl)"
                    )
            else:
                return effective, f"{self.name} can not apply setting {key}"
        return effective, None

    def name_problem(self, name: str, case_settings: Mapping[str, Any]) -> str | None:
        """Why a `profile.*` or `settings.*` name in a case means nothing on this target, if it does not."""
        root, _, rest = name.partition(".")
        if root == "settings":
            known = {*self.default_settings, *self.fixed_settings, *self.runtime_settings, *case_settings}
            if rest in known:
                return None
            return f"{name}: {self.name} has no setting {rest!r} (known: {', '.join(sorted(known))})"
        if root != "profile":
            return None
        node: Any = self.profile
        walked = ["profile"]
        for part in rest.split("."):
            if not isinstance(node, Mapping) or part not in node:
                known = ", ".join(sorted(node)) if isinstance(node, Mapping) else "none: it is a value"
                return f"{name}: {self.name}'s {'.'.join(walked)} has no {part!r} (known: {known})"
            node = node[part]
            walked.append(part)
        return None

    def timing(self, key: str, default: float = 0.0) -> float:
        """`profile.timing.<key>` in seconds (a plain duration such as 5ms, no names)."""
        value = self.profile.get("timing", {}).get(key, default)

        def no_names(name: str) -> None:
            raise expr.ExprError(
                f"{self.path}: profile.timing.{key}: {value!r} names {name}; give a duration such as 5ms"
            )

        return float(expr.value_of(value, no_names))

    def driver_class(self) -> type[Target]:
        module_name, _, class_name = self.driver.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name, None)
        if not (isinstance(cls, type) and issubclass(cls, Target)):
            why = f"{self.driver} is not a Target subclass (harness/target.py), so it is not called"
            raise InputError([Problem(str(self.path), self.driver_line, "driver", why)])
        return cls

    def open(self, **kwargs: Any) -> Target:
        cls = self.driver_class()
        field, line = self.sysctl_where
        if line and not getattr(cls, "applies_sysctls", False):
            why = f"driver {self.driver} has no sysctls to set (a Linux kernel target has)"
            raise InputError([Problem(str(self.path), line, field, why)])
        return cls(self, **kwargs)


def _show(value: Any) -> str:
    return (
        str(value).lower()
        if isinstance(value, bool)
        else f"{value:g}"
        if isinstance(value, float)
        else str(value)
    )


def _durations(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings with duration strings ("2s") turned into seconds, sysctl values in one spelling."""
    out = {}
    for key, value in settings.items():
        if sysctl.is_sysctl(key):
            value = sysctl.normalise(value)
        elif isinstance(value, str):
            value = float(expr.evaluate(value, _no_names))
        out[key] = value
    return out


def _no_names(name: str) -> Any:
    raise expr.ExprError(f"settings can not refer to {name}")


@cache
def _schema() -> dict:
    return json.loads((PACKAGE_DIR / "target.schema.json").read_text(encoding="utf-8"))


# Files beside a target file that are not targets: its expected verdicts, and the differences
# allowed between it and another target (harness/fidelity.py).
COMPANION_SUFFIXES = (".verdicts.yaml", ".fidelity.yaml")


def known_targets(folder: Path = TARGETS_DIR) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.name.endswith(COMPANION_SUFFIXES))


def resolve_target(spec: str, folder: Path = TARGETS_DIR) -> Path:
    """`--target NAME` or `--target path/to/file.yaml`; an unknown name lists the known ones."""
    if spec.endswith((".yaml", ".yml")) or "/" in spec:
        path = Path(spec)
        if not path.is_file():
            raise InputError([Problem("--target", 0, spec, "no such file")])
        return path
    path = folder / f"{spec}.yaml"
    if not path.is_file():
        known = ", ".join(known_targets(folder)) or "none"
        raise InputError([Problem("--target", 0, spec, f"unknown target (known: {known})")])
    return path


def load_target(spec: str) -> TargetConfig:
    path = resolve_target(spec)
    docs = list(read_documents(path))
    if len(docs) != 1:
        raise InputError(
            [Problem(str(path), 1, "(document)", "a target file holds exactly one YAML document")]
        )
    doc = docs[0]
    problems = doc.problems + validate(doc, _schema())
    if problems:
        raise InputError(problems)
    data = doc.data
    try:
        driver = drivers.resolve(data["driver"])
    except drivers.DriverRefused as exc:
        raise InputError([doc.problem(("driver",), str(exc))]) from None
    settings = data.get("settings", {})
    verdicts = path.parent / data.get("verdicts", f"{path.stem}.verdicts.yaml")
    sysctl_where = _sysctl_where(doc)
    config = TargetConfig(
        name=data["name"],
        driver=driver,
        clock=data["clock"],
        device_ip=data["device"]["ip"],
        device_mac=data["device"]["mac"],
        capabilities=frozenset(data["capabilities"]),
        runtime_settings=frozenset(settings.get("runtime", ())),
        fixed_settings=settings.get("fixed", {}),
        default_settings=settings.get("defaults", {}),
        profile=data["profile"],
        path=path,
        api=data.get("api", "freertos"),
        description=data.get("description", ""),
        verdicts_path=verdicts if verdicts.is_file() else None,
        sysctl_where=sysctl_where,
        driver_line=doc.line(("driver",)),
        sources=data.get("sources", {}),
    )
    return _completed(config, doc)


def _completed(config: TargetConfig, doc: Document) -> TargetConfig:
    """The driver's completion of the file (Target.completed), its errors as the file's."""
    try:
        return config.driver_class().completed(config)
    except TargetUnavailable as exc:
        raise InputError([doc.problem(("sources",), str(exc))]) from None


def _sysctl_where(doc: Document) -> tuple[str, int]:
    """The first place a target file gives sysctls: (field, line), or ("", 0)."""
    settings = doc.data.get("settings", {})
    runtime = settings.get("runtime", [])
    if "sysctl" in runtime:
        path: KeyPath = ("settings", "runtime", runtime.index("sysctl"))
        return dotted(path), doc.line(path)
    for part in ("defaults", "fixed"):
        for key in settings.get(part, {}):
            if sysctl.is_sysctl(key):
                return dotted(("settings", part, key)), doc.line(("settings", part, key))
    return "", 0


@dataclass
class Profile:
    """Names a case may use in expressions: profile.* from the target, settings.* as the case runs."""

    values: Mapping[str, Any]
    settings: Mapping[str, Any]

    def resolve(self, name: str) -> Any:
        root, _, rest = name.partition(".")
        if root == "settings":
            if rest not in self.settings:
                raise expr.ExprError(f"unknown setting {rest!r}")
            return self.settings[rest]
        if root != "profile":
            raise expr.ExprError(f"{name} is not known here")
        node: Any = self.values
        for part in rest.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise expr.ExprError(f"the target's profile has no {name}")
            node = node[part]
        return expr.value_of(node, self.resolve)
