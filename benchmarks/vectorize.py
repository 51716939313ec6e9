"""``sweep --seeds N --vectorize`` against N sequential jax runs.

The seed MLP (configs/mlp-gd.yaml: 10 tanh units, gd, 300 rows) on the jax
backend, ``--seeds 64``, as whole ``optrun sweep`` processes in a scratch
folder: once with ``--vectorize`` (one vmap'ed computation) and once with
``--workers 1`` (64 runs one after the other, each compiled and run alone).
Both write the same 64 run directories. Measured two ways, each variant
``--repeats`` times, interleaved, medians with the load average:

* the runs alone, in this process (jax imported and the configs validated
  before the clock starts): ``execute_batch`` of the 64 configs against
  ``execute`` of each in turn, what ``sweep`` calls for them;
* whole ``optrun sweep`` processes (start-up, validation of 64 configs and
  the jax import included in both).

The check: the runs vectorized >= 10x faster than sequential.

    python benchmarks/vectorize.py [--seeds 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sweep_seconds(folder: Path, seeds: int, *extra: str) -> float:
    """Wall time of one whole ``optrun sweep`` process (its outputs removed after)."""
    command = [sys.executable, "-m", "optrun", "sweep", str(REPO / "configs" / "mlp-gd.yaml"), "--set", "backend=jax",
               "--seeds", str(seeds), "--quiet", *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    subprocess.run(command, cwd=folder, env=env, check=True)
    seconds = time.perf_counter() - start
    shutil.rmtree(folder / "outputs")
    return seconds


def runs_seconds(folder: Path, seeds: int) -> tuple[float, float]:
    """(vectorized, sequential) wall time of the 64 runs themselves, in this process."""
    sys.path.insert(0, str(REPO))
    from optrun.commands.run import execute, execute_batch
    from optrun.config import load_config

    configs = [load_config(REPO / "configs" / "mlp-gd.yaml", ["backend=jax", f"seed={seed}", "output.plots=false"])
               for seed in range(seeds)]
    start = time.perf_counter()
    execute_batch(configs, [folder / "v" / f"run-{i:04d}" for i in range(seeds)], threads=1)
    vectorized = time.perf_counter() - start
    start = time.perf_counter()
    for i, config in enumerate(configs):
        execute(config, run_dir=folder / "s" / f"run-{i:04d}", blas_threads=1)
    sequential = time.perf_counter() - start
    shutil.rmtree(folder / "v")
    shutil.rmtree(folder / "s")
    return vectorized, sequential


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    times: dict[str, list[float]] = {"vectorized": [], "sequential": [], "vectorized runs": [], "sequential runs": []}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for _ in range(args.repeats):  # interleaved: a load change hits both alike
            times["vectorized"].append(sweep_seconds(folder, args.seeds, "--vectorize"))
            times["sequential"].append(sweep_seconds(folder, args.seeds, "--workers", "1"))
            vectorized, sequential = runs_seconds(folder, args.seeds)
            times["vectorized runs"].append(vectorized)
            times["sequential runs"].append(sequential)
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"seed MLP (configs/mlp-gd.yaml) on jax, {args.seeds} seeds x 300 rows, medians of {args.repeats}:")
    for what, v, s in (("the runs, in one process", "vectorized runs", "sequential runs"),
                       ("whole `optrun sweep` processes", "vectorized", "sequential")):
        ratio = median[s] / median[v]
        print(f"  {what}: --vectorize {median[v]:6.2f} s, --workers 1 {median[s]:6.2f} s ({median[s] / args.seeds:.3f} s a run): "
              f"{ratio:.1f}x")
    ratio = median["sequential runs"] / median["vectorized runs"]
    print(f"  the runs: {ratio:.1f}x (required >= 10x: {'met' if ratio >= 10 else 'MISSED'})")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
