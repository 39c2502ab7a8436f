"""Which code a target file's `driver:` may bring in.

A target file is data a user may have been handed; its driver is code the harness imports and
runs. So the harness imports a driver only from this project's `targets` package or from an
installed distribution that registered it in the entry point group GROUP (installing a package is
the act of trusting it). `driver: os:system` is refused before anything is imported.
"""

from __future__ import annotations

from importlib.metadata import entry_points

GROUP = "tch.targets"
PROJECT_PACKAGE = "targets"


class DriverRefused(Exception):
    """The driver is not one the harness may import; the message says why and what to do."""


def resolve(spec: str) -> str:
    """The `module:Class` a target file's driver stands for, or DriverRefused."""
    registered = entry_points(group=GROUP)
    if ":" not in spec:
        for point in registered:
            if point.name == spec:
                return point.value
        names = ", ".join(sorted(p.name for p in registered)) or "none installed"
        raise DriverRefused(f"no entry point {spec!r} in group {GROUP} ({names})")
    module = spec.partition(":")[0]
    if module == PROJECT_PACKAGE or module.startswith(PROJECT_PACKAGE + "."):
        return spec
    if any(point.value == spec for point in registered):
        return spec
    raise DriverRefused(
        f"{spec} is neither in this project's {PROJECT_PACKAGE} package nor registered in entry point "
        f"group {GROUP}; the harness imports no other code (README: trust model)"
    )
