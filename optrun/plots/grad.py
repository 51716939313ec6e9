"""The plots ``optrun grad`` draws (matplotlib, imported here only):

* ``fd_error.png`` (with ``--fd``): the finite-difference error against h on
  log-log axes, one curve per scheme, as the notebook that compares them;
* ``derivatives.png`` (one free scalar parameter): f and its derivatives up
  to order K (``--order``, default 1) over ``--range`` (default: the point
  +- max(1, |value|)), the point marked;
* ``contour.png`` (two free entries): the contour of f with the gradient
  field as arrows, the point marked.

Each in the config's ``output.plot_format`` (png, svg or pdf), like a run's plots.
"""

from __future__ import annotations

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


def draw(
    run_dir: Path,
    problem: Problem,
    result: Any,
    plot_range: tuple[float, float] | None,
    fmt: str = "png",
    backend: Backend | None = None,
) -> list[Path]:
    """Every plot that applies to ``result``, as ``fmt`` files; returns the
    files written. ``backend``: the one ``problem`` was built for (default autograd)."""
    backend = backend if backend is not None else get_backend()
    written = []
    if result.fd is not None:
        written.append(fd_error(result.fd, run_dir / f"fd_error.{fmt}", result.name))
    if result.gradient is not None:
        labels = result.gradient.labels
        scalars = [name for name, value in result.at.items() if np.shape(value) == ()]
        if len(result.at) == 1 and scalars:
            order = result.derivatives.values.__len__() - 1 if result.derivatives is not None else 1
            written.append(
                derivatives_plot(
                    problem,
                    result.at,
                    scalars[0],
                    order,
                    plot_range,
                    run_dir / f"derivatives.{fmt}",
                    result.name,
                    backend,
                )
            )
        elif len(labels) == 2:
            written.append(
                contour(problem, result.at, labels, plot_range, run_dir / f"contour.{fmt}", result.name, backend)
            )
    return written


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
    low, high = plot_range or (center - max(1.0, abs(center)), center + max(1.0, abs(center)))
    grid = np.linspace(low, high, GRID)
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
    ax.set_title(f"{title}: f and its derivatives in {name}")
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

    spans = [plot_range or (c - max(1.0, abs(c)), c + max(1.0, abs(c))) for c in x0]
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
