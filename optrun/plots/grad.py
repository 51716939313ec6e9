"""The plots ``optrun grad`` draws (matplotlib, imported here only):

* ``fd_error.png`` (with ``--fd``): the finite-difference error against h on
  log-log axes, one curve per scheme, as the notebook that compares them;
* ``derivatives.png`` (one free scalar parameter): f and its derivatives up
  to order K (``--order``, default 1) over ``--range`` (default: the point
  +- max(1, |value|)), the point marked;
* ``contour.png`` (two free entries): the contour of f with the gradient
  field as arrows, the point marked.

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
from typing import Any

import numpy as np

from optrun.core import derivatives as d
from optrun.core.backend import Backend, get_backend
from optrun.core.problems import Problem
from optrun.plots.figures import save, seamless, subplots

GRID = 101  # points along the range for derivatives.png
CONTOUR = 80  # contour.png grid per axis
ARROWS = 15  # gradient arrows per axis
PLOT_WORK = 20_000  # operations of the costliest curve of derivatives.png over its grid (~1 s on autograd)


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

    def attempt(out: Path, draw_it: Callable[[], Path]) -> None:
        try:
            written.append(draw_it())
        except Exception as exc:  # the numbers are recorded in grad.json all the same (files are written atomically)
            text = " ".join(str(exc).split())[:200]
            failed.append(f"{out.name} not drawn: {type(exc).__name__}" + (f": {text}" if text else ""))

    if result.fd is not None:
        fd_out = run_dir / f"fd_error.{fmt}"
        attempt(fd_out, lambda: fd_error(result.fd, fd_out, result.name))
    if result.gradient is not None:
        labels = result.gradient.labels
        scalars = [name for name, value in result.at.items() if np.shape(value) == ()]
        if len(result.at) == 1 and scalars:
            order = result.derivatives.values.__len__() - 1 if result.derivatives is not None else 1
            out = run_dir / f"derivatives.{fmt}"
            attempt(
                out,
                lambda: derivatives_plot(problem, result.at, scalars[0], order, plot_range, out, result.name, backend),
            )
        elif len(labels) == 2:
            out = run_dir / f"contour.{fmt}"
            attempt(out, lambda: contour(problem, result.at, labels, plot_range, out, result.name, backend))
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


def fd_error(fd: d.FDCheck, out: Path, name: str) -> Path:
    fig, ax = subplots(figsize=(6.4, 4.4))
    steps = np.array(fd.steps)
    curves = [(fd.forward, "forward (f(x+h) - f(x)) / h", "o-"), (fd.central, "central (f(x+h) - f(x-h)) / 2h", "s-")]
    for scheme, label, style in curves:
        errors = np.array(scheme.errors)
        ok = np.isfinite(errors) & (errors > 0)
        ax.loglog(steps[ok], errors[ok], style, label=label, markersize=4)
    ax.set_xlabel("step h")
    ax.set_ylabel(
        "|finite difference - autodiff|" + (" (largest entry)" if fd.mode == "entries" else " (random direction)")
    )
    ax.set_title(f"{name}: finite differences against autodiff")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    save(fig, out)
    return out


def derivatives_plot(
    problem: Problem,
    at: dict[str, Any],
    name: str,
    order: int,
    plot_range: tuple[float, float] | None,
    out: Path,
    title: str,
    backend: Backend,
) -> Path:
    center = float(at[name])
    low, high = _span(center, plot_range)
    grid = np.linspace(low, high, GRID)
    asked = order
    # cheap: only the orders whose curves fit in PLOT_WORK operations (each is evaluated at every grid point)
    ops = d.derivative_operations(problem, at, name, backend=backend)
    order = min(order, d.affordable_order(ops, order, points=GRID + 1, budget=PLOT_WORK))
    # the curves and the point itself, from functions built (on jax: compiled) once
    values = d.derivative_curves(problem, at, order, name, [*grid, center], backend=backend)
    values, here = values[:-1], values[-1]
    fig, ax = subplots(figsize=(6.4, 4.4))
    for k in range(order + 1):
        label = "f" + "'" * k if k <= 3 else f"f^({k})"
        ax.plot(grid, values[:, k], label=label, linewidth=2 if k == 0 else 1.3)
    ax.plot([center] * (order + 1), here, "ko", markersize=4, label=f"{name} = {center:g}")
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    ax.set_xlabel(name)
    left_out = f" (up to order {order} of {asked}: the rest in grad.json)" if order < asked else ""
    ax.set_title(f"{title}: f and its derivatives in {name}{left_out}", fontsize=10 if left_out else None)
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, out)
    return out


def contour(
    problem: Problem,
    at: dict[str, Any],
    labels: tuple[str, ...],
    plot_range: tuple[float, float] | None,
    out: Path,
    title: str,
    backend: Backend,
) -> Path:
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
    ax.plot(x0[0], x0[1], "r*", markersize=12, label=f"({x0[0]:g}, {x0[1]:g})")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(f"{title}: f and its gradient field")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    save(fig, out)
    return out
