"""Derivatives of a vector-valued problem R^n -> R^m: one forward-mode
product J v (:func:`jvp`), one reverse-mode product u^T J (:func:`vjp`), and
the Jacobian built column by column from n JVPs or row by row from m VJPs
(:func:`jacobian`). A vector problem is an ``expression`` with a list of
formulas; a scalar problem is the 1-row case."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from optrun.core.backend import Backend
from optrun.core.derivatives.cost import check_passes
from optrun.core.derivatives.flat import FlatPoint, check_matrix, floats, point, quiet
from optrun.core.derivatives.results import Jacobian, Product
from optrun.core.errors import ConfigError, short_repr
from optrun.core.params import Params, coerce_like, plain_leaves, unknown_parameter
from optrun.core.problems import Problem


def jacobian(
    problem: Problem, at: Mapping[str, Any] | None = None, by: str | None = None, *, backend: Backend | None = None
) -> Jacobian:
    """The m x n Jacobian, built column by column from n JVPs (``by="jvp"``,
    forward mode) or row by row from m VJPs (``by="vjp"``, reverse mode);
    by default the one that needs fewer passes (VJPs when m <= n)."""
    flat = FlatPoint(point(problem, at), backend)
    fn, m, rows = _vector(problem, flat.backend)
    if by is None:
        by = "vjp" if m <= flat.n else "jvp"
    mode: Literal["jvp", "vjp"]
    if by == "jvp":
        mode = "jvp"
    elif by == "vjp":
        mode = "vjp"
    else:
        raise ConfigError(f"must be 'jvp' (column by column) or 'vjp' (row by row), got {short_repr(by)}", path="by")
    check_matrix(m, flat.n, "Jacobian", "jacobian")
    check_passes(flat.n if mode == "jvp" else m, flat.n, f"Jacobian built from {mode.upper()}s", "jacobian")
    fx = flat.call(fn)
    if mode == "jvp":
        push = flat.backend.jvp(fx)(flat.x)
        value = None
        columns = []
        for j in range(flat.n):
            value, column = quiet(push, _unit(flat.n, j))
            columns.append(np.asarray(column, dtype=float).reshape(m))
        matrix = np.column_stack(columns) if columns else np.zeros((m, 0))
        if value is None:
            value = quiet(fx, flat.x)
        passes = flat.n
    else:
        pull, value = quiet(lambda: flat.backend.vjp(fx)(flat.x))
        matrix = np.vstack([np.asarray(quiet(pull, _unit(m, i)), dtype=float).reshape(flat.n) for i in range(m)])
        passes = m
    return Jacobian(
        value=floats(value),
        matrix=tuple(floats(row) for row in matrix),
        rows=rows,
        columns=flat.labels,
        by=mode,
        passes=passes,
    )


def jvp(
    problem: Problem,
    at: Mapping[str, Any] | None,
    tangent: Mapping[str, Any] | Sequence[float],
    *,
    backend: Backend | None = None,
) -> Product:
    """J v in one forward pass. ``tangent`` is a mapping like the parameters
    (names left out are 0) or a flat list of n numbers in ``leaf_names`` order."""
    flat = FlatPoint(point(problem, at), backend)
    fn, _, rows = _vector(problem, flat.backend)
    v = _tangent(tangent, flat)
    value, result = quiet(lambda: flat.backend.jvp(flat.call(fn))(flat.x)(v))
    return Product(mode="jvp", value=floats(value), vector=floats(v), result=floats(result), labels=rows)


def vjp(
    problem: Problem, at: Mapping[str, Any] | None, cotangent: Sequence[float], *, backend: Backend | None = None
) -> Product:
    """u^T J in one reverse pass; ``cotangent`` is a list of m numbers, one per output."""
    flat = FlatPoint(point(problem, at), backend)
    fn, m, rows = _vector(problem, flat.backend)
    u = _numbers(cotangent, m, "vjp", f"one per output ({', '.join(rows)})")
    pull, value = quiet(lambda: flat.backend.vjp(flat.call(fn))(flat.x))
    result = quiet(lambda: pull(u))
    return Product(mode="vjp", value=floats(value), vector=floats(u), result=floats(result), labels=flat.labels)


def _vector(problem: Problem, backend: Backend) -> tuple[Callable[[Params], Any], int, tuple[str, ...]]:
    """The function as R^n -> R^m, its m and its output labels (a scalar problem is m = 1, "f")."""
    if problem.vector is not None:
        return problem.vector, problem.outputs, tuple(f"f[{i}]" for i in range(problem.outputs))
    objective, reshape = problem.objective, backend.np.reshape
    return (lambda p: reshape(objective(p), (1,))), 1, ("f",)


def _unit(n: int, i: int) -> np.ndarray:
    e = np.zeros(n)
    e[i] = 1.0
    return e


def _tangent(tangent: Any, flat: FlatPoint) -> np.ndarray:
    """The tangent of :func:`jvp` as a flat vector, from a mapping or a flat list."""
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
