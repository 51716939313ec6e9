"""sweep.png: a sweep's final f (or gap) against each swept value (a run
that ended infeasible, outside its bounds or constraints, marked with a red x)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optrun.core.rundir import read_summary
from optrun.core.status import Status
from optrun.core.yaml_text import yaml_text

INFEASIBLE = Status.INFEASIBLE.value  # a run that ended outside its bounds or constraints


def sweep_metric(rows: Iterable[dict[str, Any]]) -> str:
    rows = list(rows)
    return "gap" if rows and all(r.get("gap") is not None for r in rows if r["status"] != "error") else "f"


def _sweep_names(rows: list[dict[str, Any]]) -> str:
    """ "problem / optimizer" of the sweep's runs, from their summaries (each
    distinct name once: a swept optimizer lists them all)."""
    problems: list[str] = []
    optimizers: list[str] = []
    for row in rows:
        try:
            summary = read_summary(Path(row["run_dir"])) if row.get("run_dir") else None
        except Exception:
            summary = None
        if summary is None:
            continue
        for names, name in ((problems, summary.problem), (optimizers, summary.optimizer)):
            if name and name not in names:
                names.append(name)
    if not problems and not optimizers:
        return ""
    return f"{', '.join(problems) or '?'} / {', '.join(optimizers) or '?'}"


LABEL_LIMIT = 60


def shown_label(text: str, limit: int = LABEL_LIMIT) -> str:
    """A tick or legend label of at most ``limit`` characters: a long swept value
    (an ``init.values`` vector) keeps its start and end around an ellipsis."""
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    return f"{text[:head]}…{text[len(text) - (limit - 1 - head) :]}"


def _numeric(rows: list[dict[str, Any]], key: str) -> bool:
    return all(isinstance(r[key], (int, float)) and not isinstance(r[key], bool) for r in rows)


def plot_sweep(rows: list[dict[str, Any]], keys: Sequence[str], out: Path) -> bool:
    """Final f (or gap) against each swept value, one line per setting of the
    others: a numeric key on a (log) number axis, any other (optimizer.name,
    a schedule) as categories in the order swept. False (nothing drawn) when
    only the seed was swept or no run finished."""
    swept = [k for k in keys if k != "seed"]
    if not swept or not rows:
        return False
    from optrun.plots.figures import log_safe_gap, log_scale, subplots

    metric = sweep_metric(rows)
    finite = [r[metric] for r in rows if r[metric] is not None and math.isfinite(r[metric])]
    if not finite:
        return False
    zeros = sum(1 for y in finite if y == 0) if metric == "gap" else 0
    # an exact 0 is drawn at the resolution of f near f* (1e-16 relative),
    # not at the smallest gap seen (which may be 20)
    fstars = [
        abs(r["f"] - r["gap"])
        for r in rows
        if r.get("f") is not None and r.get("gap") is not None and math.isfinite(r["f"] - r["gap"])
    ]
    resolution = [1e-16 * max([1.0, *fstars])] if zeros else []
    floor = float(log_safe_gap(np.array(finite + resolution + [0.0]))[0][-1]) if metric == "gap" else 0.0

    def shown(y: float) -> float:
        """gaps on a log axis: exact zeros at the smallest positive gap seen"""
        return max(abs(y), floor) if metric == "gap" else y

    fig, axes = subplots(1, len(swept), figsize=(7 * len(swept), 5), squeeze=False)
    fig.subplots_adjust(left=0.14, right=0.97, top=0.85, bottom=0.12, wspace=0.3)
    for ax, key in zip(axes[0], swept):
        numeric = _numeric(rows, key)
        categories = list(dict.fromkeys(yaml_text(r[key]) for r in rows))  # in the order swept
        others = [k for k in keys if k not in (key, "seed")]
        lines: dict[tuple, list[dict[str, Any]]] = {}
        for row in rows:
            lines.setdefault(tuple(yaml_text(row[k]) for k in others), []).append(row)
        for label, members in lines.items():
            points = sorted(
                (r[key] if numeric else categories.index(yaml_text(r[key])), r[metric])
                for r in members
                if r[metric] is not None and math.isfinite(r[metric])
            )
            if not points:
                continue
            xs = sorted({x for x, _ in points})
            means = [statistics.fmean(y for x2, y in points if x2 == x) for x in xs]
            name = ", ".join(f"{k}={shown_label(v)}" for k, v in zip(others, label)) or "runs"
            (line,) = ax.plot(xs, [shown(m) for m in means], "o-" if numeric else "o", label=name)
            ax.plot([x for x, _ in points], [shown(y) for _, y in points], ".", color=line.get_color(), alpha=0.4)
            outside = [  # runs that ended outside their bounds or constraints: their f is no feasible result
                (r[key] if numeric else categories.index(yaml_text(r[key])), r[metric])
                for r in members
                if r["status"] == INFEASIBLE and r[metric] is not None and math.isfinite(r[metric])
            ]
            if outside:
                ax.plot([x for x, _ in outside], [shown(y) for _, y in outside], "x", color="tab:red", ms=8)
        if not numeric:
            ax.set_xticks(range(len(categories)), [shown_label(c) for c in categories])
            ax.set_xlim(-0.5, len(categories) - 0.5)
        elif all(r[key] > 0 for r in rows):
            log_scale(ax, "x")  # optrun's log axis: three or more labels in one format on a narrow range
        if metric == "gap":
            log_scale(ax, "y")
        ax.set_xlabel(key)
        ax.set_ylabel("final f - f*" if metric == "gap" else "final f")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
        below = sum(1 for y in finite if y < 0) if metric == "gap" else 0  # an infeasible run's f may lie below f*
        notes = [f"f - f* = 0 in {zeros} of {len(rows)} runs, drawn at the floor {floor:.3g}"] if zeros else []
        notes += [f"f < f* in {below} of {len(rows)} runs, drawn as |f - f*|"] if below else []
        if notes:
            # above the axes: a note inside them would sit on the curves drawn at the floor
            ax.set_title("; ".join(notes), fontsize="small", color="tab:red")
    names = _sweep_names(rows)
    legend = (
        "dots: each seed, line: mean"
        if all(_numeric(rows, k) for k in swept)
        else "dots: each seed; line or large dot: mean"
    )
    if any(r["status"] == INFEASIBLE for r in rows):
        legend += "; red x: infeasible end"
    # the legend on a line of its own: one line overran a one-key sweep's figure
    fig.suptitle(
        f"sweep of {names}: {len(rows)} runs\n({legend})" if names else f"sweep of {len(rows)} runs\n({legend})"
    )
    fig.savefig(out, dpi=100)
    return True
