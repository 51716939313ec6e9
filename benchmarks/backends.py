"""The jax backend's compiled loop against the autograd backend and a hand-written lax.scan.

Every optrun run here goes through the real pipeline: ``prepare`` builds the
problem, start and Oracle from a config mapping (``backend: jax`` or
``autograd``), then the loop ``engine/record.py`` dispatches to runs it: on jax,
``optrun.core.compiled.minimize_compiled`` (first-order methods); on autograd,
``runner.minimize``. Each is timed twice: the loop alone (no observer) and
recording the trace (the run's TraceWriter, to a temporary file), as a run does.

Figures are per iteration (wall time / rows), medians over ``--repeats``
interleaved repeats, jax runs warm (its compile time is reported separately:
the first run's wall time minus a warm run's). The autograd side runs fewer
steps (per-iteration times do not depend on the count). Other processes share
the machine: the load average is printed at the start and the end.

Checks (printed with each figure):
  trid 10, gd, 10^5 steps: the compiled loop (no observer) <= 3x a hand-written
      lax.scan gd loop per iteration (the hand loop returns f per step; a
      second hand loop also returns |g|, which the stop rules and trace need);
  trid 10, rosenbrock 2, the MLP of configs/mlp-gd.yaml: jax >= 50x faster
      than autograd per iteration;
  trid 10^5 and linear regression n = 10^5: jax no slower than autograd;
  peak memory (ru_maxrss of a child process running trid 10 with its trace
      recorded) at 10^5 steps <= 1.2x that at 10^4.

    python benchmarks/backends.py [--repeats 3] [--quick]
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

from optrun.config import load_config
from optrun.core import runner
from optrun.core.compiled import can_compile, minimize_compiled
from optrun.core.trace import TraceWriter
from optrun.engine.prepare import prepare


def config(problem: dict, backend: str, step: float, iterations: int, optimizer: str = "gd") -> dict:
    return {
        "problem": problem,
        "backend": backend,
        "optimizer": {"name": optimizer, "step_size": step},
        "stop": {"max_iter": iterations - 1, "grad_tol": None},
        "output": {"plots": False},
    }


def run_once(mapping: dict | object, trace_dir: str | None) -> tuple[float, int, str]:
    """One run through the dispatch of a prepared config (or a config mapping,
    prepared here); returns (wall time, rows, status)."""
    prep = mapping if not isinstance(mapping, dict) else prepare(load_config(mapping))
    cfg = prep.config
    observers = []
    writer = None
    if trace_dir is not None:
        path = Path(tempfile.mkdtemp(dir=trace_dir)) / "trace.csv"
        reference = prep.problem.reference
        writer = TraceWriter(
            path, prep.param_names, prep.expand, fstar=reference.fun if reference else None, grad_names=prep.grad_names
        )
        observers.append(writer)
    entry, options = cfg.optimizer.entry, cfg.optimizer.options
    if can_compile(entry, prep.oracle.backend):
        outcome = minimize_compiled(prep.oracle, prep.x0, entry, options, cfg.stop, observers)
    else:
        outcome = runner.minimize(prep.oracle, prep.x0, entry.make(options, prep.oracle), cfg.stop, observers)
    if writer is not None:
        writer.close()
    return outcome.wall_time_s, outcome.nit + 1, str(outcome.status)


def hand_scan(iterations: int, repeats: int, with_norm: bool, fun=None, x0=None, step_size: float = 0.01) -> float:
    """A hand-written jax gd loop: lax.scan over value_and_grad, f per step
    returned (and |g| if ``with_norm``); seconds per iteration, warm. On trid
    10 written here in jax.numpy, or on ``fun`` from ``x0`` (optrun's own flat
    objective: the loop's overhead apart from the objective's cost)."""
    import jax
    import jax.numpy as jnp

    from optrun.core.backend import get_backend

    get_backend("jax")  # float64

    def trid(x):
        return jnp.sum((x - 1.0) ** 2) - jnp.sum(x[1:] * x[:-1])

    value_and_grad = jax.value_and_grad(trid if fun is None else fun)

    @jax.jit
    def loop(x):
        def step(x, _):
            f, g = value_and_grad(x)
            return x - step_size * g, ((f, jnp.sqrt(g @ g)) if with_norm else f)

        return jax.lax.scan(step, x, None, length=iterations)

    x0 = jnp.zeros(10) if x0 is None else jnp.asarray(x0)
    jax.block_until_ready(loop(x0))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(loop(x0))
        times.append((time.perf_counter() - start) / iterations)
    return statistics.median(times)


def prepared(mapping: dict) -> tuple[object, float]:
    """The prepared run and its compile time: a first run (jax compiles the
    chunk, with and without trace rows) minus a warm one. Repeats reuse this
    prepared run, so they reuse its compiled chunk (a new prepare builds a new
    objective, which jax compiles again)."""
    prep = prepare(load_config(mapping))
    cold, _, _ = run_once(prep, None)
    with tempfile.TemporaryDirectory() as folder:
        run_once(prep, folder)
    warm, _, _ = run_once(prep, None)
    return prep, cold - warm


def per_iteration(prep: object, repeats: int, trace_dir: str | None) -> tuple[float, str, int]:
    times, status, rows = [], "", 0
    for _ in range(repeats):
        wall, rows, status = run_once(prep, trace_dir)
        times.append(wall / rows)
    return statistics.median(times), status, rows


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


MEMORY_CHILD = r"""
import json, resource, sys, tempfile
sys.path.insert(0, sys.argv[2])
from backends import run_once
wall, rows, status = run_once(json.loads(sys.argv[1]), tempfile.mkdtemp())
print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "rows": rows, "status": status, "wall": wall}))
"""


def peak_memory(mapping: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, json.dumps(mapping), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tenth of the iterations (a smoke run)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    r = args.repeats
    print(load())
    failed = []

    def check(label: str, ok: bool) -> str:
        if not ok:
            failed.append(label)
        return "ok" if ok else "MISSED"

    with tempfile.TemporaryDirectory() as folder:
        # -- trid 10 against a hand-written lax.scan
        n = 100_000 // scale
        trid10 = {"name": "trid", "dim": 10}
        jax_prep, compile_s = prepared(config(trid10, "jax", 0.01, n))
        print(f"\ntrid 10, gd, {n} steps; jax compile (first run minus a warm run): {compile_s:.2f} s")
        hand_f = hand_scan(n, r, with_norm=False)
        hand_fg = hand_scan(n, r, with_norm=True)
        loop, status, _ = per_iteration(jax_prep, r, None)
        traced, _, _ = per_iteration(jax_prep, r, folder)
        print(f"  hand-written lax.scan, f per step        {hand_f * 1e6:9.3f} us/it")
        print(f"  hand-written lax.scan, f and |g| per step{hand_fg * 1e6:9.3f} us/it")
        print(
            f"  optrun jax, compiled loop, no observer    {loop * 1e6:9.3f} us/it   {loop / hand_f:5.1f}x the f-only loop, "
            f"{loop / hand_fg:4.1f}x the f,|g| loop (target <= 3x: {check('trid 10 vs lax.scan', loop <= 3 * hand_fg)} "
            f"against f,|g|; {'ok' if loop <= 3 * hand_f else 'MISSED'} against f only)   [{status}]"
        )
        print(f"  optrun jax, compiled loop, trace recorded {traced * 1e6:9.3f} us/it")

        # -- jax >= 50x autograd
        print("\njax (compiled loop) against autograd (Python loop), per iteration:")
        print("  (hand scan: a hand-written lax.scan gd loop on optrun's own objective, f and |g| per step: what the")
        print("   objective costs in XLA, without optrun's loop)")
        print(
            f"  {'case':<28}{'autograd':>12}{'jax':>10}{'ratio':>8}   {'autograd+trace':>15}{'jax+trace':>11}{'ratio':>8}"
            f"{'hand scan':>11}"
        )
        cases = [
            ("trid 10, gd", trid10, 0.01, 100_000 // scale, 2000 // scale, 50),
            ("rosenbrock 2, gd", {"name": "rosenbrock"}, 1e-3, 100_000 // scale, 2000 // scale, 50),
            (
                "mlp (mlp-gd.yaml), gd",
                {"name": "mlp_regression", "hidden": [10], "activation": "tanh"},
                1e-6,
                300,
                300,
                50,
            ),
            ("trid 100000, gd", {"name": "trid", "dim": 100_000}, 1e-3, 2000 // scale, 200 // scale, 1),
            (
                "linear_regression n=100000",
                {"name": "linear_regression", "n": 100_000},
                1e-9,
                2000 // scale,
                200 // scale,
                1,
            ),
        ]
        for label, problem, step, n_jax, n_ag, target in cases:
            jax_prep, compile_s = prepared(config(problem, "jax", step, n_jax))
            ag_prep, _ = prepared(config(problem, "autograd", step, n_ag))
            ag, ag_status, _ = per_iteration(ag_prep, r, None)
            jx, jx_status, jx_rows = per_iteration(jax_prep, r, None)
            ag_t, _, _ = per_iteration(ag_prep, r, folder)
            jx_t, _, _ = per_iteration(jax_prep, r, folder)
            hand = hand_scan(n_jax, r, True, jax_prep.oracle.fun, jax_prep.x0, step)
            verdict = check(label, ag / jx >= target)
            print(
                f"  {label:<28}{ag * 1e6:10.2f}us{jx * 1e6:8.2f}us{ag / jx:7.1f}x   {ag_t * 1e6:13.2f}us{jx_t * 1e6:9.2f}us"
                f"{ag_t / jx_t:7.1f}x{hand * 1e6:9.2f}us   target >= {target}x (no observer): {verdict}   [{ag_status}/{jx_status}, "
                f"{n_ag}/{jx_rows} rows, jax compile {compile_s:.2f} s]"
            )

        # -- memory flat in iterations
        small = peak_memory(config(trid10, "jax", 0.01, 10_000))
        large = peak_memory(config(trid10, "jax", 0.01, 100_000 // scale))
        ratio = large["peak_kib"] / small["peak_kib"]
        print(
            f"\npeak RSS, trid 10 on jax with its trace recorded: {small['rows']} rows {small['peak_kib'] / 1024:.0f} MiB, "
            f"{large['rows']} rows {large['peak_kib'] / 1024:.0f} MiB: {ratio:.2f}x (target <= 1.2: "
            f"{check('memory', ratio <= 1.2)})"
        )
    print(load())
    print("all targets met" if not failed else f"missed: {', '.join(failed)}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
