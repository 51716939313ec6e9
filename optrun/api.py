"""The public Python API: run a config, minimize a Python function, load a
finished run, compare runs, differentiate a config's objective. Each does
exactly what its command does (``optrun run``, ``compare``, ``grad``),
through the same engine; runs return a :class:`~optrun.engine.result.RunResult`.

    >>> import optrun
    >>> result = optrun.run("configs/polynomial-gd.yaml", ["stop.max_iter=50"])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from optrun.config import load_config
from optrun.core.errors import ConfigError, RunIOError
from optrun.engine.compare import Comparison
from optrun.engine.grad import GradResult, grad
from optrun.engine.record import execute
from optrun.engine.result import RunResult

__all__ = ["Comparison", "GradResult", "RunResult", "compare", "grad", "load", "minimize", "run"]


def run(
    config: str | Path | Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    problems: str | Path | None = None,
    observers: Sequence[Any] = (),
) -> RunResult:
    """Run an experiment exactly as ``optrun run`` does.

    ``config`` is a YAML file path or a mapping with the same keys;
    ``overrides`` are ``"dotted.key=value"`` strings like ``--set``;
    ``problems`` is the user-problem folder (default ``./problems``, as for
    the CLI). A run goes to ``outputs/<name>/<timestamp>``; a mapping without
    ``name`` is named after its problem (``outputs/rosenbrock/...``), a file
    after its stem. Raises :class:`~optrun.core.errors.ConfigError` for bad input
    (before anything is written). Returns a :class:`RunResult`, whose
    ``run_dir`` is the run directory as an absolute :class:`pathlib.Path`;
    warnings about user problem files that failed to load are in ``result.warnings``.
    """
    from optrun.config.plugins import load_user_problems

    load_warnings = load_user_problems(problems)
    result = execute(load_config(config, overrides), observers)
    return dataclasses.replace(result, warnings=(*load_warnings, *result.warnings)) if load_warnings else result


def load(run_dir: str | Path) -> RunResult:
    """The :class:`RunResult` of a finished run directory (what ``optrun.run``
    returned when it ran): summary, trace on first use, plots; ``run_dir``
    is the given path made absolute, a :class:`pathlib.Path`. A run killed
    before its summary was written is an error saying so."""
    import os

    from optrun.core.rundir import read_run

    if not isinstance(run_dir, (str, os.PathLike)):
        raise ConfigError(
            f"must be a run directory's path (text or a Path), got {type(run_dir).__name__}", path="run_dir"
        )
    path = Path(run_dir)
    files = read_run(path)
    if files.summary is None:
        raise RunIOError(
            "the run has no summary.json (it was killed before it ended); its trace is readable with optrun.read_run",
            source=str(path),
        )
    return RunResult(summary=files.summary, run_dir=path.resolve(), warnings=tuple(files.warnings))


def minimize(
    fun: Any,
    x0: Any,
    optimizer: str | Mapping[str, Any] | None = None,
    *,
    method: str | None = None,
    bounds: Any = None,
    constraints: Any = None,
    clip_to_bounds: bool = False,
    step_size: Any = None,
    stop: Mapping[str, Any] | None = None,
    name: str | None = None,
    output: Mapping[str, Any] | None = None,
    init: str | Mapping[str, Any] | None = None,
    fix: Mapping[str, Any] | None = None,
    seed: int = 0,
    overrides: Sequence[str] = (),
    observers: Sequence[Any] = (),
    backend: str = "autograd",
    **options: Any,
) -> RunResult:
    """Minimize your own Python function, through exactly what ``optrun run``
    runs (runner, stop rules, fix, schedules, trace, summary, plots, run
    directory); returns the same :class:`RunResult`.

    ``fun`` takes one parameter tree (a float, an array, a dict or list of
    them) written with ``autograd.numpy`` (with ``backend="jax"``: with
    ``jax.numpy``, and first-order methods run compiled); ``x0`` is the start. A dict start's
    keys name the parameters, any other start is the parameter ``x``
    (``result.params["x"]``). ``optimizer`` (default ``adam``) is a name or a
    mapping of its options; ``method`` is the same name as SciPy's keyword
    (SciPy's spellings too: ``"SLSQP"``, ``"L-BFGS-B"``); ``step_size`` and
    ``**options`` are the optimizer's options; ``stop``, ``output``,
    ``init``, ``fix`` and ``seed`` are the config keys of those names. Bad
    arguments raise ConfigError with the same one-line messages as a config
    file. ``name`` is the run's name (its runs go to
    ``outputs/<name>/<timestamp>``); by default the function's ``__name__``
    (``polynomial``; a lambda's as ``lambda``), or ``python`` when that is no
    usable folder name. The run's config.yaml records the function's
    qualified name and source hash (see :mod:`optrun.core.problems.python`).

    ``bounds``, as for ``scipy.optimize.minimize``: ``(low, high)`` pairs,
    one per entry of x0 (``None``: an open side), or ``scipy.optimize.Bounds``;
    or by parameter name, as a config's ``bounds:`` writes them (``{"w":
    [0, None]}``, the one form for a dict x0). They become the config's
    ``bounds:``; a start outside them is an error unless ``clip_to_bounds=True``
    moves it inside. ``constraints``: SciPy's ``{"type": "ineq" | "eq",
    "fun": f}`` (``f(x) >= 0`` or ``== 0``, ``f`` taking x as ``fun`` does and
    returning one number; ``"args"`` as in SciPy), one or a list, or
    ``scipy.optimize.NonlinearConstraint`` / ``LinearConstraint``;
    ``{"type": ..., "expr": "1 - x[0]**2"}`` is a config formula (the
    summary lists the functions first, then the formulas). Their
    derivatives come from the backend (a ``jac`` is refused). Bounds need a
    method that takes them (SciPy's lbfgs, nelder-mead, tnc, slsqp,
    trust-constr; the first-order methods, projected); constraints slsqp or
    trust-constr. ``stop={"feasibility_tol": ...}`` (default 1e-6) is the
    largest violation a feasible point may have; ``result.summary.constraints`` is the report
    (:class:`~optrun.core.result.Feasibility`: ``end``, ``best``,
    ``start_violation``, ``tol``)."""
    from optrun.core.backend import check_backend
    from optrun.core.problems.python import PythonFunction
    from optrun.core.problems.python_constraints import bounds_mapping

    check_backend(
        backend
    )  # one line at `backend` for a wrong name or a missing extra, before the function's own checks
    if not isinstance(clip_to_bounds, bool):
        raise ConfigError(f"must be True or False, got {clip_to_bounds!r:.60}", path="clip_to_bounds")
    function = PythonFunction(fun, x0, backends=(backend,))
    function, formulas = function.with_constraints(constraints)
    box = bounds_mapping(bounds, function.x0)
    section = _optimizer_section(optimizer, method)
    if step_size is not None:
        section["step_size"] = step_size
    section.update(options)
    _check_capable(section.get("name"), bool(function.constraints or formulas), _bounded(box))
    config: dict[str, Any] = {
        "name": name,  # None: the function's name (optrun.config.default_name)
        "seed": seed,
        "problem": function,
        "optimizer": section,
        "backend": backend,
    }
    if clip_to_bounds and (init is None or isinstance(init, (str, Mapping))):
        init = {**(dict(init) if isinstance(init, Mapping) else {"kind": init or "default"}), "clip_to_bounds": True}
    for key, value in (("stop", stop), ("output", output), ("init", init), ("fix", fix)):
        if value is not None:
            config[key] = value
    if box:
        config["bounds"] = box
    if formulas:
        config["constraints"] = formulas
    try:
        return run(config, overrides, observers=observers)
    except ConfigError as exc:  # the start outside the bounds: say the keyword that moves it inside
        if exc.path == "init" and "set init.clip_to_bounds: true" in exc.message:
            message = exc.message.replace("set init.clip_to_bounds: true", "pass clip_to_bounds=True")
            raise ConfigError(message, path=exc.path, source=exc.source) from None
        raise


SCIPY_NAMES = {"l-bfgs-b": "lbfgs"}  # SciPy's method names that differ from optrun's (beyond letter case)


def _optimizer_section(optimizer: Any, method: Any) -> dict[str, Any]:
    """The config's ``optimizer:`` from ``optimizer`` or SciPy's ``method`` (one of them)."""
    if method is not None:
        if optimizer is not None:
            raise ConfigError(
                f"names the method {method!r:.40}, and so does optimizer={optimizer!r:.40}: give one of them",
                path="method",
            )
        optimizer = SCIPY_NAMES.get(method.lower(), method.lower()) if isinstance(method, str) else method
    if optimizer is None:
        optimizer = "adam"
    return dict(optimizer) if isinstance(optimizer, Mapping) else {"name": optimizer}


def _bounded(box: Mapping[str, Any]) -> bool:
    """Whether a bounds mapping has a finite side (open sides only bound nothing)."""

    def sides(value: Any) -> list[Any]:
        return [s for v in value for s in sides(v)] if isinstance(value, (list, tuple)) else [value]

    return any(isinstance(s, (int, float)) and abs(s) != float("inf") for s in sides(list(box.values())))


def _check_capable(name: Any, constrained: bool, bounded: bool) -> None:
    """A one-line ConfigError, at the argument, when the method cannot take the
    constraints or bounds given (naming the methods that can); an unknown
    name is left to the config's check."""
    from optrun.core.optimizers import OPTIMIZERS

    if not isinstance(name, str) or name not in OPTIMIZERS:
        return
    entry = OPTIMIZERS.get(name)
    listed = [OPTIMIZERS.get(n) for n in OPTIMIZERS.listed()]
    for argument, given, takes in (("constraints", constrained, entry.constraints), ("bounds", bounded, entry.bounds)):
        if given and not takes:
            capable = ", ".join(e.name for e in listed if getattr(e, argument))
            raise ConfigError(f"optimizer '{name}' cannot take {argument}; methods that can: {capable}", path=argument)


def compare(results_or_dirs: Sequence[Any]) -> Comparison:
    """Compare runs from Python: results (``optrun.run``, ``optrun.minimize``,
    ``optrun.load``) or run, sweep and bench directories, as ``optrun compare``
    does; returns the table and a figure (outside pyplot: nothing is shown or
    written unless you do)."""
    from matplotlib.figure import Figure

    from optrun.core.rundir import read_run
    from optrun.engine.compare import expand_sweep_dirs, row, settings
    from optrun.plots.compare import draw_compare

    paths = [Path(getattr(item, "run_dir", item)) for item in results_or_dirs]
    if not paths:
        raise ConfigError("needs at least one result or run directory", path="compare")
    runs = [read_run(path) for path in expand_sweep_dirs(paths)]
    figure = Figure(figsize=(9, 5.5), layout="constrained")
    draw_compare(runs, figure.add_subplot())
    return Comparison(
        tuple(row(i, run, setting) for i, (run, setting) in enumerate(zip(runs, settings(runs)), start=1)), figure
    )
