"""Plots of a finished (or interrupted) run, drawn from its files.

matplotlib is imported here, lazily, with the Agg backend, so commands that
draw nothing never pay for it. A plotting failure never loses the run's other
files: it comes back as a warning string.
"""

from __future__ import annotations

import json
from pathlib import Path

from optrun.outputs import read_trace


def draw_run_plots(run_dir: Path) -> list[str]:
    """Draw every plot for a run directory; return warnings for failures."""
    warnings = []
    for name, draw in (("loss.png", plot_loss),):
        try:
            draw(run_dir, run_dir / name)
        except Exception as exc:  # a plot must never take the run down
            warnings.append(f"{run_dir / name}: plot not drawn: {type(exc).__name__}: {exc}")
    return warnings


def plot_loss(run_dir: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    trace = read_trace(run_dir / "trace.csv")
    summary = json.loads((run_dir / "summary.json").read_text())
    it, f, g = trace["iter"], trace["f"], trace["grad_norm"]
    fig, (ax_f, ax_g) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, constrained_layout=True)
    try:
        ax_f.plot(it, f, color="tab:blue")
        ax_f.set_ylabel("f")
        ax_f.set_title(f"{summary['problem']} / {summary['optimizer']}: {summary['status']}")
        ax_f.grid(alpha=0.3)
        positive = g[np.isfinite(g) & (g > 0)]
        ax_g.plot(it, g, color="tab:orange")
        if positive.size:
            ax_g.set_yscale("log")
        ax_g.set_ylabel("gradient norm")
        ax_g.set_xlabel("iteration")
        ax_g.grid(alpha=0.3)
        fig.savefig(out, dpi=100)
    finally:
        plt.close(fig)
