"""Helpers shared by the tests (imported as `from helpers import ...`)."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd, timeout=120, env_extra=None, **kwargs):
    """Run `python -m optrun ...` in a subprocess (a real process, real signals);
    ``env_extra`` adds environment variables (e.g. OPENBLAS_CORETYPE); a value
    of None removes one."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    env = {key: value for key, value in env.items() if value is not None}
    return subprocess.run(
        [sys.executable, "-m", "optrun", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )


def run_dirs(root: Path, name: str) -> list[Path]:
    return sorted(p for p in (root / "outputs" / name).iterdir() if p.is_dir())


def other_kernel_env():
    """The environment for "another OpenBLAS kernel" (Prescott's generic SSE3 kernels, one thread), or None where the
    machine sets OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE itself (older OpenBLAS builds crash or compute wrong results on
    its processor): the tests then leave the kernel exactly as it is."""
    from optrun.core.machine import machine_kernel_setting

    if machine_kernel_setting():
        return None
    return {"OPENBLAS_CORETYPE": "Prescott", "OPENBLAS_NUM_THREADS": "1"}


def run_plainly(optimizer, problem="rosenbrock", **stop):
    """``optrun.run`` of ``optimizer`` on ``problem`` with no stop rule of
    optrun's own (grad_tol off, max_iter out of reach) unless ``stop`` gives
    one, and no plots: the run ends where the method itself ends."""
    import optrun

    return optrun.run(
        {
            "problem": problem,
            "optimizer": optimizer,
            "stop": {"max_iter": 100000, "grad_tol": None, **stop},
            "output": {"plots": False},
        }
    )
