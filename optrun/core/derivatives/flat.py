"""The point the derivatives are taken at, and the pieces every derivative
function of :mod:`optrun.core.derivatives` shares.

:func:`point` turns a user's partial parameter mapping into a full, checked
one; :class:`FlatPoint` flattens it once with the backend's ``ravel`` so the
derivative functions can work on one flat vector; :func:`floats`,
:func:`quiet` and :func:`check_matrix` convert results, silence autograd's
"independent of input" warning, and bound the size of a Hessian or Jacobian.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

from optrun.core.backend import Backend, get_backend
from optrun.core.errors import ConfigError, short_repr
from optrun.core.params import Params, coerce_like, leaf_names, plain_leaves, unknown_parameter
from optrun.core.problems import Problem

MAX_MATRIX = 1_000_000  # entries of a Hessian or Jacobian

T = TypeVar("T")


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


class FlatPoint:
    """The point flattened once with the backend's ``ravel``.

    ``x`` is the flat float vector (``n`` entries, named ``labels``),
    ``call(fn)`` turns a function of the nested parameters into a function
    of a flat vector, and ``nested(flat)`` turns a flat vector back into
    parameters nested like the point."""

    def __init__(self, params: Params, backend: Backend | None):
        self.backend = backend = backend if backend is not None else get_backend()
        self.params = params
        x, unflatten = backend.ravel(params)
        self.x = np.asarray(x, dtype=float)
        self.unflatten = unflatten
        self.fast = backend.fast_unflatten(unflatten, self.x.size)
        self.labels = tuple(leaf_names(params))
        self.n = self.x.size

    def call(self, fn: Callable[[Params], Any]) -> Callable[[Any], Any]:
        return lambda v: fn(self.fast(v))

    def nested(self, flat: np.ndarray) -> Params:
        return plain_leaves(self.unflatten(np.asarray(flat, dtype=float)))


def floats(values: Any) -> tuple[float, ...]:
    """Any array-like as a flat tuple of plain floats (JSON-ready)."""
    return tuple(float(v) for v in np.ravel(np.asarray(values, dtype=float)))


def quiet(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` without autograd's warning that an output does not
    depend on an input (a derivative of a constant): that is an answer here
    (0), not a problem; nor NumPy's on an overflow or a 0/0: inf and nan
    are the answer there."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.filterwarnings("ignore", message="Output seems independent of input")
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        return fn(*args)


def check_matrix(rows: int, columns: int, what: str, path: str) -> None:
    """Refuse a Hessian or Jacobian of more than :data:`MAX_MATRIX` entries."""
    if rows * columns > MAX_MATRIX:
        raise ConfigError(
            f"the {what} would have {rows} x {columns} = {rows * columns} entries; the limit is {MAX_MATRIX} "
            "(use the gradient, a JVP or a VJP instead)",
            path=path,
        )
