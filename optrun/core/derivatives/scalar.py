"""Derivatives of a scalar objective at a point: the gradient, the Hessian,
and f, f', ..., f^(K) in one scalar parameter (the backend's ``grad``
composed K times), at one value or along a grid (``derivatives.png``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from optrun.core.backend import Backend, get_backend
from optrun.core.derivatives.cost import check_order, operations
from optrun.core.derivatives.flat import FlatPoint, check_matrix, floats, point, quiet
from optrun.core.derivatives.results import Derivatives, Gradient, Hessian
from optrun.core.errors import ConfigError, short_repr
from optrun.core.params import unknown_parameter
from optrun.core.problems import Problem

MAX_ORDER = 10


def gradient(problem: Problem, at: Mapping[str, Any] | None = None, *, backend: Backend | None = None) -> Gradient:
    """f and its signed gradient at the point."""
    objective = problem.scalar_objective()
    flat = FlatPoint(point(problem, at), backend)
    fx = flat.call(objective)
    g = quiet(lambda: flat.backend.grad(fx)(flat.x))
    return Gradient(value=float(quiet(fx, flat.x)), grad=flat.nested(g), labels=flat.labels, flat=floats(g))


def hessian(problem: Problem, at: Mapping[str, Any] | None = None, *, backend: Backend | None = None) -> Hessian:
    """The Hessian over the flattened parameters (the backend's ``hessian``)."""
    objective = problem.scalar_objective()
    flat = FlatPoint(point(problem, at), backend)
    check_matrix(flat.n, flat.n, "Hessian", "hessian")
    fx = flat.call(objective)
    h = np.asarray(quiet(lambda: flat.backend.hessian(fx)(flat.x)), dtype=float).reshape(flat.n, flat.n)
    return Hessian(value=float(quiet(fx, flat.x)), matrix=tuple(floats(row) for row in h), labels=flat.labels)


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
    backend = backend if backend is not None else get_backend()
    name, value, functions = _along(problem, at, order, name, backend)
    # before composing: f^(K) of N operations takes about N * 3^K (optrun.core.derivatives.cost)
    check_order(quiet(operations, functions[0], np.float64(value), backend), order)
    # numpy floats: an overflow is inf (a Python float's ** raises OverflowError)
    values = quiet(lambda: tuple(float(fn(np.float64(value))) for fn in functions))
    return Derivatives(name=name, at=value, values=values)


def derivative_operations(
    problem: Problem, at: Mapping[str, Any] | None, name: str | None = None, *, backend: Backend | None = None
) -> int:
    """The operations of one evaluation of f along ``name`` (what the cost of its derivatives is estimated from)."""
    backend = backend if backend is not None else get_backend()
    _, value, functions = _along(problem, at, 1, name, backend)
    return quiet(operations, functions[0], np.float64(value), backend)


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
    rows = quiet(lambda: [[float(fn(np.float64(s))) for fn in functions] for s in grid])
    return np.array(rows, dtype=float).reshape(len(grid), order + 1)


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
            f"derivatives up to order {order} are for one scalar parameter, "
            f"and '{name}' has shape {np.shape(params[name])} (scalar parameters: {', '.join(scalars) or 'none'})",
            path="order",
        )
    value = float(params[name])
    held = name  # (mypy does not carry the narrowing of name to str into the closure)

    def along(s: Any) -> Any:
        return objective({**params, held: s})

    grad = (backend if backend is not None else get_backend()).grad
    functions: list[Callable[[Any], Any]] = [along]
    for _ in range(order):
        functions.append(grad(functions[-1]))
    return name, value, functions


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (Mapping, list, tuple)) and np.shape(value) == ()
