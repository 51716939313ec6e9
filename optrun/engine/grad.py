"""Derivatives of a config's objective at a point (``optrun grad``, ``optrun.grad``):
the automatic-differentiation half of the teaching notebooks.

:func:`grad` evaluates the objective of a config at a point (the config's
start, initializer applied, by default; ``at`` replaces named parameters)
and returns a :class:`GradResult`: f and the signed gradient, and on request
the Hessian, the derivatives up to order K in a scalar parameter, a
finite-difference check, and for a vector function (an ``expression`` with a
list of formulas) its Jacobian built both ways and one JVP or VJP; when the
run has bounds or constraints, their values, violations and Jacobian
(:mod:`optrun.engine.grad_constraints`). Fixed parameters (``fix:``) are
held: derivatives are in the free ones. The result
is written to ``<output.dir>/<name>/grad-<timestamp>/`` (``grad.json``, the
resolved ``config.yaml`` and, with ``output.plots``, the plots of
:mod:`optrun.plots.grad`). The numbers come from
:mod:`optrun.core.derivatives`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optrun.config import Config, load_config
from optrun.core import derivatives as d
from optrun.core.errors import ConfigError, OptrunError
from optrun.core.params import Params
from optrun.core.problems import Problem


@dataclass(frozen=True)
class GradResult:
    """What ``optrun grad`` computed; ``to_json()`` is ``grad.json`` and the
    ``--json`` output. For a scalar objective ``gradient`` is set; for a
    vector function ``jacobian`` (built the cheaper way) and ``jacobian_other``
    (built the other way: the same matrix)."""

    name: str
    at: Params  # the point: the free parameters
    fixed: Params  # held at these values
    gradient: d.Gradient | None = None
    hessian: d.Hessian | None = None
    derivatives: d.Derivatives | None = None
    fd: d.FDCheck | None = None  # at the point
    fd_points: tuple[d.FDCheck, ...] = ()  # at every point (the point first, then fd_at's), with fd
    jacobian: d.Jacobian | None = None
    jacobian_other: d.Jacobian | None = None
    jvp: d.Product | None = None
    vjp: d.Product | None = None
    constraints: Any = None  # the bounds and constraints at the point (optrun.engine.grad_constraints.ConstraintsAt)
    run_dir: Path | None = None
    plots: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()  # what was left out (a plot that failed, a cross-check beyond its limit)

    @property
    def value(self) -> float | list[float]:
        """f at the point (a list of m values for a vector function)."""
        if self.gradient is not None:
            return self.gradient.value
        assert self.jacobian is not None  # grad() gives a scalar function a gradient, a vector function a Jacobian
        return list(self.jacobian.value)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"f": self.value, "at": to_jsonable(self.at)}
        if self.fixed:
            data["fixed"] = to_jsonable(self.fixed)
        if self.gradient is not None:
            data["grad"] = to_jsonable(self.gradient.grad)
        if self.hessian is not None:
            data["hessian"] = [list(row) for row in self.hessian.matrix]
            data["hessian_labels"] = list(self.hessian.labels)
        if self.derivatives is not None:
            data["derivatives"] = list(self.derivatives.values)
            data["derivatives_in"] = self.derivatives.name
        if self.fd is not None:
            data["fd"] = self.fd.to_json()
        if len(self.fd_points) > 1:
            data["fd_points"] = [check.to_json() for check in self.fd_points]
        if self.jacobian is not None:
            data["jacobian"] = [list(row) for row in self.jacobian.matrix]
            data["jacobian_rows"], data["jacobian_columns"] = list(self.jacobian.rows), list(self.jacobian.columns)
            data["jacobian_passes"] = {j.by: j.passes for j in (self.jacobian, self.jacobian_other) if j is not None}
        if self.jvp is not None:
            data["jvp"] = list(self.jvp.result)
        if self.vjp is not None:
            data["vjp"] = list(self.vjp.result)
        if self.constraints is not None:
            data["constraints"] = self.constraints.to_json()
        if self.warnings:
            data["warnings"] = list(self.warnings)
        return data


def to_jsonable(tree: Any) -> Any:
    """:func:`optrun.core.params.to_jsonable` (nested lists of floats, non-finite
    ones None), with whole finite arrays converted at once: 10^6 parameters in
    well under a second rather than many."""
    import numpy as np

    from optrun.core.params import to_jsonable as one_by_one

    if isinstance(tree, Mapping):
        return {str(k): to_jsonable(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [to_jsonable(v) for v in tree]
    array = np.asarray(tree, dtype=float)
    return array.tolist() if array.ndim and np.isfinite(array).all() else one_by_one(array)


class ObjectiveError(OptrunError):
    """The objective raised at the point (exit 1, as a run that fails): nothing was recorded."""


def grad(
    config: str | Path | Mapping[str, Any] | Any,
    at: Any = None,
    *,
    overrides: Sequence[str] = (),
    hessian: bool = False,
    order: int | None = None,
    fd: bool = False,
    fd_steps: Sequence[float] | None = None,
    fd_at: Sequence[Mapping[str, Any]] = (),
    jvp: Mapping[str, Any] | Sequence[float] | None = None,
    vjp: Sequence[float] | None = None,
    plot_range: tuple[float, float] | None = None,
    write: bool = True,
    backend: str | None = None,
    flag: Any = None,
) -> GradResult:
    """Derivatives of a config's objective at a point (see the module doc).
    ``at`` maps parameter names to values (shapes as the start's); ``order``
    K gives f, f', ..., f^(K) in the one free scalar parameter; ``jvp`` is a
    tangent (a mapping like the parameters, or n numbers), ``vjp`` m numbers.
    Bad input raises ConfigError (one line, naming the option).

    ``fd`` checks the gradient against finite differences at the point and
    at each of ``fd_at`` (more points, mappings like ``at``; names left out
    are the point's), overlaid on one fd_error.png; ``fd_steps`` are the
    steps h (default 1e-1 ... 1e-12; ``optrun.core.derivatives.log_steps(1e-10,
    10, 100)`` spaces a range). Either implies ``fd``.

    ``config`` may also be your own Python function of one parameter tree
    (as for ``optrun.minimize``): then ``at`` is the point itself (a float,
    an array, a dict or list of them) and the derivatives are in its
    parameters (``x``, or the keys of a dict). ``backend`` (``autograd`` or
    ``jax``) replaces a config file's or mapping's; a function is written
    with that backend's array module (``jax.numpy`` for jax).

    ``flag``: the command's :class:`~optrun.core.runner.SignalFlag` (``optrun
    grad``): a signal stops the computation at once (StoppedBySignal, nothing
    recorded) or the plots (recorded without them; the flag keeps the signal).
    A plot that fails is a warning (``warnings``); an objective that raises is
    an :class:`ObjectiveError`. The costly parts are bounded before they start
    (:mod:`optrun.core.derivatives.cost`)."""
    if backend is not None:
        from optrun.core.backend import check_backend

        check_backend(backend)  # one line at `backend`, as a config's would be
    if callable(config) and not isinstance(config, (str, Path, Mapping, Config)):
        from optrun.config import name_from_stem
        from optrun.core.problems.python import PythonFunction

        if at is None:
            raise ConfigError(
                "needs the point: optrun.grad(fun, at) with at a float, an array, a dict or list of them", path="at"
            )
        function = PythonFunction(config, at, backends=(backend or "autograd",), start_name="at")
        config, at = {"name": name_from_stem(function.name), "problem": function, "optimizer": "gd"}, None
    if backend is not None and not isinstance(config, Config):
        overrides = [*overrides, f"backend={backend}"]
    cfg = config if isinstance(config, Config) else load_config(config, overrides)
    try:
        fd_options = (fd_steps, tuple(fd_at)) if fd or fd_steps is not None or fd_at else None
        return _grad(cfg, at, hessian, order, fd_options, jvp, vjp, _plot_range(plot_range), write, flag)
    except OptrunError as exc:
        raise exc.located(source=exc.source or cfg.source) from None


def _plot_range(plot_range: Any) -> tuple[float, float] | None:
    """``plot_range`` as two finite floats a < b, or a ConfigError at ``range``."""
    import math

    if plot_range is None:
        return None
    numbers = (
        isinstance(plot_range, (tuple, list))
        and len(plot_range) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in plot_range)
    )
    if not numbers or not all(math.isfinite(v) for v in plot_range) or not plot_range[0] < plot_range[1]:
        from optrun.core.errors import short_repr

        raise ConfigError(f"must be two finite numbers a,b with a < b, got {short_repr(plot_range)}", path="range")
    return float(plot_range[0]), float(plot_range[1])


def _grad(cfg: Config, at, hessian, order, fd, jvp, vjp, plot_range, write, flag) -> GradResult:
    from optrun.core.runner import caused_by_signal, user_exit
    from optrun.engine.signals import StoppedBySignal, armed, signal_name

    try:
        with armed(flag, at_once=True):  # nothing is recorded yet: a signal stops it at once
            result, free_problem, backend = _compute(cfg, at, hessian, order, fd, jvp, vjp)
    except KeyboardInterrupt as exc:
        if not caused_by_signal(exc, flag):  # user code raised it: the objective's failure, as in a run
            raise ObjectiveError(f"the objective {user_exit(exc)}; nothing was recorded", path="problem") from None
        if flag is None:
            raise
        signum = getattr(exc, "signum", None) or flag.signum or 2
        raise StoppedBySignal(f"interrupted by {signal_name(signum)}; nothing was recorded", signum) from None
    except SystemExit as exc:  # user code called sys.exit(): never optrun's exit status
        raise ObjectiveError(f"the objective {user_exit(exc)}; nothing was recorded", path="problem") from None
    except OptrunError:
        raise
    except Exception as exc:  # the objective's own error (a run records it as failed): one line, nothing written
        text = " ".join(str(exc).split())
        raise ObjectiveError(
            f"the objective raised {type(exc).__name__}"
            + (f": {text[:200]}" if text else "")
            + "; nothing was recorded",
            path="problem",
        ) from None
    if not write:
        return result
    return _record(cfg, free_problem, result, plot_range, backend, flag)


def _compute(cfg: Config, at, hessian, order, fd, jvp, vjp) -> tuple[GradResult, Problem, Any]:
    """``fd``: None, or (steps or None, further points)."""
    import dataclasses

    from optrun.core.backend import get_backend
    from optrun.engine import grad_constraints
    from optrun.engine.prepare import build_start

    backend = get_backend(cfg.backend)  # the problem is built for it and differentiated with it
    problem, params0, fixed = build_start(cfg, backend)
    free_problem, start = restrict_to_free(problem, params0, fixed)
    feasible, specs = grad_constraints.feasible_set(cfg, problem, start, fixed, backend)
    if feasible is not None:  # the start a run would take (init.clip_to_bounds); the constraints for contour.png
        start = grad_constraints.start_in_bounds(cfg, feasible, start, backend)
        free_problem = dataclasses.replace(free_problem, constraints=grad_constraints.held(specs, fixed))
    _check_free(at, fixed, "at")
    point = d.point(free_problem, at, base=start)
    vector = problem.vector is not None
    parts: dict[str, Any] = {}
    notes: list[str] = []
    if vector:
        if hessian or order or fd is not None:
            free_problem.scalar_objective()  # the one-line error: a vector function has no single value
        parts["jacobian"] = first = d.jacobian(free_problem, point, backend=backend)
        other = "vjp" if first.by == "jvp" else "jvp"
        n, m = len(first.columns), len(first.rows)
        passes = n if other == "jvp" else m
        if passes * n <= d.MAX_PASS_WORK:  # the cross-check: the same matrix the other way
            parts["jacobian_other"] = d.jacobian(free_problem, point, by=other, backend=backend)
        else:
            notes.append(
                f"the Jacobian was not also built from {passes} {other.upper()}s (the check that both ways agree): "
                f"{passes} passes over {n} entries is beyond the limit of {d.MAX_PASS_WORK}"
            )
    else:
        flat, unflatten = backend.ravel(point)  # at NumPy floats, as the derivatives: an overflow is inf
        _check_scalar(d.flat.quiet(free_problem.objective, unflatten(flat)))  # one number, or what it returned
        parts["gradient"] = d.gradient(free_problem, point, backend=backend)
        if hessian:
            parts["hessian"] = d.hessian(free_problem, point, backend=backend)
        if order is not None:
            parts["derivatives"] = d.derivatives(free_problem, point, order=order, backend=backend)
        if fd is not None:
            steps, more = fd
            points = [point]
            for i, other in enumerate(more):
                _check_free(other, fixed, f"fd_at[{i}]")
                try:
                    points.append(d.point(free_problem, other, base=point))
                except ConfigError as exc:
                    raise ConfigError(exc.message, path=f"fd_at[{i}]") from None
            try:
                options = {} if steps is None else {"steps": steps}
                checks = tuple(d.fd_check(free_problem, p, seed=cfg.seed, backend=backend, **options) for p in points)
            except ConfigError as exc:
                raise ConfigError(exc.message, path="fd_steps" if exc.path == "steps" else exc.path) from None
            parts["fd"], parts["fd_points"] = checks[0], checks
    if jvp is not None:
        parts["jvp"] = d.jvp(free_problem, point, jvp, backend=backend)
    if vjp is not None:
        parts["vjp"] = d.vjp(free_problem, point, vjp, backend=backend)
    if feasible is not None:  # the constraints' values and Jacobian; with --fd checked as the gradient is
        fd_steps = None if fd is None else (d.STEPS if fd[0] is None else fd[0])
        constraints = free_problem.constraints
        parts["constraints"] = grad_constraints.at_point(
            feasible, constraints, point, backend, fd_steps, cfg.seed, notes
        )
    return GradResult(name=cfg.name, at=point, fixed=fixed, warnings=tuple(notes), **parts), free_problem, backend


def _check_free(at: Any, fixed: Params, path: str) -> None:
    """``at`` is None or a mapping naming no fixed parameter."""
    if at is None:
        return
    if not isinstance(at, Mapping):
        raise ConfigError(f"must be a mapping of parameter names to values, got {type(at).__name__}", path=path)
    for name in at:
        if name in fixed:
            raise ConfigError(
                f"'{name}' is fixed (fix.{name}); change its value with --set fix.{name}=VALUE", path=f"{path}.{name}"
            )


def _check_scalar(value: Any) -> None:
    """A scalar objective must return one real number (not an array, a string, None)."""
    import numpy as np

    from optrun.core.errors import short_repr

    try:
        array = np.asarray(value)
    except Exception:  # an object NumPy cannot take
        array = np.asarray(None)
    if array.ndim != 0 or array.dtype.kind not in "iuf":
        what = f"an array of shape {array.shape}" if array.ndim else short_repr(value)
        raise ConfigError(
            f"the objective must return one real number (a scalar), and it returned {what}; "
            "for a vector function write an expression with a list of formulas",
            path="problem",
        )


def restrict_to_free(problem: Problem, params0: Params, fixed: Params) -> tuple[Problem, Params]:
    """The problem over the free parameters only (fixed ones held), and its start."""
    start = {k: v for k, v in params0.items() if k not in fixed}
    if not fixed:
        return problem, start
    objective, vector = problem.objective, problem.vector
    return Problem(
        objective=lambda p: objective({**fixed, **p}),
        start=start,
        vector=None if vector is None else (lambda p: vector({**fixed, **p})),
        outputs=problem.outputs,
    ), start


def _record(
    cfg: Config,
    problem: Problem,
    result: GradResult,
    plot_range: tuple[float, float] | None,
    backend: Any,
    flag: Any = None,
) -> GradResult:
    """grad.json, config.yaml and the plots in a new grad-<timestamp> folder.
    A plot that fails or is interrupted is a warning, and grad.json is
    written all the same; a folder in which grad.json could not be written
    (nothing recorded) is removed."""
    import dataclasses
    import shutil

    from optrun.core.outputs import json_safe, make_run_dir, write_json_atomic, write_yaml
    from optrun.engine.signals import StoppedBySignal, armed, signal_name

    if flag is not None and flag.signum is not None:  # came as the computation ended: stop before any file
        raise StoppedBySignal(f"interrupted by {signal_name(flag.signum)}; nothing was recorded", flag.signum)
    run_dir = make_run_dir(cfg.output.dir, cfg.name, prefix="grad-")
    try:
        write_yaml(run_dir / "config.yaml", cfg.resolved())
        plots: list[Path] = []
        notes = list(result.warnings)
        if cfg.output.plots and (flag is None or flag.signum is None):
            try:
                with armed(flag, at_once=True):  # a signal now cuts the plots short; grad.json is still written
                    from optrun.plots import grad as grad_plots

                    plots, failed = grad_plots.draw(
                        run_dir, problem, result, plot_range, cfg.output.plot_format, backend
                    )
                notes.extend(failed)
            except KeyboardInterrupt:
                if flag is None:
                    raise
                notes.append("plots not drawn: interrupted")
        result = dataclasses.replace(result, run_dir=run_dir, plots=tuple(plots), warnings=tuple(notes))
        write_json_atomic(run_dir / "grad.json", json_safe(result.to_json()))
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing recorded: no folder
        raise
    return result
