"""Plots of a finished (or interrupted) run, drawn from its files.

Each is written in the run's ``output.plot_format`` (png, svg or pdf):
``loss.png`` or ``loss.svg`` or ``loss.pdf``, and so on.

- ``loss.png``: f over iterations (f - f* on a log scale when f* is known),
  with the gradient norm on a second panel;
- ``params.png``: parameter paths over iterations (the first
  ``MAX_PARAM_LINES``; the title says what was left out);
- ``landscape.png``: for one or two free parameters, f along a line or filled
  contours in the plane, with the optimizer's path, its start and end, and
  the known minima;
- ``fit.png``: for model-fitting problems, predictions against targets or
  the fitted density over a histogram of the data.

matplotlib is imported here, lazily, and figures are drawn by its Agg
canvas without pyplot, so commands that draw nothing never pay for it. A plot that cannot be drawn never loses the
run's other files: it comes back as a warning string. Each file is written
atomically (never half a file, never through a symbolic link); a folder
that cannot be written (full, read-only) stops the drawing at the first
failure with one warning, or one error for ``optrun plot``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optrun.core.errors import ConfigError, RunIOError
from optrun.core.rundir import RunFiles, read_run
from optrun.plots.figures import (
    FORMATS,
    finish,
    log_safe_gap,
    log_scale,
    own_axes,
    run_plot_format,
    seamless,
    set_title,
    subplots,
    zero_gap_note,
)

MAX_PARAM_LINES = 12
GRID = 120  # landscape resolution per axis

if TYPE_CHECKING:
    from optrun.core.result import Summary
    from optrun.engine.prepare import Prepared


def draw_run_plots(run_dir: Path, prep: Prepared | None = None, raise_io: bool = False) -> tuple[list[Path], list[str]]:
    """Draw every plot that applies to the run; return (files written, warnings).

    ``prep`` is the run's :class:`~optrun.engine.prepare.Prepared` when the caller has it
    (right after a run); otherwise the problem is rebuilt from config.yaml.
    A plot file that cannot be written stops the drawing: it is one warning,
    or a :class:`RunIOError` with ``raise_io``. The files are in the run's
    output.plot_format; a plot that does not apply removes an old file of
    its name in any format.
    """
    written: list[Path] = []
    warnings: list[str] = []
    io_failed: list[RunIOError] = []
    try:
        run = read_run(run_dir)
    except Exception as exc:
        return written, [f"{run_dir}: plots not drawn: {exc}"]

    fmt = prep.config.output.plot_format if prep is not None else run_plot_format(run)

    def attempt(plot: str, draw: Callable[[Path], bool]) -> None:
        name = f"{plot}.{fmt}"
        if io_failed:
            return
        try:
            try:
                if draw(run_dir / name):
                    written.append(run_dir / name)
                else:  # does not apply to this run: an old file of that name is stale
                    for old in FORMATS:
                        (run_dir / f"{plot}.{old}").unlink(missing_ok=True)
            except OSError as exc:
                raise RunIOError(f"cannot write: {exc.strerror or exc}", source=str(run_dir / name)) from None
        except RunIOError as exc:  # the folder cannot be written: the other plots would fail alike
            if raise_io:
                raise
            io_failed.append(exc)
            warnings.append(f"{exc}; plots not drawn (redraw with: optrun plot {run_dir})")
        except Exception as exc:  # a plot must never take the run down; an older drawing is kept
            warnings.append(f"{run_dir / name}: plot not drawn: {type(exc).__name__}: {exc}")

    attempt("loss", lambda out: plot_loss(run, out))
    attempt("params", lambda out: plot_params(run, out))
    needs_problem = []
    if prep is None:
        try:
            prep = _rebuild(run)
        except Exception as exc:
            needs_problem.append(f"the problem could not be rebuilt from config.yaml: {exc}")
    if prep is not None:
        attempt("landscape", lambda out: plot_landscape(run, prep, out))
        attempt("fit", lambda out: plot_fit(run, prep, out))
    warnings.extend(f"{run_dir}: landscape.{fmt} and fit.{fmt} not drawn: {w}" for w in needs_problem)
    return written, warnings


PLOTS = (
    "loss",
    "params",
    "landscape",
    "fit",
)  # what RunResult.plot draws; <name>.<output.plot_format> in a run directory


def draw_into(run_dir: Path, name: str, ax: Any) -> bool:
    """Draw the run's plot ``name`` into matplotlib axes ``ax`` (a notebook's);
    False when it does not apply to the run (no parameter columns, more than
    two free parameters for the landscape, no fit)."""
    if name not in PLOTS:
        raise ConfigError(f"unknown plot {name!r} (plots: {', '.join(PLOTS)})", path="plot")
    run = read_run(run_dir)
    if name == "loss":
        return plot_loss(run, None, ax)
    if name == "params":
        return plot_params(run, None, ax)
    prep = _rebuild(run)
    return (plot_landscape if name == "landscape" else plot_fit)(run, prep, None, ax)


def _rebuild(run: RunFiles) -> Prepared:
    from optrun.config import load_config
    from optrun.engine.prepare import prepare

    return prepare(load_config(run.path / "config.yaml"))


# --------------------------------------------------------------------- loss
def plot_loss(run: RunFiles, out: Path | None, ax: Any = None) -> bool:
    """f (or f - f* on a log axis) and the gradient norm against iterations:
    two panels, or with ``ax`` one panel with the gradient norm on a twin axis."""
    it, f, g = run.trace["iter"], run.trace["f"], run.trace["grad_norm"]
    if ax is None:
        fig, (ax_f, ax_g) = subplots(2, 1, figsize=(8, 6), sharex=True)
        fig.subplots_adjust(left=0.12, right=0.97, top=0.94, bottom=0.08, hspace=0.08)
    else:
        fig, ax_f = ax.figure, ax
        ax_g = ax.twinx()
    if "gap" in run.trace:
        reference = run.summary.reference if run.summary is not None else None
        fstar = reference.fun if reference is not None else None
        # an exact 0 is drawn at the resolution of f near f* (1e-16 relative),
        # not at the smallest gap seen (which may be 20)
        resolution = np.array([1e-16 * max(1.0, abs(fstar) if fstar is not None and np.isfinite(fstar) else 1.0)])
        zero = run.trace["gap"] == 0
        gap, floor = (
            log_safe_gap(run.trace["gap"], resolution) if zero.any() else (log_safe_gap(run.trace["gap"])[0], None)
        )
        ax_f.plot(it, gap, color="tab:blue")
        log_scale(ax_f)
        note = zero_gap_note(it, run.trace["gap"], float(floor[0])) if floor is not None else None
        if note is not None:
            ax_f.plot(it[zero], gap[zero], "v", color="tab:red", markersize=5, linestyle="none")
            ax_f.text(
                0.01,
                0.03,
                note,
                transform=ax_f.transAxes,
                ha="left",
                va="bottom",
                fontsize="small",
                color="tab:red",
                bbox=dict(facecolor="white", edgecolor="none", alpha=0.8),
            )
        ax_f.set_ylabel("f - f*" + (f"  (f* = {fstar:.6g})" if fstar is not None else ""))
    else:
        ax_f.plot(it, f, color="tab:blue")
        ax_f.set_ylabel("f")
        ax_f.text(0.99, 0.95, "f* unknown", transform=ax_f.transAxes, ha="right", va="top", color="gray")
    best = run.summary.best if run.summary is not None else None
    if best is not None and best.iter is not None and best.fun is not None and "gap" not in run.trace:
        ax_f.plot([best.iter], [best.fun], "o", color="tab:red", label=f"best f = {best.fun:.6g}")
        ax_f.legend(loc="upper right", bbox_to_anchor=(1.0, 0.88))
    set_title(ax_f, run, "objective", own=ax is None)
    ax_f.grid(alpha=0.3)
    ax_g.plot(it, g, color="tab:orange", linestyle="-" if ax is None else ":")
    if np.any(np.isfinite(g) & (g > 0)):
        log_scale(ax_g)
    ax_g.set_ylabel("gradient norm")
    if ax is None:
        ax_g.set_xlabel("iteration")
        ax_g.grid(alpha=0.3)
    else:
        ax_f.set_xlabel("iteration")
    finish(fig, out)
    return True


# ------------------------------------------------------------------- params
def param_columns(trace: dict[str, np.ndarray]) -> list[str]:
    from optrun.core.trace import GRAD_PREFIX, TRACE_COLUMNS

    fixed = set(TRACE_COLUMNS) | {"gap"}
    return [name for name in trace if name not in fixed and not name.startswith(GRAD_PREFIX)]


def plot_params(run: RunFiles, out: Path | None, ax: Any = None) -> bool:
    names = param_columns(run.trace)
    if not names:
        return False  # more parameters than output.param_columns: the trace has none
    shown = names[:MAX_PARAM_LINES]
    own = ax is None
    fig, ax = own_axes(ax, (8, 5), dict(left=0.1, right=0.97, top=0.93, bottom=0.1))
    for name in shown:
        ax.plot(run.trace["iter"], run.trace[name], label=name)
    left_out = len(names) - len(shown)
    what = "parameter paths" + (f" (first {len(shown)} of {len(names)}; {left_out} left out)" if left_out else "")
    set_title(ax, run, what, own=own)
    ax.set_xlabel("iteration")
    ax.set_ylabel("value")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small", ncol=2 if len(shown) > 6 else 1)
    finish(fig, out)
    return True


# ---------------------------------------------------------------- landscape
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
