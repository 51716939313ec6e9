import csv

import pytest
from typer.testing import CliRunner

import optrun
from optrun.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_compare_runs_of_different_lengths(workdir):
    a = optrun.run(
        {"name": "a", "problem": "trid", "optimizer": {"name": "gd", "step_size": 0.1}, "output": {"plots": False}}
    )
    b = optrun.run(
        {
            "name": "b",
            "problem": "trid",
            "optimizer": {"name": "adam", "step_size": 0.05},
            "stop": {"max_iter": 40},
            "output": {"plots": False},
        }
    )
    assert len(a.trace["iter"]) != len(b.trace["iter"])
    result = runner.invoke(
        app, ["compare", str(a.run_dir), str(b.run_dir), "--out", "cmp/both.png"], env={"COLUMNS": "200"}
    )
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
    from optrun.core.rundir import read_run
    from optrun.engine.compare import label

    r = optrun.run(
        {
            "name": "x",
            "problem": "trid",
            "optimizer": {"name": "adam", "step_size": 0.05},
            "stop": {"max_iter": 3},
            "output": {"plots": False},
        }
    )
    text = label(read_run(r.run_dir))
    assert text.startswith("x [") and "adam (step_size=0.05)" in text


def test_compare_errors(workdir):
    result = runner.invoke(app, ["compare", "nope"])
    assert result.exit_code == 2 and "nope: not a run directory" in result.stderr
    r = optrun.run({"problem": "trid", "optimizer": "gd", "stop": {"max_iter": 3}, "output": {"plots": False}})
    result = runner.invoke(app, ["compare", str(r.run_dir), "--out", "table.csv"])
    assert result.exit_code == 2 and "--out must name a .png, .svg or .pdf file" in result.stderr


def test_show_prints_summary_and_config(workdir):
    r = optrun.run(
        {"name": "shown", "problem": "trid", "optimizer": "gd", "stop": {"max_iter": 3}, "output": {"plots": False}}
    )
    result = runner.invoke(app, ["show", str(r.run_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("shown: trid / gd", "max_iter", "iterations", "problem:", "step_size: 0.01"):
        assert text in result.stdout, text
    (r.run_dir / "summary.json").unlink()
    result = runner.invoke(app, ["show", str(r.run_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "no summary.json, the run did not finish" in result.stdout


def test_compare_a_killed_run_and_a_sweep_directory(workdir):
    a = optrun.run(
        {"name": "k", "problem": "trid", "optimizer": "gd", "stop": {"max_iter": 5}, "output": {"plots": False}}
    )
    (a.run_dir / "summary.json").unlink()  # as after SIGKILL
    (workdir / "s.yaml").write_text("problem: trid\noptimizer: gd\nstop: {max_iter: 5}\n")
    assert runner.invoke(app, ["sweep", "s.yaml", "--seeds", "2", "--workers", "1"]).exit_code == 0
    [sweep_dir] = (workdir / "outputs" / "s").glob("sweep-*")
    result = runner.invoke(app, ["compare", str(a.run_dir), str(sweep_dir), "--out", "c.png"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    assert "incomplete" in result.stdout
    rows = list(csv.DictReader(open(workdir / "c.csv")))
    assert [r["status"] for r in rows] == ["incomplete", "max_iter", "max_iter"]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "trace.csv").write_text(""), "trace.csv is empty"),
        (lambda d: (d / "config.yaml").write_text("- a list\n"), "config.yaml is not a resolved optrun config"),
        (lambda d: (d / "config.yaml").write_text(""), "config.yaml is not a resolved optrun config"),
    ],
)
@pytest.mark.parametrize("command", ["show", "plot", "compare"])
def test_damaged_run_folders_are_one_line_errors(workdir, damage, message, command):
    r = optrun.run({"problem": "trid", "optimizer": "gd", "stop": {"max_iter": 3}, "output": {"plots": False}})
    damage(r.run_dir)
    result = runner.invoke(app, [command, str(r.run_dir)])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_a_header_only_trace_is_empty_not_a_warning(workdir, recwarn):
    r = optrun.run({"problem": "trid", "optimizer": "gd", "stop": {"max_iter": 3}, "output": {"plots": False}})
    header = (r.run_dir / "trace.csv").read_text().splitlines()[0]
    (r.run_dir / "trace.csv").write_text(header + "\n")
    from optrun.core.trace import read_trace

    assert read_trace(r.run_dir / "trace.csv")["f"].shape == (0,)
    assert not [w for w in recwarn if "loadtxt" in str(w.message) or "Empty input" in str(w.message)]


@pytest.mark.slow
def test_a_diverged_run_does_not_flatten_the_others_and_many_runs_keep_distinct_colours(workdir):
    """The plot's axis spans the finite runs; the diverged one is clipped at
    its edge, dashed, labelled and ends in an x. Twelve runs, twelve colours."""
    import optrun

    base = {"problem": "trid", "output": {"plots": False}, "stop": {"max_iter": 200}}
    runs = [
        optrun.run({**base, "name": f"s{i}", "optimizer": {"name": "gd", "step_size": 0.02 * (i + 1)}})
        for i in range(11)
    ]
    runs.append(optrun.run({**base, "name": "boom", "optimizer": {"name": "gd", "step_size": 2.0}}))
    assert runs[-1].status == "diverged"
    comparison = optrun.compare(runs)
    [ax] = comparison.figure.axes
    lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    finite_max = max(float(r.trace["gap"].max()) for r in runs[:-1])
    diverged = [line for line in lines if line.get_label().endswith("(diverged)")]
    assert len(diverged) == 1 and diverged[0].get_linestyle() == "--"
    assert max(diverged[0].get_ydata()) <= 10 * finite_max < 1e10 and ax.get_ylim()[1] < 1e10
    assert len({str(line.get_color()) for line in lines}) == 12


def test_sweep_members_are_told_apart_by_their_settings(workdir):
    """The table, compare.csv and the legend name what differs between runs (step size, seed), not only the optimizer."""
    from typer.testing import CliRunner

    from optrun.cli import app

    (workdir / "k.yaml").write_text(
        "problem: {name: trid, dim: 3}\ninit: {kind: normal}\noptimizer: {name: gd, step_size: 0.05}\n"
        "stop: {max_iter: 20}\n"
    )
    cli = CliRunner()
    assert (
        cli.invoke(
            app, ["sweep", "k.yaml", "--grid", "optimizer.step_size=0.01,0.05", "--seeds", "2", "-w", "1"]
        ).exit_code
        == 0
    )
    [sweep_dir] = (workdir / "outputs" / "k").glob("sweep-*")
    result = cli.invoke(app, ["compare", str(sweep_dir), "--out", "c.png"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    for text in (
        "seed=0, step_size=0.01",
        "seed=1, step_size=0.01",
        "seed=0, step_size=0.05",
        "seed=1, step_size=0.05",
    ):
        assert text in result.stdout
    import csv

    assert [r["setting"] for r in csv.DictReader(open(workdir / "c.csv"))] == [
        "seed=0, step_size=0.01",
        "seed=1, step_size=0.01",
        "seed=0, step_size=0.05",
        "seed=1, step_size=0.05",
    ]
    from optrun import compare

    comparison = compare([sweep_dir])
    legend = [t.get_text() for t in comparison.figure.axes[0].get_legend().get_texts()]
    assert legend[3] == "k [run-0004]: gd (seed=1, step_size=0.05)"
