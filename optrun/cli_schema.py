"""``optrun schema``: the JSON Schema of run configs (or bench suite files),
for editors that complete and check YAML keys (:mod:`optrun.config.schema`
builds it). A thin command like those in :mod:`optrun.cli`, which imports
this module where the command stands in ``optrun --help``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from optrun.cli_app import Out, Problems, app, ends, stops


class FileKind(str, Enum):
    run = "run"
    bench = "bench"


@app.command()
@ends
@stops("nothing was written")
def schema(
    kind: Annotated[
        FileKind,
        typer.Option(
            "--kind",
            help="run: run configs (run, sweep, check); bench: the suite files of optrun bench.",
        ),
    ] = FileKind.run,
    out: Annotated[
        Path | None,
        Out("Write the schema to FILE (replaced whole, never half-written) instead of printing it."),
    ] = None,
    problems: Problems = None,
) -> int:
    """Print the JSON Schema (draft-07) of configs: every key, per problem and optimizer, user problems included."""
    import sys

    from optrun.commands.common import load_problems, say, shown, visible, warn
    from optrun.config.schema import schema_text, user_entries
    from optrun.core.outputs import write_text_atomic

    load_problems(problems)
    warnings: list[str] = []
    text = schema_text(kind.value, warnings=warnings)
    for warning in warnings:
        warn(warning)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_text_atomic(out, text)
        users = user_entries()
        also = f", with {', '.join(users)}" if users else ""
        what = "run configs" if kind is FileKind.run else "bench suite files"
        say(visible(f"wrote {shown(out.resolve())}: the JSON Schema of {what}{also}"))
    return 0
