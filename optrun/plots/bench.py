"""The plots of ``optrun bench`` (computed by :mod:`optrun.plots.profiles`):

- ``perf_evals.png`` / ``perf_time.png``: Dolan-Moré performance profiles
  on evaluations / seconds to each target, one panel per target;
- ``data_profiles.png``: Moré-Wild data profiles, evaluations in simplex
  gradients (nfev / (n + 1)), one panel per target;
- ``ecdf.png``: COCO-style runtime ECDF of evaluations / n over every
  (problem, start, target).

A problem-start an optimizer cannot take (bench.csv status
``not_applicable``: the problem's bounds or constraints) counts as not
solved by it, as a failure counts in Dolan & Moré's profiles; the titles say
so when there are any.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optrun.plots.figures import save, subplots
from optrun.plots.profiles import (
    breakpoints,
    cost_matrix,
    data_profile,
    performance_profile,
    performance_ratios,
    runtime_ecdf,
    target_name,
)

PLOTS = ("perf_evals.png", "perf_time.png", "data_profiles.png", "ecdf.png")
MARKERS = "os^vD<>ph*"


def _steps(ax: Any, xs: np.ndarray, ys: np.ndarray, j: int, name: str) -> None:
    ax.step(
        xs, ys, where="post", label=name, lw=1.8, marker=MARKERS[j % len(MARKERS)], markevery=max(1, len(xs) // 8), ms=4
    )


def _panels(count: int, title: str):
    cols = min(count, 3)
    rows = (count + cols - 1) // cols
    fig, axes = subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows + 0.9), squeeze=False, layout="constrained")
    fig.suptitle(title)
    for ax in axes.ravel()[count:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _na_note(rows: list[dict[str, Any]]) -> str:
    """The titles' note when some problem-starts were not applicable to an optimizer."""
    count = sum(r.get("status") == "not_applicable" for r in rows)
    return f"; {count} not applicable (n/a) count as unsolved" if count else ""


def _finish(ax: Any, xlabel: str, ylabel: str, legend: bool = False) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3, which="both")
    if legend:
        ax.legend(loc="best", fontsize="small")


def _legend(fig: Any, ax: Any, count: int) -> None:
    """One legend for every panel, below them (the curves fill the panels' corners)."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(count, 5), fontsize="medium", frameon=False)


def plot_performance(
    rows: list[dict[str, Any]], optimizers: Sequence[str], targets: Sequence[float], prefix: str, what: str, out: Path
) -> None:
    fig, axes = _panels(
        len(targets), f"Performance profiles on {what} to each target (Dolan & Moré 2002){_na_note(rows)}"
    )
    matrices = [cost_matrix(rows, optimizers, f"{prefix}{target_name(tau)}") for tau in targets]
    every = np.concatenate([performance_ratios(m[0]).ravel() for m in matrices])
    top = max(2.0, float(np.max(every[np.isfinite(every)], initial=1.0)) * 1.5)  # one axis for every panel
    for ax, tau, (costs, _, instances) in zip(axes, targets, matrices):
        ratios = performance_ratios(costs)
        xs = breakpoints(ratios, low=1.0)
        xs = np.append(xs, top)
        profile = performance_profile(costs, xs)
        for j, name in enumerate(optimizers):
            _steps(ax, xs, profile[:, j], j, name)
        ax.set_xscale("log", base=2)
        ax.set_xlim(1, top)
        ax.set_title(f"target {target_name(tau)} ({len(instances)} problem-starts)", fontsize="medium")
        _finish(ax, f"ratio α to the best {what}", "fraction of problem-starts with ratio ≤ α")
    _legend(fig, axes[0], len(optimizers))
    save(fig, out)


def plot_data_profiles(
    rows: list[dict[str, Any]], optimizers: Sequence[str], targets: Sequence[float], out: Path
) -> None:
    fig, axes = _panels(len(targets), f"Data profiles (Moré & Wild 2009){_na_note(rows)}")
    for ax, tau in zip(axes, targets):
        costs, dims, instances = cost_matrix(rows, optimizers, f"nfev_to_{target_name(tau)}")
        scaled = costs / (dims[:, None] + 1.0)
        budget = max((r["nfev"] or 0) / ((r["dimension"] or 1) + 1.0) for r in rows) if rows else 1.0
        low = float(np.min(scaled[np.isfinite(scaled)], initial=1.0))
        top = max(budget, float(np.max(scaled[np.isfinite(scaled)], initial=1.0)), low * 10) * 1.2
        xs = np.append(breakpoints(scaled, low=min(low, 1.0) * 0.8), top)
        profile = data_profile(costs, dims, xs)
        for j, name in enumerate(optimizers):
            _steps(ax, xs, profile[:, j], j, name)
        ax.set_xscale("log")
        ax.set_title(f"target {target_name(tau)} ({len(instances)} problem-starts)", fontsize="medium")
        _finish(ax, "budget κ in simplex gradients, nfev / (n + 1)", "fraction of problem-starts solved")
    _legend(fig, axes[0], len(optimizers))
    save(fig, out)


def plot_ecdf(rows: list[dict[str, Any]], optimizers: Sequence[str], targets: Sequence[float], out: Path) -> None:
    stacked = []
    for tau in targets:
        costs, dims, _ = cost_matrix(rows, optimizers, f"nfev_to_{target_name(tau)}")
        stacked.append(costs / dims[:, None])
    pooled = np.concatenate(stacked, axis=0) if stacked else np.zeros((0, len(optimizers)))
    fig, ax = subplots(figsize=(8, 5.2), layout="constrained")
    finite = pooled[np.isfinite(pooled)]
    low = float(finite.min()) * 0.8 if finite.size else 0.5
    budget = max(((r["nfev"] or 0) / (r["dimension"] or 1) for r in rows), default=1.0)
    top = max(budget, float(finite.max()) if finite.size else 1.0, low * 10) * 1.2
    xs = np.append(breakpoints(pooled, low=low), top)
    curve = runtime_ecdf(pooled, xs)
    for j, name in enumerate(optimizers):
        _steps(ax, xs, curve[:, j], j, name)
    ax.set_xscale("log")
    ax.set_title(
        f"Runtime ECDF (COCO, Hansen et al.): {pooled.shape[0] // max(1, len(targets))} problem-starts x "
        f"{len(targets)} targets ({', '.join(target_name(t) for t in targets)}){_na_note(rows)}",
        fontsize="medium",
    )
    _finish(ax, "evaluations / dimension, nfev / n", "fraction of (problem-start, target) pairs reached", legend=True)
    save(fig, out)


def draw_bench_plots(
    rows: list[dict[str, Any]], optimizers: Sequence[str], targets: Sequence[float], bench_dir: Path
) -> list[Path]:
    """Every bench plot in ``bench_dir`` (none when no run has a result yet)."""
    if not rows:
        return []
    written = []
    for name, draw in (
        ("perf_evals.png", lambda out: plot_performance(rows, optimizers, targets, "nfev_to_", "evaluations", out)),
        ("perf_time.png", lambda out: plot_performance(rows, optimizers, targets, "time_to_", "time", out)),
        ("data_profiles.png", lambda out: plot_data_profiles(rows, optimizers, targets, out)),
        ("ecdf.png", lambda out: plot_ecdf(rows, optimizers, targets, out)),
    ):
        draw(bench_dir / name)
        written.append(bench_dir / name)
    return written
