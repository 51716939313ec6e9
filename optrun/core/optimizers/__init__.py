"""The optimizer registry.

An optimizer is a factory, registered with its options, that returns a pair
of pure functions over the flat parameter vector (as in optax)::

    init(x0) -> state
    update(grad, state, x) -> (step, state)     # the runner does x <- x + step

Every state carries ``step_size``: the step size the last update used, which
the runner logs. Optimizers only compute steps; the single loop in
:mod:`optrun.core.runner` evaluates the objective, applies stop rules and logs.
The factory also receives the run's :class:`~optrun.core.runner.Oracle`, for
methods that need extra function values (line searches) or curvature.
A method that stops by its own criteria raises :class:`OptimizerFinished`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from optrun.core.options import Options
from optrun.core.registry import Registry


class Optimizer(NamedTuple):
    """The pair of pure functions an optimizer is (plus ``close`` for resources).
    The state ``init`` returns must have a ``step_size`` field: the runner logs it."""

    init: Callable[[Any], Any]
    update: Callable[[Any, Any, Any], tuple[Any, Any]]
    close: Callable[[Any], None] | None = None  # release resources (a worker thread) when the run ends


class OptimizerFinished(Exception):
    """Raised by ``update`` when the method has stopped by its own criteria
    (SciPy's termination, a line search that finds no decrease). The runner
    ends the run as ``converged`` (``success``) or ``failed`` with ``message``."""

    def __init__(self, message: str, success: bool):
        super().__init__(message)
        self.message = message
        self.success = success


@dataclass(frozen=True)
class OptimizerEntry:
    """A registered optimizer: its factory, options model and capabilities (what it needs, a size check, purity)."""

    name: str
    make: Callable[[Any, Any], Optimizer]
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


OPTIMIZERS: Registry[OptimizerEntry] = Registry("optimizer")


def register_optimizer(name: str, *, options: type[Options], description: str, needs: tuple[str, ...] = ("gradient",),
                       check: Callable[[Any, int], None] | None = None, pure: bool = True):
    """Decorator: register ``make(options, oracle) -> Optimizer`` under ``name``."""

    def decorate(make):
        OPTIMIZERS.register(name, OptimizerEntry(name, make, options, description, needs, check, pure))
        return make

    return decorate


from optrun.core.optimizers import first_order, line_search, newton  # noqa: E402,F401  (registers the built-ins)
from optrun.core.optimizers import scipy_methods  # noqa: E402,F401  (SciPy-backed; scipy imported lazily)
