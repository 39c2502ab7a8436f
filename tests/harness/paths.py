"""Where the repository and its suite are, for the harness's tests."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "testcases"
