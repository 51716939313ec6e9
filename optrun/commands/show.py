"""``optrun show`` and ``optrun plot``: a run's summary table and its resolved config, read from
its files (a run without summary.json, e.g. killed, shows its last trace row)."""

from __future__ import annotations

from pathlib import Path

from optrun.commands.common import say


def show_command(run_dir: Path, json_out: bool = False, problems: Path | None = None, quiet: bool = False) -> int:
    """Print the run's summary table (or its last trace row) and config.yaml;
    for a bench directory, its table of solved fractions; for a sweep
    directory, its table of results. ``quiet``: print nothing (the exit
    status says whether it could be read). ``json_out``: one
    JSON object (summary.json's fields, ``run_dir`` and ``config``; a run
    without a summary has ``summary: null``)."""
    from optrun.commands.bench import show_bench
    from optrun.commands.common import load_problems
    from optrun.commands.sweep import show_sweep
    from optrun.engine.bench import is_bench_dir
    from optrun.engine.sweep_dir import is_sweep_dir

    load_problems(problems)
    if is_bench_dir(run_dir):
        return show_bench(run_dir, quiet, json_out)
    if is_sweep_dir(run_dir):
        return show_sweep(run_dir, json_out, quiet)
    if json_out and not quiet:
        import json

        from optrun.commands.common import shown, warn
        from optrun.core.outputs import json_safe
        from optrun.core.rundir import read_run

        run = read_run(run_dir)
        for warning in run.warnings:
            warn(warning)
        data = {
            **(run.summary.to_json() if run.summary is not None else {"summary": None}),
            "run_dir": shown(run.path.resolve()),
            "config": run.config,
        }
        print(json.dumps(json_safe(data), indent=2), flush=True)
        return 0
    from rich.markup import escape
    from rich.syntax import Syntax
    from rich.text import Text

    from optrun.commands.common import out, problem_about, shown, visible, warn
    from optrun.commands.terminal import summary_table
    from optrun.core.errors import RunIOError
    from optrun.core.rundir import read_run

    try:
        run = read_run(run_dir)
        config_text = (run.path / "config.yaml").read_text(encoding="utf-8")
    except OSError as exc:
        raise RunIOError(f"{run_dir}: cannot read config.yaml: {exc.strerror or exc}") from None
    for warning in run.warnings:
        warn(warning)
    if quiet:
        return 0
    console = out()
    title = f"{run.name}: {run.problem} / {run.optimizer}"
    if run.summary is None:
        last = {k: float(v[-1]) for k, v in run.trace.items()} if len(run.trace["iter"]) else {}
        console.print(
            f"[bold]{escape(visible(title))}[/]: no summary.json, the run did not finish (killed?); "
            f"last trace row: iteration {int(last.get('iter', 0))}, f = {last.get('f', float('nan')):.10g}",
            soft_wrap=True,  # one line: grep finds it
        )
    else:
        console.print(summary_table(run.summary, shown(run.path.resolve()), title=title))
    console.print(Text(visible(f"problem: {problem_about(run.problem)}")), highlight=False)
    if console.is_terminal:
        console.print(Syntax(visible(config_text, keep="\n\t"), "yaml", background_color="default", word_wrap=True))
    else:  # piped: the file's own lines, never re-wrapped (copied into a config, they read back the same)
        say(visible(config_text, keep="\n\t").rstrip("\n"))
    return 0


def plot_command(run_dir: Path, problems: Path | None, quiet: bool = False) -> int:
    """``optrun plot``: redraw a run's plots (a sweep's: sweep.png and its
    runs') from its files and print their paths (not with ``quiet``); a run that cannot be read
    or a folder that cannot be written is an error (raised)."""
    from optrun.commands.common import load_problems, shown, visible, warn
    from optrun.commands.sweep import plot_sweep_dir
    from optrun.core.rundir import read_run
    from optrun.engine.sweep_dir import is_sweep_dir
    from optrun.plots.runs import draw_run_plots

    load_problems(problems)
    read_warnings: tuple[str, ...] = ()
    if is_sweep_dir(run_dir):  # sweep.png and every finished run's plots
        written, warnings = plot_sweep_dir(run_dir)
    else:
        read_warnings = read_run(run_dir).warnings  # e.g. a torn last trace row, left out
        written, warnings = draw_run_plots(run_dir, raise_io=True)  # a folder that cannot be written: one error
    for warning in (*read_warnings, *warnings):
        warn(warning)
    for path in [] if quiet else written:
        say(visible(shown(path.resolve())))
    return 0
