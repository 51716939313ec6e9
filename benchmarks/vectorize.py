"""``sweep --seeds N --vectorize`` against N sequential jax runs.

The seed MLP (configs/mlp-gd.yaml: 10 tanh units, gd, 300 rows) on the jax
backend, ``--seeds 64``, as whole ``optrun sweep`` processes in a scratch
folder: once with ``--vectorize`` (one vmap'ed computation) and once with
``--workers 1`` (64 runs one after the other, each compiled and run alone).
Both write the same 64 run directories. Measured two ways, each variant
``--repeats`` times, interleaved, medians with the load average:

* the runs alone, in this process (jax imported and the configs validated
  before the clock starts; each variant compiles once, as in a fresh
  process): ``execute_batch`` of the 64 configs against ``execute`` of each
  in turn, what ``sweep`` calls for them;
* whole ``optrun sweep`` processes (start-up, validation of 64 configs and
  the jax import included in both).

The check: the runs vectorized >= 10x faster than sequential.

``--step-sizes K`` makes it a grid: K step sizes (geometric, 1e-7 to 1e-6)
times ``--seeds`` seeds, each run with its own step size (the batch carries
one per member), as ``sweep --grid optimizer.step_size=... --seeds N``.

    python benchmarks/vectorize.py [--seeds 64] [--step-sizes 0] [--repeats 3]
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


def step_sizes(k: int) -> list[float]:
    """k step sizes from 1e-7 to 1e-6 (where the seed MLP's gd descends), or none (the config's own)."""
    return [float(f"{1e-7 * 10 ** (i / max(1, k - 1)):.3g}") for i in range(k)]


def sweep_seconds(folder: Path, seeds: int, sizes: list[float], *extra: str) -> float:
    """Wall time of one whole ``optrun sweep`` process (its outputs removed after)."""
    grid = ["--grid", "optimizer.step_size=" + ",".join(map(str, sizes))] if sizes else []
    command = [
        sys.executable,
        "-m",
        "optrun",
        "sweep",
        str(REPO / "configs" / "mlp-gd.yaml"),
        "--set",
        "backend=jax",
        "--seeds",
        str(seeds),
        "--quiet",
        *grid,
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    subprocess.run(command, cwd=folder, env=env, check=True)
    seconds = time.perf_counter() - start
    shutil.rmtree(folder / "outputs")
    return seconds


def forget_compiles() -> None:
    """Each variant compiles as a fresh sweep process does: once (the sequential
    runs reuse the first run's compile, optrun.engine.prepare._reused)."""
    from optrun.core import compiled
    from optrun.engine import prepare

    prepare._OBJECTIVES.clear()
    compiled.chunk._CHUNKS.clear()


def runs_seconds(folder: Path, seeds: int, sizes: list[float]) -> tuple[float, float]:
    """(vectorized, sequential) wall time of the 64 runs themselves, in this process."""
    sys.path.insert(0, str(REPO))
    from optrun.config import load_config
    from optrun.engine.batch import execute_batch
    from optrun.engine.record import execute

    grid = [[f"optimizer.step_size={size}"] for size in sizes] or [[]]
    configs = [
        load_config(REPO / "configs" / "mlp-gd.yaml", ["backend=jax", f"seed={seed}", "output.plots=false", *point])
        for point in grid
        for seed in range(seeds)
    ]
    forget_compiles()
    start = time.perf_counter()
    execute_batch(configs, [folder / "v" / f"run-{i:04d}" for i in range(len(configs))], threads=1)
    vectorized = time.perf_counter() - start
    forget_compiles()
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
    parser.add_argument("--step-sizes", type=int, default=0, help="a grid of this many step sizes times the seeds")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = step_sizes(args.step_sizes)
    runs = args.seeds * max(1, len(sizes))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    times: dict[str, list[float]] = {"vectorized": [], "sequential": [], "vectorized runs": [], "sequential runs": []}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for _ in range(args.repeats):  # interleaved: a load change hits both alike
            times["vectorized"].append(sweep_seconds(folder, args.seeds, sizes, "--vectorize"))
            times["sequential"].append(sweep_seconds(folder, args.seeds, sizes, "--workers", "1"))
            vectorized, sequential = runs_seconds(folder, args.seeds, sizes)
            times["vectorized runs"].append(vectorized)
            times["sequential runs"].append(sequential)
    median = {k: statistics.median(v) for k, v in times.items()}
    what = f"{len(sizes)} step sizes x {args.seeds} seeds" if sizes else f"{args.seeds} seeds"
    print(f"seed MLP (configs/mlp-gd.yaml) on jax, {what} x 300 rows, medians of {args.repeats}:")
    for what, v, s in (
        ("the runs, in one process", "vectorized runs", "sequential runs"),
        ("whole `optrun sweep` processes", "vectorized", "sequential"),
    ):
        ratio = median[s] / median[v]
        print(
            f"  {what}: --vectorize {median[v]:6.2f} s, --workers 1 {median[s]:6.2f} s ({median[s] / runs:.3f} s a run): "
            f"{ratio:.1f}x"
        )
    ratio = median["sequential runs"] / median["vectorized runs"]
    print(f"  the runs: {ratio:.1f}x (required >= 10x: {'met' if ratio >= 10 else 'MISSED'})")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
