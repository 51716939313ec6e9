"""The feasible set of a run: bounds on the parameters and constraints, on the flat vector.

A problem may declare its own (``Problem(bounds=..., constraints=...)``: the
Hock-Schittkowski problems do) and a config may add more (``bounds:``,
``constraints:``); :func:`build_feasible` joins both into one
:class:`Feasible` over the run's free vector (the flatten order of
:mod:`optrun.core.params`, the trace's column order):

* a :class:`Box`, ``lower <= x <= upper`` entrywise (``-inf``/``inf`` for an
  open side), the intersection of every bound given;
* :class:`Constraint` functions, SciPy's convention: ``c(x) >= 0`` (``ineq``)
  or ``c(x) == 0`` (``eq``), each one number, differentiated by the run's
  backend (never by finite differences);
* ``tol``, the largest violation a feasible point may have (``stop.feasibility_tol``).

Bounds are written per parameter, by name or dotted path for nested ones
(``layers.0.w`` or ``layers[0].w``); a side is a number or ``null`` (open);
a value is one pair ``[low, high]``, applied to every entry under the path,
or a list of pairs, one per entry of a vector parameter (``x: [[-1, 2], [0, null]]``).

The largest violation of a point (:meth:`Feasible.violation`) is the largest
of ``lower - x``, ``x - upper``, ``-c(x)`` for an inequality and ``|c(x)|``
for an equality, and 0 when none is positive. The runner keeps the best
*feasible* point; a run that ends with a violation above ``tol`` ends
``infeasible`` (:func:`with_feasibility`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from optrun.core.errors import ConfigError, short_repr
from optrun.core.params import Params, leaf_names, unknown_parameter

ConstraintType = Literal["ineq", "eq"]
MEANING = {"ineq": ">= 0", "eq": "== 0"}  # SciPy's convention, as summaries and describe show it
DEFAULT_TOL = 1e-6  # stop.feasibility_tol's default


@dataclass(frozen=True)
class ConstraintSpec:
    """A constraint as a problem or a config declares it: ``fun(params)``, a
    function of the named parameters written with the backend's array module
    (one number), meaning ``fun >= 0`` (``ineq``) or ``fun == 0`` (``eq``).
    ``label`` is what summaries and plots call it (a config's ``expr``)."""

    type: ConstraintType
    fun: Callable[[Params], Any]
    label: str


# ------------------------------------------------------------------- the box
@dataclass(frozen=True)
class Box:
    """``lower <= x <= upper`` on the flat free vector (``-inf``/``inf``: open)."""

    lower: np.ndarray
    upper: np.ndarray

    def project(self, x: np.ndarray) -> np.ndarray:
        """The nearest point of the box (optax's ``projection_box``, in NumPy): x clipped entrywise."""
        return np.minimum(np.maximum(x, self.lower), self.upper)

    def violation(self, x: np.ndarray) -> float:
        """The largest amount by which an entry of x lies outside its bounds (0 inside)."""
        with np.errstate(invalid="ignore"):
            worst = max(float(np.max(self.lower - x, initial=0.0)), float(np.max(x - self.upper, initial=0.0)))
        return worst if not math.isnan(worst) else math.inf

    def contains(self, x: np.ndarray) -> bool:
        return bool(np.all(self.lower <= x) and np.all(x <= self.upper))

    @property
    def bounded(self) -> bool:
        """Whether any side is finite (a box of open sides only bounds nothing)."""
        return bool(np.isfinite(self.lower).any() or np.isfinite(self.upper).any())

    def pairs(self) -> list[tuple[float | None, float | None]]:
        """One ``(low, high)`` per entry, ``None`` for an open side (JSON, describe)."""
        return [(_side(lo), _side(hi)) for lo, hi in zip(self.lower.tolist(), self.upper.tolist())]


def _side(value: float) -> float | None:
    return value if math.isfinite(value) else None


# ------------------------------------------------------------ the constraints
class Constraint:
    """One constraint over the flat free vector: its value and gradient by the backend."""

    def __init__(self, spec: ConstraintSpec, flat: Callable[[Any], Any], backend: Any):
        self.spec = spec  # as declared: a function of the named parameters
        self.type: ConstraintType = spec.type
        self.label = spec.label
        self.flat = flat  # x -> c(x), traceable on jax
        self._value = backend.jit(flat)
        self._value_and_grad = backend.value_and_grad(flat)

    def value(self, x: np.ndarray) -> float:
        return float(self._value(x))

    def grad(self, x: np.ndarray) -> np.ndarray:
        return np.array(self._value_and_grad(x)[1], dtype=float)

    def violation(self, value: float) -> float:
        """How far ``value`` is from meeting the constraint (0: met; nan counts as infinitely far)."""
        amount = -value if self.type == "ineq" else abs(value)
        return math.inf if math.isnan(value) else max(0.0, amount)

    def __repr__(self) -> str:
        return f"{self.label} {MEANING[self.type]}"


# ---------------------------------------------------------- the feasible set
class Feasible:
    """A run's feasible set on the flat free vector: the box, the constraints and the tolerance."""

    def __init__(self, box: Box | None, constraints: Sequence[Constraint], tol: float = DEFAULT_TOL):
        self.box = box if box is not None and box.bounded else None
        self.constraints = tuple(constraints)
        self.tol = tol
        self._last: tuple[np.ndarray, float] | None = None  # the last point asked for and its violation

    def values(self, x: np.ndarray) -> np.ndarray:
        """Each constraint's value at x, in order (an empty array without constraints)."""
        return np.array([c.value(x) for c in self.constraints], dtype=float)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """The constraints' Jacobian at x: one row per constraint, by the backend."""
        return np.array([c.grad(x) for c in self.constraints], dtype=float).reshape(len(self.constraints), x.size)

    def violation(self, x: np.ndarray) -> float:
        """The largest violation at x (module docstring); the last point's is kept,
        so the runner and the trace writer asking at the same row compute it once."""
        if self._last is not None and np.array_equal(self._last[0], x):
            return self._last[1]
        with np.errstate(all="ignore"):
            worst = self.box.violation(x) if self.box is not None else 0.0
            for c in self.constraints:
                worst = max(worst, c.violation(c.value(x)))
        self._last = (np.array(x, dtype=float), worst)
        return worst

    def feasible(self, x: np.ndarray) -> bool:
        return self.violation(x) <= self.tol

    def report(self, x: np.ndarray) -> dict[str, Any]:
        """What a summary says of a point: its largest violation and each constraint's value."""
        with np.errstate(all="ignore"):
            values = self.values(x)
        return {
            "violation": self.violation(x),
            "values": [
                {"type": c.type, "constraint": c.label, "value": float(v)} for c, v in zip(self.constraints, values)
            ],
        }

    # -- SciPy's forms
    def scipy_bounds(self) -> Any:
        """The box as ``scipy.optimize.Bounds`` (None: no box)."""
        if self.box is None:
            return None
        from scipy.optimize import Bounds

        return Bounds(self.box.lower, self.box.upper)

    def scipy_constraints(self) -> list[dict[str, Any]]:
        """The constraints as SciPy's dicts (``type``, ``fun``, ``jac``): SLSQP and trust-constr take them."""
        return [{"type": c.type, "fun": c.value, "jac": c.grad} for c in self.constraints]


# --------------------------------------------------------------- building it
def bounds_box(
    bounds: Mapping[str, Any], free: Params, fixed: Params, path: str = "bounds", into: Box | None = None
) -> Box:
    """The box that ``bounds`` (name or dotted path -> a pair or a list of pairs)
    puts on the free parameters (in flatten order), intersected with ``into``;
    a one-line ConfigError at ``path.NAME`` for a name the problem does not
    have, a fixed parameter, a wrong shape or ``low > high``."""
    names = leaf_names(free)
    lower = np.full(len(names), -np.inf) if into is None else into.lower.copy()
    upper = np.full(len(names), np.inf) if into is None else into.upper.copy()
    for key, spec in bounds.items():
        where = f"{path}.{key}"
        prefix = _normal_path(str(key))
        top = prefix.split(".")[0].split("[")[0]
        if top in fixed:
            raise ConfigError(
                f"'{top}' is fixed (fix.{top}); bounds apply to the parameters being optimized", path=where
            )
        at = [i for i, name in enumerate(names) if name == prefix or name.startswith((prefix + "[", prefix + "."))]
        if not at:
            if top not in free:
                raise unknown_parameter(top, free, where)
            entries = ", ".join(n for n in names if n.startswith(top))
            shown = entries if len(entries) <= 200 else entries[: entries.rfind(", ", 0, 200)] + ", ..."
            raise ConfigError(f"'{key}' names no entry of parameter '{top}' (entries: {shown})", path=where)
        lo, hi = _pairs(spec, len(at), where)
        lower[at] = np.maximum(lower[at], lo)
        upper[at] = np.minimum(upper[at], hi)
    return Box(lower, upper)


def _normal_path(key: str) -> str:
    """``layers.0.w`` -> ``layers[0].w`` (the trace's names); ``layers[0].w`` is kept."""
    return re.sub(r"\.(\d+)(?=\.|\[|$)", r"[\1]", key)


def _pairs(spec: Any, count: int, path: str) -> tuple[np.ndarray, np.ndarray]:
    """``[low, high]`` (broadcast to ``count`` entries) or ``count`` such pairs, as two float arrays."""
    if is_pair(spec):
        pairs = [spec] * count
    elif isinstance(spec, (list, tuple)) and spec and all(is_pair(p) for p in spec):
        if len(spec) != count:
            raise ConfigError(
                f"has {len(spec)} pair{'s' if len(spec) != 1 else ''} for {count} entries: "
                "give one [low, high] pair per entry, or one pair for all of them",
                path=path,
            )
        pairs = list(spec)
    else:
        raise ConfigError(
            f"must be [low, high] (each a number or null for an open side) or a list of such pairs, "
            f"got {short_repr(spec)}",
            path=path,
        )
    lower = np.array([-np.inf if lo is None else float(lo) for lo, _ in pairs])
    upper = np.array([np.inf if hi is None else float(hi) for _, hi in pairs])
    empty = np.flatnonzero(np.isposinf(lower) | np.isneginf(upper))
    if empty.size:
        i = int(empty[0])
        entry = f" (entry {i})" if count > 1 else ""
        side = f"low {lower[i]:g}" if np.isposinf(lower[i]) else f"high {upper[i]:g}"
        raise ConfigError(f"{side}{entry} leaves no finite value: write null for an open side", path=path)
    bad = np.flatnonzero(lower > upper)
    if bad.size:
        i = int(bad[0])
        entry = f" (entry {i})" if count > 1 else ""
        raise ConfigError(f"low {lower[i]:g} > high {upper[i]:g}{entry}: the box is empty", path=path)
    return lower, upper


def is_pair(value: Any) -> bool:
    """Whether ``value`` is one ``[low, high]`` pair (numbers or None, no NaN)."""
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)) for v in value
        )
    )


def _is_side(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value))


def build_feasible(
    box_parts: Sequence[tuple[Mapping[str, Any], str]],
    specs: Sequence[ConstraintSpec],
    free: Params,
    fixed: Params,
    unflatten: Callable[[Any], Params],
    backend: Any,
    tol: float = DEFAULT_TOL,
) -> Feasible | None:
    """The run's feasible set (None when nothing bounds or constrains it):
    ``box_parts`` are the bounds mappings with the key path each came from
    (the problem's, then the config's ``bounds``), ``specs`` every constraint;
    each constraint is evaluated on the full parameters, fixed ones included."""
    box = None
    for bounds, path in box_parts:
        if bounds:
            box = bounds_box(bounds, free, fixed, path, into=box)
    constraints = []
    for spec in specs:

        def flat(x: Any, fun: Callable[[Params], Any] = spec.fun) -> Any:
            return fun({**fixed, **unflatten(x)})

        constraints.append(Constraint(spec, flat, backend))
    feasible = Feasible(box, constraints, tol)
    return feasible if feasible.box is not None or feasible.constraints else None


def with_feasibility(ended: Any, feasible: Feasible | None) -> Any:
    """The :class:`~optrun.core.stopping.Outcome` of a run with bounds or
    constraints (``feasible``; None: ``ended`` as it is): a run
    that ended by its stop rules at a point whose largest violation is above
    ``feasible.tol`` ends ``infeasible`` (its message says how it ended and by
    how much it misses); any other end stands."""
    if feasible is None or not ended.status.success:
        return ended
    violation = feasible.violation(ended.x)
    if violation <= feasible.tol:
        return ended
    import dataclasses

    from optrun.core.status import Status
    from optrun.core.stopping import TERMINATION

    message = TERMINATION["infeasible"][1].format(
        ended=ended.message.rstrip("."), violation=violation, feasibility_tol=feasible.tol
    )
    return dataclasses.replace(ended, status=Status.INFEASIBLE, reason="infeasible", message=message)
