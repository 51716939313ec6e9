"""The bounds and constraints of a config's run at a point, for ``optrun grad``.

When the run a config describes has bounds or constraints (the problem's
own, :attr:`optrun.core.problems.Problem.bounds` and ``.constraints``, and
the config's ``bounds:`` and ``constraints:``), ``optrun grad`` also reports,
at its point: each constraint's value, its type (``ineq``: ``c >= 0``,
``eq``: ``c == 0``), its violation and whether it is met (within
``stop.feasibility_tol``); the bounded entries against their bounds; the
largest violation, bounds included (:meth:`optrun.core.feasible.Feasible.violation`);
and the constraints' Jacobian (one row per constraint, one column per free
parameter entry, named as the trace's columns) by the backend
(:meth:`~optrun.core.feasible.Feasible.jacobian`). With ``--fd`` each row
is checked against finite differences by :func:`optrun.core.derivatives.fd_check`,
the check ``--fd`` makes of the gradient, on the constraint as a function
of the free parameters.

The feasible set is built as :mod:`optrun.engine.prepare` builds a run's,
without its check that the optimizer can take bounds and constraints:
``grad`` optimizes nothing, so a config that names ``gd`` with constraints
is evaluated all the same. A start outside the bounds is evaluated where it
is, unless ``init.clip_to_bounds: true`` moves the run's start into them:
then ``grad`` takes the moved start, the point the run would start from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optrun.core import derivatives as d
from optrun.core.feasible import MEANING, ConstraintSpec, Feasible
from optrun.core.params import Params, leaf_names, plain_leaves
from optrun.core.problems import Problem


def feasible_set(
    config: Any, problem: Problem, free: Params, fixed: Params, backend: Any
) -> tuple[Feasible | None, list[ConstraintSpec]]:
    """The run's feasible set over the free parameters (the problem's bounds and
    constraints, then the config's), as ``prepare`` builds it but without its
    optimizer check (None when nothing bounds or constrains the run), and the
    constraints as declared, in the same order. A bad bound or formula is
    prepare's one-line ConfigError (``bounds.x``, ``constraints[0].expr``)."""
    from optrun.engine.prepare import feasible_set as run_feasible_set

    x0, unflatten = backend.ravel(free)
    unflatten = backend.fast_unflatten(unflatten, np.size(x0))
    feasible = run_feasible_set(config, problem, free, fixed, unflatten, backend)
    return feasible, [c.spec for c in feasible.constraints] if feasible is not None else []


def start_in_bounds(config: Any, feasible: Feasible, start: Params, backend: Any) -> Params:
    """The start, moved into the box when ``init.clip_to_bounds`` says the run moves it (else as it is)."""
    if feasible.box is None or not config.clip_to_bounds:
        return start
    x, unflatten = backend.ravel(start)
    x = np.asarray(x, dtype=float)
    return start if feasible.box.contains(x) else plain_leaves(unflatten(feasible.box.project(x)))


@dataclass(frozen=True)
class ConstraintsAt:
    """The bounds and constraints at the point. Per constraint (in order):
    ``labels`` (a config's ``expr``), ``types`` ("ineq" or "eq"), ``values``
    and ``violations`` (0: met exactly). ``jacobian``: m rows x the free
    entries (``columns``), by the backend; None beyond
    :data:`optrun.core.derivatives.MAX_MATRIX` entries. ``bounds``: one
    (entry, low, high, value) per entry with a finite side (None: open).
    ``fd``: with ``--fd``, each constraint's :class:`~optrun.core.derivatives.FDCheck`."""

    tol: float
    violation: float  # the largest, bounds included
    labels: tuple[str, ...]
    types: tuple[str, ...]
    values: tuple[float, ...]
    violations: tuple[float, ...]
    columns: tuple[str, ...]
    jacobian: tuple[tuple[float, ...], ...] | None
    bounds: tuple[tuple[str, float | None, float | None, float], ...] = ()
    bounds_violation: float | None = None  # None: no box
    fd: tuple[d.FDCheck, ...] = ()

    @property
    def feasible(self) -> bool:
        return self.violation <= self.tol

    def met(self, violation: float) -> bool:
        return violation <= self.tol

    def inside(self, low: float | None, high: float | None, value: float) -> bool:
        """Whether a bounded entry's ``value`` is within ``tol`` of its bounds (None: an open side)."""
        return (low is None or low - value <= self.tol) and (high is None or value - high <= self.tol)

    def meaning(self, i: int) -> str:
        """Constraint i as it reads: ``1 - x[0]**2 >= 0``."""
        return f"{self.labels[i]} {MEANING[self.types[i]]}"

    def to_json(self) -> dict[str, Any]:
        """The ``constraints`` object of grad.json."""
        data: dict[str, Any] = {
            "feasibility_tol": self.tol,
            "violation": self.violation,
            "feasible": self.feasible,
            "values": [
                {"type": t, "constraint": label, "value": v, "violation": w, "met": self.met(w)}
                for label, t, v, w in zip(self.labels, self.types, self.values, self.violations)
            ],
        }
        if self.bounds_violation is not None:
            data["bounds"] = {
                "violation": self.bounds_violation,
                "entries": [entry for entry, *_ in self.bounds],
                "low": [low for _, low, _, _ in self.bounds],
                "high": [high for *_, high, _ in self.bounds],
                "value": [value for *_, value in self.bounds],
                "met": [self.inside(low, high, value) for _, low, high, value in self.bounds],
            }
        if self.jacobian is not None and self.labels:
            data["jacobian"] = [list(row) for row in self.jacobian]
            data["jacobian_rows"], data["jacobian_columns"] = list(self.labels), list(self.columns)
        if self.fd:
            data["fd"] = [check.to_json() for check in self.fd]
        return data


def held(specs: Sequence[ConstraintSpec], fixed: Params) -> tuple[ConstraintSpec, ...]:
    """The constraints as functions of the free parameters, the fixed ones held
    (what ``restrict_to_free``'s problem carries, for the check and contour.png)."""
    if not fixed:
        return tuple(specs)

    def free(spec: ConstraintSpec) -> ConstraintSpec:
        def fun(params: Params, held: Any = spec.fun) -> Any:
            return held({**fixed, **params})

        return ConstraintSpec(spec.type, fun, spec.label)

    return tuple(free(spec) for spec in specs)


def at_point(
    feasible: Feasible,
    specs: Sequence[ConstraintSpec],
    point: Params,
    backend: Any,
    fd_steps: Sequence[float] | None = None,
    seed: int = 0,
    notes: list[str] | None = None,
) -> ConstraintsAt:
    """The bounds and constraints at ``point`` (the free parameters); with
    ``fd_steps``, each constraint (``specs``: the feasible set's, in order,
    as functions of the free parameters: :func:`held`) checked against
    finite differences at those steps. What is left out (a Jacobian too
    large) is added to ``notes``."""
    x, _ = backend.ravel(point)
    x = np.asarray(x, dtype=float)
    columns = tuple(leaf_names(point))
    constraints = feasible.constraints
    with np.errstate(all="ignore"):
        values = d.flat.quiet(feasible.values, x)
        violations = [c.violation(float(v)) for c, v in zip(constraints, values)]
    m, n = len(constraints), x.size
    jacobian = None
    if m and m * n <= d.MAX_MATRIX:
        jacobian = tuple(d.flat.floats(row) for row in d.flat.quiet(feasible.jacobian, x))
    elif m and notes is not None:
        notes.append(
            f"the constraints' Jacobian ({m} x {n} = {m * n} entries) was left out: the limit is {d.MAX_MATRIX}"
        )
    box = feasible.box
    bounds: tuple[tuple[str, float | None, float | None, float], ...] = ()
    if box is not None:
        bounded = np.flatnonzero(np.isfinite(box.lower) | np.isfinite(box.upper))
        pairs = box.pairs()
        bounds = tuple((columns[i], *pairs[i], float(x[i])) for i in bounded)
    checks: tuple[d.FDCheck, ...] = ()
    if fd_steps is not None and m:
        checks = tuple(
            d.fd_check(Problem(objective=spec.fun, start=point), point, steps=fd_steps, seed=seed, backend=backend)
            for spec in specs
        )
    return ConstraintsAt(
        tol=feasible.tol,
        violation=feasible.violation(x),
        labels=tuple(c.label for c in constraints),
        types=tuple(c.type for c in constraints),
        values=d.flat.floats(values),
        violations=tuple(violations),
        columns=columns,
        jacobian=jacobian,
        bounds=bounds,
        bounds_violation=None if box is None else box.violation(x),
        fd=checks,
    )
