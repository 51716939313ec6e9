"""Everything a run needs, built and checked before anything is written.

:func:`prepare` turns a validated config into the problem, its start
(initializer applied), the fixed and free parameters, the flat start vector
and the :class:`~optrun.core.oracle.Oracle` over it, all on the config's
backend (``backend:``, :mod:`optrun.core.backend`). Bad input raises
ConfigError, before any file exists. :mod:`optrun.engine.record` runs what it
prepares; ``optrun plot`` prepares a finished run again from its config.yaml.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from autograd.misc.flatten import flatten

from optrun.config import Config
from optrun.core.backend import Backend, get_backend
from optrun.core.errors import ConfigError, OptrunError, short_repr
from optrun.core.feasible import ConstraintSpec, Feasible, build_feasible
from optrun.core.oracle import Oracle
from optrun.core.params import Params, coerce_like, leaf_names, plain_leaves, size, unknown_parameter
from optrun.core.problems import Problem, Reference
from optrun.core.problems.data import data_files


@dataclass(frozen=True)
class Prepared:
    """Everything a run needs, built and checked before anything is written."""

    config: Config
    problem: Problem
    params0: Params  # the full start, fixed parameters included
    fixed: Params
    x0: np.ndarray  # the free parameters, flattened
    unflatten: Callable[[np.ndarray], Params]  # NumPy leaves (floats and arrays) on every backend
    oracle: Oracle
    param_names: list[str] | None  # trace columns, or None beyond output.param_columns
    grad_names: list[str] | None  # grad:<name> trace columns (output.grad_columns): the free entries, or None
    expand: Callable[[np.ndarray], np.ndarray] | None  # free vector -> full vector
    feasible: Feasible | None = None  # the bounds and constraints (the problem's and the config's), or None

    def params(self, x: np.ndarray) -> Params:
        """Free vector -> the full named parameters, in the problem's order."""
        free = self.unflatten(x)
        return {k: self.fixed[k] if k in self.fixed else free[k] for k in self.params0}


def prepare(config: Config) -> Prepared:
    """Build everything a run needs from a validated config, before anything is
    written: the problem, its start (initializer applied), the fixed and free
    parameters, the flat start vector and the Oracle over it. Bad input raises
    ConfigError."""
    backend = get_backend(config.backend)
    problem, params0, fixed = build_start(config, backend)
    _check_expected_params(config, params0)
    free = {k: v for k, v in params0.items() if k not in fixed}
    x0, backend_unflatten = backend.ravel(free)  # the same order on every backend: trace columns agree
    x0 = np.asarray(x0, dtype=float)
    unflatten = backend.fast_unflatten(backend_unflatten, x0.size)
    feasible = _feasible(config, problem, free, fixed, unflatten, backend)
    if feasible is not None:
        x0 = _start_in_bounds(config, feasible, x0, free)
        problem = _reference_in(config, problem, feasible, free)
        params0 = {**params0, **plain_leaves(unflatten(x0))}  # a start clipped into the box
    if config.optimizer.entry.check is not None:  # e.g. a dense Hessian that cannot fit in memory
        config.optimizer.entry.check(config.optimizer.options, x0.size)
    objective = (
        problem.scalar_objective()
    )  # a vector function (a list of formulas) has nothing to minimize: ConfigError

    def flat_objective(x):
        return objective({**fixed, **unflatten(x)})

    flat_objective = _reused(_objective_key(config, fixed, free), config.problem.entry, flat_objective)
    n_total = size(params0)
    names = leaf_names(params0) if n_total <= config.output.param_columns else None
    expand = _expander(params0, fixed) if fixed and names is not None else None
    grad_names = leaf_names(free) if config.output.grad_columns and n_total <= config.output.param_columns else None
    oracle = Oracle(
        flat_objective, remember_last=config.optimizer.entry.remember_last, backend=backend, feasible=feasible
    )
    return Prepared(
        config,
        problem,
        params0,
        fixed,
        x0,
        lambda x: plain_leaves(unflatten(x)),
        oracle,
        names,
        grad_names,
        expand,
        feasible,
    )


_OBJECTIVES: OrderedDict[tuple, tuple[Any, Callable[[Any], Any]]] = (
    OrderedDict()
)  # key -> (problem entry, flat objective)
KEEP_OBJECTIVES = 8


def _objective_key(config: Config, fixed: Params, free: Params) -> tuple | None:
    """What defines a run's flat objective, when a later run in this process
    may reuse this one's function, and with it jax's compiled code (jax
    compiles per function; the compiled loop keeps its chunks per function):
    a built-in problem on the jax backend whose objective depends on its
    options alone. None otherwise: on autograd there is nothing compiled to
    reuse; a data file may change between runs; a user's problem or Python
    function may read anything."""
    entry = config.problem.entry
    if (
        config.backend != "jax"
        or entry.python_only
        or not entry.build.__module__.startswith("optrun.")
        or data_files(config.problem.options)
    ):
        return None
    import json

    from optrun.core.outputs import json_safe
    from optrun.core.params import to_jsonable

    return (
        entry.name,
        id(entry),
        config.problem.options.model_dump_json(),
        json.dumps(json_safe(to_jsonable(fixed)), sort_keys=True),
        tuple(leaf_names(free)),
    )


def _reused(key: tuple | None, entry: Any, flat_objective: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The flat objective an earlier run with the same key made (the same
    function, so jax's compiled code for it is reused: a sweep's runs on jax
    compile once), or this one, kept for the next run."""
    if key is None:
        return flat_objective
    if key in _OBJECTIVES:
        _OBJECTIVES.move_to_end(key)
        return _OBJECTIVES[key][1]
    _OBJECTIVES[key] = (entry, flat_objective)  # the entry is kept, so its id in the key stays its own
    if len(_OBJECTIVES) > KEEP_OBJECTIVES:
        _OBJECTIVES.popitem(last=False)
    return flat_objective


def build_start(config: Config, backend: Backend | None = None) -> tuple[Problem, Params, Params]:
    """The configured problem built for ``backend``, its start (the
    initializer applied) and the fixed parameters (``fix:``): what a run
    starts from, and the point ``optrun grad`` evaluates by default. The
    default backend is autograd, whatever the config says (callers pass the
    config's). Bad input raises ConfigError."""
    entry = config.problem.entry
    backend = backend if backend is not None else get_backend()
    entry.check_backend(backend.name)  # a ConfigError at `backend` (a jax-only problem in optrun grad)
    try:
        problem = entry.make(config.problem.options, backend)
        params0 = problem.initial(config.seed)
    except OptrunError as exc:
        raise exc.located(path="problem" if not exc.path.startswith("problem") else None) from None
    except BaseException as exc:  # sys.exit() in a problem file's build too: a bad plugin, never optrun's exit
        raise _user_code_error(f"building problem '{entry.name}'", exc, "problem") from None
    return problem, _initialized(config, params0), _fixed_params(config.fix, params0)


def _user_code_error(what: str, exc: BaseException, path: str) -> ConfigError:
    """The one-line ConfigError for user code that failed while a run was
    prepared (a problem's build, an initializer): nothing is written yet,
    and a bad plugin is a usage error (exit 2), as a bad config is. A real
    Ctrl-C or SIGTERM is re-raised: it stops optrun as anywhere else."""
    from optrun.core.runner import caused_by_signal, user_exit

    if isinstance(exc, KeyboardInterrupt) and caused_by_signal(exc):
        raise exc
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        return ConfigError(f"{what} {user_exit(exc)}", path=path)
    if not isinstance(exc, Exception):  # GeneratorExit and the like: nothing user code should raise
        raise exc
    return ConfigError(f"{what} raised {type(exc).__name__}: {exc}", path=path)


def _initialized(config: Config, start: Params) -> Params:
    """The start after the config's initializer, checked: the initializer is
    code (a user file's, too), so its result must be a mapping with exactly
    the start's names, each numbers of the start's shape (finite); anything
    else (it raised, returned None, extra names, a 17-entry x for a 4-D
    problem) is a one-line ConfigError at ``init`` naming it."""
    entry = config.init.entry
    what = f"initializer '{entry.name}'"
    try:
        params = entry.apply(config.init.options, start, np.random.default_rng(config.seed))
    except OptrunError as exc:  # a built-in's own error (init.values.x: unknown parameter ...)
        raise exc.located(path="init" if not exc.path.startswith("init") else None) from None
    except BaseException as exc:
        raise _user_code_error(what, exc, "init") from None
    if not isinstance(params, Mapping):
        raise ConfigError(
            f"{what} returned {type(params).__name__} {short_repr(params)}, not a mapping of the parameters "
            f"({', '.join(map(str, start))})",
            path="init",
        )
    try:
        return dict(coerce_like(start, params, ""))
    except ConfigError as exc:
        where = f"{exc.path}: " if exc.path else ""
        raise ConfigError(f"{what} returned a start unlike the problem's: {where}{exc.message}", path="init") from None


def _known_parameter(name: str, params0: Params, path: str) -> None:
    if name not in params0:
        raise unknown_parameter(name, params0, path)


def _fixed_params(fix: Mapping[str, Any], params0: Params) -> Params:
    fixed = {}
    for name, value in fix.items():
        _known_parameter(name, params0, f"fix.{name}")
        fixed[name] = coerce_like(params0[name], value, f"fix.{name}")
    if fixed and len(fixed) == len(params0):
        raise ConfigError(f"every parameter is fixed ({', '.join(sorted(fixed))}); leave at least one free", path="fix")
    return fixed


def _check_expected_params(config: Config, params0: Params) -> None:
    """expect.params must name the problem's parameters, with their shapes."""
    expected = config.expect.params if config.expect is not None else None
    if not isinstance(expected, Mapping):
        return
    for name, value in expected.items():
        _known_parameter(name, params0, f"expect.params.{name}")
        coerce_like(params0[name], value, f"expect.params.{name}")


def _expander(params0: Params, fixed: Params) -> Callable[[np.ndarray], np.ndarray]:
    """Free vector -> full vector in flatten order, fixed entries filled in
    (also row-wise: a matrix of free vectors, one per row)."""
    full0, _ = flatten({**params0, **fixed})
    is_free, _ = flatten({k: np.full(np.shape(v), k not in fixed, dtype=float) for k, v in params0.items()})
    base = np.array(full0, dtype=float)
    free_at = np.flatnonzero(np.asarray(is_free) > 0.5)

    def expand(x: np.ndarray) -> np.ndarray:
        full = np.broadcast_to(base, np.shape(x)[:-1] + base.shape).copy()
        full[..., free_at] = x
        return full

    return expand


# ------------------------------------------------------ bounds and constraints
def _feasible(
    config: Config, problem: Problem, free: Params, fixed: Params, unflatten: Callable[[Any], Any], backend: Backend
) -> Feasible | None:
    """The run's feasible set (:func:`feasible_set`), checked against the
    optimizer's capabilities; None when nothing bounds the run."""
    feasible = feasible_set(config, problem, free, fixed, unflatten, backend)
    if feasible is not None:
        _check_capable(config, problem, feasible)
    return feasible


def feasible_set(
    config: Config, problem: Problem, free: Params, fixed: Params, unflatten: Callable[[Any], Any], backend: Backend
) -> Feasible | None:
    """The feasible set over the free parameters: the problem's bounds and
    constraints, then the config's (formulas compiled for ``backend``); None
    when nothing bounds the run. A bad bound or formula is a one-line
    ConfigError (``bounds.x``, ``constraints[0].expr``). ``optrun grad`` uses
    it as it is: it evaluates constraints whatever the optimizer can take."""
    from optrun.core.problems.formula import check_scalar, compile_expression, names_in

    params = {**free, **fixed}
    specs = list(problem.constraints)
    for i, c in enumerate(config.constraints):
        where = f"constraints[{i}].expr"
        body = compile_expression(c.expr, params, path=where, xp=backend.np)
        check_scalar(c.expr, params, path=where)
        if not names_in(c.expr) & set(free):
            raise ConfigError(
                f"{c.expr!r} names no parameter being optimized ({', '.join(sorted(free))}): "
                "a constraint must depend on one (fixed parameters cannot move)",
                path=where,
            )
        specs.append(ConstraintSpec(c.type, body, c.expr))
    parts = [(problem.bounds, "problem"), (config.bounds, "bounds")]
    return build_feasible(parts, specs, free, fixed, unflatten, backend, config.stop.feasibility_tol)


def _check_capable(config: Config, problem: Problem, feasible: Feasible) -> None:
    """A one-line ConfigError when the optimizer cannot honour the run's bounds
    or constraints, naming the methods that can."""
    from optrun.core.optimizers import OPTIMIZERS

    entry = config.optimizer.entry

    def refuse(what: str, mine: bool, capable: list[str]) -> ConfigError:
        source = f"the config's {what}" if mine else f"problem '{config.problem.name}' has {what}"
        return ConfigError(
            f"optimizer '{entry.name}' cannot take {what} ({source}); methods that can: {', '.join(capable)}",
            path="optimizer.name",
        )

    listed = [OPTIMIZERS.get(name) for name in OPTIMIZERS.listed()]
    if feasible.constraints and not entry.constraints:
        raise refuse("constraints", bool(config.constraints), [e.name for e in listed if e.constraints])
    if feasible.box is not None and not entry.bounds:
        raise refuse("bounds", bool(config.bounds), [e.name for e in listed if e.bounds])


def _start_in_bounds(config: Config, feasible: Feasible, x0: np.ndarray, free: Params) -> np.ndarray:
    """The start, which must lie in the box: moved inside with
    ``init.clip_to_bounds: true``, a one-line ConfigError naming the first
    entry outside otherwise. (A start that violates constraints is allowed:
    SLSQP and trust-constr start from infeasible points; the summary says so.)"""
    box = feasible.box
    if box is None or box.contains(x0):
        return x0
    if config.clip_to_bounds:
        return box.project(x0)
    i = int(np.flatnonzero((x0 < box.lower) | (x0 > box.upper))[0])
    side = f"< low {float(box.lower[i])!r}" if x0[i] < box.lower[i] else f"> high {float(box.upper[i])!r}"
    raise ConfigError(
        f"the start is outside the bounds: {leaf_names(free)[i]} = {float(x0[i])!r} {side}; "
        "start inside them, or set init.clip_to_bounds: true to move the start to the nearest point inside",
        path="init",
    )


def _reference_in(config: Config, problem: Problem, feasible: Feasible, free: Params) -> Problem:
    """The problem with the known minimizers the config's bounds and constraints
    keep: a known (unconstrained) minimum outside them is no minimum of this
    run, so the summary and the gap leave it out (the note says why)."""
    import dataclasses

    reference = problem.reference
    if reference is None or not (config.bounds or config.constraints):
        return problem
    inside = []
    for point in reference.params:
        if not set(free) <= set(point):
            continue
        x, _ = flatten({k: np.asarray(point[k], dtype=float) for k in free})
        if feasible.feasible(np.asarray(x, dtype=float)):
            inside.append(point)
    if inside:
        return dataclasses.replace(problem, reference=Reference(reference.fun, tuple(inside)))
    note = (
        f"the problem's known minimum f* = {reference.fun:.10g} lies outside this config's bounds or constraints: "
        "no known minimum for this run"
    )
    return dataclasses.replace(problem, reference=None, note=note)
