"""Sweep speed-up: the same sweep of 8 runs with 1 worker (in process) and
with a pool of 2 worker processes, in one invocation, several repeats.

    python benchmarks/sweep.py [--repeats 3] [--iterations 1500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from optrun.commands.sweep import make_plan, run_sweep, start_sweep

CONFIG = {
    "name": "bench",
    "problem": {"name": "mlp_regression", "hidden": [10]},
    "optimizer": {"name": "adam", "step_size": 0.01},
    "sweep": {"grid": {"optimizer.step_size": [0.001, 0.003, 0.01, 0.03]}, "seeds": 2},
}


def timed_sweep(folder: Path, workers: int, iterations: int) -> float:
    config = folder / "bench.yaml"
    plan, base = make_plan(config, [f"stop.max_iter={iterations}", "stop.grad_tol=null", f"output.dir={folder / 'out'}"], [], [], None, False)
    sweep_dir = start_sweep(plan, base.output.dir, base.name)
    start = time.perf_counter()
    outcome = run_sweep(plan, sweep_dir, workers, None, None)
    elapsed = time.perf_counter() - start
    assert len(outcome.rows) == 8 and all(r["status"] == "max_iter" for r in outcome.rows), outcome.rows
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=1500)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}; sweep: 8 runs of mlp_regression (hidden [10], n 300), {args.iterations} Adam steps each")
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bench.yaml").write_text(yaml.safe_dump(CONFIG))
        for _ in range(args.repeats):  # interleaved
            for workers in (1, 2):
                times[workers].append(timed_sweep(folder, workers, args.iterations))
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f"1 worker : {one:6.2f} s (median of {args.repeats})")
    print(f"2 workers: {two:6.2f} s (median of {args.repeats})")
    print(f"speed-up with 2 workers: {one / two:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
