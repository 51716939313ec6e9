"""The one runner loop every optimizer goes through.

``minimize`` evaluates f and its gradient (one ``Oracle.iterate`` call per
iteration; f alone for a derivative-free method), asks the optimizer for a
step, applies the stop rules, detects divergence, keeps the best point and
hands every iteration to the observers (trace writer, progress bar).
Optimizers never loop on their own.

Iteration 0 is the start, before any step; row k holds f after k steps.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from optrun.core.backend import Backend, get_backend
from optrun.core.errors import OptrunError
from optrun.core.optimizers import ContractError, Optimizer, OptimizerFinished, OptimizerState, step_size_of
from optrun.core.status import Status

# One table of termination reasons: reason -> (status, message template).
TERMINATION: dict[str, tuple[Status, str]] = {
    "grad_tol": (Status.CONVERGED, "gradient norm {grad_norm:.3g} <= grad_tol {grad_tol:g}"),
    "f_tol": (Status.CONVERGED, "relative change in f {change:.3g} <= f_tol {f_tol:g}"),
    "max_iter": (Status.MAX_ITER, "reached max_iter = {max_iter} iterations without meeting a tolerance"),
    "time_limit": (Status.TIME_LIMIT, "stopped at the time limit of {time_limit:g} s"),
    "nonfinite_f": (Status.DIVERGED, "f became non-finite ({fun}) at iteration {nit}"),
    "nonfinite_grad": (Status.DIVERGED, "the gradient became non-finite at iteration {nit}"),
    "bound": (Status.DIVERGED, "|f| = {fun:.3g} exceeded the divergence bound {divergence:g} at iteration {nit}"),
    "interrupted": (Status.INTERRUPTED, "interrupted by {signal} at iteration {nit}"),
    "failed": (Status.FAILED, "{where} raised {error} while computing iteration {at}"),
    "contract": (Status.FAILED, "{where} broke the optimizer contract at iteration {at}: {problem}"),
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


class Interrupted(KeyboardInterrupt):
    """Raised by the SIGTERM handler so a terminated run ends like Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    def __reduce__(self):  # it crosses process boundaries (a pool worker refusing a task)
        return (Interrupted, (self.signum,))


SIGNALS = (signal.SIGINT, signal.SIGTERM)


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


class StopRules(Protocol):
    """The stop rules the runner applies (the config's ``stop:`` section,
    :class:`optrun.config.StopConfig`, has these fields; so may any object)."""

    @property
    def max_iter(self) -> int: ...
    @property
    def grad_tol(self) -> float | None: ...
    @property
    def f_tol(self) -> float | None: ...
    @property
    def time_limit(self) -> float | None: ...
    @property
    def divergence(self) -> float: ...


class Observer(Protocol):
    """Anything that wants every iteration (the trace writer, the progress bar)."""

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
        g: np.ndarray,
    ) -> None: ...


class Oracle:
    """The objective over the flat vector, counting evaluations.

    The counts are what the method asked for, as SciPy counts them: ``value``
    counts one f (``nfev``), ``grad`` one gradient (``njev``),
    ``value_and_grad`` one of each, ``hessian`` and ``hvp`` one ``nhev``.
    Every derivative comes from the ``backend`` (:mod:`optrun.core.backend`;
    autograd by default, or jax, whose derivatives are compiled with
    ``jax.jit``); ``fun`` is the flat objective, which on jax is traceable
    (and compiled: ``backend.jit``). ``iterate`` is the runner's own
    evaluation of each iterate (see there). An exception raised by the
    objective (or its derivatives) is kept in ``error``, so the runner
    blames the objective even when it reaches the runner through an
    optimizer (a line search, SciPy's worker).

    ``remember_last`` is for methods that evaluate each iterate themselves
    (an optimizer entry's ``remember_last`` capability: SciPy's): the oracle
    keeps the last few points it evaluated (:data:`MEMO_SIZE`), so a point
    asked for again is not computed again (it is still counted when the
    method asks: SciPy counts it too), and the runner's look at an iterate
    costs nothing and counts nothing. Off by default, as it costs a compare
    and a copy on every call.
    """

    MEMO_SIZE = 4  # points kept with remember_last: a trust region's rejected trial leaves the iterate two points back

    def __init__(self, fun: Callable[[np.ndarray], Any], remember_last: bool = False, backend: Backend | None = None):
        self.backend = backend if backend is not None else get_backend()
        self.objective = fun  # the flat objective itself: the compiled loop builds (and keeps) its chunks from it
        self.fun = self.backend.jit(fun)
        self._value_and_grad = self.backend.value_and_grad(fun)
        self._hessian: Callable[[np.ndarray], Any] | None = None
        self._hvp: Callable[[np.ndarray, np.ndarray], Any] | None = None
        self.nfev = 0
        self.njev = 0
        self.nhev = 0  # Hessians and Hessian-vector products
        self.remember_last = remember_last  # see the class docstring
        self._memo: list[list[Any]] = []  # [x, f, g or None], the most recent first (remember_last only)
        self.error: BaseException | None = None  # the last exception the objective raised

    # -- what the methods ask for (counted)
    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """f and the gradient: one f and one gradient evaluation."""
        self.nfev += 1
        self.njev += 1
        f, g = self._compute(x, True)
        return f, g

    def value(self, x: np.ndarray, with_grad: bool = False) -> float:
        """f: one function evaluation. ``with_grad`` (a method that will ask
        for the gradient at the same point, with ``remember_last``) computes
        the gradient in the same autograd pass and keeps it for that
        request, which counts it; SciPy's ``jac=True`` does the same."""
        self.nfev += 1
        return self._compute(x, with_grad)[0]

    def grad(self, x: np.ndarray) -> np.ndarray:
        """The gradient: one gradient evaluation (f comes with it, uncounted, as in SciPy's count)."""
        self.njev += 1
        return self._compute(x, True)[1]

    # -- the runner's look at an iterate
    def iterate(self, x: np.ndarray, gradient: bool = True) -> tuple[float, np.ndarray | None]:
        """f and (when ``gradient``) the gradient at the runner's iterate.

        For a method that takes its steps from the runner this is the
        method's evaluation, counted like ``value_and_grad`` (or ``value``).
        With ``remember_last`` the method evaluated the iterate itself and
        counted what it asked for, so nothing is counted here: the point
        comes from what the oracle remembers, and whatever is missing (a
        trust-region method asks for the gradient at a new iterate only after
        its callback) is computed and kept for the method's own request,
        which then costs nothing and is counted."""
        if not self.remember_last:
            if gradient:
                return self.value_and_grad(x)
            return self.value(x), None
        return self._compute(x, gradient)

    def remember(self, x: np.ndarray, f: float) -> None:
        """Keep f at x, as the method computed it through this oracle (SciPy's
        callback hands the iterate's f: Nelder-Mead's best vertex may be many
        evaluations old). Nothing is counted; ignored without ``remember_last``."""
        if self.remember_last and self._find(x) is None:
            self._keep(x, float(f), None)

    # -- the computation, shared by all of the above
    def _find(self, x: np.ndarray) -> list[Any] | None:
        for entry in self._memo:
            if np.array_equal(entry[0], x):
                return entry
        return None

    def _keep(self, x: np.ndarray, f: float, g: np.ndarray | None) -> list[Any]:
        entry = [np.array(x, dtype=float), f, g]
        self._memo.insert(0, entry)
        del self._memo[self.MEMO_SIZE :]
        return entry

    def _compute(self, x: np.ndarray, gradient: bool) -> tuple[float, np.ndarray | None]:
        entry = self._find(x) if self.remember_last else None
        if entry is not None and (entry[2] is not None or not gradient):
            return entry[1], entry[2]
        try:
            if gradient:
                f, g = self._value_and_grad(x)
                f, g = float(f), _writable(g)
            else:
                f, g = float(self.fun(x)), None
        except Exception as exc:
            self.error = exc
            raise
        if self.remember_last:
            if entry is not None:
                entry[2] = g  # the gradient at a point whose f was known: the f stays the one already seen
                return entry[1], g
            self._keep(x, f, g)
        return f, g

    def hessian(self, x: np.ndarray) -> np.ndarray:
        if self._hessian is None:
            self._hessian = self.backend.hessian(self.fun)
        self.nhev += 1
        try:
            return _writable(self._hessian(x)).reshape(x.size, x.size)
        except Exception as exc:
            self.error = exc
            raise

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Hessian times v without forming the Hessian."""
        if self._hvp is None:
            self._hvp = self.backend.hvp(self.fun)
        self.nhev += 1
        try:
            return _writable(self._hvp(x, v))
        except Exception as exc:
            self.error = exc
            raise


def _writable(array: Any) -> np.ndarray:
    """A float NumPy array the caller may change in place: jax hands out
    read-only views of its buffers, which are copied; autograd's arrays are not."""
    result = np.asarray(array, dtype=float)
    return result if result.flags.writeable else result.copy()


@dataclass(frozen=True)
class Outcome:
    """How a run ended: status and message (from TERMINATION), the final point and its f and gradient norm, counts, the best f seen and the time."""

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


def termination_message(
    reason: str, stop: StopRules, fun: float, grad_norm: float, nit: int, signum: int | None, **details: Any
) -> str:
    """TERMINATION's message for ``reason``, filled in with the run's last
    row, its stop rules and the reason's details (the one place both loops,
    this one and the compiled one, word how a run ended)."""
    return TERMINATION[reason][1].format(
        fun=fun,
        grad_norm=grad_norm,
        nit=nit,
        grad_tol=stop.grad_tol or 0.0,
        f_tol=stop.f_tol or 0.0,
        max_iter=stop.max_iter,
        time_limit=stop.time_limit or 0.0,
        divergence=stop.divergence,
        signal=signal.Signals(signum).name if signum else "",
        **details,
    )


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
    method that stalls at floating-point precision (:func:`stalled_reason`)."""
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
    # the stop rules, read once (this loop is the hot path)
    max_iter, divergence = stop.max_iter, stop.divergence
    grad_tol = -1.0 if stop.grad_tol is None else stop.grad_tol
    f_tol, time_limit = stop.f_tol, stop.time_limit
    if not gradient:
        grad_tol = -1.0  # a no-op without a gradient (see the docstring)
    step_size = math.nan
    evaluate = oracle.iterate
    shape = x.shape

    try:
        with np.errstate(all="ignore"):
            f, g = evaluate(x, gradient)
            grad_norm = math.sqrt(float(g @ g)) if gradient else math.nan
            where = optimizer_label
            state = optimizer.init(x)
            if not isinstance(state, OptimizerState):
                raise ContractError(
                    f"init returned a {type(state).__name__} without a step_size field "
                    "(every state carries the step size its last update used)"
                )
            step_size_of(state)
            own_count = hasattr(state, "method_nit")  # the method counts its iterations itself (see the docstring)
            where = objective
            prev_f = f
            while True:
                t = clock() - start
                where, details["at"] = (
                    "an observer",
                    k,
                )  # a failing observer (a user's, in the notebook API) is named as such
                for rec in record:
                    rec(k, f, grad_norm, step_size, t, oracle.nfev, oracle.njev, x, g)
                if f < best_fun:
                    best_fun, best_iter = f, k
                # -- stop rules, in a fixed order; one comparison catches nan, inf and the bound
                if not (abs(f) <= divergence and (grad_norm <= math.inf or not gradient)):
                    reason = (
                        "nonfinite_f"
                        if not math.isfinite(f)
                        else ("nonfinite_grad" if not math.isfinite(grad_norm) else "bound")
                    )
                elif grad_norm <= grad_tol:
                    reason = "grad_tol"
                elif f_tol is not None and k > 0 and abs(f - prev_f) <= f_tol * max(1.0, abs(f)):
                    reason, details["change"] = "f_tol", abs(f - prev_f) / max(1.0, abs(f))
                elif interrupt is not None and interrupt.signum is not None:
                    reason, signum = "interrupted", interrupt.signum
                elif (getattr(state, "method_nit", k) if own_count else k) >= max_iter:
                    reason = "max_iter"
                elif time_limit is not None and t >= time_limit:
                    reason = "time_limit"
                if reason:
                    break
                # -- one step
                where, details["at"] = optimizer_label, k + 1
                out = optimizer.update(g, state, x)
                try:
                    step, state = out
                except (TypeError, ValueError):
                    raise ContractError(
                        f"update returned {type(out).__name__} {_brief(out)}, not (step, state)"
                    ) from None
                step_size = step_size_of(state)
                if np.shape(step) != shape:
                    raise ContractError(f"update returned a step of shape {np.shape(step)} for x of shape {shape}")
                x_new = x + step
                where = objective
                f_new, g = evaluate(x_new, gradient)
                x, prev_f, f = x_new, f, f_new
                if gradient:
                    grad_norm = math.sqrt(float(g @ g))
                k += 1
    except OptimizerFinished as exc:
        reason = "optimizer_converged" if exc.success else "optimizer_failed"
        details["optimizer_message"] = exc.message
        own_nit = exc.nit
        if exc.stalled and not exc.success:
            reason, more = stalled_reason(f, known_minimum)
            details.update(more, optimizer_message=exc.message.rstrip("."))
    except KeyboardInterrupt as exc:
        reason = "interrupted"
        signum = getattr(exc, "signum", signal.SIGINT)
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
        if optimizer.close is not None:
            optimizer.close()

    return Outcome(
        status=TERMINATION[reason][0],
        reason=reason,
        message=termination_message(reason, stop, f, grad_norm, k, signum, **details),
        x=x,
        fun=f,
        grad_norm=grad_norm,
        nit=int(own_nit if own_nit is not None else getattr(state, "method_nit", k)),
        nfev=oracle.nfev,
        njev=oracle.njev,
        best_fun=best_fun,
        best_iter=best_iter,
        wall_time_s=clock() - start,
        signum=int(signum) if signum else None,
        nhev=oracle.nhev,
    )


def _uses_gradient(optimizer: Optimizer) -> bool:
    """Whether the optimizer's registry entry needs the gradient (True for an unregistered one)."""
    from optrun.core.optimizers import OPTIMIZERS

    if optimizer.name and optimizer.name in OPTIMIZERS:
        return "gradient" in OPTIMIZERS.get(optimizer.name).needs
    return True


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
