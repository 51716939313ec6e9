"""Finite differences against the autodiff gradient (:func:`fd_check`).

Forward and central differences for h = 1e-1 ... 1e-12, per parameter entry
(or along a seeded random direction when there are many), the best h of
each scheme, and a directional check grad . v against
(f(x + hv) - f(x - hv)) / 2h for problems of any size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from optrun.core.backend import Backend
from optrun.core.derivatives.flat import FlatPoint, floats, point, quiet
from optrun.core.derivatives.results import DirectionalCheck, FDCheck, FDScheme
from optrun.core.errors import ConfigError, short_repr
from optrun.core.problems import Problem

STEPS: tuple[float, ...] = tuple(10.0**-k for k in range(1, 13))  # h = 1e-1 ... 1e-12
MAX_FD_ENTRIES = 20  # per-entry differences up to this many entries, a random direction above
MAX_STEPS = 50


def fd_check(
    problem: Problem,
    at: Mapping[str, Any] | None = None,
    *,
    steps: Sequence[float] = STEPS,
    max_entries: int = MAX_FD_ENTRIES,
    seed: int = 0,
    backend: Backend | None = None,
) -> FDCheck:
    """Finite differences against the autodiff gradient at the point.

    Forward (f(x + h e) - f(x)) / h and central (f(x + h e) - f(x - h e)) / 2h
    for every step h: along each entry's unit vector e_i when there are at
    most ``max_entries`` entries (the error at h is the largest over the
    entries), otherwise along one random unit vector. The directional check
    (central differences along a random unit vector v, against grad . v) is
    always made, for problems of any size."""
    steps = _check_steps(steps)
    if isinstance(max_entries, bool) or not isinstance(max_entries, (int, np.integer)) or max_entries < 0:
        raise ConfigError(f"must be an integer >= 0, got {short_repr(max_entries)}", path="max_entries")
    objective = problem.scalar_objective()
    flat = FlatPoint(point(problem, at), backend)
    fx = flat.backend.jit(flat.call(objective))  # called 2n + 1 times per step
    x = flat.x
    f0 = float(fx(x))
    g = np.asarray(quiet(lambda: flat.backend.grad(fx)(x)), dtype=float).reshape(flat.n)
    v = _direction(flat.n, seed)
    gv = float(g @ v)

    def f(y: np.ndarray) -> float:
        return float(fx(y))

    forward: list[float]
    central: list[float]
    with np.errstate(all="ignore"):
        if flat.n <= max_entries:
            mode: Literal["entries", "direction"] = "entries"
            forward, central = [], []
            for h in steps:
                fwd, cen = np.empty(flat.n), np.empty(flat.n)
                for i in range(flat.n):
                    up, down = x.copy(), x.copy()
                    up[i] += h
                    down[i] -= h
                    f_up = f(up)
                    fwd[i] = (f_up - f0) / h
                    cen[i] = (f_up - f(down)) / (2 * h)
                forward.append(_max_abs(fwd - g))
                central.append(_max_abs(cen - g))
        else:
            mode = "direction"
            forward = [abs((f(x + h * v) - f0) / h - gv) for h in steps]
            central = [abs((f(x + h * v) - f(x - h * v)) / (2 * h) - gv) for h in steps]
        estimates = [(f(x + h * v) - f(x - h * v)) / (2 * h) for h in steps]
    directional_errors = [abs(e - gv) for e in estimates]
    best_step, best_error = _best(steps, directional_errors)
    return FDCheck(
        mode=mode,
        steps=steps,
        labels=flat.labels,
        value=f0,
        autodiff=floats(g),
        forward=FDScheme("forward", floats(forward), *_best(steps, forward)),
        central=FDScheme("central", floats(central), *_best(steps, central)),
        directional=DirectionalCheck(
            seed=seed,
            direction=floats(v),
            autodiff=gv,
            estimates=floats(estimates),
            errors=floats(directional_errors),
            best_step=best_step,
            best_error=best_error,
            relative_error=best_error / max(abs(gv), 1e-300),
        ),
    )


def _check_steps(steps: Sequence[float]) -> tuple[float, ...]:
    try:
        values = tuple(float(h) for h in steps)
    except (TypeError, ValueError):
        raise ConfigError(f"must be a list of step sizes h > 0, got {short_repr(steps)}", path="steps") from None
    if not 1 <= len(values) <= MAX_STEPS or not all(math.isfinite(h) and h > 0 for h in values):
        raise ConfigError(f"must be 1 to {MAX_STEPS} finite step sizes h > 0, got {short_repr(steps)}", path="steps")
    return values


def _direction(n: int, seed: int) -> np.ndarray:
    """A unit vector drawn from ``numpy.random.default_rng(seed)``."""
    v = np.random.default_rng(seed).standard_normal(n)
    norm = np.linalg.norm(v)
    return v / norm if norm > 0 else np.ones(n) / math.sqrt(max(n, 1))


def _max_abs(errors: np.ndarray) -> float:
    errors = np.abs(errors)
    return float("nan") if np.isnan(errors).any() else float(errors.max(initial=0.0))


def _best(steps: Sequence[float], errors: Sequence[float]) -> tuple[float, float]:
    """The step with the least error and that error (NaN, NaN if every error is NaN)."""
    array = np.asarray(errors, dtype=float)
    if np.isnan(array).all():
        return float("nan"), float("nan")
    i = int(np.nanargmin(array))
    return float(steps[i]), float(array[i])
