"""The plots ``optrun grad`` draws (matplotlib, imported here only):

* ``fd_error.png`` (with ``--fd``): the finite-difference error against h on
  log-log axes, one curve per scheme, as the notebook that compares them;
* ``derivatives.png`` (one free scalar parameter): f and its derivatives up
  to order K (``--order``, default 1) over ``--range`` (default: the point
  +- max(1, |value|)), the point marked;
* ``contour.png`` (two free entries): the contour of f with the gradient
  field as arrows, the point marked; with bounds or constraints, each
  constraint's boundary c = 0 and the box's sides, the infeasible side shaded.

Each in the config's ``output.plot_format`` (png, svg or pdf), like a run's plots.
A plot that fails (a point beyond floating point, a full disk, an objective
that raises on the grid) is a warning, never the command's end. The plots
are cheap: derivatives.png draws the orders whose curves fit in
:data:`PLOT_WORK` operations (the cost estimate of
:mod:`optrun.core.derivatives.cost`), the others are in grad.json.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from optrun.core import derivatives as d
from optrun.core.backend import Backend, get_backend
from optrun.core.problems import Problem
from optrun.plots.figures import save, seamless, subplots

GRID = 101  # points along the range for derivatives.png
CONTOUR = 80  # contour.png grid per axis
ARROWS = 15  # gradient arrows per axis
PLOT_WORK = 20_000  # operations of the costliest curve of derivatives.png over its grid (~1 s on autograd)
SHADE = 0.35  # contour.png: the white veil over the infeasible side of a constraint or a bound


def draw(
    run_dir: Path,
    problem: Problem,
    result: Any,
    plot_range: tuple[float, float] | None,
    fmt: str = "png",
    backend: Backend | None = None,
) -> tuple[list[Path], list[str]]:
    """Every plot that applies to ``result``, as ``fmt`` files; returns the
    files written and a warning for each plot that failed. ``backend``: the
    one ``problem`` was built for (default autograd)."""
    backend = backend if backend is not None else get_backend()
    written: list[Path] = []
    failed: list[str] = []

    def attempt(out: Path, figure: Callable[[], Any]) -> None:
        """Build a figure and save it as ``out``: a failure is a warning."""
        try:
            save(figure(), out)
            written.append(out)
        except Exception as exc:  # the numbers are recorded in grad.json all the same (files are written atomically)
            text = " ".join(str(exc).split())[:200]
            failed.append(f"{out.name} not drawn: {type(exc).__name__}" + (f": {text}" if text else ""))

    if result.fd is not None:
        fd_out = run_dir / f"fd_error.{fmt}"
        attempt(fd_out, lambda: fd_error_figure(result.fd_points or (result.fd,), result.name))
    if result.gradient is not None:
        labels = result.gradient.labels
        scalars = [name for name, value in result.at.items() if np.shape(value) == ()]
        if len(result.at) == 1 and scalars:
            order = result.derivatives.values.__len__() - 1 if result.derivatives is not None else 1
            out = run_dir / f"derivatives.{fmt}"
            attempt(
                out,
                lambda: derivatives_figure(
                    problem,
                    result.at,
                    scalars[0],
                    order,
                    plot_range,
                    result.name,
                    backend,
                    held=result.fixed,
                    fd=result.fd is not None,
                ),
            )
        elif len(labels) == 2:
            out = run_dir / f"contour.{fmt}"
            box = getattr(result.constraints, "bounds", ())
            attempt(out, lambda: contour_figure(problem, result.at, labels, plot_range, result.name, backend, box))
    return written, failed


def _span(center: float, plot_range: tuple[float, float] | None) -> tuple[float, float]:
    """``plot_range``, or the point +- max(1, |value|); an error if that is beyond floating point."""
    if plot_range is not None:
        return plot_range
    width = max(1.0, abs(center))
    with np.errstate(all="ignore"):
        low, high = np.float64(center) - width, np.float64(center) + width
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"the range {center:g} +- {width:g} is beyond floating point; give one with --range a,b")
    return float(low), float(high)


def fd_error_figure(checks: Any, name: str) -> Any:
    """Absolute and relative error against h, one colour per point (``checks``:
    one FDCheck or several), forward solid, central dashed, the second
    difference dotted."""
    checks = [checks] if isinstance(checks, d.FDCheck) else list(checks)
    fig, (absolute, relative) = subplots(1, 2, figsize=(11.0, 4.6), layout="constrained")
    styles = {"forward": "o-", "central": "s--", "second": "^:"}
    for c, check in enumerate(checks):
        steps = np.array(check.steps)
        point = _point_text(check)
        schemes = [check.forward, check.central] + ([check.second] if check.second is not None else [])
        for scheme in schemes:
            label = f"{point}: {'second difference (f)' if scheme.name == 'second' else scheme.name}"
            for ax, errors in ((absolute, scheme.errors), (relative, scheme.relative_errors)):
                values = np.array(errors, dtype=float)
                ok = np.isfinite(values) & (values > 0)
                style = styles[scheme.name] if len(steps) <= 30 else styles[scheme.name][1:]  # many steps: lines only
                ax.loglog(steps[ok], values[ok], style, color=f"C{c}", markersize=3, label=label)
    where = " (largest entry)" if checks[0].mode == "entries" else " (random direction)"
    absolute.set_ylabel("absolute error |FD - autodiff|" + where)
    relative.set_ylabel("relative error |FD - autodiff| / |autodiff|" + where)
    for ax in (absolute, relative):
        ax.set_xlabel("step h")
        ax.grid(alpha=0.3, which="both")
    relative.legend(fontsize=7)
    points = "; ".join(_point_text(check) for check in checks)
    fig.suptitle(f"{name}: finite differences against autodiff at {points}", fontsize=10)
    return fig


def _point_text(check: d.FDCheck) -> str:
    shown = ", ".join(f"{label}={value:g}" for label, value in zip(check.labels[:4], check.at))
    return shown + (", ..." if len(check.labels) > 4 else "")


FD_DOTS = 21  # finite-difference dots over each derivative curve of derivatives.png (with --fd)


def derivatives_figure(
    problem: Problem,
    at: dict[str, Any],
    name: str,
    order: int,
    plot_range: tuple[float, float] | None,
    title: str,
    backend: Backend,
    held: dict[str, Any] | None = None,
    fd: bool = False,
) -> Any:
    """One panel per order (f, f', ...: each on its own y scale), the point
    marked; with ``fd``, central differences of the order below's autodiff
    curve as dots on a coarser grid over each derivative's curve."""
    center = float(at[name])
    low, high = _span(center, plot_range)
    grid = np.linspace(low, high, GRID)
    asked = order
    # cheap: only the orders whose curves fit in PLOT_WORK operations (each is evaluated at every grid point)
    ops = d.derivative_operations(problem, at, name, backend=backend)
    dots = np.linspace(low, high, FD_DOTS) if fd else np.array([])
    points = GRID + 1 + 2 * len(dots)
    order = min(order, d.affordable_order(ops, order, points=points, budget=PLOT_WORK))
    step = 1e-5 * max(1.0, abs(low), abs(high))  # central differences: the error's minimum is near 1e-5
    # the curves, the point, and the dots' two sides, from functions built (on jax: compiled) once
    values = d.derivative_curves(
        problem, at, order, name, [*grid, center, *(dots + step), *(dots - step)], backend=backend
    )
    curve, here = values[:GRID], values[GRID]
    up, down = values[GRID + 1 : GRID + 1 + len(dots)], values[GRID + 1 + len(dots) :]
    fig, axes = subplots(order + 1, 1, figsize=(6.4, max(4.4, 1.9 * (order + 1))), layout="constrained", sharex=True)
    axes = np.atleast_1d(axes)
    for k, ax in enumerate(axes):
        label = _name(k)
        ax.plot(grid, curve[:, k], color=f"C{k}", linewidth=1.5, label=f"{label} (autodiff)")
        ax.plot([center], [here[k]], "ko", markersize=4)
        if fd and k >= 1:
            with np.errstate(all="ignore"):
                estimate = (up[:, k - 1] - down[:, k - 1]) / (2 * step)
            ax.plot(dots, estimate, "k.", markersize=6, label=f"central difference of {_name(k - 1)}, h={step:.0e}")
            ax.legend(fontsize=7, loc="best")
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(name)
    held_text = ", ".join(f"{k}={_short(v)}" for k, v in (held or {}).items())
    left_out = f"; up to order {order} of {asked}: the rest in grad.json" if order < asked else ""
    fig.suptitle(
        f"{title}: f and its derivatives in {name}, point {name} = {center:g}"
        + (f" (held: {held_text})" if held_text else "")
        + left_out,
        fontsize=9,
    )
    return fig


def _name(k: int) -> str:
    return "f" + "'" * k if k <= 3 else f"f^({k})"


def _short(value: Any) -> str:
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return f"{float(array):g}"
    return "[" + ", ".join(f"{v:g}" for v in array.ravel()[:4]) + (", ...]" if array.size > 4 else "]")


def contour_figure(
    problem: Problem,
    at: dict[str, Any],
    labels: tuple[str, ...],
    plot_range: tuple[float, float] | None,
    title: str,
    backend: Backend,
    box: Any = (),
) -> Any:
    """f over a grid around ``at`` (two free entries) with its gradient field;
    the problem's constraints (``problem.constraints``, in the free
    parameters) and the ``box`` ((entry, low, high, value) per bounded entry)
    drawn over it, their infeasible sides shaded."""
    x0, unflatten = backend.ravel(at)
    x0 = np.asarray(x0, dtype=float)
    objective = problem.scalar_objective()
    f = backend.jit(lambda v: objective(unflatten(v)))  # evaluated on the whole grid

    spans = [_span(float(c), plot_range) for c in x0]
    xs, ys = (np.linspace(lo, hi, CONTOUR) for lo, hi in spans)
    with np.errstate(all="ignore"):
        z = np.array([[float(f(np.array([x, y]))) for x in xs] for y in ys])
        ax_, ay_ = (np.linspace(lo, hi, ARROWS) for lo, hi in spans)
        df = backend.jit(backend.grad(f))
        g = np.array([[np.asarray(df(np.array([x, y])), dtype=float) for x in ax_] for y in ay_])
    fig, ax = subplots(figsize=(6.4, 5.2))
    finite = z[np.isfinite(z)]
    if finite.size:
        filled = ax.contourf(xs, ys, z, levels=30, cmap="viridis")
        seamless(filled, fig.colorbar(filled, ax=ax, label="f"))
        ax.contour(xs, ys, z, levels=15, colors="white", linewidths=0.5, alpha=0.6)
    norm = np.hypot(g[..., 0], g[..., 1])
    scale = np.where(norm > 0, norm, 1.0)
    ax.quiver(
        *np.meshgrid(ax_, ay_),
        g[..., 0] / scale,
        g[..., 1] / scale,
        color="white",
        alpha=0.8,
        angles="xy",
        pivot="mid",
        width=0.003,
        label="gradient direction (ascent)",
    )
    _feasible_set(ax, problem, backend, unflatten, xs, ys, labels, box)
    ax.plot(x0[0], x0[1], "r*", markersize=12, label=f"({x0[0]:g}, {x0[1]:g})")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(f"{title}: f and its gradient field")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    return fig


def _feasible_set(ax: Any, problem: Problem, backend: Backend, unflatten: Any, xs, ys, labels, box) -> None:
    """Each constraint's boundary c = 0 over the grid (dashed for an equality),
    the infeasible side (c < 0 for an inequality) shaded, and the box's finite
    sides, the outside shaded; each with a legend entry."""
    from matplotlib.lines import Line2D

    from optrun.core.feasible import MEANING

    handles = []
    for k, spec in enumerate(problem.constraints):
        c = backend.jit(lambda v, fun=spec.fun: fun(unflatten(v)))
        with np.errstate(all="ignore"):
            z = np.array([[float(c(np.array([x, y]))) for x in xs] for y in ys])
        finite = z[np.isfinite(z)]
        if not finite.size or finite.min() > 0 or finite.max() < 0:  # no boundary in view
            if spec.type == "ineq" and finite.size and finite.max() < 0:  # all of it infeasible
                ax.contourf(xs, ys, np.ones_like(z), levels=[0, 2], colors="white", alpha=SHADE)
            continue
        color = f"C{(k + 1) % 10}"
        style: Literal["--", "-"] = "--" if spec.type == "eq" else "-"
        ax.contour(xs, ys, z, levels=[0.0], colors=color, linewidths=1.8, linestyles=style)
        if spec.type == "ineq":
            ax.contourf(xs, ys, z, levels=[float(finite.min()) - 1.0, 0.0], colors="white", alpha=SHADE)
        label = spec.label if len(spec.label) <= 40 else spec.label[:37] + "..."
        handles.append(Line2D([], [], color=color, linestyle=style, label=f"{label} {MEANING[spec.type]}"))
    sides = {entry: (low, high) for entry, low, high, _ in box}
    for axis, name in enumerate(labels):
        vertical = axis == 0  # the first entry's bounds are vertical lines
        line, span, get, set_limits = (
            (ax.axvline, ax.axvspan, ax.get_xlim, ax.set_xlim)
            if vertical
            else (ax.axhline, ax.axhspan, ax.get_ylim, ax.set_ylim)
        )
        limits = get()
        low, high = sides.get(name, (None, None))
        for side, outside in ((low, limits[0]), (high, limits[1])):
            if side is not None:
                line(side, color="red", linewidth=1.5)
                span(*sorted((side, outside)), color="white", alpha=SHADE, linewidth=0)
        set_limits(*limits)  # a side beyond the view does not widen it
    if sides:
        handles.append(Line2D([], [], color="red", label="bounds"))
    if handles:
        ax.add_artist(ax.legend(handles=handles, loc="lower left", fontsize=8, framealpha=0.8))


def timing_plot(timing: Any, out: Path, name: str) -> Path:
    """``timing.png`` (``--timing``): seconds for the full derivative against
    the input size on log-log axes, forward mode (n JVPs) and reverse mode
    (VJPs) solid, jax's compile time (the first call) dashed; returns ``out``."""
    fig, ax = subplots(figsize=(6.4, 4.6), layout="constrained")
    inputs = [row.inputs for row in timing.rows]
    for c, mode in enumerate(("forward", "reverse")):
        modes = [getattr(row, mode) for row in timing.rows]
        what = ("JVP" if mode == "forward" else "VJP") + ("" if modes[-1].passes == 1 else "s")
        passes = f"{modes[0].passes}..{modes[-1].passes}" if modes[0].passes != modes[-1].passes else modes[0].passes
        run = "run, compiled" if modes[0].compile_seconds is not None else "best of repeats"
        ax.loglog(inputs, [m.seconds for m in modes], "o-", color=f"C{c}", label=f"{mode} ({passes} {what}; {run})")
        if modes[0].compile_seconds is not None:
            compile_times = [m.compile_seconds for m in modes]
            ax.loglog(inputs, compile_times, "o--", color=f"C{c}", alpha=0.7, label=f"{mode}: jax compile (first call)")
    ax.set_xlabel(f"input size n (problem option {timing.option})")
    ax.set_ylabel("seconds for the full derivative")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(f"{name}: forward vs reverse mode on {timing.backend}", fontsize=10)
    save(fig, out)
    return out
