"""Where a test's floating-point tolerance comes from (CONTRIBUTING.md, "Tolerances").

Every comparison of floats in the tests has one of three reasons, stated next
to it:

1. **Exact arithmetic**: the same operations in the same order, or values
   exact in binary: compare with ``==`` (no tolerance at all).
2. **A derivation**: the error bound of the computation, e.g. ``rounding(n)``
   for n floating-point operations of O(1) values, or a finite difference's
   truncation plus rounding error, written out in a comment.
3. **A measured sensitivity**, for what no derivation bounds (an iterative
   solver on an ill-conditioned problem): ``measured(name)``, the spread of
   the value when its inputs move by a few ulps, under every NumPy SIMD level
   this CPU can drop to and another OpenBLAS kernel, times ``MARGIN``. The
   cases are below (``CASES``); ``python tests/tolerances.py measure [NAME...]``
   measures them and writes ``tests/tolerances.json``, which the tests read.

Never "what this machine printed": a tolerance must hold on a CPU, BLAS and
dependency version the author does not have.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np

EPS = float(np.finfo(float).eps)
MARGIN = 10.0  # measured spread x MARGIN: the samples are few, and another CPU may round further
ULPS = 4  # inputs move by up to this many ulps (of max(|x|, 1): a zero entry moves too)
FILE = Path(__file__).with_name("tolerances.json")
ZERO = 1e-20  # a measured value below this is a zero (f* = 0): it gets no relative tolerance


def rounding(n_ops: int, scale: float = 1.0) -> float:
    """A derived bound: ``n_ops`` floating-point operations on values of size
    ``scale`` each round by at most eps/2 (relative); summed, with a factor 2
    for the reference's own rounding."""
    return n_ops * EPS * scale


def measured(name: str) -> dict[str, float | None]:
    """The measured relative tolerance of each value of case ``name`` (see the module docstring); None for a
    value at zero, which a derivation must bound instead; for a bound case, the absolute bound."""
    table = _table()
    if name not in table:
        raise LookupError(f"no measured tolerance for {name!r}: run `python tests/tolerances.py measure {name}`")
    return {key: entry["bound"] if "bound" in entry else entry["rtol"] for key, entry in table[name]["values"].items()}


@functools.lru_cache(maxsize=1)
def _table() -> dict:
    return json.loads(FILE.read_text()) if FILE.exists() else {}


# ------------------------------------------------------------------ the cases
# A case computes named arrays from inputs moved by ``perturb`` (identity for the test itself).
Perturb = Callable[[np.ndarray], np.ndarray]
CASES: dict[str, Callable[[Perturb], dict[str, np.ndarray]]] = {}


def polish(name: str, options: dict | None = None, perturb: Perturb = lambda x: x) -> dict[str, np.ndarray]:
    """A Moré-Garbow-Hillstrom minimizer found again independently of its stored digits: Levenberg-Marquardt
    (MINPACK, through SciPy) from the standard start, then up to three Newton steps on autograd's gradient."""
    import autograd.numpy as anp
    from autograd import grad, hessian, jacobian
    from scipy.optimize import least_squares

    from optrun.core.problems import PROBLEMS

    entry = PROBLEMS.get(name)
    problem = entry.build(entry.options(**(options or {})))
    r = problem.objective.__closure__[0].cell_contents  # the residuals least_squares wrapped (f = |r|^2)

    def f(v):
        return anp.sum(r(v) ** 2)

    x0 = perturb(np.asarray(problem.initial(0)["x"], dtype=float))
    x = least_squares(r, x0, jac=jacobian(r), method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=20000).x
    for _ in range(3):
        g = grad(f)(x)
        if not np.any(g):
            break
        x = x - np.linalg.solve(hessian(f)(x), g)
    return {"fun": np.array([float(f(x))]), "x": x}


def polish_label(name: str, options: dict | None = None) -> str:
    return "polish/" + name + "".join(f"-{k}{v}" for k, v in (options or {}).items())


POLISHED = [
    ("powell_badly_scaled", {}),
    ("jennrich_sampson", {}),
    ("bard", {}),
    ("gaussian", {}),
    ("kowalik_osborne", {}),
    ("osborne1", {}),
    ("brown_dennis", {}),
    ("watson", {"n": 6}),
    ("watson", {"n": 9}),
    ("watson", {"n": 12}),
    ("meyer", {}),
]
for _name, _options in POLISHED:
    CASES[polish_label(_name, _options)] = functools.partial(polish, _name, _options)


# An agreement case computes one value two ways (jax and autograd); its values are pairs (first, second), and its
# tolerance is 10 x the largest |first - second| / max|second| seen.
AGREEMENTS: set[str] = set()


def backends_agree(name: str, perturb: Perturb = lambda x: x) -> dict[str, np.ndarray]:
    """f and the gradient of built-in problem ``name`` at its default start (moved by ``perturb``), on jax
    (jitted) and on autograd: the same formula, evaluated by two libraries in their own order."""
    from optrun.core.backend import get_backend
    from optrun.core.problems import PROBLEMS

    entry = PROBLEMS.get(name)
    out: dict[str, list[np.ndarray]] = {"f": [], "grad": []}
    start = None
    for backend in (get_backend("jax"), get_backend("autograd")):
        problem = entry.make(entry.options.model_construct(), backend)
        flat, unflatten = backend.ravel(problem.initial(0))
        start = perturb(np.asarray(flat, dtype=float)) if start is None else start
        if problem.vector is not None:  # a list of formulas: the vector is the value
            out["f"].append(
                np.ravel(np.asarray(backend.jit(lambda x: problem.vector(unflatten(x)))(start), dtype=float))
            )
            out["grad"].append(np.zeros(1))
            continue
        f, g = backend.value_and_grad(lambda x: problem.objective(unflatten(x)))(start)
        out["f"].append(np.ravel(np.asarray(f, dtype=float)))
        out["grad"].append(np.ravel(np.asarray(g, dtype=float)))
    return {key: np.stack(pair) for key, pair in out.items()}


def backend_problems() -> list[str]:
    """The built-in problems that run on jax (test_backend checks that this is every built-in but ``python``)."""
    from optrun.core.problems import PROBLEMS

    return [
        name
        for name, entry in PROBLEMS.items()  # the built-ins (not a test's own), on both backends
        if entry.build.__module__.startswith("optrun.core.problems") and name != "python" and "jax" in entry.backends
    ]


for _name in backend_problems():
    CASES["agree/" + _name] = functools.partial(backends_agree, _name)
    AGREEMENTS.add("agree/" + _name)


# A bound case computes a value that is zero in exact arithmetic (a gradient at a minimizer); its tolerance is an
# absolute bound, 10 x the largest |value| seen.
BOUNDS: set[str] = set()


def gradient_at_reference(name: str, perturb: Perturb = lambda x: x) -> dict[str, np.ndarray]:
    """The largest gradient norm of built-in problem ``name`` at its stored minimizers (moved by ``perturb``): a
    minimizer is stored as floats, and any float within a few ulps of it is as good a reference."""
    from autograd import grad
    from autograd.misc.flatten import flatten

    from optrun.core.problems import PROBLEMS

    entry = PROBLEMS.get(name)
    problem = entry.build(entry.options())
    norms = []
    for point in problem.reference.params:
        x, unflatten = flatten(point)
        norms.append(
            float(np.linalg.norm(grad(lambda v: problem.objective(unflatten(v)))(perturb(np.asarray(x, float)))))
        )
    return {"grad_norm": np.array([max(norms)])}


def referenced_problems() -> list[str]:
    """The built-in problems with a known minimum at their default options."""
    from optrun.core.problems import PROBLEMS

    names = []
    for name, entry in PROBLEMS.items():
        if not entry.build.__module__.startswith("optrun.core.problems") or name in ("python", "expression"):
            continue
        try:
            problem = entry.build(entry.options())
            # a constrained minimum is no stationary point: its gradient is not rounding (KKT: test_constrained_problems)
            if problem.reference is not None and not (problem.bounds or problem.constraints):
                names.append(name)
        except Exception:  # a problem that needs options (a data file) has no default reference
            continue
    return names


for _name in referenced_problems():
    CASES["reference/" + _name] = functools.partial(gradient_at_reference, _name)
    BOUNDS.add("reference/" + _name)


# ------------------------------------------------------------------ measuring
def _perturbation(sample: int) -> Perturb:
    """Sample 0: the inputs as they are; sample k: each entry moved by a random whole number of ulps in [-ULPS, ULPS]."""
    if sample == 0:
        return lambda x: x
    rng = np.random.default_rng(sample)
    return lambda x: x + rng.integers(-ULPS, ULPS + 1, size=np.shape(x)) * EPS * np.maximum(np.abs(x), 1.0)


def _samples(names: list[str], count: int) -> dict[str, dict[str, list[list[float]]]]:
    out: dict[str, dict[str, list[list[float]]]] = {}
    for name in names:
        for sample in range(count):
            for key, value in CASES[name](_perturbation(sample)).items():
                out.setdefault(name, {}).setdefault(key, []).append(np.asarray(value, dtype=float).tolist())
    return out


def _variants() -> list[tuple[str, dict[str, str]]]:
    """This machine as it is, each lower NumPy SIMD level, and another OpenBLAS kernel (unless the machine sets one)."""
    from helpers import other_kernel_env

    from optrun.core.machine import lower_simd_levels

    variants = [("as is", {})]
    variants += [
        (f"NPY_DISABLE_CPU_FEATURES={level}", {"NPY_DISABLE_CPU_FEATURES": level}) for level in lower_simd_levels()
    ]
    other = other_kernel_env()
    if other is not None:
        variants.append((" ".join(f"{k}={v}" for k, v in other.items()), other))
    return variants


def _spread(name: str, key: str, runs: list[dict]) -> dict[str, float | None]:
    """How far the samples of one value move: from sample 0 as is (a value case), or between the two ways (agreement)."""
    samples = [np.array(sample) for run in runs for sample in run[name][key]]
    if name in BOUNDS:
        largest = max(float(np.max(np.abs(sample))) for sample in samples)
        return {"bound": float(f"{MARGIN * largest:.2g}"), "largest": largest}
    if name in AGREEMENTS:
        scale = max(float(np.max(np.abs(pair[1]))) for pair in samples)
        spread_abs = max(float(np.max(np.abs(pair[0] - pair[1]))) for pair in samples)
    else:
        ref = samples[0]
        scale = float(np.max(np.abs(ref)))
        spread_abs = max(float(np.max(np.abs(sample - ref))) for sample in samples)
    if scale < ZERO:  # a value at zero (f* = 0): a relative spread means nothing; a derivation bounds it
        return {"rtol": None, "spread": None, "spread_abs": spread_abs}
    spread = spread_abs / scale
    return {"rtol": float(f"{max(MARGIN * spread, 16 * EPS):.2g}"), "spread": spread, "spread_abs": spread_abs}


def measure(names: list[str], count: int) -> None:
    from optrun.core import machine

    table = dict(_table())
    variants = _variants()
    runs = []
    for label, env in variants:  # one process per variant: NumPy reads its SIMD and BLAS settings at import
        done = subprocess.run(
            [sys.executable, __file__, "sample", str(count), *names],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
        if done.returncode:
            sys.exit(f"{label}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'failed'}")
        runs.append(json.loads(done.stdout))
    for name in names:
        values = {key: _spread(name, key, runs) for key in runs[0][name]}
        table[name] = {
            "values": values,
            "samples": count,
            "ulps": ULPS,
            "margin": MARGIN,
            "variants": [label for label, _ in variants],
            "measured_on": machine.describe(machine.machine_info()),
        }
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
    FILE.write_text(json.dumps(dict(sorted(table.items())), indent=1) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    command, *rest = sys.argv[1:] or ["help"]
    if command == "sample":
        print(json.dumps(_samples(rest[1:], int(rest[0]))))
    elif command == "measure":
        count = 8
        if "--samples" in rest:
            i = rest.index("--samples")
            count = int(rest[i + 1])
            del rest[i : i + 2]
        unknown = [name for name in rest if name not in CASES]
        if unknown:
            sys.exit(f"unknown case(s) {unknown}; the cases are: {', '.join(CASES)}")
        measure(rest or list(CASES), count)
    else:
        print(__doc__)
        print("usage: python tests/tolerances.py measure [NAME ...] [--samples N]\ncases:", ", ".join(CASES))
