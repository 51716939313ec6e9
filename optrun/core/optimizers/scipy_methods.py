"""SciPy-backed methods, through ``scipy.optimize.minimize`` with autograd's
gradient (and Hessian or Hessian-vector product where the method takes one).

SciPy owns its iteration, so it runs in a worker thread and hands each
iterate to the runner through its per-iteration ``callback``: the optimizer's
``update`` returns the step to SciPy's next iterate. The runner's one loop
therefore still logs every iteration and applies every stop rule (and Ctrl-C);
when the runner stops first, the next callback raises ``StopIteration``, and
when SciPy stops first, ``update`` raises :class:`OptimizerFinished` with
SciPy's termination message, which becomes the summary's ``message``.
scipy is imported only when one of these methods is built (by the factory,
before the runner's clock starts: its import is not the run's time).

The worker is a per-run resource of the optimizer pair: ``init`` starts it
(held by the pair's closure, never in the state, which is plain data) and
``close`` stops it. The entries declare ``remember_last``: SciPy evaluates
each iterate before the runner asks for it, so the run's Oracle keeps the
last points it evaluated and the runner's look at an iterate costs nothing.
They take no ``step_size`` or ``clip_grad_norm``: SciPy chooses its own
steps, from the true gradient.

Counting is SciPy's: f and the gradient go to SciPy as two functions
(``oracle.value``, ``oracle.grad``), each call counted as SciPy counts it,
so a run's ``nfev``, ``njev`` and ``nit`` are those ``scipy.optimize.minimize``
reports for the same problem (``nhev``: the Hessian or Hessian-vector
products actually computed; SciPy's trust-region methods report one more
given only ``hessp``, for a placeholder Hessian it calls at the start).
Nelder-Mead counts building its first simplex as iteration 1, as SciPy
does: its state reports ``method_nit`` = steps + 1. Nelder-Mead gets no
gradient: its entry does not need one, so the runner evaluates f alone.

The evaluation budget (``stop.max_fev``): a method with an evaluation limit
of its own in SciPy (Nelder-Mead's ``maxfev``, L-BFGS-B's ``maxfun``) gets
the budget as that limit, so it stops exactly where SciPy stops (Nelder-Mead
at the first iteration that reaches it, L-BFGS-B at the first that exceeds
it); its state has a ``max_fev`` field, through which the runner hands it the
budget, and SciPy's ending there ends the run ``max_fev``
(:class:`BudgetSpent`). The others (BFGS, CG, Newton-CG, trust-ncg,
trust-exact have no such limit in SciPy) are stopped by the runner's
``max_fev`` rule at the first iterate whose count reached the budget. SciPy's
own iteration limit is lifted in every method: the runner's ``max_iter`` rule
decides.
"""

from __future__ import annotations

import functools
import queue
import threading
import warnings
from typing import Any, NamedTuple

import numpy as np
from pydantic import Field

from optrun.core.optimizers import Optimizer, OptimizerFinished, register_optimizer
from optrun.core.options import Options

_CONTINUE, _STOP = "continue", "stop"
LIFTED = 2**31 - 1  # a SciPy limit set out of reach: the runner's stop rules decide
_SPENT = 1  # SciPy's result status "maximum number of function evaluations (or iterations) reached"


class ScipyState(NamedTuple):
    """Plain data: the worker belongs to the optimizer pair, not to the state."""

    iterates: int = 0  # iterates taken from SciPy so far
    step_size: float = float("nan")  # SciPy chooses its own steps
    method_nit: int = 0  # SciPy's iteration count at this iterate (the runner reports it as nit)


class ScipyBudgetState(NamedTuple):
    """The state of a method that enforces the evaluation budget itself: its
    ``max_fev`` field is where the runner puts ``stop.max_fev`` (runner.minimize)."""

    iterates: int = 0
    step_size: float = float("nan")
    method_nit: int = 0
    max_fev: int | None = None  # SciPy's own evaluation limit (None: lifted)


class BudgetSpent(OptimizerFinished):
    """SciPy stopped on the evaluation limit it was given (``stop.max_fev``): the run ends ``max_fev``."""

    reason = "max_fev"


class _Worker:
    """``scipy.optimize.minimize`` in a thread, one iterate at a time."""

    def __init__(
        self,
        method: str,
        oracle: Any,
        x0: np.ndarray,
        uses: tuple[str, ...],
        options: dict[str, Any],
        stall_status: int | None = None,
        fev_limit: str | None = None,
    ):
        self.stall_status = stall_status
        self.fev_limit = fev_limit  # the name of SciPy's own evaluation limit (None: the method has none)
        self.budget: int | None = None  # stop.max_fev, once given to SciPy as that limit
        self._to_runner: queue.Queue = queue.Queue()
        self._to_scipy: queue.Queue = queue.Queue()
        self._started = False
        self.method = method
        self._oracle = oracle
        self.options = options
        kwargs: dict[str, Any] = {"method": method, "options": options, "callback": self._callback}
        if "gradient" in uses:
            # f and g as SciPy's two functions, so each is counted as SciPy counts it; f's autograd
            # pass also computes g, which the oracle keeps for SciPy's gradient request (as jac=True would)
            fun = functools.partial(oracle.value, with_grad=True)
            kwargs["jac"] = oracle.grad
        else:
            fun = oracle.value
        if "hessp" in uses:
            kwargs["hessp"] = oracle.hvp
        if "hess" in uses:
            kwargs["hess"] = oracle.hessian
        feasible = getattr(oracle, "feasible", None)  # the run's bounds and constraints (the entry takes them)
        if feasible is not None and feasible.box is not None:
            kwargs["bounds"] = feasible.scipy_bounds()
        if feasible is not None and feasible.constraints:
            kwargs["constraints"] = feasible.scipy_constraints()
            # trust-constr estimates a constraint's Hessian by BFGS and warns when a linear one's gradient does not
            # change ("delta_grad == 0"): advice for SciPy users, noise in optrun's tables (once, for that module)
            warnings.filterwarnings(
                "ignore", category=UserWarning, module=r"scipy\.optimize\._differentiable_functions"
            )
        self._thread = threading.Thread(
            target=self._run, args=(fun, x0, kwargs), daemon=True, name=f"optrun-scipy-{method}"
        )

    def _run(self, fun, x0, kwargs) -> None:
        from scipy.optimize import minimize  # imported by scipy_method already: no import inside the run's clock

        try:
            with np.errstate(
                all="ignore"
            ):  # as in the runner's thread (errstate is per thread): overflow is a result, not a warning
                result = minimize(fun, x0, **kwargs)
            self._to_runner.put(("done", result))
        except BaseException as exc:  # handed to the runner's thread, which reports it
            self._to_runner.put(("error", exc))

    def _callback(self, intermediate_result) -> None:
        if isinstance(intermediate_result, np.ndarray):  # TNC (and SLSQP before SciPy 1.15) hand x alone
            x = np.array(intermediate_result, dtype=float)  # SciPy evaluated it last: the oracle remembers f there
        else:
            x = np.array(intermediate_result.x, dtype=float)
            self._oracle.remember(
                x, intermediate_result.fun
            )  # f as SciPy computed it (Nelder-Mead's best vertex may be old)
        self._to_runner.put(("iterate", x))
        if self._to_scipy.get() == _STOP:
            raise StopIteration

    def next_iterate(self, budget: int | None = None) -> np.ndarray:
        """SciPy's next iterate; the first call starts SciPy, with ``budget``
        (stop.max_fev, for a method with an evaluation limit of its own) as that limit."""
        if self._started:
            self._to_scipy.put(_CONTINUE)
        else:
            if self.fev_limit is not None and budget is not None:
                self.options[self.fev_limit] = self.budget = budget
            self._thread.start()
            self._started = True
        kind, payload = self._to_runner.get()
        if kind == "iterate":
            return payload
        if kind == "error":
            raise payload
        spent = self.budget is not None and payload.status == _SPENT and payload.nfev >= self.budget
        raise (BudgetSpent if spent else OptimizerFinished)(
            f"scipy {self.method}: {payload.message}",
            success=bool(payload.success),
            stalled=self.stall_status is not None and payload.status == self.stall_status,
            nit=payload.get("nit"),
        )

    def stop(self) -> None:
        if self._started and self._thread.is_alive():
            self._to_scipy.put(_STOP)
            self._thread.join(timeout=10)


def scipy_method(
    options: Options,
    oracle: Any,
    *,
    method: str,
    uses: tuple[str, ...],
    scipy_options: tuple[str, ...],
    nit_offset: int = 0,
    fev_limit: str | None = None,
    stall_status: int | None = None,
    iter_limit: str | None = "maxiter",
) -> Optimizer:
    import scipy.optimize  # noqa: F401  (here, as the run is built, so its import is not timed as the run's first iteration)

    settings = {name: getattr(options, name) for name in scipy_options}
    for limit in (iter_limit, fev_limit):
        if limit is not None:
            settings[limit] = LIFTED  # the runner's stop rules decide (the budget: see next_iterate)
    run: list[_Worker] = []  # this run's worker, once init has started it

    def init(x0):
        close()  # a second init starts over
        run.append(_Worker(method, oracle, x0, uses, dict(settings), stall_status, fev_limit))
        return ScipyBudgetState() if fev_limit is not None else ScipyState()

    def update(grad, state, x):
        if not run:
            raise RuntimeError("update before init: the SciPy worker is started by init")
        x_next = run[0].next_iterate(getattr(state, "max_fev", None))
        iterates = state.iterates + 1
        return x_next - x, state._replace(iterates=iterates, method_nit=iterates + nit_offset)

    def close():
        while run:
            run.pop().stop()

    return Optimizer(init, update, close)


def _dense_check(name: str, matrix: str, copies: int):
    """For methods that keep dense n x n matrices: refuse sizes that cannot fit."""

    def check(options: Options, n: int) -> None:
        from optrun.core.optimizers.newton import refuse_dense

        refuse_dense(
            n,
            copies,
            f"{name} keeps a dense {n} x {n} {matrix}",
            "use lbfgs, newton-cg or trust-ncg (no dense matrix)",
            "optimizer.name",
        )

    return check


def _register(
    name: str,
    method: str,
    options: type[Options],
    uses: tuple[str, ...],
    description: str,
    check=None,
    nit_offset: int = 0,
    fev_limit: str | None = None,
    stall_status: int | None = 2,
    counting: str = "",
    bounds: bool = False,
    constraints: bool = False,
    iter_limit: str | None = "maxiter",
) -> None:
    """``counting``: how the run's counts differ from SciPy's report, if they do (``optrun describe`` shows it);
    ``nit_offset``: SciPy's iteration count before its first callback (Nelder-Mead's first simplex is iteration 1);
    ``fev_limit``: the name of SciPy's own evaluation limit for the method, if it has one (it gets stop.max_fev);
    ``stall_status``: SciPy's ``status`` when the method cannot decrease f any further at floating-point precision
    (2 for every gradient method here: BFGS, CG and Newton-CG's "precision loss", L-BFGS-B's abnormal line search
    end, the trust regions' failure to predict an improvement); the runner decides such a run's status;
    ``bounds``, ``constraints``: SciPy takes the run's bounds (constraints) for this method, passed through as
    ``scipy.optimize.Bounds`` (SciPy's constraint dicts, with the backend's Jacobians);
    ``iter_limit``: the name of SciPy's iteration limit, which is lifted (None: the method has none, TNC)."""
    needs = tuple({"gradient": "gradient", "hessp": "Hessian-vector products", "hess": "Hessian"}[u] for u in uses) or (
        "function values",
    )
    make = functools.partial(
        scipy_method,
        method=method,
        uses=uses,
        scipy_options=tuple(options.model_fields),
        nit_offset=nit_offset,
        fev_limit=fev_limit,
        stall_status=stall_status,
        iter_limit=iter_limit,
    )
    budget = f"SciPy's own {fev_limit} = stop.max_fev" if fev_limit else "the runner's max_fev rule (no SciPy limit)"
    register_optimizer(
        name,
        options=options,
        description=description,
        needs=needs,
        check=check,
        pure=False,
        remember_last=True,
        reference=f"scipy.optimize.minimize(method='{method}'); evaluation budget: {budget}"
        + (f"; {counting}" if counting else ""),
        bounds="scipy" if bounds else "",
        constraints=constraints,
    )(make)


class LBFGSOptions(Options):
    maxcor: int = Field(
        10, ge=1, le=1000, description="stored correction pairs (SciPy's maxcor): the memory of the Hessian estimate"
    )
    gtol: float = Field(
        1e-10, ge=0, description="SciPy's pgtol: stop when the largest projected-gradient entry is at most this"
    )
    ftol: float = Field(1e-15, ge=0, description="SciPy's ftol: stop when the relative reduction of f is at most this")


class GradientTolOptions(Options):
    gtol: float = Field(1e-10, ge=0, description="SciPy's gtol: stop when the largest gradient entry is at most this")


class NewtonCGOptions(Options):
    xtol: float = Field(
        1e-12, gt=0, description="SciPy's xtol: stop when the average relative change in x is at most this"
    )


class TrustOptions(Options):
    gtol: float = Field(1e-10, ge=0, description="SciPy's gtol: stop when the gradient's 2-norm is below this")
    initial_trust_radius: float = Field(1.0, gt=0, description="the trust region's first radius")
    max_trust_radius: float = Field(1000.0, gt=0, description="the largest radius the trust region may grow to")


class NelderMeadOptions(Options):
    xatol: float = Field(
        1e-10, ge=0, description="SciPy's xatol: absolute spread of the simplex's vertices in x that is small enough"
    )
    fatol: float = Field(
        1e-12, ge=0, description="SciPy's fatol: absolute spread of f over the simplex that is small enough"
    )
    adaptive: bool = Field(
        False, description="SciPy's adaptive: parameters scaled to the dimension (Gao and Han), for large n"
    )


_register(
    "lbfgs",
    "L-BFGS-B",
    LBFGSOptions,
    ("gradient",),
    "SciPy L-BFGS-B: limited-memory quasi-Newton",
    fev_limit="maxfun",
    bounds=True,
)
_register(
    "bfgs",
    "BFGS",
    GradientTolOptions,
    ("gradient",),
    "SciPy BFGS: quasi-Newton with a dense inverse-Hessian estimate",
    check=_dense_check("bfgs", "inverse-Hessian estimate", 3),
)
_register("cg", "CG", GradientTolOptions, ("gradient",), "SciPy nonlinear conjugate gradients (Polak-Ribiere)")
_register(
    "newton-cg",
    "Newton-CG",
    NewtonCGOptions,
    ("gradient", "hessp"),
    "SciPy truncated Newton with Hessian-vector products",
)
_register(
    "trust-ncg",
    "trust-ncg",
    TrustOptions,
    ("gradient", "hessp"),
    "SciPy Newton conjugate-gradient trust region",
    counting="nhev counts the Hessian-vector products computed: SciPy reports one more, for a placeholder Hessian "
    "it calls once at the start, which computes nothing",
)
_register(
    "trust-exact",
    "trust-exact",
    TrustOptions,
    ("gradient", "hess"),
    "SciPy nearly exact trust region with the full Hessian",
    check=_dense_check("trust-exact", "Hessian and its factorizations", 5),
)
_register(
    "nelder-mead",
    "Nelder-Mead",
    NelderMeadOptions,
    (),
    "SciPy Nelder-Mead simplex: derivative-free, for comparison",
    nit_offset=1,
    bounds=True,
    fev_limit="maxfev",
    counting="nit counts building the first simplex as iteration 1, as SciPy does",
    stall_status=None,
)
