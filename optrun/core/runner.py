"""The one runner loop every optimizer goes through.

``minimize`` evaluates f and its gradient (one ``value_and_grad`` call per
iteration), asks the optimizer for a step, applies the stop rules, detects
divergence, keeps the best point and hands every iteration to the observers
(trace writer, progress bar). Optimizers never loop on their own.

Iteration 0 is the start, before any step; row k holds f after k steps.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from optrun.core.backend import Backend, get_backend
from optrun.core.errors import OptrunError
from optrun.core.status import Status
from optrun.core.optimizers import ContractError, Optimizer, OptimizerFinished, OptimizerState, step_size_of

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
}


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

    def record(self, k: int, f: float, grad_norm: float, step_size: float, t: float, nfev: int, njev: int, x: np.ndarray,
               g: np.ndarray) -> None: ...


class Oracle:
    """The objective over the flat vector, counting evaluations.

    ``value_and_grad`` is what the runner calls once per iteration; ``value``,
    ``hessian`` and ``hvp`` are for optimizers that need more (line searches,
    Newton and trust-region methods). Every derivative comes from the
    ``backend`` (:mod:`optrun.core.backend`; autograd by default, or jax, whose
    derivatives are compiled with ``jax.jit``); ``fun`` is the flat objective,
    which on jax is traceable (and compiled: ``backend.jit``).
    ``remember_last`` is for methods that evaluate each iterate before the
    runner asks for it (an optimizer entry's ``remember_last`` capability).
    An exception raised by the objective (or its derivatives) is kept in
    ``error``, so the runner blames the objective even when it reaches the
    runner through an optimizer (a line search, SciPy's worker).
    """

    def __init__(self, fun: Callable[[np.ndarray], Any], remember_last: bool = False, backend: Backend | None = None):
        self.backend = backend if backend is not None else get_backend()
        self.fun = self.backend.jit(fun)
        self._value_and_grad = self.backend.value_and_grad(fun)
        self._hessian: Callable[[np.ndarray], Any] | None = None
        self._hvp: Callable[[np.ndarray, np.ndarray], Any] | None = None
        self.nfev = 0
        self.njev = 0
        self.nhev = 0  # Hessians and Hessian-vector products
        self.remember_last = remember_last  # see value_and_grad
        self._last: tuple[np.ndarray, float, np.ndarray] | None = None
        self.error: BaseException | None = None  # the last exception the objective raised

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """f and the gradient. With ``remember_last``, the last point is kept,
        so asking again for the point a method just evaluated (SciPy's
        iterate) costs nothing; off by default, as it costs a compare and a
        copy on every call."""
        if self.remember_last:
            last = self._last
            if last is not None and np.array_equal(last[0], x):
                return last[1], last[2]
        self.nfev += 1
        self.njev += 1
        try:
            f, g = self._value_and_grad(x)
            result = float(f), _writable(g)
        except Exception as exc:
            self.error = exc
            raise
        if self.remember_last:
            self._last = (np.array(x, dtype=float), *result)
        return result

    def value(self, x: np.ndarray) -> float:
        self.nfev += 1
        try:
            return float(self.fun(x))
        except Exception as exc:
            self.error = exc
            raise

    def grad(self, x: np.ndarray) -> np.ndarray:
        return self.value_and_grad(x)[1]

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


def minimize(
    oracle: Oracle,
    x0: np.ndarray,
    optimizer: Optimizer,
    stop: StopRules,
    observers: Sequence[Observer] = (),
    clock: Callable[[], float] = time.perf_counter,
    interrupt: SignalFlag | None = None,
) -> Outcome:
    """The one runner loop: from ``x0``, evaluate f and its gradient, ask
    ``optimizer`` for a step, apply the stop rules and divergence checks, keep
    the best point and hand each iteration to ``observers``; returns the
    Outcome (status, message, final point, counts). ``interrupt`` is the
    run's SignalFlag (a signal ends the run as ``interrupted``).

    The optimizer contract (:mod:`optrun.core.optimizers`) is checked here:
    a state without a numeric ``step_size``, an update that does not return
    ``(step, state)`` or a step of another shape than x ends the run
    ``failed``, blaming the optimizer by name."""
    start = clock()
    x = np.array(x0, dtype=float)
    k = 0
    f = grad_norm = math.nan
    best_fun, best_iter = math.inf, -1
    details: dict[str, Any] = {}
    reason, signum = "", None
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
    step_size = math.nan
    value_and_grad = oracle.value_and_grad
    shape = x.shape

    try:
        with np.errstate(all="ignore"):
            f, g = value_and_grad(x)
            grad_norm = math.sqrt(float(g @ g))
            where = optimizer_label
            state = optimizer.init(x)
            if not isinstance(state, OptimizerState):
                raise ContractError(f"init returned a {type(state).__name__} without a step_size field "
                                    "(every state carries the step size its last update used)")
            step_size_of(state)
            where = objective
            prev_f = f
            while True:
                t = clock() - start
                for rec in record:
                    rec(k, f, grad_norm, step_size, t, oracle.nfev, oracle.njev, x, g)
                if f < best_fun:
                    best_fun, best_iter = f, k
                # -- stop rules, in a fixed order; one comparison catches nan, inf and the bound
                if not (abs(f) <= divergence and grad_norm <= math.inf):
                    reason = "nonfinite_f" if not math.isfinite(f) else ("nonfinite_grad" if not math.isfinite(grad_norm) else "bound")
                elif grad_norm <= grad_tol:
                    reason = "grad_tol"
                elif f_tol is not None and k > 0 and abs(f - prev_f) <= f_tol * max(1.0, abs(f)):
                    reason, details["change"] = "f_tol", abs(f - prev_f) / max(1.0, abs(f))
                elif interrupt is not None and interrupt.signum is not None:
                    reason, signum = "interrupted", interrupt.signum
                elif k >= max_iter:
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
                    raise ContractError(f"update returned {type(out).__name__} {_brief(out)}, not (step, state)") from None
                step_size = step_size_of(state)
                if np.shape(step) != shape:
                    raise ContractError(f"update returned a step of shape {np.shape(step)} for x of shape {shape}")
                x_new = x + step
                where = objective
                f_new, g = value_and_grad(x_new)
                x, prev_f, f = x_new, f, f_new
                grad_norm = math.sqrt(float(g @ g))
                k += 1
    except OptimizerFinished as exc:
        reason = "optimizer_converged" if exc.success else "optimizer_failed"
        details["optimizer_message"] = exc.message
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

    status, template = TERMINATION[reason]
    message = template.format(
        fun=f,
        grad_norm=grad_norm,
        nit=k,
        grad_tol=stop.grad_tol or 0.0,
        f_tol=stop.f_tol or 0.0,
        max_iter=stop.max_iter,
        time_limit=stop.time_limit or 0.0,
        divergence=stop.divergence,
        signal=signal.Signals(signum).name if signum else "",
        **details,
    )
    return Outcome(
        status=status,
        reason=reason,
        message=message,
        x=x,
        fun=f,
        grad_norm=grad_norm,
        nit=k,
        nfev=oracle.nfev,
        njev=oracle.njev,
        best_fun=best_fun,
        best_iter=best_iter,
        wall_time_s=clock() - start,
        signum=int(signum) if signum else None,
    )


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
