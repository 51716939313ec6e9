"""``optrun compare``: several runs side by side (the table and files:
:mod:`optrun.engine.compare`; the figure: :mod:`optrun.plots.compare`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from optrun.commands.common import say
from optrun.commands.tables import print_table
from optrun.core.result import gap_text
from optrun.engine.compare import expand_sweep_dirs, row, settings, write_csv
from optrun.plots.compare import plot_compare


def compare_table(rows: list[dict[str, Any]]):
    from rich.table import Table
    from rich.text import Text

    from optrun.commands.common import visible
    from optrun.commands.tables import Breakable, add_column
    from optrun.commands.terminal import status_text

    shared = [k for k in ("name", "problem", "optimizer") if len(rows) > 1 and len({r[k] for r in rows}) == 1]
    title = "Runs compared" + "".join(f", {k} {rows[0][k]}" for k in shared)  # the same for all: said once
    table = Table(title=Text(visible(title)), title_justify="left")
    texts = [k for k in ("name", "problem", "optimizer", "setting") if k not in shared and any(r[k] for r in rows)]
    numbers = ("f", "gap", "nit", "nfev", "time (s)")
    for column in ("run", *texts, "status", *numbers):
        add_column(table, column, numeric=column in ("run", *numbers))
    best = min((r["f"] for r in rows if r["f"] is not None), default=None)
    for r in rows:
        style = "bold" if r["f"] is not None and r["f"] == best else ""
        table.add_row(
            str(r["run"]),
            *(Breakable(visible(r[k])) for k in texts),  # user text: literal, never markup, no control characters
            status_text(r["status"]),
            "-" if r["f"] is None else f"{r['f']:.10g}",
            gap_text(r["gap"], None if r["gap"] is None or r["f"] is None else r["f"] - r["gap"]),  # f* = f - gap
            str(r["nit"]),
            str(r["nfev"]),
            "-" if r["wall_time_s"] is None else f"{r['wall_time_s']:.3f}",
            style=style,
        )
    return table


def compare_command(
    run_dirs: list[Path], out_file: Path, json_out: bool = False, problems: Path | None = None, quiet: bool = False
) -> int:
    """``optrun compare``: write the overlaid loss plot ``out_file`` (.png,
    .svg or .pdf: its suffix is its format) and the table beside it as a CSV
    of the same name, print the table (as JSON with ``json_out``; nothing with ``quiet``)."""
    from optrun.commands.common import load_problems, shown, visible, warn
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
    if quiet:
        return 0
    if json_out:
        import json

        from optrun.core.outputs import json_safe

        print(json.dumps(json_safe([{**r, "status": str(r["status"])} for r in rows]), indent=2), flush=True)
        return 0
    print_table(compare_table(rows))
    from optrun.commands.bench import show_bench
    from optrun.engine.bench import is_bench_dir

    for path in run_dirs:  # a bench: also its optimizers side by side
        if is_bench_dir(path) and (path / "bench.csv").is_file():
            show_bench(path, quiet)
    say(visible(f"wrote {shown(out_file.resolve())} and {shown(csv_path.resolve())}"))
    return 0
