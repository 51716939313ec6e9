"""compare.png: the loss curves of several runs overlaid (f - f* on a log
scale when every run knows its f*, otherwise f)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from optrun.core.outputs import write_bytes_atomic
from optrun.core.rundir import RunFiles
from optrun.engine.compare import label, make_parent, settings


def draw_compare(runs: list[RunFiles], ax: Any) -> None:
    """Every run's f - f* (log axis; f when a problem has no known minimum)
    against iterations, on ``ax``. A diverged run would flatten the others
    (f 1e105): the axis spans the other runs' values, the diverged curve is
    clipped at its edge and ends in an x, and its label says "diverged".
    Up to 20 runs get distinct colours (tab20); the legend goes beside the
    axes when there are more than 8."""
    import numpy as np

    from optrun.plots.figures import LOG_CEILING, log_clip, log_safe_gap, log_scale

    use_gap = all("gap" in run.trace for run in runs)
    curves = log_safe_gap(*(run.trace["gap"] for run in runs)) if use_gap else [run.trace["f"] for run in runs]
    diverged = [run.summary is not None and str(run.summary.status) == "diverged" for run in runs]
    kept = [c[np.isfinite(c)] for c, d in zip(curves, diverged) if not d]
    kept = [c for c in kept if c.size]
    span = (min(float(c.min()) for c in kept), max(float(c.max()) for c in kept)) if kept else None
    colors = _colors(len(runs))
    for run, curve, is_diverged, color, setting in zip(runs, curves, diverged, colors, settings(runs)):
        text = label(run, setting) + (" (diverged)" if is_diverged else "")
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
    ax.set_ylabel("f - f*" if use_gap else "f")
    ax.set_xlabel("iteration")
    problems = sorted({run.problem for run in runs})
    ax.set_title(
        f"{len(runs)} runs on {', '.join(problems)}"
        + (" (diverged runs clipped, marked x)" if any(diverged) and span else "")
        + (f" (values beyond {LOG_CEILING:.0e} drawn at {LOG_CEILING:.0e})" if beyond else "")
    )
    ax.grid(alpha=0.3)
    if len(runs) > 8:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="x-small")
    else:
        ax.legend(loc="best", fontsize="small")


def _colors(n: int) -> list[Any]:
    """n distinct colours: matplotlib's default cycle up to 10, tab20 up to 20, then a continuous map."""
    import matplotlib

    if n <= 10:
        return [f"C{i}" for i in range(n)]
    cmap = matplotlib.colormaps["tab20" if n <= 20 else "turbo"]
    return [cmap(i / max(n - 1, 1)) if n > 20 else cmap(i) for i in range(n)]


def plot_compare(runs: list[RunFiles], out: Path) -> None:
    """Draw the overlaid loss plot into ``out``, a .png, .svg or .pdf file by its suffix."""
    from optrun.plots.figures import figure_bytes, plot_format, subplots

    fmt = plot_format(out)
    fig, ax = subplots(figsize=(11 if len(runs) > 8 else 9, 5.5), layout="constrained")
    draw_compare(runs, ax)
    data = figure_bytes(fig, fmt)
    make_parent(out)
    write_bytes_atomic(out, data)
