"""The optimizer contract and registry.

An optimizer is a factory ``make(options, oracle) -> Optimizer``, registered
with its options model. An :class:`Optimizer` is a pair of pure functions
over the flat parameter vector (as in optax), plus an optional ``close``::

    init(x0) -> state
    update(grad, state, x) -> (step, state)     # the runner does x <- x + step
    close() -> None                             # the run ended: release per-run resources

The contract, checked by :func:`register_optimizer` (what can be known before
a run: :mod:`optrun.core.optimizers.entry_checks`) and by the runner (what only a run shows):

* ``step`` is an array of x's shape.
* Every state is an :class:`OptimizerState`: a ``step_size: float`` field is
  the step size the last update used (before any update, the first one's;
  ``nan`` for a method without one, as SciPy's). This field is the one channel
  through which a step size reaches the runner, which logs it in the trace.
* A state is plain data (numbers, arrays, tuples of them: it can be copied
  and pickled). A resource that lives for the run (SciPy's worker thread) is
  held by the pair's closure and released by ``close``.
* ``update`` depends on its arguments only (``pure``), unless the entry says
  otherwise (SciPy's methods, which take their next iterate from SciPy).
* A method that stops by its own criteria raises :class:`OptimizerFinished`.

A run that breaks the contract ends ``failed`` with a message that blames
"optimizer 'name'" (never the objective); so does an error raised inside
``init`` or ``update`` (unless it came from the objective, through the
oracle). The factory receives the run's :class:`~optrun.core.oracle.Oracle`,
for methods that need function values (line searches) or curvature.

Capabilities are declared on the registry entry, never coded per method:

* ``transforms``: the options the registration helper adds to the method by
  one generic wrapper each (:data:`TRANSFORMS`), applied in this order:

  - ``"step_size"``: the method is written for a given step size: ``make``
    returns a :class:`StepRule`, whose update takes the step size of this
    update; :func:`inject_step_size` evaluates the schedule
    (``options.step_size``, a number or a schedule mapping) at the update
    count and keeps the count and the step size used in the state
    (:class:`ScheduleState`, the method's own state in ``inner``);
  - ``"clip_grad_norm"``: :func:`clip_grad_norm` rescales the gradient to at
    most ``options.clip_grad_norm`` (None: off) before the method sees it.

  The options model must have the option of each declared transform (an
  undeclared ``step_size`` option is the method's own, as in README's
  ``signgd``). A method where they make no sense (SciPy's own line searches)
  does not declare them, so its strict options refuse them as unknown keys.
* ``needs`` (from :data:`NEEDS`), ``check`` (a size check before the run),
  ``pure``, and ``remember_last``: the method evaluates each iterate before the
  runner asks for it (SciPy), so whoever builds the run's Oracle makes it keep
  the last point.
* ``compiled``: the method can run inside the compiled loop of the jax backend
  (:mod:`optrun.core.compiled`): ``compiled(options)`` returns the method's
  *direction* as an optax ``GradientTransformation`` (pure ``init(params)`` and
  ``update(grad, state, params) -> (d, state)`` on jax arrays), the same
  direction its ``make`` computes in NumPy. The compiled loop applies the
  declared transforms itself (the schedule, evaluated on the host, and
  ``clip_grad_norm`` in jax.numpy) and steps ``-step_size(t) * d``, so only a
  method with the ``step_size`` transform can declare it.
* ``bounds``: how the method takes a run's bounds (:data:`BOUNDS`): ``"scipy"``
  (passed to SciPy), ``"projected"`` (the registration helper sets
  :attr:`Optimizer.project` to the box's projection, and the runner's next
  iterate is ``project(x + step)``), or ``""``: a run with bounds is refused.
  ``constraints``: the method takes constraints (it reads ``oracle.feasible``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from optrun.core.optimizers.entry_checks import entry_problems
from optrun.core.options import Options
from optrun.core.registry import Registry


@runtime_checkable
class OptimizerState(Protocol):
    """What the runner reads of a state: the step size the last update used."""

    @property
    def step_size(self) -> float: ...


class Optimizer(NamedTuple):
    """The pair of pure functions an optimizer is, plus ``close`` for per-run resources.

    ``name`` is the registry name, set by :func:`register_optimizer`'s factory,
    so that the runner can say which optimizer broke the contract."""

    init: Callable[[np.ndarray], OptimizerState]
    update: Callable[[np.ndarray, Any, np.ndarray], tuple[np.ndarray, OptimizerState]]
    close: Callable[[], None] | None = None  # release per-run resources (a worker thread) when the run ends
    name: str = ""
    # the run's box projection (bounds: "projected"): the runner's new iterate is project(x + step)
    project: Callable[[np.ndarray], np.ndarray] | None = None


class StepRule(NamedTuple):
    """A method written for a given step size (the ``step_size`` capability):
    ``update(grad, state, x, step_size) -> (step, state, step size used)``.
    The step size used is ``step_size`` itself, or what the method made of it
    (a line search's accepted step). Its state need not carry a step size."""

    init: Callable[[np.ndarray], Any]
    update: Callable[[np.ndarray, Any, np.ndarray, float], tuple[np.ndarray, Any, float]]
    close: Callable[[], None] | None = None


class ScheduleState(NamedTuple):
    """The state of a method with the ``step_size`` capability."""

    inner: Any  # the method's own state (velocity, moments, damping, ...)
    count: int  # type: ignore[assignment]  # updates done so far: the schedule's t (shadows tuple.count)
    step_size: float  # the step size the last update used (before any update: the first one's)


class OptimizerFinished(Exception):
    """Raised by ``update`` when the method has stopped by its own criteria
    (SciPy's termination, a line search that finds no decrease). The runner
    ends the run as ``converged`` (``success``) or ``failed`` with ``message``.
    ``stalled``: the method stopped because f cannot be decreased any further
    at floating-point precision (SciPy's "precision loss"); the runner then
    decides the status from where it stopped (``stopping.stalled_reason``).
    ``nit``: the method's own iteration count at its end, when it reports one
    (SciPy's ``nit``, whose counting differs between SciPy versions)."""

    def __init__(self, message: str, success: bool, stalled: bool = False, nit: int | None = None):
        super().__init__(message)
        self.message = message
        self.success = success
        self.stalled = stalled
        self.nit = nit


class ContractError(TypeError):
    """An optimizer that breaks the contract: refused at registration, or
    found by the runner (which ends the run ``failed``, blaming the optimizer)."""


# ------------------------------------------------------------- transforms
def inject_step_size(rule: StepRule, schedule: Callable[[int], float]) -> Optimizer:
    """The optimizer running ``rule`` with the step size ``schedule(t)`` at update t (t from 0)."""

    def init(x0):
        return ScheduleState(inner=rule.init(x0), count=0, step_size=schedule(0))

    def update(grad, state, x):
        step, inner, used = rule.update(grad, state.inner, x, schedule(state.count))
        return step, ScheduleState(inner=inner, count=state.count + 1, step_size=used)

    return Optimizer(init, update, rule.close)


def clip_grad_norm(optimizer: Optimizer, max_norm: float | None) -> Optimizer:
    """``optimizer`` fed with the gradient rescaled to 2-norm <= max_norm (None: unchanged)."""
    if max_norm is None:
        return optimizer
    inner = optimizer.update

    def update(grad, state, x):
        norm = float(np.sqrt(grad @ grad))
        if norm > max_norm:
            grad = grad * (max_norm / norm)
        return inner(grad, state, x)

    return optimizer._replace(update=update)


@dataclass(frozen=True)
class Transform:
    """A capability the registration helper applies: ``apply(built, option value) -> Optimizer``."""

    takes: type  # what make must return when the transform is declared (the first one applied)
    apply: Callable[[Any, Any], Optimizer]
    about: str = ""  # what it does to the method, for `optrun describe OPTIMIZER`


def _schedule(rule: StepRule, step_size: Any) -> Optimizer:
    from optrun.core.optimizers.schedules import as_schedule

    return inject_step_size(rule, as_schedule(step_size))


# option name -> transform, in the order they are applied (innermost first)
TRANSFORMS: dict[str, Transform] = {
    "step_size": Transform(
        StepRule,
        _schedule,
        "step_size: a number, or a schedule mapping evaluated at each update "
        "(step_size: {schedule: cosine, value: 0.1}; optrun list-optimizers lists the schedules)",
    ),
    "clip_grad_norm": Transform(
        Optimizer,
        clip_grad_norm,
        "clip_grad_norm: the gradient is rescaled to at most this 2-norm before the method sees it (null: off)",
    ),
}

# what a method can need besides the gradient the runner hands it (list-optimizers shows these)
NEEDS = ("gradient", "function values", "Hessian", "Hessian-vector products")

# how a method takes bounds (the entry's ``bounds``; "" for none: a run with bounds is refused)
BOUNDS = {
    "scipy": "passed to SciPy, which keeps every iterate inside",
    "projected": "projected steps: each new iterate is clipped into the box (optax's projection_box)",
}


# --------------------------------------------------------------- registry
@dataclass(frozen=True)
class OptimizerEntry:
    """A registered optimizer: its factory, options model and capabilities."""

    name: str
    make: Callable[[Any, Any], Optimizer]  # (options, oracle) -> the complete Optimizer, transforms applied
    options: type[Options]
    description: str
    needs: tuple[str, ...] = ("gradient",)
    # check(options, n): called before the run starts with the number of free
    # parameters; raises ConfigError when the method cannot work at that size
    check: Callable[[Any, int], None] | None = None
    # pure: update(grad, state, x) depends on its arguments only, so the same
    # call gives the same step (SciPy's methods are not: SciPy runs its own
    # loop in a worker thread, and each update takes its next iterate)
    pure: bool = True
    transforms: tuple[str, ...] = ()  # options applied by the generic wrappers in TRANSFORMS
    # the method evaluates each iterate before the runner asks for it (SciPy):
    # the Oracle built for the run keeps the last point (Oracle(remember_last=...))
    remember_last: bool = False
    factory: Callable[[Any, Any], Any] | None = None  # make as registered, before the transforms
    # compiled(options) -> the direction as an optax GradientTransformation, for
    # the jax backend's compiled loop (optrun.core.compiled); None: the Python loop only
    compiled: Callable[[Any], Any] | None = None
    # what the code follows, for `optrun describe` ("optax.adam", "Nocedal & Wright, Algorithm 3.1"); "" unknown
    reference: str = ""
    bounds: str = ""  # how it takes bounds: a key of BOUNDS, or "" (it cannot: a run with bounds is refused)
    constraints: bool = False  # it takes constraints (SciPy's SLSQP and trust-constr)


OPTIMIZERS: Registry[OptimizerEntry] = Registry("optimizer")


def register_optimizer(
    name: str,
    *,
    options: type[Options],
    description: str,
    needs: tuple[str, ...] = ("gradient",),
    check: Callable[[Any, int], None] | None = None,
    pure: bool = True,
    transforms: tuple[str, ...] = (),
    remember_last: bool = False,
    compiled: Callable[[Any], Any] | None = None,
    reference: str = "",
    bounds: str = "",
    constraints: bool = False,
):
    """Decorator: register ``make(options, oracle)`` under ``name``.

    ``make`` returns an :class:`Optimizer`, or a :class:`StepRule` when
    ``transforms`` has ``"step_size"``. The entry's ``make`` is the complete
    factory: the declared transforms applied (:data:`TRANSFORMS`) and the
    optimizer named. ``compiled`` (optional): ``compiled(options)`` is the
    method's direction as an optax GradientTransformation, for the jax
    backend's compiled loop (module docstring). ``reference`` (optional): what
    the code follows, a library function or a book's algorithm, shown by
    ``optrun describe``. ``bounds`` (optional): how the method takes
    bounds, a key of :data:`BOUNDS` ("projected": the runner clips each new
    iterate into the box); ``constraints``: whether it takes constraints
    (it then reads them from ``oracle.feasible``). An entry that breaks what registration can check is
    refused with a :class:`ContractError` naming the optimizer."""

    def decorate(make):
        if not isinstance(name, str) or not name.strip():
            raise ContractError(f"an optimizer name must be a non-empty string, got {name!r}")
        problems = entry_problems(
            name,
            make,
            options,
            description,
            needs,
            check,
            pure,
            transforms,
            remember_last,
            compiled,
            reference,
            bounds,
            constraints,
        )
        if problems:
            raise ContractError(f"optimizer '{name}' cannot be registered: {'; '.join(problems)}")
        applied = [(option, t) for option, t in TRANSFORMS.items() if option in transforms]
        first = applied[0][1].takes if applied else Optimizer

        def complete(opts, oracle=None) -> Optimizer:
            built = make(opts, oracle)
            if not isinstance(built, first):
                raise ContractError(
                    f"optimizer '{name}': make returned a {type(built).__name__}, not "
                    f"{'an' if first is Optimizer else 'a'} {first.__name__}"
                    + (" (it declares the step_size transform)" if first is StepRule else "")
                )
            for option, transform in applied:
                built = transform.apply(built, getattr(opts, option))
            box = getattr(getattr(oracle, "feasible", None), "box", None)
            if bounds == "projected" and box is not None:
                built = built._replace(project=box.project)
            return built._replace(name=name)

        OPTIMIZERS.register(
            name,
            OptimizerEntry(
                name,
                complete,
                options,
                description,
                tuple(needs),
                check,
                pure,
                tuple(transforms),
                remember_last,
                make,
                compiled,
                reference,
                bounds,
                constraints,
            ),
        )
        return make

    return decorate


def step_size_of(state: Any) -> float:
    """The step size a state reports, as a float; raises ContractError when it has none."""
    try:
        value = float(state.step_size)
    except AttributeError:
        raise ContractError(
            f"the state is a {type(state).__name__} without a step_size field "
            "(every state carries the step size its last update used)"
        ) from None
    except (TypeError, ValueError):
        raise ContractError(f"the state's step_size is not a number: {state.step_size!r:.60}") from None
    return value


from optrun.core.optimizers import (  # noqa: E402,F401  (registers the built-ins)
    first_order,
    line_search,
    newton,
    scipy_constrained,
    scipy_methods,
)
