"""The examples in README.md and docs/, as sybil parsers (tests/test_docs.py runs them).

How a page writes examples (docs/index.md's "Examples on these pages" says it to readers too):

- ```` ```console ```` blocks: each ``$ `` line is a bash command, run in the page's
  scratch folder; the lines after it are its output (stdout and stderr), compared
  after :func:`normalised`. A line ``...`` matches any lines, ``...`` inside a line
  any text. A command must exit 0 unless the next command is ``echo $?``, which
  shows (and so checks) its exit status. ``<!-- illustrative -->`` on the line
  before a block: its commands run and their exit statuses count, their output is
  not compared (timings).
- A block with ``title="path"`` (Material shows it as the file's name) is written to
  that path in the scratch folder when it is reached.
- ```` ```python ```` blocks run in one namespace per page; ``>>>`` lines are doctests.
"""

from __future__ import annotations

import difflib
import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

from sybil import Example, Region, Sybil
from sybil.parsers.markdown import PythonCodeBlockParser
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer, RawFencedCodeBlockLexer

ILLUSTRATIVE = "<!-- illustrative -->"
COMMAND_TIMEOUT = 600  # seconds; a page's commands take seconds


# ------------------------------------------------------------------ normalising
_REPLACEMENTS = [
    # run directories and sweep/bench folders: 20261206-180016, sweep-20261206-180018-2
    (re.compile(r"\b\d{8}-\d{6}(?:-\d+)?\b"), "<stamp>"),
    # dates and times (summary.json, reports)
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<datetime>"),
    # wall times: 0.047 s, 12 ms, 1.2e-05 s, 3 min
    (re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e[-+]?\d+)? ?(?:s|ms|µs|us|min)\b"), "<time>"),
    # rules of tables: their widths follow the widths of what they hold
    (re.compile(r"([─━═-])\1+"), r"\1"),
    (re.compile(r"[ \t]+"), " "),
]


TIME_HEADERS = ("time (s)", "wall_time_s", "time_s", "median time (s)")
CELL = re.compile(r"[│┃]")


def _timed_columns(lines: list[str]) -> list[str]:
    """A table's columns headed by a wall time (``time (s)``: ``check``, ``compare``)
    have their cells replaced by a placeholder, like a time with its unit."""
    out, timed = [], set()
    for line in lines:
        cells = CELL.split(line)
        if len(cells) < 3:
            timed = set() if not line.startswith(("┏", "┡", "┌", "├", "└", "┗", "╇")) else timed
            out.append(line)
            continue
        headers = {i for i, cell in enumerate(cells) if cell.strip() in TIME_HEADERS}
        if headers == {1} and cells[2].strip():  # a record (a table too wide, one per row): │ time (s) │ 0.46 │
            out.append("│".join([*cells[:2], " <time> ", *cells[3:]]))
            continue
        if headers:
            timed = headers
        elif timed:
            cells = [("<time>" if i in timed and cell.strip() else cell) for i, cell in enumerate(cells)]
        out.append("│".join(cells) if not headers else line)
    return out


def normalised(text: str) -> list[str]:
    """Lines as compared: timestamps, dates and wall times (with their unit, or
    in a table column headed ``time (s)``) replaced by a placeholder; runs of
    spaces and of a table's rule characters made one."""
    lines = []
    for line in _timed_columns(text.splitlines()):
        for pattern, replacement in _REPLACEMENTS:
            line = pattern.sub(replacement, line)
        lines.append(line.strip())
    while lines and not lines[-1]:
        lines.pop()
    return lines


NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _unit(token: str) -> float:
    """One unit in the last printed digit of a number as written (0: an integer, compared exactly)."""
    mantissa, _, exponent = token.lower().partition("e")
    if "." not in mantissa and not exponent:
        return 0.0
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def _numbers_close(expected: str, actual: str) -> bool:
    """Equal to the precision printed: two units in the last digit (another BLAS
    or CPU path moves the last digits, never more); integers exactly."""
    if expected == actual:
        return True
    a, b = float(expected), float(actual)
    return abs(a - b) <= 2 * max(_unit(expected), _unit(actual))


def line_matches(expected: str, actual: str) -> bool:
    if "..." in expected:
        pattern = ".*".join(re.escape(part) for part in expected.split("..."))
        return re.fullmatch(pattern, actual) is not None
    texts_e, texts_a = NUMBER.split(expected), NUMBER.split(actual)
    if texts_e != texts_a:
        return False
    return all(_numbers_close(e, a) for e, a in zip(NUMBER.findall(expected), NUMBER.findall(actual)))


def lines_match(expected: list[str], actual: list[str]) -> bool:
    """``expected`` against ``actual`` line by line, a line ``...`` matching any lines."""
    # match[i][j]: expected[i:] matches actual[j:]
    n, m = len(expected), len(actual)
    match = [[False] * (m + 1) for _ in range(n + 1)]
    match[n][m] = True
    for i in range(n - 1, -1, -1):
        for j in range(m, -1, -1):
            if expected[i] == "...":
                match[i][j] = match[i + 1][j] or (j < m and match[i][j + 1])
            else:
                match[i][j] = j < m and line_matches(expected[i], actual[j]) and match[i + 1][j + 1]
    return match[0][0]


# ------------------------------------------------------------------ console blocks
def commands(source: str) -> list[tuple[str, str]]:
    """``(command, expected output)`` pairs of a console block."""
    pairs: list[tuple[str, list[str]]] = []
    lines = source.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command + "\n" + lines[i]  # bash joins the lines
            pairs.append((command, []))
        elif pairs:
            pairs[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"a console block starts with a line that is not a command: {line!r}")
        i += 1
    return [(command, "\n".join(output)) for command, output in pairs]


def environment(scratch: Path) -> dict[str, str]:
    """What a console example runs with: this Python's optrun, no terminal, 80 columns, no colour."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE", "PYTEST_XDIST_WORKER")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        COLUMNS="80",
        NO_COLOR="1",
        TERM="dumb",
        MPLBACKEND="Agg",
        HOME=env.get("HOME", str(scratch)),
        TMPDIR=str(scratch / ".tmp"),  # what a command leaves in a temporary folder (a failed check's runs) goes too
    )
    (scratch / ".tmp").mkdir(exist_ok=True)
    return env


def _illustrative(example: Example) -> bool:
    before = example.document.text[: example.start].rstrip().splitlines()
    return bool(before) and before[-1].strip() == ILLUSTRATIVE


def evaluate_console(example: Example) -> str | None:
    scratch = Path(example.namespace["scratch"])
    compare = not _illustrative(example)
    last_status: int | None = None
    for command, expected in commands(str(example.parsed)):
        where = f"{example.path}, line {example.line}: $ {command}"
        if command.strip() == "echo $?":
            if last_status is None:
                return f"{where}: no command before it"
            output, last_status = f"{last_status}\n", 0
        else:
            if last_status not in (None, 0):
                return f"{where}: the command before it exited with {last_status}; show it with `echo $?`"
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=scratch,
                env=environment(scratch),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=COMMAND_TIMEOUT,
            )
            output, last_status = done.stdout, done.returncode
        if compare and not lines_match(normalised(expected), normalised(output)):
            diff = difflib.unified_diff(
                normalised(expected), normalised(output), "the page", "what it printed", lineterm=""
            )
            return f"{where}: the output differs (normalised):\n" + "\n".join(diff) + "\n\nit printed:\n" + output
    if last_status not in (None, 0):
        return (
            f"{example.path}, line {example.line}: the last command exited with {last_status}; show it with `echo $?`"
        )
    return None


class ConsoleParser:
    """```` ```console ```` blocks, run by :func:`evaluate_console`."""

    def __init__(self) -> None:
        self.lexer = FencedCodeBlockLexer("console")

    def __call__(self, document):
        for region in self.lexer(document):
            yield Region(region.start, region.end, region.lexemes["source"], evaluate_console)


# ------------------------------------------------------------------ files the reader writes
TITLED = re.compile(r'(?P<language>[\w+-]+)[ \t]+title="(?P<title>[^"]+)"[^\n]*$\n', re.MULTILINE)


def write_file(example: Example) -> str | None:
    scratch = Path(example.namespace["scratch"]).resolve()
    target = (scratch / example.region.lexemes["title"]).resolve()
    if scratch not in target.parents:
        return f"{example.path}, line {example.line}: title={target} is outside the scratch folder"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(str(example.parsed), encoding="utf-8")
    return None


class TitledFileParser:
    """Blocks with ``title="path"``: written to ``path`` in the scratch folder."""

    def __init__(self) -> None:
        self.lexer = RawFencedCodeBlockLexer(info_pattern=TITLED)

    def __call__(self, document):
        for region in self.lexer(document):
            yield Region(region.start, region.end, region.lexemes["source"], write_file, region.lexemes)


# ------------------------------------------------------------------ all of them
def docs_sybil() -> Sybil:
    return Sybil(
        parsers=[
            ConsoleParser(),
            TitledFileParser(),
            PythonCodeBlockParser(doctest_optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE),
        ],
        patterns=["*.md"],
    )
