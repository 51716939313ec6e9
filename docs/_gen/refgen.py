"""The reference pages, generated from the code (docs/_gen/reference.py writes them into the site).

Each page in docs/reference/ is written by hand (its prose, and examples the
tests run) and holds marker lines ``<!-- generated: NAME -->``, which
:func:`pages` replaces with the Markdown :data:`PARTS` builds from the
registries, the pydantic models and the shipped configs. Importable without
MkDocs (tests/test_schema.py checks that every registered entry, command and
config key is on its page).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent
REPO = DOCS.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

MARKER = re.compile(r"^<!-- generated: (?P<name>[a-z-]+) -->$", re.MULTILINE)
_SPECIAL = re.compile(r"([\\*_\[\]{}|$#])")  # Markdown, table, attr_list and math characters


# ------------------------------------------------------------------ Markdown pieces
def esc(text: Any) -> str:
    """Plain text (a description, a note) as Markdown that shows it as written:
    emphasis characters, pipes, brackets and HTML escaped, `code spans` kept."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: all of it is text
        parts = ["\\`".join(parts)]
    out = []
    for i, part in enumerate(parts):
        if i % 2:  # inside a code span
            out.append(f"`{part}`")
        else:
            part = _SPECIAL.sub(r"\\\1", part)
            out.append(part.replace("<", "&lt;").replace(">", "&gt;"))
    return "".join(out).replace("\n", " ")


def code(text: Any) -> str:
    """A code span of ``text`` (one line; a table cell's pipes escaped)."""
    text = " ".join(str(text).split("\n"))
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|")


def table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """A Markdown table; cells are Markdown already (see :func:`esc`, :func:`code`)."""
    headers = list(headers)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell if cell else "-" for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def options_table(model: Any, leave_out: tuple[str, ...] = (), prefix: str = "") -> str:
    """Every option of an options model, as ``optrun describe`` lists them:
    name, YAML type, default, allowed range, meaning."""
    from optrun.commands.describe import option_rows

    rows = [
        (
            code(prefix + name),
            esc(kind),
            code(default) if default != "required" else "**required**",
            esc(allowed),
            esc(m),
        )
        for name, kind, default, allowed, m in option_rows(model)
        if name not in leave_out
    ]
    if not rows:
        return "No options.\n"
    return table(("option", "type", "default", "allowed", "meaning"), rows)


def fields(rows: Iterable[tuple[str, str]]) -> str:
    """Labelled values, one bullet each (``- **backends**: autograd, jax``)."""
    return "\n".join(f"- **{label}**: {value}" for label, value in rows) + "\n"


def text_block(text: str, language: str = "text") -> str:
    return f"```{language}\n{text.rstrip()}\n```\n"


# ------------------------------------------------------------------ pages
def parts() -> dict[str, Callable[[], str]]:
    """Marker name -> the function that writes that part of a page."""
    import ref_config
    import ref_entries

    return {**ref_config.PARTS, **ref_entries.PARTS}


def fill(text: str, builders: dict[str, Callable[[], str]] | None = None) -> str:
    """A hand-written page with each ``<!-- generated: NAME -->`` line replaced by that part."""
    builders = builders if builders is not None else parts()

    def part(match: re.Match) -> str:
        name = match["name"]
        if name not in builders:
            raise KeyError(f"no generated part named {name!r} (known: {', '.join(sorted(builders))})")
        return builders[name]().rstrip("\n")

    return MARKER.sub(part, text)


def pages() -> dict[str, str]:
    """Every reference page (``reference/NAME.md``) as the site shows it."""
    builders = parts()
    return {
        f"reference/{path.name}": fill(path.read_text(encoding="utf-8"), builders)
        for path in sorted((DOCS / "reference").glob("*.md"))
    }
