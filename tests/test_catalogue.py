from typer.testing import CliRunner

from optrun.commands.catalogue import option_rows
from optrun.cli import app
from optrun.core.problems import PROBLEMS

runner = CliRunner()


def test_describe_shows_everything():
    result = runner.invoke(app, ["describe", "trid"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in (
        "trid:",
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


def test_describe_unknown_problem():
    result = runner.invoke(app, ["describe", "rosenbrok"])
    assert result.exit_code == 2
    assert "unknown problem 'rosenbrok'; did you mean 'rosenbrock'?" in result.stderr


def test_list_problems_has_every_problem():
    result = runner.invoke(app, ["list-problems"], env={"COLUMNS": "250"})
    for name in PROBLEMS:
        assert name in result.stdout
    assert "unbounded below" in result.stdout
    assert "(x_i - 1)^2" in result.stdout and "2x^2 - 4xy + y^4 + 2" in result.stdout  # formulas are shown


def test_option_rows():
    rows = dict((r[0], r[1:]) for r in option_rows(PROBLEMS.get("trid").options))
    assert rows["dim"] == ("int", "2", ">= 1, <= 1000000")
