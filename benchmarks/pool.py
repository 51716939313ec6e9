"""The pool before and after a change, in the same run: the sweeps of
benchmarks/sweep.py (8 runs: tiny, short, long) on 1 worker and on 2 workers
with optrun.engine.pool as committed at --before and as in the working tree,
interleaved (the order rotates every repeat); prints the medians, each
2-worker speed-up, the median of the repeats' after/before time ratios (the
two measured one after the other, at the same load; their range in brackets)
and the load average.

    python benchmarks/pool.py [--before HEAD] [--repeats 5] [--busy N] [--tiny 40] [--short 550] [--long 1500]

The old module is loaded from ``git show`` under another name, from a folder
on ``sys.path`` (spawned workers get the same path and import it by name),
and run_sweep is pointed at its run_calls.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from sweep import CONFIG, busy_sessions, timed_sweep

import optrun.engine.pool as after

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="HEAD", help="the git revision whose optrun/engine/pool.py is 'before'")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tiny", type=int, default=40)
    parser.add_argument("--short", type=int, default=550)
    parser.add_argument("--long", type=int, default=1500)
    parser.add_argument("--busy", type=int, default=0, help="CPU-bound processes in other sessions, running throughout")
    args = parser.parse_args()
    source = subprocess.run(
        ["git", "show", f"{args.before}:optrun/engine/pool.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    sizes = {"tiny": args.tiny, "short": args.short, "long": args.long}
    kinds = ["1 worker", "2 before", "2 after"]
    walls: dict[tuple[str, str], list[float]] = {(size, kind): [] for size in sizes for kind in kinds}
    loads: list[float] = []
    print(f"before: {args.before}:optrun/engine/pool.py; after: the working tree; {args.repeats} repeats, interleaved")
    if args.busy:
        print(f"{args.busy} CPU-bound process(es) in other sessions run throughout")
    with tempfile.TemporaryDirectory() as tmp, busy_sessions(args.busy):
        folder = Path(tmp)
        (folder / "optrun_pool_before.py").write_text(source)
        sys.path.insert(0, tmp)
        before = importlib.import_module("optrun_pool_before")
        real = after.run_calls
        (folder / "bench.yaml").write_text(yaml.safe_dump(CONFIG))
        timed_sweep(folder, 1, 10)  # this process's imports, outside the timings
        for repeat in range(args.repeats):
            for size, iterations in sizes.items():
                for kind in kinds[repeat % 3 :] + kinds[: repeat % 3]:
                    after.run_calls = before.run_calls if kind == "2 before" else real
                    wall, _, load = timed_sweep(folder, 1 if kind == "1 worker" else 2, iterations)
                    walls[size, kind].append(wall)
                    loads.append(load)
        after.run_calls = real
    loads.append(os.getloadavg()[0])
    print(f"{'sweep':<6} {'steps':>5} {'1 worker':>9} {'2 before':>9} {'2 after':>9}", end=" ")
    print(f"{'ratio before':>13} {'after':>6} {'after/before, paired':>21}")
    for size, iterations in sizes.items():
        one, old, new = (statistics.median(walls[size, kind]) for kind in kinds)
        times = f"{one:>7.2f} s {old:>7.2f} s {new:>7.2f} s"
        # each repeat's after / before (measured one after the other, at the same load): below 1, after is faster
        paired = [a / b for a, b in zip(walls[size, "2 after"], walls[size, "2 before"])]
        spread = f"{statistics.median(paired):.2f} ({min(paired):.2f}-{max(paired):.2f})"
        print(f"{size:<6} {iterations:>5} {times} {one / old:>12.2f}x {one / new:>5.2f}x {spread:>21}")
    print(
        f"medians of {args.repeats}; load average (1 min) over the measurement: min {min(loads):.2f}, "
        f"median {statistics.median(loads):.2f}, max {max(loads):.2f} on {os.cpu_count()} cores"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
