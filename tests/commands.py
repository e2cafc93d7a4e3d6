"""Running the project's commands (``python -m examples.train``, benchmark scripts) from tests.

Import it in any test file with ``from commands import run_in_repo`` (pytest puts
``tests/`` on ``sys.path`` through ``tests/conftest.py``).
"""

from __future__ import annotations

import importlib.util
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["REPO", "load_script", "run_in_repo"]

#: The repository root, where the commands run (``examples`` imports from there).
REPO = Path(__file__).resolve().parents[1]


def run_in_repo(
    args: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``args`` run from the repository root, stdout and stderr captured as text.

    The exit status is the caller's to check, with as much of the output in its assertion
    message as it needs. ``env``: the whole environment (``None``: this process's).
    """
    return subprocess.run(
        list(args),
        cwd=REPO,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def load_script(relative: str, name: str):
    """The module of a script that is not a package member (e.g. ``benchmarks/x.py``)."""
    spec = importlib.util.spec_from_file_location(name, REPO / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
