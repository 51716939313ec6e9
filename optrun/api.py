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
    optimizer: str | Mapping[str, Any] = "adam",
    *,
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
    (``result.params["x"]``). ``optimizer`` is a name or a mapping of its
    options; ``step_size`` and ``**options`` are the optimizer's options;
    ``stop``, ``output``, ``init``, ``fix`` and ``seed`` are the config keys
    of those names. Bad arguments raise ConfigError with the same one-line
    messages as a config file. ``name`` is the run's name (its runs go to
    ``outputs/<name>/<timestamp>``); by default the function's ``__name__``
    (``polynomial``; a lambda's as ``lambda``), or ``python`` when that is no
    usable folder name. The run's config.yaml records the function's
    qualified name and source hash (see :mod:`optrun.core.problems.python`)."""
    from optrun.core.backend import check_backend
    from optrun.core.problems.python import PythonFunction

    check_backend(
        backend
    )  # one line at `backend` for a wrong name or a missing extra, before the function's own checks
    function = PythonFunction(fun, x0, backends=(backend,))
    section = dict(optimizer) if isinstance(optimizer, Mapping) else {"name": optimizer}
    if step_size is not None:
        section["step_size"] = step_size
    section.update(options)
    config: dict[str, Any] = {
        "name": name,  # None: the function's name (optrun.config.default_name)
        "seed": seed,
        "problem": function,
        "optimizer": section,
        "backend": backend,
    }
    for key, value in (("stop", stop), ("output", output), ("init", init), ("fix", fix)):
        if value is not None:
            config[key] = value
    return run(config, overrides, observers=observers)


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
