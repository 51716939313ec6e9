"""``optrun run``: one config, a progress bar on a terminal, then its summary."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Sequence
from pathlib import Path

from optrun.config import load_config
from optrun.core.result import Summary
from optrun.core.status import Status
from optrun.engine.record import execute


def run_command(
    config_path: Path,
    overrides: Sequence[str],
    quiet: bool,
    json_out: bool,
    problems: Path | None,
    plots: bool | None = None,
) -> int:
    """``optrun run``: run one config with a progress bar on a terminal, then
    print its summary (a table, or summary.json with ``json_out``);
    ``plots`` (``--plots/--no-plots``) overrides output.plots when given; returns
    the exit status: 0, 1 for a failed or diverged run, 128 + the signal for
    an interrupted one. Errors are raised (see :mod:`optrun.commands.exits`)."""
    import json

    from optrun.commands.common import err, failure_line, load_problems, out, plots_override, shown, warn
    from optrun.commands.terminal import summary_table
    from optrun.engine.signals import StoppedBySignal, signal_name, stoppable

    with stoppable() as flag:
        load_problems(problems)
        try:
            cfg = load_config(config_path, [*overrides, *plots_override(plots)])
            show_bar = not quiet and not json_out and err.is_terminal
            bar = None
            if show_bar:
                from optrun.commands.terminal import ProgressBar

                bar = ProgressBar(err, cfg.stop.max_iter, cfg.name)

            def show_table(summary: Summary, run_dir: Path) -> None:
                """The result as soon as summary.json is written: the plots take longer than a tiny run."""
                if bar is not None:
                    bar.stop()  # before the table, as at the end of the command
                out().print(
                    summary_table(
                        summary, shown(run_dir), title=f"{cfg.name}: {cfg.problem.name} / {cfg.optimizer.name}"
                    )
                )

            table_now = show_table if not quiet and not json_out else None
            with bar or contextlib.nullcontext():
                result = execute(cfg, [bar] if bar else [], on_summary=table_now)
        except KeyboardInterrupt as exc:  # execute raises it only before it makes the run directory
            signum = getattr(exc, "signum", None) or signal.SIGINT
            raise StoppedBySignal(
                f"interrupted by {signal_name(signum)} before the run started; nothing was recorded", signum
            ) from None

        for warning in result.warnings:
            warn(warning)
        if json_out:
            from optrun.core.outputs import json_safe

            print(
                json.dumps(json_safe({**result.summary.to_json(), "run_dir": shown(result.run_dir)}), indent=2),
                flush=True,
            )
        if result.status is Status.INTERRUPTED:
            err.print(f"{result.message}; recorded in {shown(result.run_dir)}", markup=False)
            return 128 + (result.signum or signal.SIGINT)
        if quiet and result.status.failure:  # quiet hides the table, never a failure
            failure_line(f"{cfg.name}: {result.status}: {result.message}; recorded in {shown(result.run_dir)}")
        if flag is not None and flag.signum is not None and not any("interrupted" in w for w in result.warnings):
            err.print(
                f"warning: {signal_name(flag.signum)} came as the run ended; "
                f"it is recorded as {result.status}, nothing was cut short",
                markup=False,
                style="yellow",
            )
        return 1 if Status(result.status).failure else 0
