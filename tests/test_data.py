"""User CSV data for the data-driven problems."""

from pathlib import Path

import numpy as np
import pytest
from tolerances import rounding

import optrun
from optrun.core.errors import ConfigError


def run_with(data, problem="linear_regression", **extra):
    return optrun.run(
        {
            "problem": {"name": problem, "data": data, **extra},
            "optimizer": {"name": "adam", "step_size": 0.1},
            "stop": {"max_iter": 20000, "grad_tol": 1e-8},
            "output": {"plots": False},
        }
    )


@pytest.fixture
def table(workdir):
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (30, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.3 + 0.01 * rng.normal(size=30)
    lines = ["a,b,c,y"] + [",".join(repr(float(v)) for v in [*row, t]) for row, t in zip(X, y)]
    (workdir / "t.csv").write_text("\n".join(lines) + "\n")
    return X, y


def test_linear_regression_from_csv_matches_lstsq(table):
    X, y = table
    result = run_with({"path": "t.csv", "target": "y", "features": ["a", "b", "c"]}, sigma=1.0)
    design = np.hstack([X, np.ones((30, 1))])
    theta = np.linalg.lstsq(design, y, rcond=None)[0]
    assert result.status == "converged"
    # f = |y - design theta|^2 / 2 converged to grad_tol 1e-8: |theta - theta*| <= 1e-8 / lambda_min(design^T design)
    # (1% for the gradient's own rounding); lstsq's error is about kappa(design) n eps |theta|
    near = 1.01 * 1e-8 / np.linalg.eigvalsh(design.T @ design)[0] + rounding(
        len(y), np.linalg.cond(design) * np.abs(theta).max()
    )
    np.testing.assert_allclose(result.params["w"], theta[:3], rtol=0, atol=near)
    assert result.params["b"] == pytest.approx(theta[3], abs=near)


def test_features_default_to_every_other_column(table):
    result = run_with({"path": "t.csv", "target": "y"})
    assert len(result.params["w"]) == 3


def test_gaussian_mle_from_a_column(workdir):
    x = np.random.default_rng(1).normal(5.0, 0.5, 200)
    (workdir / "g.csv").write_text("x,other\n" + "".join(f"{float(v)!r},1\n" for v in x))
    result = optrun.run(
        {
            "problem": {"name": "gaussian_mle", "data": {"path": "g.csv", "column": "x"}},
            "optimizer": {"name": "adam", "step_size": 0.05},
            "stop": {"max_iter": 20000, "grad_tol": 1e-7},
            "output": {"plots": False},
        }
    )
    # converged to grad_tol 1e-7; at the minimum the Hessian in (mu, log_sigma) is diag(n / var, 2n): |error| <= 1e-7 over
    # the smaller (1% more for the third derivatives and the gradient's rounding), plus the references' own sums of n
    # terms (n eps relative, of values below 10)
    near = 1.01 * 1e-7 / min(len(x) / x.var(), 2 * len(x)) + rounding(len(x), 10)
    assert result.params["mu"] == pytest.approx(x.mean(), abs=near)
    assert result.params["log_sigma"] == pytest.approx(np.log(x.std()), abs=near)


def test_logistic_regression_needs_binary_targets(workdir):
    (workdir / "l.csv").write_text("x,t\n1,0\n2,1\n3,2\n")
    with pytest.raises(ConfigError, match=r"problem.data.target: the target column 't' must hold 0/1 labels"):
        run_with({"path": "l.csv", "target": "t"}, problem="logistic_regression")


@pytest.mark.parametrize(
    "content, data, expected",
    [
        (
            None,
            {"path": "missing.csv", "target": "y"},
            "problem.data.path: data file 'missing.csv' not found in the working folder",
        ),
        ("", {"path": "d.csv", "target": "y"}, "data file {d} is empty"),
        ("\n\n", {"path": "d.csv", "target": "y"}, "data file {d} is empty"),
        ("a,y\n", {"path": "d.csv", "target": "y"}, "has a header but no data rows"),
        (
            "a,y\n1,2\n",
            {"path": "d.csv", "target": "z"},
            "problem.data.target: column 'z' is not in {d} (columns: a, y)",
        ),
        (
            "a,y\n1,2\n",
            {"path": "d.csv", "target": "y", "features": ["b"]},
            "problem.data.features: column 'b' is not in {d}",
        ),
        ("a,y\n1,2\n3,x\n", {"path": "d.csv", "target": "y"}, "{d} line 3, column 'y': 'x' is not a number"),
        ("a,y\n1,2\n3\n", {"path": "d.csv", "target": "y"}, "{d} line 3 has 1 fields, the header has 2"),
        ("a,y\n1,nan\n", {"path": "d.csv", "target": "y"}, "'nan' is not finite"),
        ("a,a\n1,2\n", {"path": "d.csv", "target": "a"}, "distinct, non-empty column names"),
        ("y\n1\n", {"path": "d.csv", "target": "y"}, "no feature columns besides the target"),
        ("a,y\n1,2\n", {"path": "d.csv", "target": "y", "features": ["y"]}, "the target 'y' cannot also be a feature"),
    ],
)
def test_csv_errors(workdir, content, data, expected):
    if content is not None:
        (workdir / "d.csv").write_text(content)
    with pytest.raises(ConfigError) as info:
        run_with(data)
    assert expected.format(d=workdir / "d.csv") in str(info.value)  # errors show the resolved path
    assert not (workdir / "outputs").exists()


def test_csv_error_from_the_cli_is_one_line(workdir):
    from typer.testing import CliRunner

    from optrun.cli import app

    (workdir / "c.yaml").write_text(
        "problem: {name: linear_regression, data: {path: nope.csv, target: y}}\noptimizer: gd\n"
    )
    result = CliRunner().invoke(app, ["run", "c.yaml"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: c.yaml: problem.data.path: data file 'nope.csv' not found (relative paths are looked up in the config's "
        f"folder and its parents up to the project root: {workdir.resolve()})"
    )


@pytest.mark.slow
@pytest.mark.parametrize("config", ["gaussian-mle-gd.yaml", "linreg-csv.yaml"])
def test_a_run_on_a_csv_loads_again_from_its_config_yaml(workdir, config):
    """A run's config.yaml records the data file, not the synthetic-data
    options it does not use, so `optrun plot` can rebuild its problem (the
    fit plot) and the config validates again."""
    import optrun
    from optrun.config import load_config
    from optrun.plots.runs import draw_run_plots

    repo = Path(__file__).resolve().parents[1]
    result = optrun.run(
        str(repo / "configs" / config), ["output.plots=false", f"output.dir={workdir}", "stop.max_iter=5"]
    )
    reloaded = load_config(result.run_dir / "config.yaml")
    assert "data" in reloaded.resolved()["problem"] and "n" not in reloaded.resolved()["problem"]
    written, warnings = draw_run_plots(result.run_dir)
    assert "fit.png" in [p.name for p in written] and not warnings


# ------------------------------------------------ issue 18.5: through the CLI
def cli(*args, columns=None):
    from typer.testing import CliRunner

    from optrun.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": columns} if columns else None)


PEOPLE = "name,height,weight\nAda,1.70,60\nBob,1.82,80\nCy,1.65,55\nDee,1.77,71\n"


@pytest.mark.slow
def test_a_text_column_beside_the_used_one_is_ignored(workdir):
    (workdir / "people.csv").write_text(PEOPLE)
    (workdir / "g.yaml").write_text(
        "problem: {name: gaussian_mle, data: {path: people.csv, column: height}}\n"
        "optimizer: {name: adam, step_size: 0.05}\nstop: {max_iter: 20000, grad_tol: 1.0e-8}\n"
        "output: {plots: false}\n"
    )
    result = cli("run", "g.yaml", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    assert '"converged"' in result.stdout
    # features default to every other numeric column: the text column is skipped
    (workdir / "l.yaml").write_text(
        "problem: {name: linear_regression, data: {path: people.csv, target: weight}}\n"
        "optimizer: newton\noutput: {plots: false}\n"
    )  # exact on least squares (L-BFGS-B ended ABNORMAL on one BLAS kernel)
    result = cli("run", "l.yaml", "--json")
    assert result.exit_code == 0, result.output + result.stderr


def test_a_missing_column_names_the_file_the_column_and_the_columns(workdir):
    (workdir / "people.csv").write_text(PEOPLE)
    (workdir / "g.yaml").write_text(
        "problem: {name: gaussian_mle, data: {path: people.csv, column: heigth}}\noptimizer: gd\n"
    )
    result = cli("run", "g.yaml")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: g.yaml: problem.data.column: column 'heigth' is not in {(workdir / 'people.csv')}; "
        "did you mean 'height'? (columns: name, height, weight)"
    )


def test_a_bad_cell_in_a_used_column_names_file_line_column_and_value(workdir):
    (workdir / "people.csv").write_text(PEOPLE.replace("1.82", "1,82").replace("Bob,1,82", 'Bob,"1,82"'))
    (workdir / "g.yaml").write_text(
        "problem: {name: gaussian_mle, data: {path: people.csv, column: height}}\noptimizer: gd\n"
    )
    result = cli("run", "g.yaml")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: g.yaml: problem.data.column: data file {workdir / 'people.csv'} line 3, "
        "column 'height': '1,82' is not a number"
    )
    assert "\n" not in result.stderr.strip()


def test_sigma_defaults_to_one_with_data(workdir):
    import yaml

    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (40, 2))
    y = X @ [2.0, -1.0] + 0.5 + 0.2 * rng.normal(size=40)
    (workdir / "d.csv").write_text(
        "label,x1,x2,y\n"
        + "".join(f"r{i},{float(a)!r},{float(b)!r},{float(t)!r}\n" for i, ((a, b), t) in enumerate(zip(X, y)))
    )
    (workdir / "l.yaml").write_text(
        "problem: {name: linear_regression, data: {path: d.csv, target: y}}\n"
        "optimizer: {name: gd, step_size: 1.0e-2}\nstop: {max_iter: 5000, grad_tol: 1.0e-8}\n"
        "output: {plots: false}\n"
    )
    result = cli("run", "l.yaml", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    run_dir = next((workdir / "outputs").rglob("config.yaml")).parent
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["problem"]["sigma"] == 1.0
    design = np.hstack([X, np.ones((40, 1))])
    residual = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    import json

    out = json.loads(result.stdout)
    assert out["status"] == "converged"
    # plain half sum of squares. Converged (grad_tol 1e-8): f - f* <= grad_tol^2 / (2 lambda_min), ~1e-17. Each side
    # rounds every residual y - (x . w + b) about 5 times on values below 6 (15 eps), which moves f (0.7) by at most
    # sum |r| 15 eps <= 120 eps, and the 40 squares and their sum add 40 eps/2 of f: rounding(200) relative per side
    assert out["fun"] == pytest.approx(0.5 * np.sum(residual**2), rel=rounding(400))
    # synthetic data keep the noise scale 0.1
    from optrun.core.problems.models import LinearRegressionOptions

    assert LinearRegressionOptions.model_validate({}).sigma == 0.1
    assert LinearRegressionOptions.model_validate({"data": {"path": "d.csv", "target": "y"}, "sigma": 0.5}).sigma == 0.5


@pytest.mark.parametrize(
    "problem, data_type",
    [
        ("linear_regression", "a CSV table {path, target, features?} or null"),
        ("mlp_regression", "a CSV table {path, target, features?} or null"),
        ("gaussian_mle", "a CSV column {path, column} or null"),
    ],
)
def test_describe_shows_the_data_type_and_the_sigma_default(problem, data_type):
    result = cli(
        "describe", problem, columns="200"
    )  # piped, describe is 80 wide: wide enough here to keep each cell on one line
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    assert data_type in text
    assert "TableData" not in text and "ColumnData" not in text
    if problem != "gaussian_mle":
        assert "sigma defaults to 0.1 (the synthetic noise), with data: to 1 (half the sum of squares)" in text
