"""Shared fixtures: the repository's paths and the built `hel` command line (for the tests
that check that Python and the CLI read each other's files)."""

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def hel_binary():
    """The CLI to interoperate with: $HEL_BIN, else the workspace's debug or release build,
    else `hel` on PATH. `scripts/test` builds it (cargo test) before running pytest."""
    env = os.environ.get("HEL_BIN")
    if env:
        return env
    for profile in ("debug", "release"):
        p = REPO / "target" / profile / "hel"
        if p.is_file():
            return str(p)
    return shutil.which("hel")


@pytest.fixture(scope="session")
def hel_cli():
    path = hel_binary()
    if path is None:
        pytest.skip("no hel binary: build it with `cargo build` or set HEL_BIN")
    return path
