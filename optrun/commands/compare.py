"""``optrun compare``: several runs side by side.

One row per run (name, problem, optimizer, status, f, gap, nit, nfev, wall
time) written to ``compare.csv``, and the runs' loss curves overlaid in one
PNG: f - f* on a log scale when every run knows its f*, otherwise f.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optrun.core.errors import ConfigError, OptrunError, RunIOError, short
from optrun.core.outputs import write_bytes_atomic, write_text_atomic
from optrun.core.rundir import RunFiles

COLUMNS = (
    "run",
    "name",
    "problem",
    "optimizer",
    "setting",
    "status",
    "f",
    "gap",
    "nit",
    "nfev",
    "wall_time_s",
    "run_dir",
)
# config keys that never tell runs apart (where and how a run is written, what check expects)
_NOT_SETTINGS = ("name", "output", "expect", "sweep", "problem.name", "optimizer.name")


def expand_sweep_dirs(paths: list[Path]) -> list[Path]:
    """Run directories, with a sweep directory standing for its runs (those
    with a trace), a bench directory for the runs of its runs/ sweep, and a
    name folder (``outputs/NAME``, holding a config's runs) for the runs in it
    (not those of the sweeps in it: name a sweep folder for those). A
    ``run-NNNN`` entry that is a file or a symbolic link is not a run of that
    sweep: an error, never followed."""
    from optrun.engine.bench import RUNS, is_bench_dir

    expanded: list[Path] = []
    for path in paths:
        if is_bench_dir(path):
            path = path / RUNS
        if (path / "sweep.json").is_file():
            runs = []
            for entry in sorted(path.iterdir()):
                if not re.fullmatch(r"run-\d{4,}", entry.name):
                    continue
                if entry.is_symlink() or not entry.is_dir():
                    what = "a symbolic link" if entry.is_symlink() else "not a folder"
                    raise ConfigError(f"{entry.name} is {what}, not a run directory of this sweep", source=str(path))
                if (entry / "trace.csv").is_file():
                    runs.append(entry)
            if not runs:
                raise ConfigError(
                    "the sweep has no runs yet (no run-NNNN folder with a trace.csv): nothing to compare",
                    source=str(path),
                )
            expanded.extend(runs)
        elif _is_name_folder(path):
            expanded.extend(sorted(child for child in path.iterdir() if _is_run_dir(child)))
        else:
            expanded.append(path)
    return expanded


def _is_run_dir(path: Path) -> bool:
    return (
        not path.is_symlink() and path.is_dir() and (path / "config.yaml").is_file() and (path / "trace.csv").is_file()
    )


def _is_name_folder(path: Path) -> bool:
    """A folder of runs (outputs/NAME) rather than a run: no run files of its own, a run directory inside."""
    return (
        path.is_dir()
        and not (path / "config.yaml").exists()
        and not (path / "trace.csv").exists()
        and any(_is_run_dir(child) for child in path.iterdir())
    )


def key_options(run: RunFiles) -> str:
    """The optimizer options that differ from the optimizer's defaults."""
    from optrun.core.optimizers import OPTIMIZERS

    given = {k: v for k, v in run.config["optimizer"].items() if k != "name"}
    try:
        defaults = OPTIMIZERS.get(run.optimizer).options.model_construct().model_dump(mode="json")
    except Exception:
        defaults = {}
    changed = {k: v for k, v in given.items() if defaults.get(k, object()) != v}
    return ", ".join(f"{k}={short(v)}" for k, v in changed.items())


def settings(runs: Sequence[RunFiles]) -> list[str]:
    """What tells each run apart from the others compared: the config values
    (dotted paths, seed included) that differ between them, e.g.
    ``step_size=0.01, seed=1`` for the members of a sweep; for a single
    run, its optimizer options that differ from the defaults."""
    if len(runs) < 2:
        return [key_options(run) for run in runs]
    flat = [_flatten(run.config) for run in runs]
    keys = [k for k in dict.fromkeys(k for f in flat for k in f) if not k.startswith(_NOT_SETTINGS)]
    # keys every run has (an option of one method only is told by the optimizer column)
    differ = [k for k in keys if all(k in f for f in flat) and len({repr(f[k]) for f in flat}) > 1]
    return [", ".join(f"{_short_key(k, differ)}={short(f[k])}" for k in differ) for f in flat]


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def _short_key(key: str, keys: Sequence[str]) -> str:
    """``optimizer.step_size`` as ``step_size`` when no other differing key ends alike."""
    last = key.rsplit(".", 1)[-1]
    return last if sum(k.rsplit(".", 1)[-1] == last for k in keys) == 1 else key


def label(run: RunFiles, setting: str | None = None) -> str:
    setting = key_options(run) if setting is None else setting
    return f"{run.name} [{run.path.name}]: {run.optimizer}" + (f" ({setting})" if setting else "")


def row(index: int, run: RunFiles, setting: str = "") -> dict[str, Any]:
    """One compare row: from the summary, or from the trace's last row for a run without one (killed)."""
    summary, trace = run.summary, run.trace
    if summary is None:
        last = len(trace["iter"]) > 0
        fun, gap = (trace["f"][-1] if last else None), None
        nit, nfev = (int(trace["iter"][-1]), int(trace["nfev"][-1])) if last else (0, 0)
        wall_time_s = float(trace["time_s"][-1]) if last else None
    else:
        fun, gap, nit, nfev, wall_time_s = summary.fun, summary.gap, summary.nit, summary.nfev, summary.wall_time_s
    return {
        "run": index,
        "name": run.name,
        "problem": run.problem,
        "optimizer": run.optimizer,
        "setting": setting,
        "status": run.status,
        "f": fun,
        "gap": gap,
        "nit": nit,
        "nfev": nfev,
        "wall_time_s": wall_time_s,
        "run_dir": str(run.path),
    }


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r[k] is None else r[k]) for k in COLUMNS})
    _make_parent(path)
    write_text_atomic(path, buffer.getvalue())


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunIOError(f"cannot create the folder: {exc.strerror or exc}", source=str(path.parent)) from None


def draw_compare(runs: list[RunFiles], ax: Any) -> None:
    """Every run's f - f* (log axis; f when a problem has no known minimum)
    against iterations, on ``ax``. A diverged run would flatten the others
    (f 1e105): the axis spans the other runs' values, the diverged curve is
    clipped at its edge and ends in an x, and its label says "diverged".
    Up to 20 runs get distinct colours (tab20); the legend goes beside the
    axes when there are more than 8."""
    import numpy as np

    from optrun.plots.figures import log_safe_gap

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
    if use_gap:
        ax.set_yscale("log")
    ax.set_ylabel("f - f*" if use_gap else "f")
    ax.set_xlabel("iteration")
    problems = sorted({run.problem for run in runs})
    ax.set_title(
        f"{len(runs)} runs on {', '.join(problems)}"
        + (" (diverged runs clipped, marked x)" if any(diverged) and span else "")
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
    _make_parent(out)
    write_bytes_atomic(out, data)


@dataclass(frozen=True)
class Comparison:
    """What ``optrun.compare`` returns: the compare table (one row per run,
    the columns of compare.csv) and the overlaid loss figure. Jupyter shows
    the table; ``to_pandas()`` gives it as a DataFrame."""

    rows: tuple[dict[str, Any], ...]
    figure: Any

    def to_pandas(self) -> Any:
        try:
            import pandas
        except ImportError:
            raise OptrunError("to_pandas needs pandas, which is not installed: pip install pandas") from None
        return pandas.DataFrame(list(self.rows), columns=list(COLUMNS))

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape('-' if r[c] is None else str(r[c]))}</td>" for c in COLUMNS) + "</tr>"
            for r in self.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def compare(results_or_dirs: Sequence[Any]) -> Comparison:
    """Compare runs from Python: results (``optrun.run``, ``optrun.minimize``,
    ``optrun.load``) or run, sweep and bench directories, as ``optrun compare``
    does; returns the table and a figure (outside pyplot: nothing is shown or
    written unless you do)."""
    from matplotlib.figure import Figure

    from optrun.core.rundir import read_run

    paths = [Path(getattr(item, "run_dir", item)) for item in results_or_dirs]
    if not paths:
        raise ConfigError("needs at least one result or run directory", path="compare")
    runs = [read_run(path) for path in expand_sweep_dirs(paths)]
    figure = Figure(figsize=(9, 5.5), layout="constrained")
    draw_compare(runs, figure.add_subplot())
    return Comparison(
        tuple(row(i, run, setting) for i, (run, setting) in enumerate(zip(runs, settings(runs)), start=1)), figure
    )


def compare_table(rows: list[dict[str, Any]]):
    from rich.table import Table
    from rich.text import Text

    from optrun.commands.terminal import status_text

    table = Table(title="Runs compared", title_justify="left")
    with_setting = any(r["setting"] for r in rows)
    for column in (
        "run",
        "name",
        "problem",
        "optimizer",
        *(["setting"] if with_setting else []),
        "status",
        "f",
        "gap",
        "nit",
        "nfev",
        "time (s)",
    ):
        table.add_column(
            column, justify="right" if column in ("run", "f", "gap", "nit", "nfev", "time (s)") else "left"
        )
    best = min((r["f"] for r in rows if r["f"] is not None), default=None)
    for r in rows:
        style = "bold" if r["f"] is not None and r["f"] == best else ""
        table.add_row(
            str(r["run"]),
            Text(r["name"]),
            Text(r["problem"]),
            Text(r["optimizer"]),  # user text: literal, never markup
            *([Text(r["setting"])] if with_setting else []),
            status_text(r["status"]),
            "-" if r["f"] is None else f"{r['f']:.10g}",
            "-" if r["gap"] is None else f"{r['gap']:.3g}",
            str(r["nit"]),
            str(r["nfev"]),
            "-" if r["wall_time_s"] is None else f"{r['wall_time_s']:.3f}",
            style=style,
        )
    return table


# --------------------------------------------------------- optrun compare
def compare_command(run_dirs: list[Path], out_file: Path, json_out: bool = False, problems: Path | None = None) -> int:
    """``optrun compare``: write the overlaid loss plot ``out_file`` (.png,
    .svg or .pdf: its suffix is its format) and the table beside it as a CSV
    of the same name, print the table (as JSON with ``json_out``)."""
    from optrun.commands.common import load_problems, out, shown, warn
    from optrun.core.rundir import read_run
    from optrun.plots.figures import plot_format

    load_problems(problems)
    plot_format(out_file, "--out")  # before anything is read or written
    runs = [read_run(path) for path in expand_sweep_dirs(run_dirs)]
    rows = [row(i, run, setting) for i, (run, setting) in enumerate(zip(runs, settings(runs)), start=1)]
    csv_path = out_file.with_suffix(".csv")
    write_csv(rows, csv_path)
    plot_compare(runs, out_file)
    for warning in (w for run in runs for w in run.warnings):
        warn(warning)
    if json_out:
        import json

        from optrun.core.outputs import json_safe

        print(json.dumps(json_safe([{**r, "status": str(r["status"])} for r in rows]), indent=2), flush=True)
        return 0
    out().print(compare_table(rows))
    from optrun.commands.bench import show_bench
    from optrun.engine.bench import is_bench_dir

    for path in run_dirs:  # a bench: also its optimizers side by side
        if is_bench_dir(path) and (path / "bench.csv").is_file():
            show_bench(path)
    out().print(f"wrote {shown(out_file.resolve())} and {shown(csv_path.resolve())}", highlight=False, markup=False)
    return 0
