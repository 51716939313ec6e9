"""What the derivative functions of :mod:`optrun.core.derivatives` return.

Small frozen dataclasses whose numbers are plain floats and tuples, so that
``optrun grad`` can write them to ``grad.json`` as they are. Flattened
parameters are labelled by :func:`optrun.core.params.leaf_names` (``x``,
``w[0]``, ``layers[0].w[1,2]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from optrun.core.params import Params


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
    step (aligned with :attr:`FDCheck.steps`; the largest absolute error
    over the entries, and ``relative_errors``: that over the largest |exact
    entry|) and the step with the least error (NaN if every error is NaN).
    ``estimates``, ``entry_errors`` and ``entry_relative_errors`` are each
    entry's at that best step (in mode "direction": the one directional
    derivative). ``evaluations``: the f evaluations one step takes (forward
    n + 1, central 2n, second 2n + 1 shared with them; autodiff's gradient
    is one reverse pass)."""

    name: Literal["forward", "central", "second"]
    errors: tuple[float, ...]
    best_step: float
    best_error: float
    relative_errors: tuple[float, ...] = ()
    best_relative_error: float = float("nan")
    estimates: tuple[float, ...] = ()
    entry_errors: tuple[float, ...] = ()
    entry_relative_errors: tuple[float, ...] = ()
    evaluations: int = 0


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
    at: tuple[float, ...] = ()  # the point, flattened (in ``labels`` order)
    second: FDScheme | None = None  # the second difference against the Hessian's diagonal (mode "entries")
    second_autodiff: tuple[float, ...] | None = None  # that diagonal (autodiff)
    reverse_passes: int = 1  # autodiff's gradient: one reverse pass, whatever n
    # mode "entries": the Hessian by central differences of the autodiff gradient (2n gradients), and autodiff's
    hessian_fd: tuple[tuple[float, ...], ...] | None = None
    hessian_autodiff: tuple[tuple[float, ...], ...] | None = None

    @property
    def hessian_errors(self) -> tuple[float, float]:
        """The FD Hessian's largest absolute error and that over the largest |autodiff entry| (NaN, NaN without it)."""
        if self.hessian_fd is None or self.hessian_autodiff is None:
            return float("nan"), float("nan")
        fd, ad = np.array(self.hessian_fd, dtype=float), np.array(self.hessian_autodiff, dtype=float)
        error = float(np.abs(fd - ad).max(initial=0.0))
        scale = float(np.abs(ad).max(initial=0.0))
        return error, (error / scale if scale > 0 else (0.0 if error == 0 else float("inf")))

    def to_json(self) -> dict[str, Any]:
        """The ``fd`` object of grad.json (non-finite numbers are made null by the writer)."""

        def scheme(s: FDScheme) -> dict[str, Any]:
            return {
                "errors": list(s.errors),
                "relative_errors": list(s.relative_errors),
                "best_step": s.best_step,
                "best_error": s.best_error,
                "best_relative_error": s.best_relative_error,
                "estimates": list(s.estimates),
                "entry_errors": list(s.entry_errors),
                "entry_relative_errors": list(s.entry_relative_errors),
                "evaluations_per_step": s.evaluations,
            }

        direction = self.directional
        data: dict[str, Any] = {
            "mode": self.mode,
            "at": list(self.at),
            "steps": list(self.steps),
            "labels": list(self.labels),
            "autodiff": list(self.autodiff),
            "forward": scheme(self.forward),
            "central": scheme(self.central),
        }
        if self.second is not None:
            data["second"] = {**scheme(self.second), "autodiff": list(self.second_autodiff or ())}
        if self.hessian_fd is not None:
            error, relative = self.hessian_errors
            data["hessian"] = {
                "fd": [list(row) for row in self.hessian_fd],
                "autodiff": [list(row) for row in self.hessian_autodiff or ()],
                "max_error": error,
                "relative_error": relative,
                "gradient_evaluations": 2 * len(self.labels),
            }
        data["evaluations"] = {
            "forward": self.forward.evaluations,
            "central": self.central.evaluations,
            "autodiff_reverse_passes": self.reverse_passes,
        }
        data["directional"] = {
            "seed": direction.seed,
            "autodiff": direction.autodiff,
            "errors": list(direction.errors),
            "best_step": direction.best_step,
            "best_error": direction.best_error,
            "relative_error": direction.relative_error,
        }
        return data


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
