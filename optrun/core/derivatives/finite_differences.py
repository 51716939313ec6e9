"""Finite differences against automatic differentiation (:func:`fd_check`).

Forward (f(x + h e) - f(x)) / h and central (f(x + h e) - f(x - h e)) / 2h
for every step h (default 1e-1 ... 1e-12; :func:`log_steps` spaces a range),
per parameter entry (or along a seeded random direction when there are
many), each scheme's absolute and relative error, its best h, and the
estimate and error of every entry at that h; the second difference
(f(x + h e) - 2 f(x) + f(x - h e)) / h^2 against the autodiff Hessian's
diagonal (the same evaluations, so free) and the whole Hessian by central
differences of the autodiff gradient (2n gradients); the evaluations each scheme
needs against autodiff's one reverse pass; and a directional check
grad . v against (f(x + hv) - f(x - hv)) / 2h for problems of any size.

The relative error at a step is the largest absolute error over the entries
divided by the largest |autodiff entry| (scale-free: exp at x = 150 and at
x = 2 give comparable curves; it is the plain |fd - ad| / |ad| for one entry).
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
MAX_STEPS = 200


def log_steps(low: float, high: float, count: int) -> tuple[float, ...]:
    """``count`` steps from ``high`` down to ``low``, evenly spaced in log h
    (``numpy.logspace(log10(low), log10(high), count)``, largest first as :data:`STEPS`)."""
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
        raise ConfigError(f"the range must be 0 < low < high, got {low:g}, {high:g}", path="steps")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 2 <= count <= MAX_STEPS:
        raise ConfigError(f"the count must be an integer from 2 to {MAX_STEPS}, got {short_repr(count)}", path="steps")
    return tuple(float(h) for h in np.logspace(math.log10(low), math.log10(high), int(count))[::-1])


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

    Forward and central differences for every step h: along each entry's
    unit vector e_i when there are at most ``max_entries`` entries (the
    error at h is the largest over the entries; the second difference is
    checked too), otherwise along one random unit vector. The directional
    check (central differences along a random unit vector v, against
    grad . v) is always made, for problems of any size."""
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

    second = None
    with np.errstate(all="ignore"):
        if flat.n <= max_entries:
            mode: Literal["entries", "direction"] = "entries"
            fwd, cen, sec = (np.empty((len(steps), flat.n)) for _ in range(3))
            for s, h in enumerate(steps):
                for i in range(flat.n):
                    up, down = x.copy(), x.copy()
                    up[i] += h
                    down[i] -= h
                    f_up, f_down = f(up), f(down)
                    fwd[s, i] = (f_up - f0) / h
                    cen[s, i] = (f_up - f_down) / (2 * h)
                    sec[s, i] = (f_up - 2 * f0 + f_down) / (h * h)
            exact = g
            hess = np.asarray(quiet(lambda: flat.backend.hessian(fx)(x)), dtype=float).reshape(flat.n, flat.n)
            second = _scheme("second", steps, sec, np.diag(hess).copy(), evaluations=2 * flat.n + 1)
            hessian_fd = _hessian_of_gradient(flat.backend.grad(fx), x)
            counts = (flat.n + 1, 2 * flat.n)
        else:
            mode = "direction"
            fwd = np.array([[(f(x + h * v) - f0) / h] for h in steps])
            cen = np.array([[(f(x + h * v) - f(x - h * v)) / (2 * h)] for h in steps])
            exact = np.array([gv])
            counts = (2, 2)
        estimates = [(f(x + h * v) - f(x - h * v)) / (2 * h) for h in steps]
    directional_errors = [abs(e - gv) for e in estimates]
    best_step, best_error = _best(steps, directional_errors)
    return FDCheck(
        mode=mode,
        steps=steps,
        labels=flat.labels,
        value=f0,
        autodiff=floats(g),
        forward=_scheme("forward", steps, fwd, exact, evaluations=counts[0]),
        central=_scheme("central", steps, cen, exact, evaluations=counts[1]),
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
        at=floats(x),
        second=second,
        second_autodiff=None if second is None else floats(np.diag(hess)),
        hessian_fd=None if second is None else tuple(floats(row) for row in hessian_fd),
        hessian_autodiff=None if second is None else tuple(floats(row) for row in hess),
    )


HESSIAN_STEP = 1e-5  # central differences of the gradient: truncation h^2, rounding eps / h; the least near 1e-5


def _hessian_of_gradient(gradient: Any, x: np.ndarray) -> np.ndarray:
    """The Hessian by central differences of the autodiff gradient, column by
    column (2n gradients, each one reverse pass), at h = HESSIAN_STEP."""
    columns = []
    for i in range(len(x)):
        h = HESSIAN_STEP
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        g_up, g_down = (np.asarray(quiet(gradient, y), dtype=float).reshape(len(x)) for y in (up, down))
        columns.append((g_up - g_down) / (up[i] - down[i]))
    return np.column_stack(columns) if columns else np.empty((0, 0))


def _scheme(
    name: Literal["forward", "central", "second"],
    steps: tuple[float, ...],
    estimates: np.ndarray,
    exact: np.ndarray,
    *,
    evaluations: int,
) -> FDScheme:
    """A scheme's errors per step (the largest over the entries, absolute and
    relative to the largest |exact| entry) and its entries at the best step."""
    errors = np.abs(estimates - exact)  # steps x entries
    absolute = [float("nan") if np.isnan(row).any() else float(row.max(initial=0.0)) for row in errors]
    scale = float(np.abs(exact).max(initial=0.0))
    relative = [e / scale if scale > 0 else (0.0 if e == 0 else math.inf) for e in absolute]
    best_step, best_error = _best(steps, absolute)
    at_best = steps.index(best_step) if not math.isnan(best_step) else 0
    with np.errstate(all="ignore"):
        entry_relative = np.where(
            exact != 0, errors[at_best] / np.abs(exact), np.where(errors[at_best] == 0, 0, np.inf)
        )
    return FDScheme(
        name=name,
        errors=floats(absolute),
        best_step=best_step,
        best_error=best_error,
        relative_errors=floats(relative),
        best_relative_error=_best(steps, relative)[1],
        estimates=floats(estimates[at_best]),
        entry_errors=floats(errors[at_best]),
        entry_relative_errors=floats(entry_relative),
        evaluations=evaluations,
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


def _best(steps: Sequence[float], errors: Sequence[float]) -> tuple[float, float]:
    """The step with the least error and that error (NaN, NaN if every error is NaN)."""
    array = np.asarray(errors, dtype=float)
    if np.isnan(array).all():
        return float("nan"), float("nan")
    i = int(np.nanargmin(array))
    return float(steps[i]), float(array[i])
