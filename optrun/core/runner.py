"""The one runner loop every optimizer goes through.

``minimize`` evaluates f and its gradient (one ``Oracle.iterate`` call per
iteration; f alone for a derivative-free method), asks the optimizer for a
step, applies the stop rules, detects divergence, keeps the best point and
hands every iteration to the observers (trace writer, progress bar).
Optimizers never loop on their own.

Iteration 0 is the start, before any step; row k holds f after k steps.

What the stop rules, the best point and the termination messages mean is
written once in :mod:`optrun.core.stopping`, which the jax backend's compiled
loop (:mod:`optrun.core.compiled`) applies too; the objective and its
counted evaluations are the :class:`~optrun.core.oracle.Oracle`. This module
also holds the run's signal handling (:class:`SignalFlag`, :class:`Interrupted`).
"""

from __future__ import annotations

import functools
import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

import numpy as np

from optrun.core.errors import OptrunError
from optrun.core.optimizers import ContractError, Optimizer, OptimizerFinished, OptimizerState, step_size_of
from optrun.core.oracle import Oracle
from optrun.core.status import Status
from optrun.core.stopping import (
    FLOATS,
    Outcome,
    StopRules,
    best_point,
    f_change,
    limits_of,
    outcome,
    row_stop,
    stalled_reason,
)


class Interrupted(KeyboardInterrupt):
    """Raised by the SIGTERM handler so a terminated run ends like Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    def __reduce__(self):  # it crosses process boundaries (a pool worker refusing a task)
        return (Interrupted, (self.signum,))


SIGNALS = (signal.SIGINT, signal.SIGTERM)


def caused_by_signal(exc: BaseException, flag: SignalFlag | None = None) -> bool:
    """Whether ``exc`` (a KeyboardInterrupt) comes from a real SIGINT/SIGTERM,
    not from user code raising it. A :class:`SignalFlag` in place (``flag``,
    or the handler installed on this process) knows: only it raises
    :class:`Interrupted`, and it records every signal. Python's own handler
    raises a plain KeyboardInterrupt that looks like a user's: then it counts
    as a signal (a real Ctrl-C must stop). Outside the main thread no signal
    raises anything."""
    if isinstance(exc, Interrupted):
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    if flag is None:
        handler = signal.getsignal(signal.SIGINT)
        if not isinstance(handler, SignalFlag):
            return True
        flag = handler
    return flag.signum is not None


def user_exit(exc: BaseException) -> str:
    """What user code did when it raised SystemExit or a KeyboardInterrupt no
    signal caused, for a message: "called sys.exit(42)"."""
    if isinstance(exc, SystemExit):
        code = exc.code
        return f"called sys.exit({'' if code is None else _brief(code)})"
    return "raised KeyboardInterrupt (no signal arrived)"


class SignalFlag:
    """The SIGINT/SIGTERM handler of a run: it records the first signal
    (``signum``), which the loop checks at every iteration boundary, so no
    file is cut mid-write. It raises :class:`Interrupted` only while
    ``armed`` (the loop, where it is caught): on a second signal, or on the
    first with ``at_once`` (plots); it raises at most once per arming, so the
    code that armed it has exactly one KeyboardInterrupt to catch. Unarmed (a
    run directory being made, a summary being written, a command reporting)
    it only records: nothing between a run directory's creation and its
    summary can be cut by a signal.

    A signal that arrives while this thread blocks SIGINT/SIGTERM (a trace
    flush) but was delivered to another thread (OpenBLAS's, a progress bar's)
    is made pending on this thread again, so it is handled when the block
    ends, never in the middle of it."""

    def __init__(self, armed: bool = True) -> None:
        self.signum: int | None = None
        self.count = 0  # signals received
        self.armed = armed  # (a bare flag, as minimize alone uses it: armed)
        self.at_once = False

    def __call__(self, signum: int, frame: Any) -> None:
        if signum in signal.pthread_sigmask(signal.SIG_BLOCK, ()):
            signal.pthread_kill(threading.get_ident(), signum)  # delivered when this thread unblocks it
            return
        first = self.signum is None
        if first:
            self.signum = signum
        self.count += 1
        if self.armed and (self.at_once or not first):
            self.armed = self.at_once = False
            raise Interrupted(signum)


class Observer(Protocol):
    """Anything that wants every iteration (the trace writer, the progress bar).

    An observer may also have ``record_rows(rows)``, taking a
    :class:`optrun.core.trace.TraceRows` chunk of consecutive rows at once:
    the compiled loop then hands it each chunk in one call instead of each
    row (the Python loop always calls ``record``)."""

    def record(
        self,
        k: int,
        f: float,
        grad_norm: float,
        step_size: float,
        t: float,
        nfev: int,
        njev: int,
        x: np.ndarray,
        g: np.ndarray | None,  # None for a derivative-free method
    ) -> None: ...


def _counted(oracle: Oracle, x: np.ndarray, gradient: bool) -> tuple[float, np.ndarray | None]:
    """f (and the gradient) at the start of a ``max_iter`` 0 run, counted: a
    method that evaluates its iterates itself (SciPy's, whose look at the start
    ``oracle.iterate`` does not count) never runs, so the runner's evaluation is
    the run's only one, counted as on every other method (nfev 1, njev 1 with a gradient)."""
    return oracle.value_and_grad(x) if gradient else (oracle.value(x), None)


def minimize(
    oracle: Oracle,
    x0: np.ndarray,
    optimizer: Optimizer,
    stop: StopRules,
    observers: Sequence[Observer] = (),
    clock: Callable[[], float] = time.perf_counter,
    interrupt: SignalFlag | None = None,
    gradient: bool | None = None,
    known_minimum: float | None = None,
) -> Outcome:
    """The one runner loop: from ``x0``, evaluate f and its gradient, ask
    ``optimizer`` for a step, apply the stop rules and divergence checks, keep
    the best point and hand each iteration to ``observers``; returns the
    Outcome (status, message, final point, counts). ``interrupt`` is the
    run's SignalFlag (a signal ends the run as ``interrupted``).

    The optimizer contract (:mod:`optrun.core.optimizers`) is checked here:
    a state without a numeric ``step_size``, an update that does not return
    ``(step, state)`` or a step of another shape than x ends the run
    ``failed``, blaming the optimizer by name.

    ``gradient``: whether the method uses the gradient; by default, what its
    registry entry's ``needs`` says (an optimizer that is not registered
    gets it). A derivative-free method (Nelder-Mead) gets no gradient: the
    runner evaluates f only, ``update`` receives ``None`` for the gradient,
    the observers get ``nan`` for its norm and ``None`` for it, the outcome's
    ``grad_norm`` is ``nan``, and the ``grad_tol`` rule does not apply (it is
    a no-op: the default config has one, and the method's own tolerances
    decide; divergence is checked on f alone).

    ``nit`` is the number of steps, unless the state reports the method's
    own count as ``method_nit`` (SciPy's Nelder-Mead counts building its
    first simplex as iteration 1): then ``nit`` and the ``max_iter`` rule
    use that count, as SciPy's ``nit`` and ``maxiter`` do (a Nelder-Mead
    run stopped by max_iter = 50 takes 49 steps and reports nit 50, as
    SciPy with maxiter 50 does).

    ``known_minimum``: the problem's f*, if known; it decides the status of a
    method that stalls at floating-point precision (:func:`stalled_reason`).

    ``stop.max_fev``, the evaluation budget, is compared with the oracle's
    ``nfev`` at each row (a method that evaluates f inside its step, a line
    search, may pass it within its last iteration), unless the method
    enforces it itself: a state with a ``max_fev`` field (SciPy's Nelder-Mead
    and L-BFGS-B, a NamedTuple) gets the budget there before its first
    update, and the method ends the run where it would end alone, raising
    :class:`OptimizerFinished` with ``reason = "max_fev"``; the run then ends
    ``max_fev`` as if the rule had fired."""
    if gradient is None:
        gradient = _uses_gradient(optimizer)
    start = clock()
    x = np.array(x0, dtype=float)
    k = 0
    f = grad_norm = math.nan
    best_fun, best_iter = math.inf, -1
    details: dict[str, Any] = {}
    reason, signum = "", None
    own_nit: int | None = None  # the method's own count at its end (SciPy's nit), when it ended the run
    objective = "the objective"
    optimizer_label = f"optimizer '{optimizer.name}'" if optimizer.name else "the optimizer"
    where = objective
    state = None
    details["at"] = 0
    record = [obs.record for obs in observers]
    limits = limits_of(stop, gradient)  # the stop rules, read once (this loop is the hot path)
    if getattr(getattr(oracle, "feasible", None), "constraints", ()):
        # with constraints, |grad f| measures nothing (it is not 0 at a constrained minimum, and 0 at an
        # infeasible stationary point): grad_tol is off, and the method's own tolerances decide
        limits = limits._replace(grad_tol=-1.0)
    step_size = math.nan
    evaluate = oracle.iterate
    shape = x.shape
    project = optimizer.project  # bounds on a projected method: each new iterate is clipped into the box
    feasible = getattr(oracle, "feasible", None)  # bounds or constraints: the best point is the best feasible one
    best_x = None
    norm_of = _norm if feasible is None or feasible.box is None else functools.partial(_projected_norm, feasible.box)

    try:
        with np.errstate(all="ignore"):
            f, g = evaluate(x, gradient) if stop.max_iter else _counted(oracle, x, gradient)
            grad_norm = norm_of(x, g) if gradient else math.nan
            where = optimizer_label
            state = optimizer.init(x)
            if not isinstance(state, OptimizerState):
                raise ContractError(
                    f"init returned a {type(state).__name__} without a step_size field "
                    "(every state carries the step size its last update used)"
                )
            step_size_of(state)
            own_count = hasattr(state, "method_nit")  # the method counts its iterations itself (see the docstring)
            if hasattr(state, "max_fev"):  # the method enforces the evaluation budget itself (see the docstring)
                state = cast(Any, state)._replace(max_fev=stop.max_fev)
                limits = limits_of(stop, gradient, own_budget=True)
            where = objective
            prev_f = math.nan  # the start has no previous f (the f_tol rule never fires there)
            while True:
                t = clock() - start
                where, details["at"] = "an observer", k  # a failing observer (a user's, in the notebook API) is named
                for rec in record:
                    rec(k, f, grad_norm, step_size, t, oracle.nfev, oracle.njev, x, g)
                if feasible is None:
                    best_fun, best_iter = best_point(f, k, best_fun, best_iter)
                elif feasible.feasible(x) and best_point(f, k, best_fun, best_iter)[1] == k:  # best feasible row
                    best_fun, best_iter, best_x = f, k, x
                # -- the stop rules (optrun.core.stopping), in their order
                nit = getattr(state, "method_nit", k) if own_count else k
                signaled = interrupt.signum if interrupt is not None else None
                reason = row_stop(f, grad_norm, t, prev_f, nit, oracle.nfev, limits, signaled is not None)
                if reason:
                    if reason == "f_tol":
                        details["change"] = f_change(f, prev_f, FLOATS)
                    elif reason == "interrupted":
                        signum = signaled
                    break
                # -- one step
                where, details["at"] = optimizer_label, k + 1
                out = optimizer.update(cast(np.ndarray, g), state, x)  # None without a gradient (docstring)
                try:
                    step, state = out
                except (TypeError, ValueError):
                    raise ContractError(
                        f"update returned {type(out).__name__} {_brief(out)}, not (step, state)"
                    ) from None
                step_size = step_size_of(state)
                if np.shape(step) != shape:
                    raise ContractError(f"update returned a step of shape {np.shape(step)} for x of shape {shape}")
                x_new = x + step if project is None else project(x + step)
                where = objective
                f_new, g = evaluate(x_new, gradient)
                x, prev_f, f = x_new, f, f_new
                if gradient:
                    grad_norm = norm_of(x, g)
                k += 1
    except OptimizerFinished as exc:
        reason = "optimizer_converged" if exc.success else "optimizer_failed"
        details["optimizer_message"] = exc.message
        own_nit = exc.nit
        if getattr(exc, "reason", "") == "max_fev":  # it spent the budget it enforces itself (see the docstring)
            reason = "max_fev"
        elif exc.stalled and not exc.success:
            reason, more = stalled_reason(f, known_minimum)
            details.update(more, optimizer_message=exc.message.rstrip("."))
    except KeyboardInterrupt as exc:
        if not caused_by_signal(exc, interrupt):  # user code raised it: a failure of this run
            reason = "exited"
            details.update(did=user_exit(exc), where=objective if exc is getattr(oracle, "error", None) else where)
        else:
            reason = "interrupted"
            signum = getattr(exc, "signum", signal.SIGINT)
    except SystemExit as exc:  # user code called sys.exit(): a failure of this run, never optrun's exit status
        reason = "exited"
        details.update(did=user_exit(exc), where=objective if exc is getattr(oracle, "error", None) else where)
    except OptrunError:  # the run's own files failed (disk full, ...): not the objective's fault
        raise
    except ContractError as exc:
        reason = "contract"
        details["problem"] = str(exc)
        details["where"] = optimizer_label
    except Exception as exc:  # an error inside the objective or the optimizer
        reason = "failed"
        details["error"] = f"{type(exc).__name__}: {exc}"
        # the objective's own error, even when it came through the optimizer (a line search, SciPy)
        details["where"] = objective if exc is getattr(oracle, "error", None) else where

    finally:
        closing = _close(optimizer, optimizer_label, interrupt)

    ended = outcome(
        reason,
        stop,
        details,
        x=x,
        fun=f,
        grad_norm=grad_norm,
        nit=int(own_nit if own_nit is not None else getattr(state, "method_nit", k)),
        message_nit=k,
        nfev=oracle.nfev,
        njev=oracle.njev,
        best=(best_fun, best_iter),
        wall_time_s=clock() - start,
        signum=signum,
        nhev=oracle.nhev,
        best_x=best_x,
    )
    return ended if not closing else _close_failed(ended, closing)


def _norm(x: np.ndarray, g: Any) -> float:
    """The gradient's 2-norm (what the grad_tol rule and the trace's grad_norm measure)."""
    return math.sqrt(float(g @ g))


def _projected_norm(box: Any, x: np.ndarray, g: Any) -> float:
    """With bounds: the norm of the projected gradient ``P(x - g) - x`` (0 at a
    minimum on the boundary, where the gradient itself is not), which
    grad_tol and the trace's grad_norm then measure, as L-BFGS-B's pgtol does."""
    d = box.project(x - g) - x
    return math.sqrt(float(d @ d))


def _close(optimizer: Optimizer, label: str, interrupt: SignalFlag | None) -> str:
    """Call the optimizer's ``close``; what went wrong in it ('' if nothing).
    A real signal's interruption goes on (the run is recorded as interrupted)."""
    if optimizer.close is None:
        return ""
    try:
        optimizer.close()
    except OptrunError:
        raise
    except KeyboardInterrupt as exc:
        if caused_by_signal(exc, interrupt):
            raise
        return f"{label} {user_exit(exc)} in close()"
    except SystemExit as exc:
        return f"{label} {user_exit(exc)} in close()"
    except Exception as exc:
        return f"{label} raised {type(exc).__name__}: {_brief(str(exc))} in close()"
    return ""


def _close_failed(ended: Outcome, closing: str) -> Outcome:
    """The outcome of a run whose optimizer failed in ``close()``: ``failed``,
    its message saying how the run had ended and what close did (a method
    that cannot clean up is broken, and a failed run is what check and sweep
    report); an interrupted run stays interrupted (its exit status is the signal's)."""
    import dataclasses

    message = f"{ended.message}; then {closing}"
    if ended.status is Status.INTERRUPTED:
        return dataclasses.replace(ended, message=message)
    return dataclasses.replace(ended, status=Status.FAILED, reason="close_failed", message=message)


def _uses_gradient(optimizer: Optimizer) -> bool:
    """Whether the optimizer's registry entry needs the gradient (True for an unregistered one)."""
    from optrun.core.optimizers import OPTIMIZERS

    if optimizer.name and optimizer.name in OPTIMIZERS:
        return "gradient" in OPTIMIZERS.get(optimizer.name).needs
    return True


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
