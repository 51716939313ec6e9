"""Derivatives at a point: the automatic-differentiation half of the notebooks.

Library functions over a built :class:`~optrun.core.problems.Problem` and a
named point (a parameter mapping like the problem's start; names left out
keep the start, see :func:`point`):

- :func:`gradient`: f and the signed gradient, nested like the parameters;
- :func:`hessian`: the Hessian over the flattened parameters, labelled;
- :func:`derivatives`: f, f', ..., f^(K) in one scalar parameter
  (the backend's ``grad`` composed K times);
- :func:`fd_check`: forward and central differences for h = 1e-1 ... 1e-12
  against the autodiff gradient, per parameter entry (or along a seeded
  random direction when there are many), the best h of each scheme, and a
  directional check grad . v against (f(x + hv) - f(x - hv)) / 2h;
- :func:`jacobian`, :func:`jvp`, :func:`vjp`: for a vector-valued problem
  (an ``expression`` with a list of formulas; a scalar problem is the
  1-row case): one forward-mode or reverse-mode product, and the Jacobian
  built column by column from n JVPs or row by row from m VJPs.

Every function differentiates with ``backend`` (an
:class:`optrun.core.backend.Backend`; default autograd), the one the problem
was built for: ``optrun grad`` passes the config's. Parameters are flattened
once, with the backend's ``ravel`` (``autograd.misc.flatten`` or jax's
``ravel_pytree``: dict keys sorted, the same order), so entries are labelled
by :func:`optrun.core.params.leaf_names` (``x``, ``w[0]``, ``layers[0].w[1,2]``). Results are small frozen
dataclasses whose numbers are plain floats and tuples (JSON-ready); bad
input is a one-line :class:`~optrun.core.errors.ConfigError` naming what is
wrong and what is allowed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from optrun.core.backend import Backend, get_backend
from optrun.core.errors import ConfigError, short_repr
from optrun.core.params import Params, coerce_like, leaf_names, plain_leaves, unknown_parameter
from optrun.core.problems import Problem

STEPS: tuple[float, ...] = tuple(10.0**-k for k in range(1, 13))  # h = 1e-1 ... 1e-12
MAX_ORDER = 10
MAX_FD_ENTRIES = 20  # per-entry differences up to this many entries, a random direction above
MAX_STEPS = 50
MAX_MATRIX = 1_000_000  # entries of a Hessian or Jacobian


# ------------------------------------------------------------------ results
@dataclass(frozen=True, eq=False)
class Gradient:
    """f at the point and its signed gradient: ``grad`` nested like the
    parameters (floats and arrays), ``flat`` the same numbers in ``labels`` order."""

    value: float
    grad: Params
    labels: tuple[str, ...]
    flat: tuple[float, ...]


@dataclass(frozen=True)
class Hessian:
    """The n x n Hessian over the flattened parameters; row and column i are ``labels[i]``."""

    value: float
    matrix: tuple[tuple[float, ...], ...]
    labels: tuple[str, ...]

    @property
    def array(self) -> np.ndarray:
        return np.array(self.matrix, dtype=float).reshape(len(self.labels), len(self.labels))


@dataclass(frozen=True)
class Derivatives:
    """``values[k]`` is the k-th derivative in the scalar parameter ``name``
    at ``at`` (``values[0]`` is f), the other parameters held at the point."""

    name: str
    at: float
    values: tuple[float, ...]


@dataclass(frozen=True)
class FDScheme:
    """One finite-difference scheme: its error against autodiff for each
    step (aligned with :attr:`FDCheck.steps`) and the step with the least
    error (NaN if every error is NaN)."""

    name: Literal["forward", "central"]
    errors: tuple[float, ...]
    best_step: float
    best_error: float


@dataclass(frozen=True)
class DirectionalCheck:
    """grad . v (``autodiff``) against (f(x + hv) - f(x - hv)) / 2h
    (``estimates``, one per step) along the unit vector ``direction``, drawn
    from ``numpy.random.default_rng(seed)``. ``relative_error`` is
    ``best_error / max(|grad . v|, 1e-300)``: a scale-free pass mark."""

    seed: int
    direction: tuple[float, ...]
    autodiff: float
    estimates: tuple[float, ...]
    errors: tuple[float, ...]
    best_step: float
    best_error: float
    relative_error: float


@dataclass(frozen=True)
class FDCheck:
    """Finite differences against the autodiff gradient (``autodiff``, in
    ``labels`` order). ``mode`` "entries": each scheme's error at a step is
    the largest absolute error over the entries (e_i directions); mode
    "direction" (more than ``max_entries`` entries): the absolute error of
    the derivative along the random ``directional.direction``."""

    mode: Literal["entries", "direction"]
    steps: tuple[float, ...]
    labels: tuple[str, ...]
    value: float
    autodiff: tuple[float, ...]
    forward: FDScheme
    central: FDScheme
    directional: DirectionalCheck


@dataclass(frozen=True)
class Jacobian:
    """The m x n Jacobian at the point: ``value`` is f(x) (m entries, named
    ``rows``), columns are the parameter entries (``columns``). ``by`` says
    how it was built: "jvp" column by column (``passes`` = n forward passes)
    or "vjp" row by row (``passes`` = m reverse passes)."""

    value: tuple[float, ...]
    matrix: tuple[tuple[float, ...], ...]
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    by: Literal["jvp", "vjp"]
    passes: int

    @property
    def array(self) -> np.ndarray:
        return np.array(self.matrix, dtype=float).reshape(len(self.rows), len(self.columns))


@dataclass(frozen=True)
class Product:
    """One Jacobian product: ``mode`` "jvp" gives J v (``vector`` has n
    entries, ``result`` m, named ``labels``); "vjp" gives u^T J (``vector``
    has m entries, ``result`` n, named by the parameter entries)."""

    mode: Literal["jvp", "vjp"]
    value: tuple[float, ...]
    vector: tuple[float, ...]
    result: tuple[float, ...]
    labels: tuple[str, ...]


# ------------------------------------------------------------------ the point
def point(
    problem: Problem, at: Mapping[str, Any] | None = None, *, base: Params | None = None, seed: int = 0
) -> Params:
    """A full, checked parameter mapping: ``base`` (default: the problem's
    start, drawn with ``seed`` if it is random) with the names in ``at``
    replaced. Values must have the shapes of the start; errors name
    ``at.<name>``."""
    start = dict(base) if base is not None else problem.initial(seed)
    if at is None:
        return start
    if not isinstance(at, Mapping):
        raise ConfigError(f"must be a mapping of parameter names to values, got {short_repr(at)}", path="at")
    result = dict(start)
    for name, value in at.items():
        if name not in start:
            raise unknown_parameter(str(name), start, "at")
        result[name] = coerce_like(start[name], value, f"at.{name}")
    return result


class _Flat:
    """The point flattened once with the backend's ``ravel``: ``x``,
    ``labels`` and ``call(fn)``, fn as a function of the flat vector."""

    def __init__(self, params: Params, backend: Backend | None):
        self.backend = backend = backend if backend is not None else get_backend()
        self.params = params
        self.x, unflatten = backend.ravel(params)
        self.x = np.asarray(self.x, dtype=float)
        self.unflatten = unflatten
        self.fast = backend.fast_unflatten(unflatten, self.x.size)
        self.labels = tuple(leaf_names(params))
        self.n = self.x.size

    def call(self, fn: Callable[[Params], Any]) -> Callable[[Any], Any]:
        return lambda v: fn(self.fast(v))

    def nested(self, flat: np.ndarray) -> Params:
        return plain_leaves(self.unflatten(np.asarray(flat, dtype=float)))


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in np.ravel(np.asarray(values, dtype=float)))


def _quiet(fn: Callable[[], Any]) -> Any:
    """autograd warns when an output does not depend on an input (a
    derivative of a constant): that is an answer here (0), not a problem."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Output seems independent of input")
        return fn()


def _check_matrix(rows: int, columns: int, what: str, path: str) -> None:
    if rows * columns > MAX_MATRIX:
        raise ConfigError(
            f"the {what} would have {rows} x {columns} = {rows * columns} entries; the limit is {MAX_MATRIX} "
            "(use the gradient, a JVP or a VJP instead)",
            path=path,
        )


# ------------------------------------------------------------------ scalar functions
def gradient(problem: Problem, at: Mapping[str, Any] | None = None, *, backend: Backend | None = None) -> Gradient:
    """f and its signed gradient at the point."""
    objective = problem.scalar_objective()
    flat = _Flat(point(problem, at), backend)
    fx = flat.call(objective)
    g = _quiet(lambda: flat.backend.grad(fx)(flat.x))
    return Gradient(value=float(fx(flat.x)), grad=flat.nested(g), labels=flat.labels, flat=_floats(g))


def hessian(problem: Problem, at: Mapping[str, Any] | None = None, *, backend: Backend | None = None) -> Hessian:
    """The Hessian over the flattened parameters (the backend's ``hessian``)."""
    objective = problem.scalar_objective()
    flat = _Flat(point(problem, at), backend)
    _check_matrix(flat.n, flat.n, "Hessian", "hessian")
    fx = flat.call(objective)
    h = np.asarray(_quiet(lambda: flat.backend.hessian(fx)(flat.x)), dtype=float).reshape(flat.n, flat.n)
    return Hessian(value=float(fx(flat.x)), matrix=tuple(_floats(row) for row in h), labels=flat.labels)


def derivatives(
    problem: Problem,
    at: Mapping[str, Any] | None = None,
    order: int = 1,
    name: str | None = None,
    *,
    backend: Backend | None = None,
) -> Derivatives:
    """f and its derivatives up to ``order`` in one scalar parameter: ``name``,
    or the problem's only parameter when it has one scalar parameter."""
    name, value, functions = _along(problem, at, order, name, backend)
    values = _quiet(lambda: tuple(float(fn(value)) for fn in functions))
    return Derivatives(name=name, at=value, values=values)


def derivative_curves(
    problem: Problem,
    at: Mapping[str, Any] | None,
    order: int,
    name: str | None,
    grid: Sequence[float],
    *,
    backend: Backend | None = None,
) -> np.ndarray:
    """f and its derivatives up to ``order`` in ``name`` at each grid value
    (the other parameters held at ``at``), one row per value: what
    ``derivatives`` gives at each, with the functions built once (and on jax
    compiled once) rather than per value."""
    backend = backend if backend is not None else get_backend()
    _, _, functions = _along(problem, at, order, name, backend)
    functions = [backend.jit(fn) for fn in functions]
    return np.array(_quiet(lambda: [[float(fn(float(s))) for fn in functions] for s in grid]), dtype=float).reshape(
        len(grid), order + 1
    )


def _along(
    problem: Problem, at: Mapping[str, Any] | None, order: int, name: str | None, backend: Backend | None
) -> tuple[str, float, list[Callable[[Any], Any]]]:
    """The parameter's name, its value, and f with its derivatives 1..order as functions of it."""
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 1 <= order <= MAX_ORDER:
        raise ConfigError(f"must be an integer from 1 to {MAX_ORDER}, got {short_repr(order)}", path="order")
    objective = problem.scalar_objective()
    params = point(problem, at)
    scalars = sorted(k for k, v in params.items() if _is_scalar(v))
    if name is None:
        if len(params) != 1 or not scalars:
            only = next(iter(params)) if len(params) == 1 else None
            what = (
                f"its parameter '{only}' has shape {np.shape(params[only])}"
                if only is not None
                else f"it has {len(params)} parameters ({', '.join(sorted(params))})"
            )
            raise ConfigError(
                f"derivatives up to order {order} are for one scalar parameter, and {what}"
                + (f"; name one of the scalar parameters: {', '.join(scalars)}" if scalars and only is None else ""),
                path="order",
            )
        name = scalars[0]
    elif name not in params:
        raise unknown_parameter(str(name), params, "order")
    elif not _is_scalar(params[name]):
        raise ConfigError(
            f"derivatives up to order {order} are for one scalar parameter, and '{name}' has shape {np.shape(params[name])} "
            f"(scalar parameters: {', '.join(scalars) or 'none'})",
            path="order",
        )
    value = float(params[name])

    def along(s):
        return objective({**params, name: s})

    grad = (backend if backend is not None else get_backend()).grad
    functions = [along]
    for _ in range(order):
        functions.append(grad(functions[-1]))
    return name, value, functions


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (Mapping, list, tuple)) and np.shape(value) == ()


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
    flat = _Flat(point(problem, at), backend)
    fx = flat.backend.jit(flat.call(objective))  # called 2n + 1 times per step
    x = flat.x
    f0 = float(fx(x))
    g = np.asarray(_quiet(lambda: flat.backend.grad(fx)(x)), dtype=float).reshape(flat.n)
    v = _direction(flat.n, seed)
    gv = float(g @ v)

    def f(y: np.ndarray) -> float:
        return float(fx(y))

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
        autodiff=_floats(g),
        forward=FDScheme("forward", _floats(forward), *_best(steps, forward)),
        central=FDScheme("central", _floats(central), *_best(steps, central)),
        directional=DirectionalCheck(
            seed=seed,
            direction=_floats(v),
            autodiff=gv,
            estimates=_floats(estimates),
            errors=_floats(directional_errors),
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
    v = np.random.default_rng(seed).standard_normal(n)
    norm = np.linalg.norm(v)
    return v / norm if norm > 0 else np.ones(n) / math.sqrt(max(n, 1))


def _max_abs(errors: np.ndarray) -> float:
    errors = np.abs(errors)
    return float("nan") if np.isnan(errors).any() else float(errors.max(initial=0.0))


def _best(steps: Sequence[float], errors: Sequence[float]) -> tuple[float, float]:
    array = np.asarray(errors, dtype=float)
    if np.isnan(array).all():
        return float("nan"), float("nan")
    i = int(np.nanargmin(array))
    return float(steps[i]), float(array[i])


# ------------------------------------------------------------------ vector functions
def _vector(problem: Problem, backend: Backend) -> tuple[Callable[[Params], Any], int, tuple[str, ...]]:
    """The function as R^n -> R^m, its m and its output labels (a scalar problem is m = 1, "f")."""
    if problem.vector is not None:
        return problem.vector, problem.outputs, tuple(f"f[{i}]" for i in range(problem.outputs))
    objective, reshape = problem.objective, backend.np.reshape
    return (lambda p: reshape(objective(p), (1,))), 1, ("f",)


def jacobian(
    problem: Problem, at: Mapping[str, Any] | None = None, by: str | None = None, *, backend: Backend | None = None
) -> Jacobian:
    """The m x n Jacobian, built column by column from n JVPs (``by="jvp"``,
    forward mode) or row by row from m VJPs (``by="vjp"``, reverse mode);
    by default the one that needs fewer passes (VJPs when m <= n)."""
    flat = _Flat(point(problem, at), backend)
    fn, m, rows = _vector(problem, flat.backend)
    if by is None:
        by = "vjp" if m <= flat.n else "jvp"
    if by not in ("jvp", "vjp"):
        raise ConfigError(f"must be 'jvp' (column by column) or 'vjp' (row by row), got {short_repr(by)}", path="by")
    _check_matrix(m, flat.n, "Jacobian", "jacobian")
    fx = flat.call(fn)
    if by == "jvp":
        push = flat.backend.jvp(fx)(flat.x)
        value = None
        columns = []
        for j in range(flat.n):
            value, column = _quiet(lambda: push(_unit(flat.n, j)))
            columns.append(np.asarray(column, dtype=float).reshape(m))
        matrix = np.column_stack(columns) if columns else np.zeros((m, 0))
        if value is None:
            value = fx(flat.x)
        passes = flat.n
    else:
        pull, value = _quiet(lambda: flat.backend.vjp(fx)(flat.x))
        matrix = np.vstack(
            [np.asarray(_quiet(lambda: pull(_unit(m, i))), dtype=float).reshape(flat.n) for i in range(m)]
        )
        passes = m
    return Jacobian(
        value=_floats(value),
        matrix=tuple(_floats(row) for row in matrix),
        rows=rows,
        columns=flat.labels,
        by=by,
        passes=passes,
    )  # type: ignore[arg-type]


def jvp(
    problem: Problem,
    at: Mapping[str, Any] | None,
    tangent: Mapping[str, Any] | Sequence[float],
    *,
    backend: Backend | None = None,
) -> Product:
    """J v in one forward pass. ``tangent`` is a mapping like the parameters
    (names left out are 0) or a flat list of n numbers in ``leaf_names`` order."""
    flat = _Flat(point(problem, at), backend)
    fn, m, rows = _vector(problem, flat.backend)
    v = _tangent(tangent, flat)
    value, result = _quiet(lambda: flat.backend.jvp(flat.call(fn))(flat.x)(v))
    return Product(mode="jvp", value=_floats(value), vector=_floats(v), result=_floats(result), labels=rows)


def vjp(
    problem: Problem, at: Mapping[str, Any] | None, cotangent: Sequence[float], *, backend: Backend | None = None
) -> Product:
    """u^T J in one reverse pass; ``cotangent`` is a list of m numbers, one per output."""
    flat = _Flat(point(problem, at), backend)
    fn, m, rows = _vector(problem, flat.backend)
    u = _numbers(cotangent, m, "vjp", f"one per output ({', '.join(rows)})")
    pull, value = _quiet(lambda: flat.backend.vjp(flat.call(fn))(flat.x))
    result = _quiet(lambda: pull(u))
    return Product(mode="vjp", value=_floats(value), vector=_floats(u), result=_floats(result), labels=flat.labels)


def _unit(n: int, i: int) -> np.ndarray:
    e = np.zeros(n)
    e[i] = 1.0
    return e


def _tangent(tangent: Any, flat: _Flat) -> np.ndarray:
    if isinstance(tangent, Mapping):
        given = _zeros_like(flat.params)
        for name, value in tangent.items():
            if name not in flat.params:
                raise unknown_parameter(str(name), flat.params, "jvp")
            given[name] = coerce_like(flat.params[name], value, f"jvp.{name}")
        v, _ = flat.backend.ravel(given)
        return np.asarray(v, dtype=float)
    return _numbers(tangent, flat.n, "jvp", f"one per parameter entry ({_names(flat.labels)})")


def _zeros_like(tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {k: _zeros_like(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_zeros_like(v) for v in tree]
    return plain_leaves(np.zeros(np.shape(tree)))


def _names(labels: Sequence[str], limit: int = 8) -> str:
    return ", ".join(labels[:limit]) + (f", ... ({len(labels)} in all)" if len(labels) > limit else "")


def _numbers(values: Any, size: int, path: str, what: str) -> np.ndarray:
    """A flat vector of ``size`` finite floats, or a ConfigError at ``path``."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (Sequence, np.ndarray)):
        raise ConfigError(f"must be a list of {size} numbers, {what}; got {short_repr(values)}", path=path)
    try:
        array = np.asarray(values)
    except ValueError:
        array = None
    if array is None or array.dtype.kind not in "iuf" or array.ndim != 1:
        raise ConfigError(f"must be a flat list of {size} numbers, {what}; got {short_repr(values)}", path=path)
    if array.size != size:
        raise ConfigError(f"must have {size} entries, {what}; got {array.size}", path=path)
    array = array.astype(float)
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"must be finite numbers, got {short_repr(values)}", path=path)
    return array
