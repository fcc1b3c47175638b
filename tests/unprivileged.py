"""Running a command as a user whom file permissions bind, even when the tests run as root.

CI and most containers run the tests as root, and root reads a chmod 000 file or folder
through CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH: a permission test would see nothing to
refuse. `setpriv` (util-linux) starts the command with those two capabilities dropped from
its inheritable and bounding sets, so the command meets the permissions a user meets. Tests
that need this run the real thing in a subprocess through `run_unprivileged`; without root
the command runs as it is; root without setpriv skips the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

DROP = (
    "setpriv",
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
)


def prefix() -> list[str]:
    """What to put before a command so that permissions bind it (skips the test if nothing can)."""
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be made to bind")
    return list(DROP)


REPO = Path(__file__).resolve().parent.parent


def run_unprivileged(
    argv: Sequence[str | os.PathLike[str]],
    *,
    denied: Path | None = None,
    access: str = "r",
    **kwargs,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` where permissions bind, from the repository (so `-m app` is this tree's).
    `denied`: a path the test took `access` ("r" or "w") away from; when the command could
    still read (write) it, the file system ignores permissions and the test is skipped."""
    cmd = prefix()
    if denied is not None:
        probe = [*cmd, "test", f"-{access}", str(denied)]
        if subprocess.run(probe, check=False).returncode == 0:
            pytest.skip(f"permissions are not enforced on {denied}")
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 300)
    kwargs.setdefault("cwd", REPO)
    return subprocess.run([*cmd, *map(str, argv)], check=False, **kwargs)


def run_app(*args: str | os.PathLike[str], **kwargs) -> subprocess.CompletedProcess[str]:
    """`python -m app ARGS…` where permissions bind."""
    return run_unprivileged([sys.executable, "-m", "app", *args], **kwargs)


def run_python(code: str, *args: str | os.PathLike[str], **kwargs):
    """`python -c CODE ARGS…` where permissions bind (for the core, below the CLI)."""
    return run_unprivileged([sys.executable, "-c", code, *args], **kwargs)
