"""Every example in README.md and docs/ is run, and its output compared with
what the page shows (tests/docs_examples.py says how pages write examples).

Each page runs top to bottom in a scratch folder of its own that starts with
copies of configs/, problems/, suites/ and examples/: examples never write
into the checkout (a calibrated config, a report.html), which is checked too.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

import pytest
from docs_examples import ILLUSTRATIVE, commands, docs_sybil, line_matches, lines_match, normalised

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md")])
SHIPPED = ("configs", "problems", "suites", "examples")


@contextlib.contextmanager
def _as_a_fresh_python():
    """A page's Python runs as in a new interpreter: no user problem that an
    earlier test of this process loaded (from another folder: a clash) is
    registered; what the page loads and registers is gone afterwards."""
    from optrun.config import plugins

    registries = plugins._registries()
    entries = [dict(registry._entries) for registry in registries]
    state = (plugins._loaded, plugins._shipped, plugins._files, plugins._origins)
    saved = [container.copy() for container in state]
    for registry in registries:
        for name in [n for n in registry if (registry.kind, n) in plugins._origins]:
            registry.unregister(name)
    for container in state:
        container.clear()
    try:
        yield
    finally:
        for registry, before in zip(registries, entries):
            registry._entries.clear()
            registry._entries.update(before)
        for container, before in zip(state, saved):
            container.clear()
            container.update(before)


def _checkout_state() -> dict[str, tuple[int, int]]:
    """The checkout's top-level files (a report.html written there is new) and the
    size and modification time of every shipped file (a calibrated config changes)."""
    top = {p.name: (0, 0) for p in REPO.iterdir() if p.is_file()}
    shipped = [p for name in SHIPPED for p in (REPO / name).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return top | {str(p.relative_to(REPO)): (p.stat().st_size, p.stat().st_mtime_ns) for p in shipped}


@pytest.mark.slow
@pytest.mark.long  # a page takes up to half a minute: started first, so that none is left running alone at the end
@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_example_on_the_page_runs(page, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for name in SHIPPED:
        shutil.copytree(REPO / name, scratch / name, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(scratch)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("COLUMNS", "80")
    before = _checkout_state()
    document = docs_sybil().parse(page)
    document.namespace["scratch"] = str(scratch)
    with _as_a_fresh_python():
        for example in document:
            example.evaluate()
    after = _checkout_state()
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert not changed, f"{page.name}'s examples wrote into the checkout: {sorted(changed)}"


# ------------------------------------------------------------------ nothing escapes the runner
FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)$", re.MULTILINE)


def _blocks(text: str):
    """(info string, body, line) of each fenced block."""
    open_fence = None
    for match in FENCE.finditer(text):
        if open_fence is None:
            open_fence = match
        elif match["fence"][0] == open_fence["fence"][0] and len(match["fence"]) >= len(open_fence["fence"]):
            if not match["info"].strip():
                line = text.count("\n", 0, open_fence.start()) + 1
                yield open_fence["info"].strip(), text[open_fence.end() + 1 : match.start()], line
                open_fence = None


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_no_example_escapes_the_runner(page):
    """A shell session is a console block (so it runs); a Python example is a
    python block (so it runs) or a titled file; an illustrative marker stands
    before a console block."""
    text = page.read_text(encoding="utf-8")
    blocks = list(_blocks(text))
    assert blocks or page.name != "README.md"
    for info, body, line in blocks:
        where = f"{page.relative_to(REPO)}:{line}"
        if info != "console":
            assert not re.search(r"^\$ ", body, re.MULTILINE), f"{where}: a `$ ` prompt outside a console block"
        if info.startswith(("python", "py ")) and "title=" not in info:
            assert info == "python", f"{where}: a python block whose info string is {info!r} would not run"
        assert info.split(" ")[0] not in ("sh", "shell", "shell-session", "pycon"), f"{where}: use console or python"
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if line.strip() == ILLUSTRATIVE:
            following = next((next_line for next_line in lines[number + 1 :] if next_line.strip()), "")
            assert following.strip() == "```console", (
                f"{page.name}:{number + 1}: {ILLUSTRATIVE} before no console block"
            )


# ------------------------------------------------------------------ the comparison itself
def test_the_comparison_tolerates_what_changes_between_runs():
    assert normalised("│ time          │ 0.047 s   │\n│ run directory │ outputs/a/20261206-180016 │\n") == [
        "│ time │ <time> │",
        "│ run directory │ outputs/a/<stamp> │",
    ]
    assert lines_match(normalised("└──────┘"), normalised("└────────────┘"))
    table = "┃ config ┃ f ┃ time (s) ┃\n┡━━━━╇━━━╇━━━━┩\n│ a.yaml │ -2 │ {} │\n└───┴───┴───┘\n"
    assert lines_match(normalised(table.format("0.26")), normalised(table.format("10.07")))
    assert not lines_match(normalised(table.format("0.26").replace("-2", "-3")), normalised(table.format("0.26")))
    record = "┌────┬────┐\n│ f │ -2 │\n│ time (s) │ {} │\n└────┴────┘\n"
    assert lines_match(normalised(record.format("0.464")), normalised(record.format("12.1")))
    assert lines_match(["f = -4.333333333"], ["f = -4.333333334"])  # the last digit
    assert lines_match(["f = 7.19e-10"], ["f = 7.21e-10"])
    assert lines_match(["a", "...", "z"], ["a", "b", "c", "z"])
    assert lines_match(["a", "...", "z"], ["a", "z"])
    assert line_matches("wrote ... files", "wrote outputs/x 3 files")


def test_the_comparison_fails_on_what_matters():
    assert not lines_match(["f = -4.333333333"], ["f = -4.333333343"])  # ten units in the last digit
    assert not lines_match(["iterations 200"], ["iterations 201"])  # counts are exact
    assert not lines_match(["status converged"], ["status max_iter"])
    assert not lines_match(["a", "b"], ["a", "b", "c"])  # missing lines are not ignored
    assert not lines_match(["a", "...", "z"], ["a", "b"])
    assert not lines_match(["f = 1.5e-3"], ["f = 1.5e-4"])


def test_console_blocks_split_into_commands_and_outputs():
    assert commands("$ optrun run a.yaml \\\n  --quiet\nok\n$ echo $?\n0\n") == [
        ("optrun run a.yaml \\\n  --quiet", "ok"),
        ("echo $?", "0"),
    ]
    with pytest.raises(ValueError):
        commands("output before a command\n$ ls\n")


def test_a_page_with_a_wrong_output_fails(tmp_path, monkeypatch):
    """The runner itself: a wrong output, an unshown failure and a missing file each fail the page."""
    from sybil.example import SybilFailure

    monkeypatch.chdir(tmp_path)
    pages = {
        "right": '```text title="a.txt"\nhello\n```\n\n'
        "```console\n$ cat a.txt\nhello\n$ echo a \\\n  b\na b\n$ false\n$ echo $?\n1\n```\n",
        "wrong output": "```console\n$ echo hello\nhullo\n```\n",
        "unshown failure": "```console\n$ false\n```\n",
        "no file": "```console\n$ cat missing.txt\n```\n",
        "python": "```python\n>>> 1 + 1\n3\n```\n",
    }
    for name, text in pages.items():
        page = tmp_path / f"{name.replace(' ', '-')}.md"
        page.write_text(text, encoding="utf-8")
        document = docs_sybil().parse(page)
        document.namespace["scratch"] = str(tmp_path)
        if name == "right":
            for example in document:
                example.evaluate()
            continue
        with pytest.raises(SybilFailure):
            for example in document:
                example.evaluate()
