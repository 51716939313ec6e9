"""When a run stops, and how its end is told: the one definition both loops use.

The Python loop (:func:`optrun.core.runner.minimize`) and the jax backend's
compiled loop (:mod:`optrun.core.compiled`) stop on the same rules, keep the
same best point and end with the same :class:`Outcome`. Those meanings live
here, once:

* :data:`TERMINATION`: every way a run can end (its ``reason``), with the
  status and the message template of each; :func:`termination_message` fills
  a template in and :func:`outcome` builds the run's :class:`Outcome`.
* The stop rules, tested on each row (row k: f and the gradient norm after
  k steps, the function evaluations used so far, nfev, and the time t it
  was reached), in this order, the first that fires ending the run:

  1. divergence: f or the gradient norm not finite (``nonfinite_f``,
     ``nonfinite_grad``), or ``|f| > divergence`` (``bound``);
  2. ``evaluated``: ``max_iter`` is 0 (the start only: never ``converged``);
  3. ``grad_tol``: ``|g| <= grad_tol``;
  4. ``f_tol``: ``|f - f_prev| <= f_tol * max(1, |f|)`` (never at the start);
  5. ``interrupted``: a signal was seen (the loop reads the flag);
  6. ``max_fev``: nfev reached ``max_fev`` (the evaluation budget; before
     ``max_iter`` when both fire at one row, as SciPy's Nelder-Mead and
     Powell rank them);
  7. ``max_iter``: the iteration count reached ``max_iter``;
  8. ``time_limit``: ``t >= time_limit``.

  (A method given the budget as SciPy's own ``maxfev``/``maxfun`` ends where
  SciPy ends, with reason ``max_fev``.) Each rule is one function of
  :data:`RULES` that works on a float (:func:`row_stop`) and on a chunk of
  rows as arrays (:func:`first_stop`) alike. With bounds, the gradient norm
  is the projected gradient's (:mod:`optrun.core.runner`).
* The best point: the first row with the lowest f, a nan f never; with bounds
  or constraints, among feasible rows only (:func:`best_point`, the runner).
* A stall at floating-point precision: converged or failed by where it stopped (:func:`stalled_reason`).
"""

from __future__ import annotations

import math
import operator
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from optrun.core.status import Status

# One table of termination reasons: reason -> (status, message template).
TERMINATION: dict[str, tuple[Status, str]] = {
    "grad_tol": (Status.CONVERGED, "gradient norm {grad_norm:.3g} <= grad_tol {grad_tol:g}"),
    "f_tol": (Status.CONVERGED, "relative change in f {change:.3g} <= f_tol {f_tol:g}"),
    "max_iter": (Status.MAX_ITER, "reached max_iter = {max_iter} iterations without meeting a tolerance"),
    "max_fev": (
        Status.MAX_FEV,
        "used {nfev} function evaluations (max_fev = {max_fev}) without meeting a tolerance",
    ),
    "time_limit": (Status.TIME_LIMIT, "stopped at the time limit of {time_limit:g} s"),
    "evaluated": (Status.EVALUATED, "f at the start; max_iter = 0 takes no step"),
    "nonfinite_f": (Status.DIVERGED, "f became non-finite ({fun}) at iteration {nit}"),
    "nonfinite_grad": (Status.DIVERGED, "the gradient became non-finite at iteration {nit}"),
    "bound": (Status.DIVERGED, "|f| = {fun:.3g} exceeded the divergence bound {divergence:g} at iteration {nit}"),
    "interrupted": (Status.INTERRUPTED, "interrupted by {signal} at iteration {nit}"),
    "failed": (Status.FAILED, "{where} raised {error} while computing iteration {at}"),
    # user code (the objective, the optimizer, a schedule) called sys.exit() or raised a KeyboardInterrupt no signal
    # caused: a failure of this run, never optrun's exit status
    "exited": (Status.FAILED, "{where} {did} while computing iteration {at}"),
    "contract": (Status.FAILED, "{where} broke the optimizer contract at iteration {at}: {problem}"),
    # a run with bounds or constraints that ended by its stop rules outside the feasible set (with_feasibility)
    "infeasible": (
        Status.INFEASIBLE,
        "{ended}; but the final point is infeasible: largest violation {violation:.3g} > feasibility_tol "
        "{feasibility_tol:g}",
    ),
    "optimizer_converged": (Status.CONVERGED, "{optimizer_message}"),
    "optimizer_failed": (Status.FAILED, "{optimizer_message}"),
    # a method that stalled at the limit of floating-point precision (see ``stalled_reason``):
    "precision_limit": (
        Status.CONVERGED,
        "{optimizer_message}; |f - f*| = {gap:.3g} <= {stall_tol:.3g} for the known minimum "
        "f* = {fstar:.10g}: converged to floating-point precision",
    ),
    "stalled_short": (
        Status.FAILED,
        "{optimizer_message}; |f - f*| = {gap:.3g} > {stall_tol:.3g}: stalled short of the known "
        "minimum f* = {fstar:.10g}",
    ),
    "stalled": (
        Status.FAILED,
        "{optimizer_message} (the problem has no known minimum to confirm that this point is one)",
    ),
}

# A stalled method is `converged` when f is within this of a known minimum, relative to max(1, |f*|): half the digits
# of a double. Stalls at a minimum end orders of magnitude closer (|f - f*| ~ 1e-18 on Osborne 1); stalls short of
# it, orders of magnitude farther (Meyer with CG: 1e4); so no CPU's rounding moves a run across this line.
STALL_RTOL = float(np.sqrt(np.finfo(float).eps))


def stalled_reason(fun: float, known_minimum: float | None) -> tuple[str, dict[str, float]]:
    """The termination reason of a method that stopped because f cannot be
    decreased any further at floating-point precision (SciPy's "precision
    loss" and its equivalents, backtracking's failed line search), and the
    details its message needs. The method's own flag says only that it could
    not go on; whether that is a minimum depends on where it stopped, so the
    status follows what optrun knows: ``converged`` (``precision_limit``) when
    f is within ``STALL_RTOL * max(1, |f*|)`` of the problem's known minimum,
    ``failed`` otherwise (``stalled_short``), or without a known minimum
    (``stalled``)."""
    if known_minimum is None or not math.isfinite(fun):
        return "stalled", {}
    gap = fun - known_minimum
    details = {"gap": abs(gap), "stall_tol": STALL_RTOL * max(1.0, abs(known_minimum)), "fstar": known_minimum}
    return ("precision_limit" if abs(gap) <= details["stall_tol"] else "stalled_short"), details


class StopRules(Protocol):
    """The stop rules the runner applies (the config's ``stop:`` section,
    :class:`optrun.config.StopConfig`, has these fields; so may any object)."""

    @property
    def max_iter(self) -> int: ...
    @property
    def max_fev(self) -> int | None: ...
    @property
    def grad_tol(self) -> float | None: ...
    @property
    def f_tol(self) -> float | None: ...
    @property
    def time_limit(self) -> float | None: ...
    @property
    def divergence(self) -> float: ...


# ------------------------------------------------------------------ the rules
class Limits(NamedTuple):
    """A run's stop rules as plain numbers, read once before the loop. A rule
    that is off holds a number it can never fire on, so every rule is one
    comparison: ``grad_tol`` -1 (no grad_tol, or a method without a
    gradient: a norm is never negative), ``f_tol`` nan (every comparison with
    nan is false), ``max_fev`` and ``time_limit`` inf."""

    divergence: float
    grad_tol: float
    f_tol: float
    max_iter: int
    max_fev: float  # inf: no evaluation budget, or a method that enforces it itself
    time_limit: float
    gradient: bool  # whether rows carry a gradient norm (a derivative-free method's is nan, and not checked)


def limits_of(stop: StopRules, gradient: bool = True, own_budget: bool = False) -> Limits:
    """The :class:`Limits` of ``stop`` for a method that does (or, ``gradient=False``, does not) use the gradient;
    ``own_budget``: the method enforces ``max_fev`` itself (the rule is off here)."""
    return Limits(
        divergence=stop.divergence,
        grad_tol=-1.0 if stop.grad_tol is None or not gradient else stop.grad_tol,
        f_tol=math.nan if stop.f_tol is None else stop.f_tol,
        max_iter=stop.max_iter,
        max_fev=math.inf if stop.max_fev is None or own_budget else stop.max_fev,
        time_limit=math.inf if stop.time_limit is None else stop.time_limit,
        gradient=gradient,
    )


class _Ops(NamedTuple):
    """The two operations the rules need that Python's operators do not
    give for floats and arrays alike (``abs``, ``-``, ``<=``, ``&``, ``|`` do)."""

    not_: Callable[[Any], Any]
    maximum: Callable[[Any, Any], Any]


FLOATS = _Ops(operator.not_, max)  # one row: the Python loop
ARRAYS = _Ops(np.logical_not, np.maximum)  # rows: the compiled loop's chunk


def diverged(f: Any, grad_norm: Any, lim: Limits, ops: _Ops) -> Any:
    """f is nan or inf or beyond ``divergence``, or the gradient norm is not
    finite: one comparison each catches nan, inf and the bound."""
    return ops.not_((abs(f) <= lim.divergence) & ((grad_norm <= math.inf) | (not lim.gradient)))


def small_gradient(grad_norm: Any, lim: Limits, ops: _Ops) -> Any:
    """``|g| <= grad_tol``."""
    return grad_norm <= lim.grad_tol


def f_change(f: Any, prev_f: Any, ops: _Ops) -> Any:
    """The relative change in f the ``f_tol`` rule measures (its message shows it)."""
    return abs(f - prev_f) / ops.maximum(1.0, abs(f))


def small_change(f: Any, prev_f: Any, lim: Limits, ops: _Ops) -> Any:
    """``|f - f_prev| <= f_tol * max(1, |f|)``; the start has no previous f (``prev_f`` nan: never)."""
    return abs(f - prev_f) <= lim.f_tol * ops.maximum(1.0, abs(f))


def out_of_iterations(nit: Any, lim: Limits) -> Any:
    """The iteration count reached ``max_iter``."""
    return nit >= lim.max_iter


def evaluate_only(nit: Any, lim: Limits) -> Any:
    """``max_iter`` is 0: the start is evaluated and the run ends there (row 0, the only row)."""
    return (nit >= lim.max_iter) & (lim.max_iter == 0)


def out_of_evaluations(nfev: Any, lim: Limits) -> Any:
    """The function evaluations used so far reached ``max_fev``."""
    return nfev >= lim.max_fev


def out_of_time(t: Any, lim: Limits) -> Any:
    """The row's time reached ``time_limit``."""
    return t >= lim.time_limit


def divergence_reason(f: float, grad_norm: float) -> str:
    """Which divergence reason a diverged row ends with."""
    return "nonfinite_f" if not math.isfinite(f) else ("nonfinite_grad" if not math.isfinite(grad_norm) else "bound")


# the rules in the order they rank (an earlier rule wins at the same row)
RULES = ("divergence", "evaluated", "grad_tol", "f_tol", "interrupted", "max_fev", "max_iter", "time_limit")


def row_stop(
    f: float, grad_norm: float, t: float, prev_f: float, nit: int, nfev: int, lim: Limits, interrupted: bool = False
) -> str:
    """The reason the run stops at this one row ('' when it goes on), by the
    rules of :data:`RULES` in their order: the Python loop's form of
    :func:`first_stop`, on floats (``prev_f`` nan at the start)."""
    if diverged(f, grad_norm, lim, FLOATS):
        return divergence_reason(f, grad_norm)
    if evaluate_only(nit, lim):
        return "evaluated"
    if small_gradient(grad_norm, lim, FLOATS):
        return "grad_tol"
    if small_change(f, prev_f, lim, FLOATS):
        return "f_tol"
    if interrupted:
        return "interrupted"
    if out_of_evaluations(nfev, lim):
        return "max_fev"
    if out_of_iterations(nit, lim):
        return "max_iter"
    if out_of_time(t, lim):
        return "time_limit"
    return ""


class Stop(NamedTuple):
    """The first row of a chunk where a rule fires (-1: none) and its reason."""

    row: int
    reason: str
    change: float = math.nan  # f_tol's relative change


def first_stop(
    f: np.ndarray,
    grad_norm: np.ndarray,
    t: np.ndarray,
    prev_f: float,
    k0: int,
    nfev: np.ndarray,
    lim: Limits,
    interrupted_at: int = -1,
) -> Stop:
    """The first of these rows (rows k0, k0 + 1, ...) where a rule fires, and
    its reason, by the rules of :data:`RULES` in their order: at one row, an
    earlier rule wins. ``prev_f`` is f of the row before the first (nan at
    the start), ``nfev`` each row's evaluation count, ``interrupted_at`` the
    first row at which the loop saw the interrupt flag (-1: none)."""
    f, grad_norm, t = np.asarray(f, dtype=float), np.asarray(grad_norm, dtype=float), np.asarray(t, dtype=float)
    with np.errstate(all="ignore"):
        before = np.concatenate(([prev_f], f[:-1]))
        fired = (
            diverged(f, grad_norm, lim, ARRAYS),
            evaluate_only(k0 + np.arange(len(f)), lim),
            small_gradient(grad_norm, lim, ARRAYS),
            small_change(f, before, lim, ARRAYS),
            np.arange(len(f)) == interrupted_at,
            out_of_evaluations(np.asarray(nfev), lim),
            out_of_iterations(k0 + np.arange(len(f)), lim),
            out_of_time(t, lim),
        )
        hits = np.flatnonzero(np.logical_or.reduce(fired))
        if hits.size == 0:
            return Stop(-1, "")
        j = int(hits[0])
        rule = next(name for name, rows in zip(RULES, fired) if rows[j])
        if rule == "divergence":
            return Stop(j, divergence_reason(float(f[j]), float(grad_norm[j])))
        if rule == "f_tol":
            return Stop(j, "f_tol", float(f_change(f[j], before[j], FLOATS)))
        return Stop(j, rule)


def best_point(f: Any, k0: int, best_fun: float, best_iter: int) -> tuple[float, int]:
    """The best point after rows k0, k0 + 1, ... of f (a float: one row),
    given the best before them: the first row with the lowest f (a later row
    must be strictly lower); a nan f is never best."""
    if not isinstance(f, np.ndarray):
        return (f, k0) if f < best_fun else (best_fun, best_iter)
    masked = np.where(np.isnan(f), math.inf, f)
    i = int(np.argmin(masked))
    return (float(masked[i]), k0 + i) if masked[i] < best_fun else (best_fun, best_iter)


# ------------------------------------------------------------- how a run ended
@dataclass(frozen=True)
class Outcome:
    """How a run ended: status, message (:data:`TERMINATION`), final point, counts, best f and time."""

    status: Status
    reason: str
    message: str
    x: np.ndarray
    fun: float
    grad_norm: float
    nit: int
    nfev: int
    njev: int
    best_fun: float
    best_iter: int
    wall_time_s: float
    signum: int | None = None
    nhev: int = 0  # Hessians and Hessian-vector products
    best_x: np.ndarray | None = None  # with bounds or constraints: the best feasible point


def termination_message(
    reason: str,
    stop: StopRules,
    fun: float,
    grad_norm: float,
    nit: int,
    signum: int | None,
    nfev: int = 0,
    **details: Any,
) -> str:
    """TERMINATION's message for ``reason``, filled in with the run's last row, its
    stop rules and the reason's details (the one place both loops word how a run ended)."""
    return TERMINATION[reason][1].format(
        fun=fun,
        grad_norm=grad_norm,
        nit=nit,
        nfev=nfev,
        max_fev=stop.max_fev,
        grad_tol=stop.grad_tol or 0.0,
        f_tol=stop.f_tol or 0.0,
        max_iter=stop.max_iter,
        time_limit=stop.time_limit or 0.0,
        divergence=stop.divergence,
        signal=signal.Signals(signum).name if signum else "",
        **details,
    )


def outcome(
    reason: str,
    stop: StopRules,
    details: dict[str, Any],
    *,
    x: np.ndarray,
    fun: float,
    grad_norm: float,
    nit: int,
    message_nit: int,
    nfev: int,
    njev: int,
    best: tuple[float, int],
    wall_time_s: float,
    signum: int | None,
    nhev: int = 0,
    best_x: np.ndarray | None = None,
) -> Outcome:
    """The :class:`Outcome` of a run that ended for ``reason``; its message
    tells ``message_nit``, the loop's own row count (``nit`` may be the method's)."""
    return Outcome(
        status=TERMINATION[reason][0],
        reason=reason,
        message=termination_message(reason, stop, fun, grad_norm, message_nit, signum, nfev, **details),
        x=x,
        fun=fun,
        grad_norm=grad_norm,
        nit=nit,
        nfev=nfev,
        njev=njev,
        best_fun=best[0],
        best_iter=best[1],
        wall_time_s=wall_time_s,
        signum=int(signum) if signum else None,
        nhev=nhev,
        best_x=best_x,
    )
