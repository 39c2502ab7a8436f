"""Where the repository and its suite are, for the harness's tests."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "testcases"


def trouble_pythonpath(target_file: Path) -> str:
    """PYTHONPATH for a `harness run` on the trouble_target fixture's file: the project, and the
    folder where the fixture installed the driver's tch.targets entry point."""
    return os.pathsep.join((str(REPO), str(target_file.parent / "plugins")))
