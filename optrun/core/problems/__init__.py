"""The problem registry.

A problem is registered with :func:`register_problem` on a *build* function
that takes the validated options and returns a :class:`Problem`: the
objective (a function of the named parameters, written with
``autograd.numpy``), the default start, and the known minimum when there is
one. Built-ins and user problems use the same call::

    from optrun.core.problems import Problem, Reference, register_problem

    @register_problem("booth2", description="Booth's function", formula="(x+2y-7)^2 + (2x+y-5)^2")
    def booth2(options):
        return Problem(
            objective=lambda p: (p["x"] + 2 * p["y"] - 7) ** 2 + (2 * p["x"] + p["y"] - 5) ** 2,
            start={"x": 0.0, "y": 0.0},
            reference=Reference(fun=0.0, params=({"x": 1.0, "y": 3.0},)),
        )

A problem that declares the backends it runs on (:mod:`optrun.core.backend`)
is written once against the array module it is given: its build takes the
options and that module, ``xp`` (``autograd.numpy`` or ``jax.numpy``), and
writes the objective with it; data stay NumPy arrays closed over::

    @register_problem("sphere", description="sum of squares", backends=("autograd", "jax"))
    def sphere(options, xp):
        return Problem(objective=lambda p: xp.sum(p["x"] ** 2), start={"x": np.ones(3)})

Without ``backends`` a problem is autograd-only and its build takes the
options alone, as above. On jax the objective is traced and compiled: no
in-place updates, and no Python ``if`` on a value that depends on the
parameters (use ``xp.where``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from optrun.core.errors import ConfigError
from optrun.core.feasible import ConstraintSpec
from optrun.core.options import NoOptions, Options
from optrun.core.params import Params, size
from optrun.core.registry import Registry


@dataclass(frozen=True)
class Reference:
    """A known minimum: its value and every known minimizer.

    ``params`` may also be given as a function that computes the minimizers
    (with ``count`` saying how many there will be), for references that are
    costly to polish: they are then computed on first use, not when a
    problem is only listed.
    """

    fun: float
    params_: tuple[Mapping[str, Any], ...] | Callable[[], tuple[Mapping[str, Any], ...]]
    count: int = 0

    def __init__(self, fun: float, params: Any, count: int | None = None):
        object.__setattr__(self, "fun", fun)
        object.__setattr__(self, "params_", params)
        object.__setattr__(self, "count", count if count is not None else (0 if callable(params) else len(params)))

    @property
    def params(self) -> tuple[Mapping[str, Any], ...]:
        if callable(self.params_):
            computed = tuple(self.params_())
            object.__setattr__(self, "params_", computed)  # computed once, on first use
            return computed
        return self.params_


@dataclass(frozen=True)
class Fit:
    """What ``fit.png`` shows for a model-fitting problem: predictions against
    the observed targets, or a fitted density over the observed data."""

    kind: Literal["predictions", "density"]
    observed: np.ndarray
    predicted: np.ndarray | None = None  # for "predictions": the model at the data
    density: Callable[[np.ndarray], np.ndarray] | None = None  # for "density": the fitted pdf
    label: str = ""


@dataclass(frozen=True)
class Problem:
    """A built problem. ``start`` is the default start: a parameter mapping,
    or a function of a NumPy ``Generator`` (seeded by the run's ``seed``) for
    problems with a random default start.

    A vector-valued problem (see :func:`vector_valued`) sets ``vector``, a
    function of the parameters returning a 1-D array of ``outputs`` entries;
    it has a Jacobian but nothing to minimize, and its ``objective`` raises
    the ConfigError of :meth:`scalar_objective`."""

    objective: Callable[[Params], Any]
    start: Params | Callable[[np.random.Generator], Params]
    reference: Reference | None = None
    note: str = ""  # e.g. "unbounded below as x -> -inf", shown where the reference would be
    fit: Callable[[Params], Fit] | None = None  # model-fitting problems: data for fit.png
    vector: Callable[[Params], Any] | None = None  # vector-valued problems: params -> array of shape (outputs,)
    outputs: int = 1  # entries of vector's value (1 for a scalar objective)
    vectorized: bool | None = None  # None: as the registry entry declares; False: not this one (a formula with sum)
    # the problem's own feasible set (optrun.core.feasible): bounds as a config's `bounds:` writes them
    # (name or dotted path -> [low, high] or a list of pairs) and constraints c(params) >= 0 or == 0;
    # ``reference`` is then the constrained minimum
    bounds: Mapping[str, Any] = field(default_factory=dict)
    constraints: tuple[ConstraintSpec, ...] = ()

    def initial(self, seed: int) -> Params:
        start = self.start(np.random.default_rng(seed)) if callable(self.start) else self.start
        return dict(start)

    def scalar_objective(self) -> Callable[[Params], Any]:
        """The objective to minimize (or differentiate as a scalar); for a
        vector-valued problem, the one-line ConfigError that says why there is none."""
        if self.vector is None:
            return self.objective
        raise not_scalar(self.outputs, size(self.initial(0)))


def not_scalar(outputs: int, inputs: int) -> ConfigError:
    """The error for asking a vector-valued problem for a scalar objective (``run`` does)."""
    return ConfigError(
        f"is a vector function R^{inputs} -> R^{outputs}: it has no single value to minimize, so it cannot be run "
        "(nor given a gradient, Hessian or derivatives); write one formula for that, "
        "or ask for its Jacobian, a JVP or a VJP",
        path="problem",
    )


def vector_valued(vector: Callable[[Params], Any], start: Params, outputs: int, note: str = "") -> Problem:
    """A vector-valued problem: ``vector(params)`` is a 1-D array of
    ``outputs`` entries, written with ``autograd.numpy``. Its ``objective``
    raises :func:`not_scalar`'s error, so nothing can minimize it by mistake."""
    inputs = size(start)

    def objective(params: Params) -> Any:
        raise not_scalar(outputs, inputs)

    return Problem(objective=objective, start=start, note=note, vector=vector, outputs=outputs)


def vector_problem(
    f: Callable[[Any], Any],
    start: np.ndarray,
    fun: float | None = None,
    minimizer: np.ndarray | None = None,
    note: str = "",
) -> Problem:
    """The common shape of a test function: one vector parameter ``x``,
    ``f(x)`` written with ``autograd.numpy``, its default start and (if known)
    its minimum ``fun`` at ``minimizer``."""
    reference = None if fun is None else Reference(fun=fun, params=({"x": minimizer},))
    return Problem(objective=lambda p: f(p["x"]), start={"x": start}, reference=reference, note=note)


AUTOGRAD_ONLY = ("autograd",)


@dataclass(frozen=True)
class ProblemEntry:
    """A registered problem: its build function, options model, description,
    formula, the backends it runs on and where it came from.

    ``build(options)`` builds it (with its first backend's array module); an
    entry with ``takes_module`` (one that declared its backends) also takes
    the array module, ``build(options, xp)``: :meth:`make` calls either for a backend."""

    name: str
    build: Callable[..., Problem]
    options: type[Options]
    description: str
    formula: str
    parameters: str  # human text, e.g. "x (dim,)"
    extra: dict[str, Any] = field(default_factory=dict)
    backends: tuple[str, ...] = AUTOGRAD_ONLY
    takes_module: bool = False  # build(options, xp) rather than build(options)
    python_only: bool = False  # built from a Python function (optrun.minimize), never from a config file
    vectorized: bool = False  # objective(params) broadcasts: see register_problem

    def broadcasts(self, problem: Problem) -> bool:
        """Whether ``problem`` (built from this entry) may be called on a whole
        mesh at once: its own ``vectorized`` when set, else the entry's."""
        return self.vectorized if problem.vectorized is None else problem.vectorized

    def make(self, options: Options, backend: Any = None) -> Problem:
        """The problem built for ``backend`` (an :class:`optrun.core.backend.Backend`;
        default autograd); a backend it does not run on is a ConfigError at ``backend``."""
        from optrun.core.backend import get_backend

        backend = backend if backend is not None else get_backend()
        self.check_backend(backend.name)
        return self.build(options, backend.np) if self.takes_module else self.build(options)

    def check_backend(self, name: str) -> None:
        """A one-line ConfigError at ``backend`` if this problem does not run on ``name``."""
        if name not in self.backends:
            raise ConfigError(
                f"problem '{self.name}' runs on the {_and(self.backends)} "
                f"backend{'s' if len(self.backends) > 1 else ''} only, not '{name}' "
                "(a problem lists its backends in register_problem(..., backends=...))",
                path="backend",
            )


def _and(names: tuple[str, ...]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


PROBLEMS: Registry[ProblemEntry] = Registry("problem", hidden=lambda entry: entry.python_only)


def register_problem(
    name: str,
    *,
    description: str,
    formula: str = "",
    parameters: str = "",
    options: type[Options] = NoOptions,
    backends: tuple[str, ...] | None = None,
    python_only: bool = False,
    vectorized: bool = False,
) -> Callable[[Callable[..., Problem]], Callable[..., Problem]]:
    """Decorator: register ``build(options) -> Problem`` under ``name``
    (``formula`` and ``parameters`` are what list-problems and describe show;
    ``python_only``: usable from the Python API only, left out of list-problems).

    With ``backends`` (e.g. ``("autograd", "jax")``) the build is written for
    any of them: ``build(options, xp) -> Problem``, ``xp`` the backend's array
    module. Without, the problem runs on autograd only.

    ``vectorized=True`` declares that the objective broadcasts: called with
    every scalar parameter given as an array of points (all of one shape), it
    returns f at each point, an array of that shape (it sums over nothing but
    its own data). The landscape plot then evaluates its mesh in one call;
    otherwise point by point (a function that sums, ``sum([x - 1, y - 1])``,
    would sum the whole mesh). A built problem may turn it off for itself
    with ``Problem(vectorized=False)``."""
    if backends is not None:
        backends = tuple(backends)
        if not backends or not all(isinstance(b, str) for b in backends):
            raise ValueError(f"backends must be a non-empty tuple of backend names, got {backends!r}")

    def decorate(build: Callable[..., Problem]) -> Callable[..., Problem]:
        PROBLEMS.register(
            name,
            ProblemEntry(
                name=name,
                build=build if backends is None else _module_by_default(build, backends[0]),
                options=options,
                description=description,
                formula=formula,
                parameters=parameters,
                backends=AUTOGRAD_ONLY if backends is None else backends,
                python_only=python_only,
                vectorized=vectorized,
                takes_module=backends is not None,
            ),
        )
        return build

    return decorate


def _module_by_default(build: Callable[..., Problem], backend: str) -> Callable[..., Problem]:
    """``build(options, xp)`` that may also be called as ``build(options)``, as
    code that predates backends calls every entry (the catalogue, tests): then
    ``xp`` is the array module of ``backend``, the first the problem declares."""

    @functools.wraps(build)
    def build_for(options: Any, xp: Any = None) -> Problem:
        if xp is None:
            from optrun.core.backend import get_backend

            xp = get_backend(backend).np
        return build(options, xp)

    return build_for


# ---------------------------------------------------------------------- suites
@dataclass(frozen=True)
class Suite:
    """A named group of problems (e.g. ``mgh``), each a problem name with its options."""

    name: str
    members: tuple[tuple[str, Mapping[str, Any]], ...]
    description: str


SUITES: Registry[Suite] = Registry("suite")


def register_suite(name: str, problems: list[str | Mapping[str, Any]], description: str) -> Suite:
    """Register a suite: ``problems`` are names (default options) or mappings
    ``{"name": NAME, OPTION: VALUE, ...}``; every name must be a registered
    problem (checked here; the options are validated when a member is built)."""
    members: list[tuple[str, Mapping[str, Any]]] = []
    for item in problems:
        if isinstance(item, str):
            members.append((item, {}))
        else:
            options = dict(item)
            members.append((options.pop("name"), options))
    for problem, _ in members:
        PROBLEMS.get(problem)  # an unknown name fails at registration, naming close matches
    return SUITES.register(name, Suite(name=name, members=tuple(members), description=description))


def suite_members(name: str) -> list[tuple[str, dict[str, Any]]]:
    """The (problem name, options) pairs of suite ``name``, in the suite's order;
    an unknown suite is a ConfigError naming close matches."""
    return [(problem, dict(options)) for problem, options in SUITES.get(name).members]


# Importing the modules registers the built-ins.
from optrun.core.problems import (  # noqa: E402,F401
    classic,
    constrained,
    expression,
    functions,
    mgh,
    models,
    python,
)
