"""Plots of a finished (or interrupted) run, drawn from its files.

Each is written in the run's ``output.plot_format`` (png, svg or pdf):
``loss.png`` or ``loss.svg`` or ``loss.pdf``, and so on.

- ``loss.png``: f over iterations (f - f* on a log scale when f* is known),
  with the gradient norm on a second panel and, for a run with constraints,
  each row's largest violation on a third (log scale, with feasibility_tol);
- ``params.png``: parameter paths over iterations, or for more than
  ``MAX_PARAM_LINES`` parameters in several arrays (a network's layers) each
  array's norm (at most ``MAX_PARAM_LINES`` lines; the title says what was left out);
- ``landscape.png``: for one or two free parameters, f along a line or filled
  contours in the plane, with the optimizer's path, its start and end, and
  the known minima; the box and the constraints' boundaries, the infeasible
  side hatched;
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

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optrun.core.errors import ConfigError, RunIOError
from optrun.core.rundir import RunFiles, read_run
from optrun.plots.figures import (
    FORMATS,
    LOG_FLOOR,
    distinct_colors,
    finish,
    held_text,
    log_clip,
    log_safe_gap,
    log_scale,
    own_axes,
    run_plot_format,
    set_title,
    subplots,
    zero_gap_note,
)
from optrun.plots.landscape import plot_fit, plot_landscape

MAX_PARAM_LINES = 12

if TYPE_CHECKING:
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
def point_marker(it: np.ndarray) -> str | None:
    """A dot for a one-row trace (a max_iter 0 run: a line through one point draws nothing), else none."""
    return "o" if len(it) == 1 else None


def _draw_gap(ax: Any, run: RunFiles, it: np.ndarray, marker: str | None) -> None:
    """f - f* on a log axis. An exact 0 is drawn at the resolution of f near f*
    (1e-16 relative), not at the smallest gap seen (which may be 20); a gap of 0
    and a negative gap (f a hair below f*: rounding, or an f* known to a few
    digits) are marked, and said in the legend, which matplotlib places off the curve."""
    raw = run.trace["gap"]
    reference = run.summary.reference if run.summary is not None else None
    fstar = reference.fun if reference is not None else None
    resolution = np.array([1e-16 * max(1.0, abs(fstar) if fstar is not None and np.isfinite(fstar) else 1.0)])
    zero = raw == 0
    gap, floor = log_safe_gap(raw, resolution) if zero.any() else (log_safe_gap(raw)[0], None)
    ax.plot(it, gap, color="tab:blue", marker=marker)
    log_scale(ax)
    note = zero_gap_note(it, raw, float(floor[0])) if floor is not None else None
    if note is not None:
        ax.plot(it[zero], gap[zero], "v", color="tab:red", markersize=5, linestyle="none", label=note)
    below = raw < 0
    if below.any():
        ax.plot(
            it[below],
            gap[below],
            "^",
            color="tab:purple",
            markersize=5,
            linestyle="none",
            label=f"f < f* at {int(below.sum())} iterations (by up to {float(-raw[below].min()):.3g}): |f - f*| drawn",
        )
    if note is not None or below.any():
        ax.legend(loc="best", fontsize="small")
    label = "f - f*" + (f"  (f* = {fstar:.6g})" if fstar is not None else "")
    if held_text(run) and fstar is not None:  # f* is the problem's, not the minimum with parameters held
        label = f"f - f*\n(f* = {fstar:.6g}: every parameter free)"
    ax.set_ylabel(label)


def _feasibility_tol(run: RunFiles) -> float:
    """The run's stop.feasibility_tol: its summary's, else its config's, else the default."""
    from optrun.core.feasible import DEFAULT_TOL

    if run.summary is not None and run.summary.constraints is not None:
        return run.summary.constraints.tol
    stop = run.config.get("stop") if isinstance(run.config, dict) else None
    tol = stop.get("feasibility_tol") if isinstance(stop, dict) else None
    return float(tol) if isinstance(tol, (int, float)) and not isinstance(tol, bool) else DEFAULT_TOL


def _draw_violation(ax: Any, run: RunFiles, it: np.ndarray, marker: str | None) -> None:
    """Each row's largest violation on a log axis, with feasibility_tol; a
    violation of exactly 0 (feasible) is drawn at a floor below both, and said."""
    from optrun.core.trace import VIOLATION

    raw, tol = run.trace[VIOLATION], _feasibility_tol(run)
    positive = raw[np.isfinite(raw) & (raw > 0)]
    low = min(float(positive.min()) if positive.size else np.inf, tol if tol > 0 else np.inf)
    floor = max((low if np.isfinite(low) else 1.0) / 100, LOG_FLOOR)  # below every value and the tolerance
    ax.plot(it, log_clip(np.where(raw == 0, floor, raw))[0], color="tab:red", marker=marker, label="largest violation")
    if tol > 0:  # (a tolerance of 0 has no place on a log axis)
        ax.axhline(tol, color="gray", linestyle="--", linewidth=1, label=f"feasibility_tol = {tol:g}")
    zero = raw == 0
    if zero.any():
        ax.plot([], [], " ", label=f"0 (feasible) at {int(zero.sum())} rows: drawn at {floor:.3g}")
    log_scale(ax)
    ax.set_ylabel("largest violation")
    ax.legend(loc="best", fontsize="small")


def plot_loss(run: RunFiles, out: Path | None, ax: Any = None) -> bool:
    """f (or f - f* on a log axis) and the gradient norm against iterations:
    two panels (a third for a run with constraints: the largest violation),
    or with ``ax`` one panel with the gradient norm on a twin axis."""
    from optrun.core.trace import VIOLATION

    it, f, g = run.trace["iter"], run.trace["f"], run.trace["grad_norm"]
    marker = point_marker(it)
    ax_v = None
    if ax is None and VIOLATION in run.trace:
        fig, (ax_f, ax_g, ax_v) = subplots(3, 1, figsize=(8, 8), sharex=True, height_ratios=(4, 3, 3))
        fig.subplots_adjust(left=0.12, right=0.97, top=0.95, bottom=0.06, hspace=0.08)
    elif ax is None:
        fig, (ax_f, ax_g) = subplots(2, 1, figsize=(8, 6), sharex=True)
        fig.subplots_adjust(left=0.12, right=0.97, top=0.94, bottom=0.08, hspace=0.08)
    else:
        fig, ax_f = ax.figure, ax
        ax_g = ax.twinx()
    if "gap" in run.trace:
        _draw_gap(ax_f, run, it, marker)
    else:
        ax_f.plot(it, f, color="tab:blue", marker=marker)
        ax_f.set_ylabel("f")
        ax_f.text(0.99, 0.95, "f* unknown", transform=ax_f.transAxes, ha="right", va="top", color="gray")
    best = run.summary.best if run.summary is not None else None
    if best is not None and best.iter is not None and best.fun is not None and "gap" not in run.trace:
        ax_f.plot([best.iter], [best.fun], "o", color="tab:red", label=f"best f = {best.fun:.6g}")
        ax_f.legend(loc="upper right", bbox_to_anchor=(1.0, 0.88))
    set_title(ax_f, run, "objective", own=ax is None)
    ax_f.grid(alpha=0.3)
    ax_g.plot(it, g, color="tab:orange", linestyle="-" if ax is None else ":", marker=marker)
    if np.any(np.isfinite(g) & (g > 0)):
        log_scale(ax_g)
    ax_g.set_ylabel("gradient norm")
    if ax_v is not None:
        _draw_violation(ax_v, run, it, marker)
        ax_v.grid(alpha=0.3)
        ax_v.set_xlabel("iteration")
        ax_g.grid(alpha=0.3)
    elif ax is None:
        ax_g.set_xlabel("iteration")
        ax_g.grid(alpha=0.3)
    else:
        ax_f.set_xlabel("iteration")
    finish(fig, out)
    return True


# ------------------------------------------------------------------- params
def param_columns(trace: dict[str, np.ndarray]) -> list[str]:
    from optrun.core.trace import GRAD_PREFIX, TRACE_COLUMNS, VIOLATION

    fixed = set(TRACE_COLUMNS) | {"gap", VIOLATION}
    return [name for name in trace if name not in fixed and not name.startswith(GRAD_PREFIX)]


def param_groups(names: list[str]) -> dict[str, list[str]]:
    """The trace's parameter columns by the array they belong to, in order:
    ``layers[0].w[0 1]`` in ``layers[0].w``, ``x[3]`` in ``x``, a scalar ``y`` alone."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(re.sub(r"\[[^\]]*\]$", "", name), []).append(name)
    return groups


def plot_params(run: RunFiles, out: Path | None, ax: Any = None) -> bool:
    """Each parameter's path; for more than MAX_PARAM_LINES parameters in
    several arrays (a network's layers), each array's Euclidean norm instead.
    Every line has its own colour; the legend is beside the axes, off the curves."""
    names = param_columns(run.trace)
    if not names:
        return False  # more parameters than output.param_columns: the trace has none
    groups = param_groups(names)
    by_array = len(names) > MAX_PARAM_LINES and len(groups) > 1
    lines = (
        {
            f"‖{array}‖ ({len(cols)})": np.linalg.norm(np.array([run.trace[c] for c in cols]), axis=0)
            for array, cols in groups.items()
        }
        if by_array
        else {name: run.trace[name] for name in names}
    )
    shown = list(lines)[:MAX_PARAM_LINES]
    own = ax is None
    longest = max(len(name) for name in shown)
    right = min(0.97, max(0.55, 1 - (0.07 * longest + 0.7) / 8))  # room for the legend beside the axes
    fig, ax = own_axes(ax, (8, 5), dict(left=0.1, right=right, top=0.93, bottom=0.1))
    for name, color in zip(shown, distinct_colors(len(shown))):
        ax.plot(run.trace["iter"], lines[name], label=name, color=color, marker=point_marker(run.trace["iter"]))
    left_out = len(lines) - len(shown)
    what = (
        f"parameter norms per array ({len(names)} parameters in {len(groups)} arrays)"
        if by_array
        else "parameter paths"
    ) + (f" (first {len(shown)} of {len(lines)}; {left_out} left out)" if left_out else "")
    set_title(ax, run, what, own=own)
    ax.set_xlabel("iteration")
    ax.set_ylabel("Euclidean norm" if by_array else "value")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", borderaxespad=0.0)
    finish(fig, out)
    return True
