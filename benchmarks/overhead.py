"""Runner overhead: optrun's full runner against a bare autograd loop.

For each problem, N gradient-descent iterations are timed three ways, in one
process, interleaved, over several repeats (the median is reported):

- bare:   ``f, g = value_and_grad(objective)(params); params -= step * g``,
          with the problem's own structured parameters, nothing logged;
- optrun: ``optrun.run`` with full logging (trace.csv streamed to disk, no
          progress bar, no plots); the time is the runner loop's wall time
          (summary.json's ``wall_time_s``), not config parsing;
- seed:   the teaching notebooks' own loops ("Intro to neural net training with autograd"'s
          ``run_many_iters_of_gradient_descent`` for arrays and
          ``..._with_list_of_dict`` for layered parameters), re-implemented.

Prints ratios optrun/bare (targets: <= 1.10 for the MLP and linear
regression, <= 1.05 for trid 1000) and optrun/seed (must be < 1).

    python benchmarks/overhead.py [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
from autograd import grad, value_and_grad

import optrun
from optrun.core.problems import PROBLEMS

CASES = {
    # name: (problem section, step size, iterations, target)
    "mlp_regression": ({"name": "mlp_regression", "hidden": [10], "n": 300}, 1e-6, 1000, 1.10),
    "linear_regression": ({"name": "linear_regression"}, 1e-6, 3000, 1.10),
    "trid 1000": ({"name": "trid", "dim": 1000}, 1e-3, 2000, 1.05),
}


def build(problem: dict):
    entry = PROBLEMS.get(problem["name"])
    options = entry.options.model_validate({k: v for k, v in problem.items() if k != "name"})
    built = entry.build(options)
    return built.objective, built.initial(0)


def tree_step(params, grads, step):
    if isinstance(params, dict):
        return {k: tree_step(params[k], grads[k], step) for k in params}
    if isinstance(params, list):
        return [tree_step(p, g, step) for p, g in zip(params, grads)]
    return params - step * grads


def bare(problem: dict, step: float, n: int) -> float:
    objective, params = build(problem)
    vg = value_and_grad(objective)
    start = time.perf_counter()
    for _ in range(n):
        f, g = vg(params)
        params = tree_step(params, g, step)
    return time.perf_counter() - start


def run_optrun(problem: dict, step: float, n: int, folder: str) -> float:
    result = optrun.run(
        {
            "problem": problem,
            "init": "default",
            "optimizer": {"name": "gd", "step_size": step},
            "stop": {"max_iter": n - 1, "grad_tol": None},
            "output": {"dir": folder, "plots": False},
        }
    )
    return result.wall_time_s


def seed_arrays(problem: dict, step: float, n: int) -> float:
    """“Intro to neural net training with autograd”, run_many_iters_of_gradient_descent (for a single array x_D)."""
    objective, params = build(problem)
    (key,) = params
    f = lambda x: objective({key: x})  # noqa: E731
    g = grad(f)
    start = time.perf_counter()
    x_D = copy.deepcopy(params[key])
    history = dict(iter=[], f=[], x_D=[], g_D=[])
    for iter_id in range(n):
        if iter_id > 0:
            x_D = x_D - step * g(x_D)
        history["iter"].append(iter_id)
        history["f"].append(f(x_D))
        history["x_D"].append(x_D)
        history["g_D"].append(g(x_D))
    return time.perf_counter() - start


def seed_list_of_dict(problem: dict, step: float, n: int) -> float:
    """The neural-net notebook's run_many_iters_of_gradient_descent_with_list_of_dict (printing removed)."""
    objective, params = build(problem)
    if "layers" in params:
        f = lambda layers: objective({"layers": layers})  # noqa: E731
        x_list_of_dict = params["layers"]
    else:  # linear regression's {w, b} as the seed's one-layer list
        f = lambda layers: objective(layers[0])  # noqa: E731
        x_list_of_dict = [params]
    g = grad(f)
    start = time.perf_counter()
    x_list_of_dict = copy.deepcopy(x_list_of_dict)
    history = dict(iter=[], f=[], x=[], g=[])
    for iter_id in range(n):
        if iter_id > 0:
            grad_list_of_dict = g(x_list_of_dict)
            for layer_id, x_layer_dict in enumerate(x_list_of_dict):
                for key in x_layer_dict.keys():
                    x_layer_dict[key] = x_layer_dict[key] - step * grad_list_of_dict[layer_id][key]
        fval = f(x_list_of_dict)
        history["iter"].append(iter_id)
        history["f"].append(fval)
        history["x"].append(copy.deepcopy(x_list_of_dict))
        history["g"].append(g(x_list_of_dict))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a tenth of the iterations (a smoke run)")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, numpy {np.__version__}"
    )
    print(
        f"{'problem':<20}{'iters':>7}{'bare us/it':>12}{'optrun us/it':>14}{'seed us/it':>12}{'optrun/bare':>13}{'target':>8}{'optrun/seed':>13}"
    )
    worst = 0
    with tempfile.TemporaryDirectory() as folder:
        for label, (problem, step, n, target) in CASES.items():
            n = max(50, n // 10) if args.quick else n
            seed = seed_arrays if problem["name"] == "trid" else seed_list_of_dict
            times: dict[str, list[float]] = {"bare": [], "optrun": [], "seed": []}
            run_optrun(problem, step, 20, folder)  # warm up imports and caches
            for _ in range(args.repeats):  # interleaved
                times["bare"].append(bare(problem, step, n))
                times["optrun"].append(run_optrun(problem, step, n, folder))
                times["seed"].append(seed(problem, step, n))
            med = {k: statistics.median(v) for k, v in times.items()}
            ratio, versus_seed = med["optrun"] / med["bare"], med["optrun"] / med["seed"]
            ok = ratio <= target and versus_seed < 1
            worst |= not ok
            print(
                f"{label:<20}{n:>7}{med['bare'] / n * 1e6:>12.1f}{med['optrun'] / n * 1e6:>14.1f}{med['seed'] / n * 1e6:>12.1f}"
                f"{ratio:>13.3f}{target:>8.2f}{versus_seed:>13.3f}  {'ok' if ok else 'ABOVE TARGET'}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
