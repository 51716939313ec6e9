"""Start-up time of a tiny run, whole processes: `optrun run` with and
without plots and `optrun list-problems`, against the bare imports a run
cannot avoid, measured in the same session.

The baseline is `python -c "import numpy, autograd"`. Targets (issue 19):
a tiny run without plots within 1.5x of the baseline plus the run itself
(its `wall_time_s`, read back from the run's summary.json), and plots
adding at most 0.5 s. Every command runs `--repeats` times, interleaved
(one round of each in turn, so a busy machine slows all of them alike),
after one warm-up round; medians are reported. Bytecode caching is on
(PYTHONDONTWRITEBYTECODE removed), as for an installed optrun. Runs go to a
temporary folder, removed at the end.

Where the plots' time goes is measured last, in processes of their own set
up as `optrun run` is (optrun.entry imported, the run's modules loaded):
importing matplotlib, then drawing the three PNGs of the last run again
(medians of --repeats); the rest of "plots add" is the process's exit
freeing what matplotlib left behind.

    python benchmarks/startup.py [--repeats 10] [--config configs/polynomial-gd.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commands(config: str, out: str) -> dict[str, list[str]]:
    run = [sys.executable, "-m", "optrun", "run", config, "--quiet", "--set", f"output.dir={out}"]
    return {
        "baseline: import numpy, autograd": [sys.executable, "-c", "import numpy, autograd"],
        "optrun run --quiet, plots off": [*run, "--set", "output.plots=false"],
        "optrun run --quiet, plots on": run,
        "optrun list-problems": [sys.executable, "-m", "optrun", "list-problems"],
    }


PLOTS_ALONE = """
import sys, time
from pathlib import Path
import optrun.entry, optrun.engine.record
from optrun.plots import figures, runs as plots
from optrun.core.rundir import read_run
prep = plots._rebuild(read_run(Path(sys.argv[1])))
start = time.perf_counter()
figures.new_figure()
imported = time.perf_counter()
plots.draw_run_plots(Path(sys.argv[1]), prep)
print(imported - start, time.perf_counter() - imported)
"""


def plots_alone(run_dir: Path, env: dict[str, str]) -> tuple[float, float]:
    """(import matplotlib, draw the run's plots) in seconds, in a fresh process."""
    proc = subprocess.run(
        [sys.executable, "-c", PLOTS_ALONE, str(run_dir)], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    )
    imported, drawn = map(float, proc.stdout.split())
    return imported, drawn


def newest_summary(out: Path) -> dict:
    path = max(out.glob("*/*/summary.json"), key=lambda p: p.stat().st_mtime_ns)
    return json.loads(path.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--config", default="configs/polynomial-gd.yaml")
    args = parser.parse_args()
    load_before = os.getloadavg()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="optrun-startup-") as tmp:
        out = Path(tmp)
        todo = commands(args.config, tmp)
        times: dict[str, list[float]] = {name: [] for name in todo}
        run_times: list[float] = []  # wall_time_s of the runs, as summary.json records it
        for round_ in range(args.repeats + 1):
            for name, command in todo.items():
                start = time.perf_counter()
                subprocess.run(
                    command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env, cwd=ROOT
                )
                elapsed = time.perf_counter() - start
                if round_:  # round 0 warms the bytecode cache and the file system
                    times[name].append(elapsed)
                    if name.startswith("optrun run"):
                        run_times.append(newest_summary(out)["wall_time_s"])
        last_run = max(out.glob("*/*/summary.json"), key=lambda p: p.stat().st_mtime_ns).parent
        alone = [plots_alone(last_run, env) for _ in range(args.repeats)]
    median = {name: statistics.median(values) for name, values in times.items()}
    base = median["baseline: import numpy, autograd"]
    run_itself = statistics.median(run_times)
    load = " / ".join(" ".join(f"{v:.2f}" for v in avg) for avg in (load_before, os.getloadavg()))
    print(f"{args.repeats} rounds, medians; config {args.config}; load average (1, 5, 15 min) before / after: {load}")
    print(f"{'command':<40}{'median (s)':>12}{'ratio to baseline':>20}")
    for name, value in median.items():
        print(f"{name:<40}{value:>12.3f}{value / base:>20.2f}")
    print(f"{'the run itself (summary wall_time_s)':<40}{run_itself:>12.3f}")
    off, on = median["optrun run --quiet, plots off"], median["optrun run --quiet, plots on"]
    limit = 1.5 * (base + run_itself)
    print(
        f"plots off: {off:.3f} s against 1.5 x (baseline + run) = {limit:.3f} s: {'ok' if off <= limit else 'ABOVE TARGET'}"
    )
    print(f"plots add {on - off:.3f} s (target <= 0.5 s): {'ok' if on - off <= 0.5 else 'ABOVE TARGET'}")
    imported, drawn = (statistics.median(column) for column in zip(*alone))
    print(
        f"  of which: import matplotlib {imported:.3f} s, draw and write the PNGs {drawn:.3f} s, "
        f"the rest (the process's exit, reading the run back) {on - off - imported - drawn:.3f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
