import csv

from typer.testing import CliRunner

import optrun
from optrun.cli import app

runner = CliRunner()


def test_compare_runs_of_different_lengths(workdir):
    a = optrun.run({"name": "a", "problem": "trid", "optimizer": {"name": "gd", "step_size": 0.1}, "output": {"plots": False}})
    b = optrun.run({"name": "b", "problem": "trid", "optimizer": {"name": "adam", "step_size": 0.05}, "stop": {"max_iter": 40},
                    "output": {"plots": False}})
    assert len(a.trace["iter"]) != len(b.trace["iter"])
    result = runner.invoke(app, ["compare", str(a.run_dir), str(b.run_dir), "--out", "cmp/both.png"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    assert "converged" in result.stdout and "max_iter" in result.stdout
    from test_plots import assert_real_plot

    assert_real_plot(workdir / "cmp" / "both.png", (550, 900))
    rows = list(csv.DictReader(open(workdir / "cmp" / "both.csv")))
    assert [r["name"] for r in rows] == ["a", "b"]
    assert [r["optimizer"] for r in rows] == ["gd", "adam"]
    assert rows[0]["status"] == "converged" and int(rows[0]["nit"]) == a.nit and int(rows[1]["nfev"]) == b.nfev
    assert float(rows[0]["gap"]) == a.fun + 2.0
    assert set(rows[0]) >= {"name", "problem", "optimizer", "status", "f", "gap", "nit", "nfev", "wall_time_s"}


def test_compare_legend_names_the_changed_options(workdir):
    from optrun.compare import label
    from optrun.rundir import read_run

    r = optrun.run({"name": "x", "problem": "trid", "optimizer": {"name": "adam", "step_size": 0.05}, "stop": {"max_iter": 3},
                    "output": {"plots": False}})
    text = label(read_run(r.run_dir))
    assert text.startswith("x [") and "adam (step_size=0.05)" in text


def test_compare_errors(workdir):
    result = runner.invoke(app, ["compare", "nope"])
    assert result.exit_code == 2 and "nope: not a run directory" in result.stderr
    r = optrun.run({"problem": "trid", "optimizer": "gd", "stop": {"max_iter": 3}, "output": {"plots": False}})
    result = runner.invoke(app, ["compare", str(r.run_dir), "--out", "table.csv"])
    assert result.exit_code == 2 and "--out must name a .png file" in result.stderr


def test_show_prints_summary_and_config(workdir):
    r = optrun.run({"name": "shown", "problem": "trid", "optimizer": "gd", "stop": {"max_iter": 3}, "output": {"plots": False}})
    result = runner.invoke(app, ["show", str(r.run_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("shown: trid / gd", "max_iter", "iterations", "problem:", "step_size: 0.01"):
        assert text in result.stdout, text
    (r.run_dir / "summary.json").unlink()
    result = runner.invoke(app, ["show", str(r.run_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "no summary.json, the run did not finish" in result.stdout
