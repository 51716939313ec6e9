import io

from rich.console import Console

from optrun.commands.terminal import ProgressBar, params_text, summary_table
from optrun.core.result import Summary


def test_progress_bar_shows_iteration_f_and_gradient():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    with ProgressBar(console, total=100, label="demo", refresh_seconds=0.0) as bar:
        bar.record(42, 1.2345678, 0.001, 0.1, 0.5, 43, 43, None, None)
    text = buffer.getvalue()
    assert "demo" in text and "42/100" in text and "f=1.23457" in text and "|g|=0.001" in text


def test_progress_bar_is_throttled():
    console = Console(file=io.StringIO(), force_terminal=True)
    bar = ProgressBar(console, total=10**6, label="x", refresh_seconds=60.0)
    updates = []
    bar._progress.update = lambda *a, **k: updates.append(k)  # count redraw requests
    for k in range(10000):
        bar.record(k, 1.0, 1.0, 0.1, 0.0, k, k, None, None)
    assert len(updates) == 1


def test_summary_table_and_params_text():
    summary = Summary.from_json(
        {
            "status": "converged",
            "message": "done",
            "fun": -2.0,
            "params": {"x": [2.0, 2.0]},
            "grad_norm": 1e-9,
            "nit": 10,
            "nfev": 11,
            "njev": 11,
            "best": {"fun": -2.0, "iter": 10},
            "wall_time_s": 0.01,
            "reference": {"fun": -2.0, "params": [{"x": [2.0, 2.0]}]},
        }
    )
    console = Console(file=io.StringIO(), width=120)
    console.print(summary_table(summary, "outputs/run/1", "title"))
    text = console.file.getvalue()
    for part in ("converged: done", "x=[2, 2]", "11 f, 11 gradient", "outputs/run/1", "f - f*"):
        assert part in text
    assert params_text({"w": list(range(50))}) == "50 values (see summary.json)"


def test_derivative_free_run_says_its_gradient_norm_was_not_computed():
    # Nelder-Mead computes no gradient: its grad_norm is nan and njev 0; the table, progress bar and notebook say so, not "nan"
    summary = Summary.from_json(
        {
            "status": "max_iter",
            "message": "done",
            "fun": 0.1,
            "params": {"x": [0.5, 0.2]},
            "grad_norm": None,
            "nit": 50,
            "nfev": 94,
            "njev": 0,
            "best": {"fun": 0.1, "iter": 49},
            "wall_time_s": 0.01,
            "reference": None,
        }
    )
    console = Console(file=io.StringIO(), width=120)
    console.print(summary_table(summary, "outputs/run/1", "title"))
    text = console.file.getvalue()
    assert "not computed (the method uses no gradient)" in text and "nan" not in text
    buffer = io.StringIO()
    with ProgressBar(
        Console(file=buffer, force_terminal=True, width=120), total=10, label="nm", refresh_seconds=0.0
    ) as bar:
        bar.record(3, 0.5, float("nan"), None, 0.1, 6, 0, None, None)
    assert "|g|=-" in buffer.getvalue() and "nan" not in buffer.getvalue()


def test_notebook_summary_of_a_derivative_free_run(tmp_path):
    import autograd.numpy as anp

    import optrun

    result = optrun.minimize(
        lambda x: anp.sum((x - 1.0) ** 2), [0.0, 0.0], "nelder-mead", output={"dir": str(tmp_path), "plots": False}
    )
    assert result.summary.njev == 0
    assert "not computed (the method uses no gradient)" in result._repr_html_()


ESC = "\x1b]0;pwned\x07\x1b[2J\x9b31m"  # a window title, a cleared screen, a C1 CSI


def _received_run(tmp_path, monkeypatch, name):
    """A run folder someone sent, whose name and message hold terminal escapes."""
    import json

    import optrun

    monkeypatch.chdir(tmp_path)
    run = optrun.run(
        {
            "name": name,
            "problem": "trid",
            "optimizer": {"name": "gd", "step_size": 0.1},
            "stop": {"max_iter": 5},
            "output": {"plots": False},
        }
    )
    config = run.run_dir / "config.yaml"
    config.write_text(config.read_text().replace(f"name: {name}", f'name: "{name}\\e]0;pwned\\a\\e[2J"', 1))
    summary = json.loads((run.run_dir / "summary.json").read_text())
    summary["message"] = "done" + ESC
    (run.run_dir / "summary.json").write_text(json.dumps(summary))
    return run.run_dir


def _no_escape(text):
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text, repr(text)
    assert "\\x1b]0;pwned\\x07" in text  # shown, not obeyed


def test_show_and_compare_make_control_characters_visible(tmp_path, monkeypatch):
    """Issue 28, point 12: run names and messages from a received folder reached the terminal raw."""
    from typer.testing import CliRunner

    from optrun.cli import app

    a = _received_run(tmp_path, monkeypatch, "first")
    b = _received_run(tmp_path, monkeypatch, "second")
    runner = CliRunner()
    for args in (["show", str(a)], ["compare", str(a), str(b), "--out", "c.png"]):
        result = runner.invoke(app, args, env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        _no_escape(result.stdout)


def test_visible_shows_every_control_character():
    from optrun.commands.common import visible

    assert visible("a\x1b[2Jb\x00\x7f\x85\u202e\n") == "a\\x1b[2Jb\\x00\\x7f\\x85\\u202e\\x0a"
    assert visible("line\nnext\tx\x1b", keep="\n\t") == "line\nnext\tx\\x1b"
    assert visible("plain ünïcode, [red] :x:") == "plain ünïcode, [red] :x:"


def test_error_lines_and_sweep_tables_make_control_characters_visible(tmp_path):
    """A value from a received file reaches the terminal as text: a config's
    bad value in the one error line, a swept value in the sweep table."""
    from helpers import run_cli

    from optrun.commands.sweep import results_table

    title = "\x1b]0;pwned\x07"
    (tmp_path / "c.yaml").write_text(
        f'problem: booth\noptimizer: "{title}"\n'.replace("\x1b", "\\e").replace("\x07", "\\a")
    )
    result = run_cli("run", "c.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "\x1b" not in result.stderr and "\\x1b]0;pwned" in result.stderr

    rows = [{"index": 1, "x": title, "status": "converged", "f": 1.0, "gap": None, "message": "", "run_dir": ""}]
    shown = io.StringIO()
    Console(file=shown, width=200).print(results_table(rows, ["x"]))
    assert "\x1b" not in shown.getvalue() and "]0;pwned" in shown.getvalue()  # (shown as \\e or \\x1b)
