"""What recording a run costs: ``optrun run``'s pipeline, trace written, against a hand-written lax.scan loop.

Each figure is seconds per row through ``optrun.engine.record.execute`` (what
``optrun run`` calls: the run directory, config.yaml, the trace, summary.json;
``output.plots: false``, since the plots are drawn after the run whatever the
writer), taken from two run lengths so that compile and set-up time cancel:
(T(n2) - T(n1)) / (n2 - n1), medians of ``--repeats``. Every case runs in a
child process of its own, with the source tree it is given, so that
``--baseline REV`` measures the same cases on an earlier commit (``git
archive`` into a temporary folder) in the same run, interleaved.

Cases (the targets of issue 31; jax backend, gd):

  hand-trid, hand-rosen   a hand-written lax.scan gd loop returning f and |g|
                          per step (the hardware's floor);
  trid-rows, rosen-rows   trid 10 / rosenbrock 2, every row written
                          (targets: <= 20x / <= 40x the hand loop);
  trid-log                trid 10 with output.log_every 10000000: rows kept
                          but not written (target: <= 3x the hand loop);
  mlp-rows, mlp-loop      the seed MLP (configs/mlp-gd.yaml's), every row
                          written, against the compiled loop with no trace
                          (target: <= 1.5x);
  vectorize-64            sweep --vectorize's 64 runs of the seed MLP (300
                          rows each): execute_batch minus preparing the 64
                          runs and computing the batch without recording it,
                          i.e. the time spent writing 64 run directories
                          (target: >= 4x less than the baseline).

    python benchmarks/recording.py [--repeats 3] [--quick] [--baseline REV]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MLP = {"name": "mlp_regression", "hidden": [10], "activation": "tanh"}
CASES = {  # name: (problem, step size, log_every, rows n1, rows n2); None: a case of its own
    "trid-rows": ({"name": "trid", "dim": 10}, 0.01, 1, 100_000, 1_000_000),
    "rosen-rows": ({"name": "rosenbrock"}, 1e-3, 1, 100_000, 1_000_000),
    "trid-log": ({"name": "trid", "dim": 10}, 0.01, 10_000_000, 400_000, 4_000_000),
    "mlp-rows": (MLP, 1e-6, 1, 2_000, 20_000),
}


def mapping(problem: dict, step: float, rows: int, log_every: int, folder: str) -> dict:
    return {
        "name": "bench",
        "problem": problem,
        "backend": "jax",
        "optimizer": {"name": "gd", "step_size": step},
        "stop": {"max_iter": rows - 1, "grad_tol": None},
        "output": {"plots": False, "dir": folder, "log_every": log_every},
    }


def child(case: str, repeats: int, scale: int) -> dict:
    """One case, measured in this process (the optrun on sys.path)."""
    from optrun.config import load_config

    folder = tempfile.mkdtemp()
    if case.startswith("hand-"):
        sys.path.insert(0, str(Path(__file__).parent))
        from backends import hand_scan

        from optrun.engine.prepare import prepare

        if case == "hand-trid":  # hand_scan's own trid, written in jax.numpy
            return {"per_row": hand_scan(1_000_000 // scale, repeats, True)}
        import jax.numpy as jnp

        def rosenbrock(x):  # written by hand, from optrun's start
            return 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2

        prep = prepare(load_config(mapping({"name": "rosenbrock"}, 1e-3, 2, 1, folder)))
        return {"per_row": hand_scan(1_000_000 // scale, repeats, True, rosenbrock, jnp.asarray(prep.x0), 1e-3)}
    if case == "vectorize-64":
        return vectorize(repeats, folder)
    if case.startswith("memory-"):  # memory-FORMAT-ROWS: one run in this fresh process
        return memory(case.split("-")[1], int(case.split("-")[2]) // scale, folder)
    if case == "mlp-loop":
        return {
            "per_row": two_lengths(
                lambda n: compiled_alone(MLP, 1e-6, n, folder), 2_000 // scale, 20_000 // scale, repeats
            )
        }
    from optrun.engine.record import execute

    problem, step, every, n1, n2 = CASES[case]

    def run(rows: int) -> float:
        config = load_config(mapping(problem, step, rows, every, folder))
        start = time.perf_counter()
        result = execute(config)
        seconds = time.perf_counter() - start
        shutil.rmtree(result.run_dir)  # (a million rows: 100-200 MB)
        return seconds

    return {"per_row": two_lengths(run, n1 // scale, n2 // scale, repeats)}


def two_lengths(run, n1: int, n2: int, repeats: int) -> float:
    """Seconds per row from runs of n1 and n2 rows (a first run of each compiles first)."""
    run(n1), run(n2)
    diffs = []
    for _ in range(repeats):
        diffs.append((run(n2) - run(n1)) / (n2 - n1))
    return statistics.median(diffs)


def compiled_alone(problem: dict, step: float, rows: int, folder: str) -> float:
    """The compiled loop with no observer: no trace, nothing written."""
    from optrun.config import load_config
    from optrun.core.compiled import minimize_compiled
    from optrun.engine.prepare import prepare

    cfg = load_config(mapping(problem, step, rows, 1, folder))
    prep = prepare(cfg)
    start = time.perf_counter()
    minimize_compiled(prep.oracle, prep.x0, cfg.optimizer.entry, cfg.optimizer.options, cfg.stop, ())
    return time.perf_counter() - start


def vectorize(repeats: int, folder: str) -> dict:
    """execute_batch of 64 seeds of the seed MLP, against the batch computed alone."""
    import numpy as np

    from optrun.config import load_config
    from optrun.core.compiled import minimize_compiled_batch
    from optrun.engine.prepare import prepare

    try:
        from optrun.engine.batch import execute_batch
    except ImportError:  # (the baseline tree: before it had a module of its own)
        from optrun.engine.record import execute_batch  # type: ignore[attr-defined,no-redef]

    def configs():
        return [load_config({**mapping(MLP, 1e-6, 300, 1, folder), "seed": s}) for s in range(64)]

    def recorded() -> float:
        batch = configs()
        dirs = [Path(tempfile.mkdtemp(dir=folder)) / "run" for _ in batch]
        start = time.perf_counter()
        execute_batch(batch, dirs, threads=1)
        return time.perf_counter() - start

    def alone() -> tuple[float, float]:
        """(preparing the 64 runs, computing them): execute_batch does both, besides writing."""
        batch = configs()
        start = time.perf_counter()
        preps = [prepare(c) for c in batch]
        prepared = time.perf_counter() - start
        first = preps[0].config
        start = time.perf_counter()
        minimize_compiled_batch(
            preps[0].oracle,
            np.stack([p.x0 for p in preps]),
            first.optimizer.entry,
            [p.config.optimizer.options for p in preps],
            first.stop,
        )
        return prepared, time.perf_counter() - start

    recorded(), alone()
    pairs = [(recorded(), alone()) for _ in range(repeats)]
    return {
        "writing": statistics.median(r - p - c for r, (p, c) in pairs),
        "computing": statistics.median(c for _, (_, c) in pairs),
        "preparing": statistics.median(p for _, (p, _) in pairs),
    }


def memory(fmt: str, rows: int, folder: str) -> dict:
    """Peak RSS of a process that runs trid 10 for ``rows`` rows with every row
    written in ``fmt``, the trace's size, and the time read_trace takes."""
    import resource

    from optrun.config import load_config
    from optrun.core.trace import read_trace
    from optrun.engine.record import execute

    data = mapping({"name": "trid", "dim": 10}, 0.01, rows, 1, folder)
    data["output"]["trace_format"] = fmt
    result = execute(load_config(data))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    [trace] = [p for p in result.run_dir.iterdir() if p.name.startswith("trace.")]
    start = time.perf_counter()
    read = read_trace(trace)
    seconds = time.perf_counter() - start
    assert len(read["f"]) == rows
    size = trace.stat().st_size
    shutil.rmtree(result.run_dir)
    return {"peak_mib": peak / 1024, "bytes": size, "read_s": seconds}


def measure(tree: Path, case: str, repeats: int, scale: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", case, "--repeats", str(repeats), "--scale", str(scale)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    if proc.returncode != 0:
        raise SystemExit(f"{case} failed in {tree}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def baseline_tree(rev: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="optrun-baseline-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows (a smoke run)")
    parser.add_argument("--baseline", metavar="REV", help="also measure this commit (e.g. abcbb9d), in the same run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeats, args.scale)))
        return 0
    scale = 10 if args.quick else 1
    trees = {"now": REPO, **({"base": baseline_tree(args.baseline)} if args.baseline else {})}
    print(load(), f"| baseline {args.baseline}" if args.baseline else "")
    names = ["hand-trid", "hand-rosen", "trid-rows", "rosen-rows", "trid-log", "mlp-loop", "mlp-rows", "vectorize-64"]
    got = {(tree, case): measure(path, case, args.repeats, scale) for case in names for tree, path in trees.items()}
    for fmt in ("csv", "parquet"):
        for rows in (100_000, 1_000_000):
            got[("now", f"memory-{fmt}-{rows}")] = measure(REPO, f"memory-{fmt}-{rows}", 1, scale)
    failed: list[str] = []

    def row(label: str, case: str, against: float, target: float, higher_is_better: bool = False) -> None:
        cells = []
        for tree in trees:
            value = got[(tree, case)]["per_row"]
            cells.append(f"{tree} {value * 1e6:8.3f} us/row = {value / against:6.1f}x")
        now = got[("now", case)]["per_row"] / against
        ok = now <= target
        if not ok:
            failed.append(label)
        print(f"  {label:<34}" + "   ".join(cells) + f"   target <= {target:g}x: {'ok' if ok else 'MISSED'}")

    hand_trid, hand_rosen = got[("now", "hand-trid")]["per_row"], got[("now", "hand-rosen")]["per_row"]
    print(
        f"\nhand-written lax.scan gd (f and |g| per step): trid 10 {hand_trid * 1e6:.3f} us, "
        f"rosenbrock 2 {hand_rosen * 1e6:.3f} us per step"
    )
    print("optrun run's pipeline (execute, plots off), per row, from two run lengths, against the hand loop:")
    row("trid 10, every row written", "trid-rows", hand_trid, 20)
    row("rosenbrock 2, every row written", "rosen-rows", hand_rosen, 40)
    row("trid 10, log_every 10000000", "trid-log", hand_trid, 3)
    mlp_loop = got[("now", "mlp-loop")]["per_row"]
    print(f"the seed MLP: the compiled loop with no trace {mlp_loop * 1e6:.2f} us/row")
    row("seed MLP, every row written", "mlp-rows", mlp_loop, 1.5)
    print("sweep --vectorize, 64 runs of the seed MLP (300 rows each):")
    for tree in trees:
        v = got[(tree, "vectorize-64")]
        writing, computing, preparing = (v[k] * 1e3 for k in ("writing", "computing", "preparing"))
        print(
            f"  {tree}: writing 64 run directories {writing:7.1f} ms (preparing the runs {preparing:5.1f} ms, "
            f"computing them {computing:5.1f} ms)"
        )
    if "base" in trees:
        less = got[("base", "vectorize-64")]["writing"] / got[("now", "vectorize-64")]["writing"]
        ok = less >= 4
        failed += [] if ok else ["vectorize-64 writing"]
        print(f"  writing: {less:.1f}x less than the baseline (target >= 4x: {'ok' if ok else 'MISSED'})")
    print("peak memory (trid 10 on jax, every row written; a fresh process each), trace size and read_trace time:")
    for fmt in ("csv", "parquet"):
        small, large = (got[("now", f"memory-{fmt}-{rows}")] for rows in (100_000, 1_000_000))
        flat = large["peak_mib"] / small["peak_mib"]
        ok = flat <= 1.2
        failed += [] if ok else [f"memory {fmt}"]
        print(
            f"  {fmt:<8} {100_000 // scale} rows {small['peak_mib']:6.0f} MiB, {1_000_000 // scale} rows "
            f"{large['peak_mib']:6.0f} MiB: {flat:.2f}x (target <= 1.2: {'ok' if ok else 'MISSED'}); the larger trace "
            f"{large['bytes'] / 1e6:6.1f} MB, read in {large['read_s']:.2f} s"
        )
    print(load())
    print("all targets met" if not failed else f"missed: {', '.join(failed)}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
