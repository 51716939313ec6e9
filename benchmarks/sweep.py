"""Sweep speed-up: the same sweeps of 8 runs with 1 worker (in process) and
2 workers, for tiny runs (about 0.05 s: over before a helper process is
ready), short ones (about 0.4 s) and long ones (about 1 s or more),
interleaved, several repeats; prints the medians, the ratio and the
machine's load average (the 1-minute figure, read as each sweep starts).

    python benchmarks/sweep.py [--repeats 5] [--tiny 40] [--short 550] [--long 1500] [--busy N]

Timings on a shared machine are noisy: compare ratios taken at the same
load, and quote the load with them. ``--busy N`` reproduces a machine that
other sessions keep busy: N CPU-bound processes, each in a session of its
own (``setsid``, so Linux's autogroup gives each its own share, as it does a
user's other terminal), run throughout and are killed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from optrun.engine.executors import choose
from optrun.engine.sweep import run_sweep
from optrun.engine.sweep_dir import start_sweep
from optrun.engine.sweep_plan import make_plan

CONFIG = {
    "name": "bench",
    "problem": {"name": "mlp_regression", "hidden": [10]},
    "optimizer": {"name": "adam", "step_size": 0.01},
    "sweep": {"grid": {"optimizer.step_size": [0.001, 0.003, 0.01, 0.03]}, "seeds": 2},
}


def timed_sweep(folder: Path, workers: int, iterations: int) -> tuple[float, float, float]:
    """(wall time of the sweep, median wall time of one of its runs, the 1-minute load average at its start)."""
    config = folder / "bench.yaml"
    plan, base = make_plan(
        config,
        [f"stop.max_iter={iterations}", "stop.grad_tol=null", f"output.dir={folder / 'out'}"],
        [],
        [],
        None,
        False,
    )
    sweep_dir = start_sweep(plan, base.output.dir, base.name)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    outcome = run_sweep(plan, sweep_dir, choose(workers), None)  # 1: in this process; 2: the local pool
    elapsed = time.perf_counter() - start
    assert len(outcome.rows) == 8 and all(r["status"] == "max_iter" for r in outcome.rows), outcome.rows
    return elapsed, statistics.median(r["wall_time_s"] for r in outcome.rows), load


@contextlib.contextmanager
def busy_sessions(count: int):
    """``count`` CPU-bound processes, each in a new session, for the duration."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True) for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tiny", type=int, default=40, help="Adam steps of a tiny run (about 0.05 s on an idle core)")
    parser.add_argument(
        "--short", type=int, default=550, help="Adam steps of a short run (about 0.4 s on an idle core)"
    )
    parser.add_argument(
        "--long", type=int, default=1500, help="Adam steps of a long run (1.1-1.8 s, as fast as this machine was)"
    )
    parser.add_argument("--busy", type=int, default=0, help="CPU-bound processes in other sessions, running throughout")
    args = parser.parse_args()
    if args.busy:
        print(f"{args.busy} CPU-bound process(es) in other sessions run throughout")
    print(
        f"cores: {os.cpu_count()}; each sweep: 8 runs of mlp_regression (hidden [10], n 300) with Adam; "
        f"{args.repeats} repeats, interleaved"
    )
    sizes = {"tiny": args.tiny, "(a) short": args.short, "(b) long": args.long}
    walls: dict[tuple[str, int], list[float]] = {(size, w): [] for size in sizes for w in (1, 2)}
    runs: dict[tuple[str, int], list[float]] = {key: [] for key in walls}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, busy_sessions(args.busy):
        folder = Path(tmp)
        (folder / "bench.yaml").write_text(yaml.safe_dump(CONFIG))
        timed_sweep(folder, 1, 10)  # this process's imports, outside the timings
        for repeat in range(args.repeats):
            for size, iterations in sizes.items():
                for workers in (1, 2) if repeat % 2 == 0 else (2, 1):  # alternate which goes first
                    wall, run, load = timed_sweep(folder, workers, iterations)
                    walls[size, workers].append(wall)
                    runs[size, workers].append(run)
                    loads.append(load)
    loads.append(os.getloadavg()[0])
    print(f"{'sweep':<10} {'steps':>5} {'one run (1 w)':>14} {'1 worker':>9} {'2 workers':>10} {'ratio':>6}")
    for size, iterations in sizes.items():
        one, two = statistics.median(walls[size, 1]), statistics.median(walls[size, 2])
        run = statistics.median(runs[size, 1])
        print(f"{size:<10} {iterations:>5} {run:>12.2f} s {one:>7.2f} s {two:>8.2f} s {one / two:>5.2f}x")
    print(
        f"medians of {args.repeats}; load average (1 min) over the measurement: min {min(loads):.2f}, "
        f"median {statistics.median(loads):.2f}, max {max(loads):.2f} on {os.cpu_count()} cores"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
