"""Gradient descent with an Armijo backtracking line search.

Each update tries ``t = step_size(k)`` (a number or a schedule), then
``t * shrink``, ``t * shrink**2``, ... (at most ``max_shrinks`` times) until
the Armijo sufficient-decrease condition holds::

    f(x - t g) - f(x) <= -c * t * |g|^2

(written as a difference, so that a step which does not decrease f is never
accepted, even when ``c t |g|^2`` is below the resolution of f). The trace's
step size is the accepted ``t``.

With bounds (the entry's ``bounds="projected"``) the search is projected
(Bertsekas's Armijo rule along the projection arc): each trial point is
``P(x - t g)``, the box's projection, and the condition asks for
``c * g . (x - P(x - t g))`` of decrease; the runner's next iterate is that
same projected point.

``step_size`` and ``clip_grad_norm`` are the registry's generic transforms
(:mod:`optrun.core.optimizers`). With ``clip_grad_norm``, ``g`` above is the
clipped gradient: the search runs along it and the first trial step is at
most ``step_size * clip_grad_norm`` long (the condition, with the clipped
``|g|^2``, asks for less decrease than the true slope would).

Trial values go through ``oracle.value``, so they are counted in ``nfev``.
The value at the accepted point is kept in the state, so the next update
does not evaluate f at its start again (only the very first update does);
per iteration that is one ``value_and_grad`` (the runner's) plus one
``value`` per trial.

If no trial step satisfies the condition (after ``max_shrinks`` shrinks, or
once a trial step is too small to change x at all), the run ends with status
``failed`` and a message saying so. Near a minimum this happens when the
decrease is below the floating-point resolution of f: f-value comparisons
cannot locate x* closer than about ``sqrt(eps * |f*| / lambda_min)``, so
``stop.grad_tol`` must be reachable before that.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from pydantic import Field

from optrun.core.optimizers import OptimizerFinished, StepRule, register_optimizer
from optrun.core.optimizers.schedules import STEP_SIZE_MEANING, StepSize
from optrun.core.options import Options


class BacktrackingOptions(Options):
    step_size: StepSize = Field(1.0, description="the first trial step of each update; " + STEP_SIZE_MEANING)
    shrink: float = Field(0.5, gt=0, lt=1, description="factor applied to a rejected trial step")
    c: float = Field(1e-4, gt=0, lt=1, description="sufficient-decrease constant of the Armijo condition")
    max_shrinks: int = Field(30, ge=0, le=1000, description="shrinks per update before the line search gives up")
    clip_grad_norm: float | None = Field(None, gt=0, description="rescale the gradient to at most this 2-norm")


class BacktrackingState(NamedTuple):
    updates: int  # updates done so far (for the message when the search gives up)
    trials: int  # trial points the last update evaluated (f at x itself not counted)
    x: np.ndarray | None  # the last accepted point ...
    fun: float  # ... and f there (reused when the next update starts from it)


@register_optimizer(
    "backtracking",
    options=BacktrackingOptions,
    description="gradient descent with an Armijo backtracking line search: "
    "t <- step_size, shrink t until f(x - t g) <= f(x) - c t |g|^2",
    needs=("gradient", "function values"),
    transforms=("step_size", "clip_grad_norm"),
    bounds="projected",
    reference="Nocedal & Wright, Numerical Optimization (2006), Algorithm 3.1 (backtracking line search), "
    "along p = -g, with at most max_shrinks shrinks",
)
def backtracking(options: BacktrackingOptions, oracle) -> StepRule:
    shrink, c, max_shrinks = options.shrink, options.c, options.max_shrinks
    box = getattr(getattr(oracle, "feasible", None), "box", None)  # with bounds: a projected search

    def init(x0):
        return BacktrackingState(updates=0, trials=0, x=None, fun=math.nan)

    def update(grad, state, x, step_size):
        t = step_size
        slope = float(grad @ grad)  # -(directional derivative along -g)
        # a stationary point, nothing to search along: g = 0 (with bounds: P(x - t g) = x, which holds for
        # every t > 0 once it holds for one, i.e. the projected gradient is 0 and the runner's grad_tol fires)
        if slope == 0.0 or (box is not None and np.array_equal(box.project(x - t * grad), x)):
            return np.zeros_like(x), BacktrackingState(state.updates + 1, 0, state.x, state.fun), t
        known = state.x is not None and np.array_equal(state.x, x)
        f0 = state.fun if known else oracle.value(x)
        for trials in range(1, max_shrinks + 2):
            step = -t * grad
            x_trial = x + step if box is None else box.project(x + step)  # the runner's next iterate, exactly
            if np.array_equal(x_trial, x):  # the step no longer moves x: no decrease can be found
                break
            f_trial = oracle.value(x_trial)
            # the computed decrease against the required one (f0 - c t |g|^2 would round to f0
            # once the required decrease is below f's resolution, and accept no decrease at all);
            # projected: g . (x - x_trial), which is t |g|^2 where no bound is active
            required = c * t * slope if box is None else c * float(grad @ (x - x_trial))
            if f_trial - f0 <= -required:
                return step, BacktrackingState(state.updates + 1, trials, x_trial, f_trial), t
            if trials <= max_shrinks:
                t *= shrink
        d = grad if box is None else x - box.project(x - grad)  # with bounds: the projected gradient
        raise OptimizerFinished(
            f"the Armijo line search found no sufficient decrease of f along -g at iteration {state.updates + 1} "
            f"(f = {f0:.10g}, gradient norm {math.sqrt(float(d @ d)):.3g}, trial steps down to {t:.3g}); "
            "f cannot resolve a smaller decrease (near a minimum: the limit of floating-point precision; "
            "a stop.grad_tol above the gradient norm reached would have ended the run first)",
            success=False,
            stalled=True,
        )

    return StepRule(init, update)
