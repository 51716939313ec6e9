"""Helpers shared by the tests (imported as `from helpers import ...`)."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd, timeout=120, **kwargs):
    """Run `python -m optrun ...` in a subprocess (a real process, real signals)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "optrun", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kwargs
    )


def run_dirs(root: Path, name: str) -> list[Path]:
    return sorted(p for p in (root / "outputs" / name).iterdir() if p.is_dir())
