"""The plots that rebuild a run's problem from its config: ``landscape``
(f along a line or filled contours in the plane of one or two free
parameters, with the optimizer's path, its start and end, and the known
minima) and ``fit`` (predictions against targets, or the fitted density
over a histogram of the data)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optrun.core.rundir import RunFiles
from optrun.plots.figures import finish, own_axes, seamless, set_title

if TYPE_CHECKING:
    from optrun.core.result import Summary
    from optrun.engine.prepare import Prepared

GRID = 120  # landscape resolution per axis


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


def _grid(prep: Prepared, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """f on the mesh: one vectorized call when the objective is elementwise in
    two scalar parameters, else point by point."""
    free = prep.unflatten(prep.x0)
    keys = sorted(free)
    X, Y = np.meshgrid(xs, ys)
    if len(keys) == 2 and all(np.shape(free[k]) == () for k in keys):
        try:
            Z = np.asarray(prep.problem.objective({**prep.fixed, keys[0]: X, keys[1]: Y}), dtype=float)
            if Z.shape == X.shape:
                return Z
        except Exception:
            pass  # not elementwise (sums over data, ...): evaluate point by point
    fun = _objective_of_free(prep)
    return np.array([[fun(np.array([x, y])) for x in xs] for y in ys])


def _span(values: np.ndarray) -> tuple[float, float]:
    low, high = float(np.min(values)), float(np.max(values))
    width = max(high - low, 1e-3 * max(1.0, abs(low), abs(high)), 0.5)
    return low - 0.25 * width, high + 0.25 * width


def plot_landscape(run: RunFiles, prep: Prepared, out: Path | None, ax: Any = None) -> bool:
    n_free = prep.x0.size
    if n_free not in (1, 2):
        return False
    names, path = _path(run, prep)
    path = path[np.all(np.isfinite(path), axis=1)]
    if len(path) == 0:
        return False
    minima = _known_minima(prep, n_free)
    points = np.vstack([path, minima]) if len(minima) else path
    fun = _objective_of_free(prep)
    own = ax is None
    fig, ax = own_axes(
        ax, (7, 6) if n_free == 2 else (8, 5), dict(left=0.11, right=0.98 if n_free == 1 else 1.0, top=0.93, bottom=0.1)
    )
    with np.errstate(all="ignore"):
        if n_free == 1:
            xs = np.linspace(*_span(points[:, 0]), 400)
            ax.plot(xs, [fun(np.array([v])) for v in xs], color="tab:blue", label="f")
            fs = [fun(np.array([v])) for v in path[:, 0]]
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
            xs = np.linspace(*_span(points[:, 0]), GRID)
            ys = np.linspace(*_span(points[:, 1]), GRID)
            Z = _grid(prep, xs, ys)
            finite = Z[np.isfinite(Z)]
            if finite.size == 0:
                raise ValueError("f is not finite anywhere on the plotted region")
            Z = np.where(np.isfinite(Z), Z, finite.max())
            shifted = Z - finite.min()
            if shifted.max() > 1e3 * max(np.median(shifted), 1e-12):  # a wide range: contour log(1 + f - min)
                shown, label = np.log1p(shifted), "log(1 + f - min f)"
            else:
                shown, label = Z, "f"
            filled = ax.contourf(xs, ys, shown, levels=40, cmap="viridis")
            ax.contour(xs, ys, shown, levels=15, colors="white", linewidths=0.4, alpha=0.5)
            seamless(filled, fig.colorbar(filled, ax=ax, label=label))
            ax.plot(path[:, 0], path[:, 1], ".-", color="tab:orange", markersize=3, linewidth=1, label="path")
            ax.plot(path[0, 0], path[0, 1], "o", color="tab:green", markersize=9, label="start")
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
    fixed = ", ".join(f"{k}={v}" for k, v in prep.fixed.items())
    set_title(ax, run, "landscape" + (f" ({fixed} fixed)" if fixed else ""), own=own)
    ax.legend(loc="best", fontsize="small")
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
