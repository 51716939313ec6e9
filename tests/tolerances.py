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
    value at zero, which a derivation must bound instead."""
    table = _table()
    if name not in table:
        raise LookupError(f"no measured tolerance for {name!r}: run `python tests/tolerances.py measure {name}`")
    return {key: entry["rtol"] for key, entry in table[name]["values"].items()}


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


POLISHED = [("powell_badly_scaled", {}), ("jennrich_sampson", {}), ("bard", {}), ("gaussian", {}), ("kowalik_osborne", {}),
            ("osborne1", {}), ("brown_dennis", {}), ("watson", {"n": 6}), ("watson", {"n": 9}), ("watson", {"n": 12}),
            ("meyer", {})]
for _name, _options in POLISHED:
    CASES[polish_label(_name, _options)] = functools.partial(polish, _name, _options)


# ------------------------------------------------------------------ measuring
def _perturbation(sample: int) -> Perturb:
    """Sample 0: the inputs as they are; sample k: each entry moved by a random whole number of ulps in [-ULPS, ULPS]."""
    if sample == 0:
        return lambda x: x
    rng = np.random.default_rng(sample)
    return lambda x: x + rng.integers(-ULPS, ULPS + 1, size=np.shape(x)) * EPS * np.maximum(np.abs(x), 1.0)


def _samples(name: str, count: int) -> dict[str, list[list[float]]]:
    out: dict[str, list[list[float]]] = {}
    for sample in range(count):
        for key, value in CASES[name](_perturbation(sample)).items():
            out.setdefault(key, []).append(np.ravel(value).astype(float).tolist())
    return out


def _variants() -> list[tuple[str, dict[str, str]]]:
    """This machine as it is, each lower NumPy SIMD level, and another OpenBLAS kernel (unless the machine sets one)."""
    from optrun.core.machine import lower_simd_levels

    variants = [("as is", {})]
    variants += [(f"NPY_DISABLE_CPU_FEATURES={level}", {"NPY_DISABLE_CPU_FEATURES": level}) for level in lower_simd_levels()]
    if not (os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("OPENBLAS_L2_SIZE")):
        variants.append(("OPENBLAS_CORETYPE=Prescott", {"OPENBLAS_CORETYPE": "Prescott", "OPENBLAS_NUM_THREADS": "1"}))
    return variants


def measure(names: list[str], count: int) -> None:
    from optrun.core import machine

    table = dict(_table())
    variants = _variants()
    for name in names:
        runs = []
        for label, env in variants:
            done = subprocess.run([sys.executable, __file__, "sample", name, str(count)], env={**os.environ, **env},
                                  capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout))
        values: dict[str, dict] = {}
        for key, reference in runs[0].items():
            ref = np.array(reference[0])
            scale = float(np.max(np.abs(ref)))
            spread_abs = max(float(np.max(np.abs(np.array(sample) - ref))) for run in runs for sample in run[key])
            if scale < ZERO:  # a value at zero (f* = 0): a relative spread means nothing; a derivation bounds it
                values[key] = {"rtol": None, "spread": None, "spread_abs": spread_abs}
                continue
            spread = spread_abs / scale
            values[key] = {"rtol": float(f"{max(MARGIN * spread, 16 * EPS):.2g}"), "spread": spread, "spread_abs": spread_abs}
        table[name] = {"values": values, "samples": count, "ulps": ULPS, "margin": MARGIN,
                       "variants": [label for label, _ in variants],
                       "measured_on": machine.describe(machine.machine_info())}
        print(f"{name}: " + ", ".join(f"{k} rtol {v['rtol']} (spread {v['spread']}, absolute {v['spread_abs']:.2g})"
                                       for k, v in values.items()))
    FILE.write_text(json.dumps(dict(sorted(table.items())), indent=1) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    command, *rest = sys.argv[1:] or ["help"]
    if command == "sample":
        print(json.dumps(_samples(rest[0], int(rest[1]))))
    elif command == "measure":
        count = 8
        if "--samples" in rest:
            i = rest.index("--samples")
            count = int(rest[i + 1])
            del rest[i:i + 2]
        unknown = [name for name in rest if name not in CASES]
        if unknown:
            sys.exit(f"unknown case(s) {unknown}; the cases are: {', '.join(CASES)}")
        measure(rest or list(CASES), count)
    else:
        print(__doc__)
        print("usage: python tests/tolerances.py measure [NAME ...] [--samples N]\ncases:", ", ".join(CASES))
