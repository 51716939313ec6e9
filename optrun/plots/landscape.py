"""The plots that rebuild a run's problem from its config: ``landscape``
(f along a line or filled contours in the plane of one or two free
parameters, with the optimizer's path, its start and end, and the known
minima; evaluated in one call for a problem declared vectorized, else point
by point, see :func:`evaluate`; with bounds or constraints, the box and each
constraint's boundary: :mod:`optrun.plots.region`) and ``fit`` (predictions against targets, or the fitted density
over a histogram of the data)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optrun.core.rundir import RunFiles
from optrun.plots.figures import finish, own_axes, seamless, set_title
from optrun.plots.quiet import contained

if TYPE_CHECKING:
    from optrun.core.result import Summary
    from optrun.engine.prepare import Prepared

GRID = 120  # mesh points per axis when the objective broadcasts (one call for the whole mesh)
CURVE = 400  # points of a one-parameter curve
POINTWISE_BUDGET_S = 3.0  # about this long for a mesh evaluated point by point: a slow objective gets fewer points
MIN_GRID, MIN_CURVE = 30, 60  # ... but never fewer than these
TIMED_CALLS = 5  # calls timed to choose that number


def _path(run: RunFiles, prep: Prepared) -> tuple[list[str], np.ndarray]:
    """Names of the free entries and their path (rows = iterations)."""
    from optrun.core.params import leaf_names

    names = leaf_names(prep.unflatten(prep.x0))
    columns = [n for n in names if n in run.trace]
    if len(columns) != len(names):
        return names, np.empty((0, len(names)))
    return names, np.column_stack([run.trace[n] for n in names])


def _known_minima(prep: Prepared, n_free: int) -> np.ndarray:
    from autograd.misc.flatten import flatten

    reference = prep.problem.reference
    if reference is None or prep.fixed:
        return np.empty((0, n_free))
    return np.array([np.asarray(flatten(dict(p))[0], dtype=float) for p in reference.params])


def _objective_of_free(prep: Prepared) -> Callable[[np.ndarray], float]:
    """f of the (one or two) free entries, without autograd's unflatten
    (which is built for differentiation and slow in a 10,000-point loop)."""
    free = prep.unflatten(prep.x0)
    keys = sorted(free)  # flatten order
    objective, fixed = prep.problem.objective, prep.fixed
    if len(keys) == 1 and np.shape(free[keys[0]]) != ():
        key = keys[0]
        return lambda v: float(objective({**fixed, key: np.asarray(v, dtype=float)}))
    return lambda v: float(objective({**fixed, **{k: float(v[i]) for i, k in enumerate(keys)}}))


def broadcasts(prep: Prepared) -> bool:
    """Whether the landscape may call the objective once on all its points:
    the problem declares it vectorized (``register_problem(...,
    vectorized=True)``: the built-ins that are elementwise, expressions
    without sum/prod/mean/dot) and every free parameter is a scalar. Python
    functions and user problems are not, unless they say so: a function
    that sums (``sum([x - 1, y - 1])``) would sum the whole mesh."""
    free = prep.unflatten(prep.x0)
    return prep.config.problem.entry.broadcasts(prep.problem) and all(np.shape(v) == () for v in free.values())


@dataclass
class Mesh:
    """f at the landscape's points: ``values[i]`` at ``points[i]`` (rows of
    the free parameters), NaN where the objective raised; ``note`` says what
    the plot should (points left blank, a mesh shrunk for a slow objective)."""

    points: np.ndarray
    values: np.ndarray
    note: str = ""


def evaluate(prep: Prepared, points: np.ndarray) -> Mesh:
    """f at each row of ``points``: in one call when :func:`broadcasts`, else
    point by point, NaN where the objective raises (the first error is named
    in ``note``, once); what the objective prints or warns is not shown
    (:func:`optrun.plots.quiet.contained`)."""
    with contained():
        if broadcasts(prep):
            keys = sorted(prep.unflatten(prep.x0))
            columns = {k: points[:, i] for i, k in enumerate(keys)}
            values = np.asarray(prep.problem.objective({**prep.fixed, **columns}), dtype=float)
            if values.shape != (len(points),):
                raise ValueError(
                    f"problem '{prep.config.problem.name}' is registered as vectorized, but its objective "
                    f"returned shape {values.shape} for {len(points)} points (register it without vectorized=True)"
                )
            return Mesh(points, values)
        fun = _objective_of_free(prep)
        values = np.full(len(points), np.nan)
        failed, first = 0, ""
        for i, point in enumerate(points):
            try:
                values[i] = fun(point)
            except Exception as exc:  # a point outside the objective's domain: left blank
                failed += 1
                first = first or f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    note = f"f raised at {failed} of {len(points)} points, left blank (first: {first[:80]})" if failed else ""
    return Mesh(points, values, note)


def _resolution(prep: Prepared, at: np.ndarray, most: int, least: int, dims: int) -> int:
    """Points per axis: ``most`` when the objective broadcasts, else as many
    as fit POINTWISE_BUDGET_S at the cost of one call: the fastest of
    TIMED_CALLS at ``at`` after a first one (imports, caches), so that a
    busy machine does not shrink the mesh of a cheap objective."""
    if broadcasts(prep):
        return most
    fun = _objective_of_free(prep)
    fastest = np.inf
    with contained():
        for i in range(TIMED_CALLS + 1):
            began = time.perf_counter()
            try:
                fun(at)
            except Exception:  # outside the domain: the mesh will say where; raising took time too
                pass
            if i:
                fastest = min(fastest, time.perf_counter() - began)
    return int(np.clip((POINTWISE_BUDGET_S / max(fastest, 1e-9)) ** (1 / dims), least, most))


def landscape_mesh(prep: Prepared, x_span: tuple[float, float], y_span: tuple[float, float]) -> Mesh:
    """f on the plane's mesh (two free entries): ``points`` are the mesh's
    (x, y) rows, x varying fastest; GRID x GRID points when the objective
    broadcasts, fewer (down to MIN_GRID) for a slow one evaluated point by point."""
    n = _resolution(prep, np.array([np.mean(x_span), np.mean(y_span)]), GRID, MIN_GRID, 2)
    X, Y = np.meshgrid(np.linspace(*x_span, n), np.linspace(*y_span, n))
    mesh = evaluate(prep, np.column_stack([X.ravel(), Y.ravel()]))
    if n == GRID:
        return mesh
    shrunk = f"{n} x {n} mesh (f is slow, evaluated point by point)"
    return Mesh(mesh.points, mesh.values, "; ".join(filter(None, [shrunk, mesh.note])))


def _span(values: np.ndarray) -> tuple[float, float]:
    low, high = float(np.min(values)), float(np.max(values))
    width = max(high - low, 1e-3 * max(1.0, abs(low), abs(high)), 0.5)
    return low - 0.25 * width, high + 0.25 * width


# a run with bounds or constraints: a bounded feasible region is looked for within SEARCH core widths of the
# core (the start, the end, the minima, the box), and path points beyond FAR widths of it are left out of the view
SEARCH, FAR = 3.0, 1.5


def _view(prep: Prepared, path: np.ndarray, minima: np.ndarray) -> tuple[list[tuple[float, float]], int]:
    """The span of each free entry the plot shows, and how many path points
    it leaves out: the path and the known minima; with bounds or constraints
    also the box's finite sides within SEARCH widths of the path's ends and a bounded feasible region near the path
    (:func:`optrun.plots.region.region_extent`), without the path's far steps
    (SLSQP's first step may land 200 units from a unit disc): points more than
    FAR widths outside the core (the start, the end, the minima, the region;
    its width: its widest entry's)."""
    feasible, d = prep.feasible, path.shape[1]
    extra = [np.array([])] * d  # values of each entry the view holds beyond the path and the minima
    kept = np.ones(len(path), dtype=bool)
    if feasible is not None:
        from optrun.plots.region import region_extent

        if feasible.box is not None:  # its finite sides near the path (a side 1e3 away would shrink it to a dot)
            ends = np.concatenate([path[[0, -1]], minima])
            low0, high0 = ends.min(axis=0), ends.max(axis=0)
            reach = SEARCH * max(float(np.max(high0 - low0)), 0.5)
            sides = np.stack([feasible.box.lower, feasible.box.upper], axis=1)
            extra = [v[np.isfinite(v) & (v >= low0[j] - reach) & (v <= high0[j] + reach)] for j, v in enumerate(sides)]

        def core(times: float) -> tuple[np.ndarray, np.ndarray]:  # (low, high) of the core, widened
            values = [np.concatenate([path[[0, -1], j], minima[:, j], extra[j]]) for j in range(d)]
            low, high = np.array([v.min() for v in values]), np.array([v.max() for v in values])
            width = max(float(np.max(high - low)), 0.5)
            return low - times * width, high + times * width

        found = region_extent(prep, *core(SEARCH)) if feasible.constraints else None
        if found is not None:
            extra = [np.concatenate([extra[j], [found[0][j], found[1][j]]]) for j in range(d)]
        low, high = core(FAR)
        kept = np.all((path >= low) & (path <= high), axis=1)
    spans = [_span(np.concatenate([path[kept, j], minima[:, j], extra[j]])) for j in range(d)]
    return spans, int(len(path) - kept.sum())


def plot_landscape(run: RunFiles, prep: Prepared, out: Path | None, ax: Any = None) -> bool:
    n_free = prep.x0.size
    if n_free not in (1, 2):
        return False
    names, path = _path(run, prep)
    path = path[np.all(np.isfinite(path), axis=1)]
    if len(path) == 0:
        return False
    from optrun.plots.region import draw_region

    minima = _known_minima(prep, n_free)
    spans, far = _view(prep, path, minima)
    own = ax is None
    fig, ax = own_axes(
        ax, (7, 6) if n_free == 2 else (8, 5), dict(left=0.11, right=0.98 if n_free == 1 else 1.0, top=0.93, bottom=0.1)
    )
    with np.errstate(all="ignore"):
        if n_free == 1:
            n = _resolution(prep, path[-1], CURVE, MIN_CURVE, 1)
            curve = evaluate(prep, np.linspace(*spans[0], n)[:, None])
            note = curve.note
            ax.plot(curve.points[:, 0], curve.values, color="tab:blue", label="f")
            region = draw_region(ax, prep, curve.points, names) if prep.feasible is not None else []
            fs = evaluate(prep, path[:, :1]).values
            ax.plot(path[:, 0], fs, ".-", color="tab:orange", markersize=4, label="path")
            ax.plot(path[0, 0], fs[0], "o", color="tab:green", markersize=9, label="start")
            for i, m in enumerate(minima):
                ax.axvline(
                    m[0], color="gray", linestyle="--", linewidth=1, zorder=1, label="known minima" if i == 0 else None
                )
            ax.plot(path[-1, 0], fs[-1], "*", color="tab:red", markersize=13, zorder=5, label="end")
            ax.set_xlabel(names[0])
            ax.set_ylabel("f")
        else:
            mesh = landscape_mesh(prep, *spans)
            note, n = mesh.note, math.isqrt(len(mesh.points))  # n x n, x fastest
            xs, ys = mesh.points[:n, 0], mesh.points[::n, 1]
            Z = mesh.values.reshape(n, n)
            finite = Z[np.isfinite(Z)]
            if finite.size == 0:
                raise ValueError("f is not finite anywhere on the plotted region")
            Z = np.where(np.isinf(Z), finite.max(), Z)  # NaN (f undefined or raised there): blank; inf: the top
            shifted = Z - finite.min()
            if np.nanmax(shifted) > 1e3 * max(np.nanmedian(shifted), 1e-12):  # a wide range: contour log(1 + f - min)
                shown, label = np.log1p(shifted), "log(1 + f - min f)"
            else:
                shown, label = Z, "f"
            filled = ax.contourf(xs, ys, shown, levels=40, cmap="viridis")
            ax.contour(xs, ys, shown, levels=15, colors="white", linewidths=0.4, alpha=0.5)
            seamless(filled, fig.colorbar(filled, ax=ax, label=label))
            region = draw_region(ax, prep, mesh.points, names) if prep.feasible is not None else []
            path_style = dict(color="tab:orange", markersize=3, linewidth=1, zorder=3)
            ax.plot(path[:, 0], path[:, 1], ".-", label="path", **path_style)
            ax.plot(path[0, 0], path[0, 1], "o", color="tab:green", markersize=9, zorder=3, label="start")
            if len(minima):  # open rings, under the end marker: a converged end stays visible inside its minimum's ring
                ax.plot(
                    minima[:, 0],
                    minima[:, 1],
                    "o",
                    markerfacecolor="none",
                    markeredgecolor="white",
                    markeredgewidth=2,
                    markersize=16,
                    zorder=4,
                    linestyle="none",
                    label="known minima",
                )
            ax.plot(
                path[-1, 0],
                path[-1, 1],
                "*",
                color="tab:red",
                markeredgecolor="black",
                markersize=14,
                zorder=5,
                label="end",
            )
            ax.set_xlabel(names[0])
            ax.set_ylabel(names[1])
    if far or prep.feasible is not None:  # the view, not the box's far sides or the path's far steps
        ax.set_xlim(*spans[0])
        if n_free == 2:
            ax.set_ylim(*spans[1])
        elif np.isfinite(curve.values).any():  # f along the view's line, not at the far steps
            finite = curve.values[np.isfinite(curve.values)]
            pad = 0.05 * (float(finite.max() - finite.min()) or 1.0)
            ax.set_ylim(finite.min() - pad, finite.max() + pad)
        if far:
            note = "; ".join(filter(None, [note, f"{far} far step{'s' if far > 1 else ''} of the path out of view"]))
    if note:
        ax.text(
            0.01, 0.01, note, transform=ax.transAxes, fontsize="x-small", va="bottom", bbox=dict(fc="white", alpha=0.8)
        )
    fixed = ", ".join(f"{k}={v}" for k, v in prep.fixed.items())
    set_title(ax, run, "landscape" + (f" ({fixed} fixed)" if fixed else ""), own=own)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend([*handles, *region], [*labels, *(h.get_label() for h in region)], loc="best", fontsize="small")
    finish(fig, out)
    return True


# ---------------------------------------------------------------------- fit
def plot_fit(run: RunFiles, prep: Prepared, out: Path | None, ax: Any = None) -> bool:
    if prep.problem.fit is None or run.summary is None:
        return False
    final = _final_params(run.summary, prep)
    fit = prep.problem.fit(final)
    own = ax is None
    fig, ax = own_axes(ax, (7, 6), dict(left=0.12, right=0.97, top=0.93, bottom=0.09))
    if fit.kind == "density":
        assert fit.density is not None  # the built-in models give a density fit its pdf
        ax.hist(fit.observed, bins="auto", density=True, color="tab:blue", alpha=0.5, label="data")
        grid = np.linspace(*_span(fit.observed), 400)
        ax.plot(grid, fit.density(grid), color="tab:red", linewidth=2, label=fit.label)
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        set_title(ax, run, "fitted density", own=own)
    else:
        assert fit.predicted is not None  # the built-in models give a predictions fit its predictions
        ax.plot(fit.observed, fit.predicted, ".", color="tab:blue", alpha=0.7, label="data")
        low = float(min(np.min(fit.observed), np.min(fit.predicted)))
        high = float(max(np.max(fit.observed), np.max(fit.predicted)))
        ax.plot([low, high], [low, high], "--", color="gray", label="prediction = target")
        ax.set_xlabel(f"observed {fit.label}")
        ax.set_ylabel(f"predicted {fit.label}")
        set_title(ax, run, "predictions against targets", own=own)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    finish(fig, out)
    return True


def _final_params(summary: Summary, prep: Prepared) -> dict[str, Any]:
    """The run's final parameters from summary.json, shaped like the problem's."""
    from optrun.core.params import coerce_like

    return coerce_like(prep.params0, summary.params, "summary.params")


# ------------------------------------------------------------ optrun plot
