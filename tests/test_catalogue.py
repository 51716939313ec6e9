import pytest
from typer.testing import CliRunner

from optrun.cli import app
from optrun.commands.describe import option_rows
from optrun.core.problems import PROBLEMS

runner = CliRunner()


def test_describe_shows_everything():
    result = runner.invoke(app, ["describe", "trid"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in (
        "trid (problem):",
        "formula",
        "sum_{i=1..d} (x_i - 1)^2",
        "x (dim,)",
        "default start",
        "x=[1, -1]",
        "f* = -2.0",
        "minimizer",
        "dim",
        ">= 1",
        "built-in",
    ):
        assert text in result.stdout, text


def test_describe_no_minimum_and_random_start():
    result = runner.invoke(app, ["describe", "mlp_regression"], env={"COLUMNS": "200"})
    assert "random, drawn from the run's seed" in result.stdout and "noise floor" in result.stdout
    result = runner.invoke(app, ["describe", "logistic_regression"], env={"COLUMNS": "200"})
    assert "no finite minimum" in result.stdout


def test_describe_unknown_name():
    """One line naming the name, with close names of every kind (issue 29)."""
    result = runner.invoke(app, ["describe", "rosenbrok"])
    assert result.exit_code == 2
    assert "unknown name 'rosenbrok'" in result.stderr and "'rosenbrock' (problem)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    result = runner.invoke(app, ["describe", "adamm"])
    assert result.exit_code == 2 and "'adam' (optimizer)" in result.stderr and "'adamw' (optimizer)" in result.stderr


def test_list_problems_has_every_problem():
    result = runner.invoke(app, ["list-problems"], env={"COLUMNS": "250"})
    for name in PROBLEMS:
        assert name in result.stdout  # python: on its own line under the table (test_catalogue_yaml)
    assert "unbounded below" in result.stdout
    assert "(x_i - 1)^2" in result.stdout and "2x^2 - 4xy + y^4 + 2" in result.stdout  # formulas are shown


def test_option_rows():
    rows = dict((r[0], r[1:]) for r in option_rows(PROBLEMS.get("trid").options))
    meaning = PROBLEMS.get("trid").options.model_fields["dim"].description
    assert meaning and rows["dim"] == ("integer", "2", ">= 1, <= 1000000", meaning)


def test_list_optimizers_says_which_loop_runs_each_method_on_jax():
    """A method registered with a compiled form runs in the jax backend's
    compiled loop; any other runs in the Python loop there (with jax's
    derivatives): the list says which, under each method's description."""
    from optrun.commands.catalogue import jax_loop
    from optrun.core.optimizers import OPTIMIZERS

    result = runner.invoke(app, ["list-optimizers"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    rows = {}
    for line in result.stdout.splitlines():  # a row's first line names it; its last line says the loop
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) > 2 and cells[1]:
            name = cells[1]
        if "jax: " in line:
            rows[name] = line[line.index("jax: ") :].split("│")[0].strip()
    assert rows == {name: jax_loop(OPTIMIZERS.get(name)) for name in OPTIMIZERS}
    assert rows["adam"] == "jax: compiled loop" and rows["bfgs"] == rows["newton"] == "jax: Python loop"


@pytest.mark.slow
def test_plugin_text_with_terminal_escapes_is_shown_not_obeyed(tmp_path):
    """Issue 28, point 12: a plugin's description, formula or note printed raw
    control sequences (a window title, a cleared screen)."""
    (tmp_path / "problems").mkdir()
    (tmp_path / "problems" / "evil.py").write_text(
        "from optrun.core.problems import Problem, register_problem\n\n\n"
        "@register_problem('evil_esc', description='nice\\x1b]0;pwned\\x07', formula='x^2\\x1b[2J',"
        " parameters='x\\x9b31m')\n"
        "def build(options):\n"
        "    return Problem(objective=lambda p: p['x'] ** 2, start={'x': 1.0}, note='see\\x1b[31m')\n"
    )
    from helpers import run_cli  # a process of its own: the plugin stays out of this one's registry

    for args in (["list-problems"], ["describe", "evil_esc"]):
        result = run_cli(*args, cwd=tmp_path, env_extra={"COLUMNS": "400"})
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout and "\x9b" not in result.stdout
        assert "\\x1b]0;pwned\\x07" in result.stdout
