"""The shape every Moré-Garbow-Hillstrom problem shares: f(x) = sum_i r_i(x)^2.

:func:`least_squares` makes the :class:`~optrun.core.problems.Problem` from
a residual function r, the standard start and the minimum the paper
reports; :func:`unpublished` words the note of a size the paper gives no
minimum for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from optrun.core.problems import Problem, Reference

Point = Sequence[float] | np.ndarray  # a point of R^n, as a list of floats or a NumPy vector


def least_squares(
    residuals: Callable[[Any], Any],
    start: Point,
    fun: float | None = None,
    minimizers: Sequence[Point] | Callable[[], Sequence[np.ndarray]] = (),
    count: int | None = None,
    note: str = "",
    *,
    xp: Any,
) -> Problem:
    """The Problem ``f(x) = sum r(x)^2`` over one vector parameter ``x``:
    ``residuals(x)`` returns the 1-D array r (written with the array module ``xp``),
    ``start`` is the standard start, ``fun`` the known minimum (None: unknown,
    say why in ``note``) at ``minimizers`` (a list of points, or a function
    computing them on first use, with ``count`` of them)."""

    # (tests/tolerances.py reads `residuals` back as the first cell of this closure)
    def objective(p):
        r = residuals(p["x"])
        return xp.sum(r * r)

    reference = None
    if fun is not None:
        if callable(minimizers):
            compute = minimizers
            reference = Reference(
                fun=float(fun),
                params=lambda: tuple({"x": np.asarray(m, dtype=float)} for m in compute()),
                count=count if count is not None else 1,
            )
        else:
            reference = Reference(fun=float(fun), params=tuple({"x": np.asarray(m, dtype=float)} for m in minimizers))
    return Problem(objective=objective, start={"x": np.asarray(start, dtype=float)}, reference=reference, note=note)


def unpublished(size: str, published: str) -> str:
    """The note of a problem size the paper gives no f* for."""
    return f"the paper gives f* only for {published}; none is known for {size}"
