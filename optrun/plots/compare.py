"""compare.png: the loss curves of several runs overlaid (f - f* on a log
scale when every run knows its f*; otherwise f, or for runs of different
problems each run's f scaled from 1 at its start to 0 at its lowest)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from optrun.core.outputs import write_bytes_atomic
from optrun.core.rundir import RunFiles
from optrun.engine.compare import label, make_parent, settings

LEGEND_WIDTH = 80  # characters per line of a legend entry


def draw_compare(runs: list[RunFiles], ax: Any) -> None:
    """Every run's f - f* (log axis; f when a problem has no known minimum,
    :func:`normalise`-d when the runs are of different problems) against
    iterations, on ``ax``. A diverged run would flatten the others (f 1e105):
    the axis spans the other runs' values, the diverged curve is clipped at
    its edge and ends in an x, and its label says "diverged". Up to 20 runs
    get distinct colours (tab20); the legend goes beside the axes when there
    are more than 8."""
    import numpy as np

    from optrun.plots.figures import LOG_CEILING, distinct_colors, log_clip, log_safe_gap, log_scale

    use_gap = all("gap" in run.trace for run in runs)
    problems = sorted({run.problem for run in runs})
    # f of different problems on one axis: a 1e7 loss flattens the others to 0 (and a 1e7 offset labels them)
    normalised = not use_gap and len(problems) > 1
    if use_gap:
        curves = log_safe_gap(*(run.trace["gap"] for run in runs))
    else:
        curves = [normalise(run.trace["f"]) if normalised else run.trace["f"] for run in runs]
    diverged = [run.summary is not None and str(run.summary.status) == "diverged" for run in runs]
    kept = [c[np.isfinite(c)] for c, d in zip(curves, diverged) if not d]
    kept = [c for c in kept if c.size]
    span = (min(float(c.min()) for c in kept), max(float(c.max()) for c in kept)) if kept else None
    colors = distinct_colors(len(runs))
    for run, curve, is_diverged, color, setting in zip(runs, curves, diverged, colors, settings(runs)):
        # folded: a long setting (a schedule's mapping) would make the legend wider than the axes
        text = "\n".join(textwrap.wrap(label(run, setting) + (" (diverged)" if is_diverged else ""), LEGEND_WIDTH))
        shown = curve
        if is_diverged and span is not None:
            high = span[1] * (10.0 if use_gap else 1.0) if not use_gap or span[1] > 0 else span[1]
            shown = np.clip(np.where(np.isfinite(curve), curve, high), None, high)
        ax.plot(run.trace["iter"], shown, label=text, color=color, linestyle="--" if is_diverged else "-")
        if is_diverged and len(shown):
            ax.plot(run.trace["iter"][-1], shown[-1], "x", color=color, markersize=9)
    # a gap past the float range a log axis can tick (1e277, inf) is drawn at LOG_CEILING, and said so
    beyond = use_gap and any(log_clip(abs(run.trace["gap"]))[1] for run, d in zip(runs, diverged) if not (d and span))
    if use_gap:
        log_scale(ax)
    ax.set_ylabel("f - f*" if use_gap else NORMALISED if normalised else "f")
    ax.set_xlabel("iteration")
    ax.set_title(
        f"{len(runs)} runs on {', '.join(problems)}"
        + (" (diverged runs clipped, marked x)" if any(diverged) and span else "")
        + (f" (values beyond {LOG_CEILING:.0e} drawn at {LOG_CEILING:.0e})" if beyond else "")
        + (_floor_note(runs, curves) if use_gap else "")
    )
    ax.grid(alpha=0.3)
    if len(runs) > 8:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="x-small")
    else:
        ax.legend(loc="best", fontsize="small")


def _floor_note(runs: list[RunFiles], curves: list[Any]) -> str:
    """What the title says of gaps a log axis cannot show as they are: 0 (drawn at the floor) and negative
    (f a hair below f*, drawn as |f - f*|)."""
    import numpy as np

    zero = [run for run in runs if np.any(run.trace["gap"] == 0)]
    below = [run for run in runs if np.any(run.trace["gap"] < 0)]
    notes = []
    if zero:
        floor = min(float(np.nanmin(c)) for c in curves if np.isfinite(c).any())
        notes.append(f"f - f* = 0 in {_runs(len(zero))}, drawn at {floor:.3g}")
    if below:
        notes.append(f"f < f* in {_runs(len(below))}, drawn as |f - f*|")
    return f"\n({'; '.join(notes)})" if notes else ""


def _runs(n: int) -> str:
    return f"{n} run" + ("" if n == 1 else "s")


NORMALISED = "(f - min f) / (f₀ - min f), each run's own"


def normalise(f: Any) -> Any:
    """A run's f from 1 at its start to 0 at its lowest value (0 throughout when it never fell):
    runs of different problems on one axis, none flattened by another's scale."""
    import numpy as np

    f = np.asarray(f, dtype=float)
    finite = f[np.isfinite(f)]
    if finite.size == 0:
        return f
    low, start = float(finite.min()), float(finite[0])
    return (f - low) / (start - low) if start > low else np.zeros_like(f)


def plot_compare(runs: list[RunFiles], out: Path) -> None:
    """Draw the overlaid loss plot into ``out``, a .png, .svg or .pdf file by its suffix."""
    from optrun.plots.figures import figure_bytes, plot_format, subplots

    fmt = plot_format(out)
    fig, ax = subplots(figsize=(11 if len(runs) > 8 else 9, 5.5), layout="constrained")
    draw_compare(runs, ax)
    data = figure_bytes(fig, fmt)
    make_parent(out)
    write_bytes_atomic(out, data)
