"""optrun sweep: expansion, executors (in-process, process pool, Dask), faults, resume."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO
from tolerances import rounding
from typer.testing import CliRunner

from optrun.cli import app
from optrun.config import SweepConfig
from optrun.core.errors import ConfigError
from optrun.engine.sweep_plan import combine, expand, parse_values, to_overrides

runner = CliRunner()
BASE = "problem: {name: trid, dim: 3}\ninit: {kind: normal}\noptimizer: {name: gd, step_size: 0.1}\nstop: {max_iter: 200}\n"


def sweep(*args):
    return runner.invoke(app, ["sweep", *map(str, args)], env={"COLUMNS": "200"})


def rows_of(sweep_dir):
    return list(csv.DictReader(open(sweep_dir / "sweep.csv")))


def only_sweep_dir(workdir, name="s"):
    [found] = sorted((workdir / "outputs" / name).glob("sweep-*"))
    return found


# ---------------------------------------------------------------- expansion
def test_grid_zip_and_seeds_expand_in_order():
    spec = SweepConfig(grid={"a": [1, 2], "b": ["x", "y"]}, zip={"c": [10, 20], "d": [0.1, 0.2]}, seeds=2)
    runs = expand(spec, base_seed=5)
    assert len(runs) == 2 * 2 * 2 * 2
    assert runs[0] == {"a": 1, "b": "x", "c": 10, "d": 0.1, "seed": 5}
    assert runs[1] == {"a": 1, "b": "x", "c": 10, "d": 0.1, "seed": 6}
    assert runs[2] == {"a": 1, "b": "x", "c": 20, "d": 0.2, "seed": 5}
    assert runs[-1] == {"a": 2, "b": "y", "c": 20, "d": 0.2, "seed": 6}
    assert expand(SweepConfig(seeds=[3, 9]), 0) == [{"seed": 3}, {"seed": 9}]


def test_command_line_values_and_overrides():
    assert parse_values("--grid", "optimizer.step_size=1e-3,0.01,1") == ("optimizer.step_size", [0.001, 0.01, 1])
    assert parse_values("--grid", "optimizer.name=gd,adam") == ("optimizer.name", ["gd", "adam"])
    assert to_overrides({"init.values.x": [0, 1], "optimizer.name": "adam", "seed": 3}) == [
        "init.values.x=[0, 1]",
        "optimizer.name=adam",
        "seed=3",
    ]
    spec = combine(SweepConfig(grid={"a": [1]}, seeds=2), ["b=1,2"], [], 4)
    assert spec.grid == {"a": [1], "b": [1, 2]} and spec.seeds == 4


@pytest.mark.parametrize(
    "grid, zipped, seeds, message",
    [
        ([], [], None, "nothing to sweep"),
        (["optimizer.step_size"], [], None, "must look like dotted.key=value1,value2"),
        (["seed=1,2"], [], None, "'seed' cannot be swept"),
        ([], ["a=1,2", "b=1"], None, "zip lists must have one length"),
        (["a=1"], ["a=2"], None, "'a' is both in grid and zip"),
    ],
)
def test_bad_sweep_specs(grid, zipped, seeds, message):
    with pytest.raises(ConfigError, match=message):
        combine(None, grid, zipped, seeds)


def test_every_combination_is_validated_before_anything_is_written(workdir):
    (workdir / "s.yaml").write_text(BASE)
    result = sweep(
        "s.yaml", "--grid", "optimizer.name=gd,lbfgs", "--grid", "optimizer.step_size=0.1,0.2", "--workers", "1"
    )
    assert result.exit_code == 2
    assert (
        "s.yaml (run with optimizer.name=lbfgs, optimizer.step_size=0.1, seed=0): optimizer.step_size: unknown key 'step_size'"
        in result.stderr
    )
    assert "pair the lists with --zip" in result.stderr
    assert not (workdir / "outputs").exists()
    result = sweep("s.yaml", "--grid", "optimizer.step_size=0.1,-1", "--workers", "1")
    assert result.exit_code == 2
    assert (
        "s.yaml (run with optimizer.step_size=-1, seed=0): optimizer.step_size: input should be greater than 0"
        in result.stderr
    )


@pytest.mark.slow
# ---------------------------------------------------------------- executors
def test_sweep_in_process_writes_runs_csv_table_and_plot(workdir):
    (workdir / "s.yaml").write_text(BASE + "sweep:\n  grid: {optimizer.step_size: [0.01, 0.1]}\n  seeds: 2\n")
    result = sweep("s.yaml", "--workers", "1", "--grid", "optimizer.name=gd,momentum")
    assert result.exit_code == 0, result.stderr
    sweep_dir = only_sweep_dir(workdir)
    rows = rows_of(sweep_dir)
    assert len(rows) == 8 and [r["index"] for r in rows] == [str(i) for i in range(1, 9)]
    assert list(rows[0])[:4] == ["index", "optimizer.step_size", "optimizer.name", "seed"]
    for row in rows:
        run_dir = workdir / row["run_dir"] if not os.path.isabs(row["run_dir"]) else row["run_dir"]
        summary = json.load(open(os.path.join(run_dir, "summary.json")))
        assert summary["fun"] == float(row["f"]) and summary["seed"] == int(row["seed"])  # both files write repr: exact
        config = open(os.path.join(run_dir, "config.yaml")).read()
        assert f"step_size: {row['optimizer.step_size']}" in config and f"name: {row['optimizer.name']}" in config
    assert (sweep_dir / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert json.load(open(sweep_dir / "sweep.json"))["keys"] == ["optimizer.step_size", "optimizer.name", "seed"]
    assert "sweep: final f - f* over seeds" in result.stdout and "8 of 8 runs done" in result.stdout


def _f_values(workdir, name):
    return [float(r["f"]) for r in rows_of(only_sweep_dir(workdir, name))]


@pytest.mark.slow
def test_workers_pool_and_dask_give_identical_results(workdir):
    for name in ("one", "pool", "dask"):
        (workdir / f"{name}.yaml").write_text(BASE)
    args = ["--grid", "optimizer.step_size=0.01,0.05,0.1", "--seeds", "2"]
    assert sweep("one.yaml", *args, "--workers", "1").exit_code == 0
    assert sweep("pool.yaml", *args, "--workers", "2").exit_code == 0
    result = sweep("dask.yaml", *args, "--dask", "local:2")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    one, pool, dask = _f_values(workdir, "one"), _f_values(workdir, "pool"), _f_values(workdir, "dask")
    assert len(one) == 6 and one == pool == dask


def test_dask_missing_gives_a_clear_error(workdir, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    (workdir / "s.yaml").write_text(BASE)
    result = sweep("s.yaml", "--seeds", "2", "--dask", "local:1")
    assert result.exit_code == 2
    assert (
        "--dask needs dask.distributed, which is not installed: pip install -e '.[dask]' in the optrun checkout"
        in result.stderr
    )
    assert not (workdir / "outputs").exists()


def test_bad_dask_address(workdir):
    (workdir / "s.yaml").write_text(BASE)
    result = sweep("s.yaml", "--seeds", "2", "--dask", "local:zero")
    assert result.exit_code == 2 and "local:N needs a number of workers" in result.stderr


# ------------------------------------------------------------------- faults
def test_failing_and_diverging_runs_are_recorded_and_the_sweep_goes_on(workdir, raising_past_two):
    (workdir / "s.yaml").write_text(
        "problem: polynomial\noptimizer: {name: gd, step_size: 0.01}\nstop: {max_iter: 50}\n"
    )
    result = sweep(
        "s.yaml",
        "--workers",
        "1",
        "--grid",
        f"problem.name=polynomial,{raising_past_two}",
        "--grid",
        "optimizer.step_size=0.01,2",
    )
    assert result.exit_code == 0, result.stderr
    rows = {(r["problem.name"], r["optimizer.step_size"]): r for r in rows_of(only_sweep_dir(workdir))}
    assert rows[("polynomial", "0.01")]["status"] == "max_iter"
    assert rows[("polynomial", "2")]["status"] == "diverged"
    assert rows[(raising_past_two, "2")]["status"] == "failed"
    assert "ValueError: x left the domain" in rows[(raising_past_two, "2")]["message"]
    assert "4 of 4 runs done" in result.stdout and "2 failed or diverged" in result.stdout


def test_a_missing_data_file_in_one_combination_is_rejected_up_front(workdir):
    (workdir / "good.csv").write_text("x\n1\n2\n3\n")
    (workdir / "s.yaml").write_text("problem: {name: gaussian_mle, data: {path: good.csv, column: x}}\noptimizer: gd\n")
    result = sweep("s.yaml", "--workers", "1", "--grid", "problem.data.path=good.csv,missing.csv")
    assert result.exit_code == 2
    assert (
        "(run with problem.data.path=missing.csv, seed=0): problem.data.path: data file 'missing.csv' not found"
        in result.stderr
    )
    assert not (workdir / "outputs").exists()


def test_list_values_and_a_fix_that_does_not_fit(workdir):
    (workdir / "s.yaml").write_text(BASE)
    result = sweep(
        "s.yaml",
        "--workers",
        "1",
        "--set",
        "init={kind: values, values: {x: [5, 5, 5]}}",
        "--grid",
        "init.values.x=[0,0,0],[1,1,1]",
    )
    assert result.exit_code == 0, result.stderr
    assert [r["init.values.x"] for r in rows_of(only_sweep_dir(workdir))] == ["[0, 0, 0]", "[1, 1, 1]"]
    result = sweep("s.yaml", "--workers", "1", "--grid", "fix.y=1,2")
    assert result.exit_code == 2 and "fix.y: unknown parameter 'y'" in result.stderr


@pytest.mark.slow
def test_resume_finishes_without_redoing_finished_runs(workdir):
    (workdir / "s.yaml").write_text(BASE)
    assert sweep("s.yaml", "--workers", "1", "--seeds", "4").exit_code == 0
    sweep_dir = only_sweep_dir(workdir)
    kept = {p.parent.name: p.stat().st_mtime_ns for p in sweep_dir.glob("run-*/trace.csv")}
    # as if the sweep had been killed: run 3 never finished, run 4 never started
    (sweep_dir / "run-0003" / "summary.json").unlink()
    import shutil

    shutil.rmtree(sweep_dir / "run-0004")
    (sweep_dir / "sweep.csv").unlink()
    result = sweep("--resume", sweep_dir, "--workers", "1")
    assert result.exit_code == 0, result.stderr
    assert "4 of 4 runs done (2 kept from before)" in result.stdout
    assert len(rows_of(sweep_dir)) == 4
    for name in ("run-0001", "run-0002"):  # finished runs were not redone
        assert (sweep_dir / name / "trace.csv").stat().st_mtime_ns == kept[name]
    assert (sweep_dir / "run-0004" / "summary.json").exists()
    result = sweep("--resume", sweep_dir)
    assert "(4 kept from before)" in result.stdout


def test_resume_errors(workdir):
    result = sweep("--resume", workdir)
    assert result.exit_code == 2 and "not a sweep directory (no sweep.json)" in result.stderr
    (workdir / "s.yaml").write_text(BASE)
    result = sweep("s.yaml", "--resume", workdir)
    assert result.exit_code == 2 and "--resume takes a sweep directory only" in result.stderr


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_keeps_finished_runs_and_resume_completes(workdir):
    (workdir / "s.yaml").write_text(
        "problem: {name: trid, dim: 200}\noptimizer: {name: gd, step_size: 1.0e-9}\n"
        "stop: {max_iter: 100000000, grad_tol: null, time_limit: 0.5}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "optrun", "sweep", "s.yaml", "--seeds", "6", "--workers", "1"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Signal as soon as two runs have written their summary: that is the moment
    # (summary written, row not yet handed back) at which this test used to
    # lose the second row under load. Wait for the state, with a generous
    # timeout, and fail loudly if it never comes.
    deadline = time.time() + 120
    finished = []
    while time.time() < deadline and len(finished) < 2:
        finished = sorted(p.parent.name for p in workdir.glob("outputs/s/sweep-*/run-*/summary.json"))
        time.sleep(0.005)
    assert len(finished) >= 2, "the sweep never finished two runs"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "optrun sweep --resume" in stderr
    sweep_dir = only_sweep_dir(workdir)
    rows = rows_of(sweep_dir)
    assert 2 <= len(rows) < 6
    assert {Path(r["run_dir"]).name for r in rows} >= set(finished)  # every run that had finished is in sweep.csv
    assert all(r["status"] in ("time_limit", "interrupted") for r in rows)
    result = sweep("--resume", sweep_dir, "--workers", "1")
    assert result.exit_code == 0
    assert len(rows_of(sweep_dir)) == 6
    assert all(r["status"] == "time_limit" for r in rows_of(sweep_dir))


def test_seeds_that_repeat_one_run_are_warned_about(workdir):
    """--seeds 3 on a deterministic start would run three identical copies: say so (the sweep still runs)."""
    (workdir / "fixed.yaml").write_text("problem: trid\noptimizer: gd\nstop: {max_iter: 5}\n")
    fixed = sweep("fixed.yaml", "--seeds", "3", "--workers", "1")
    assert fixed.exit_code == 0 and "warning: the 3 seeds give identical runs" in fixed.stderr
    (workdir / "random.yaml").write_text("problem: trid\ninit: normal\noptimizer: gd\nstop: {max_iter: 5}\n")
    random = sweep("random.yaml", "--seeds", "3", "--workers", "1")
    assert random.exit_code == 0 and "identical runs" not in random.stderr


def test_piped_output_names_the_best_setting_in_words(workdir):
    """The best row is green on a terminal; piped (CI logs, files) a caption names it."""
    (workdir / "s.yaml").write_text("problem: trid\noptimizer: gd\nstop: {max_iter: 30}\noutput: {plots: false}\n")
    result = sweep("s.yaml", "--grid", "optimizer.step_size=0.01,0.2", "--workers", "1")
    assert result.exit_code == 0 and "best: optimizer.step_size=0.2 (lowest mean f - f*," in result.stdout


@pytest.mark.slow
def test_sweep_png_names_problem_and_optimizer_and_draws_the_means(workdir, monkeypatch):
    import matplotlib.figure

    saved = []
    original = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(
        matplotlib.figure.Figure, "savefig", lambda self, *a, **k: (saved.append(self), original(self, *a, **k))[1]
    )
    (workdir / "s.yaml").write_text(BASE)
    result = sweep("s.yaml", "--workers", "1", "--grid", "optimizer.step_size=0.01,0.1", "--seeds", "2")
    assert result.exit_code == 0, result.stderr
    [fig] = saved
    assert "sweep of trid / gd: 4 runs" in fig._suptitle.get_text()
    [ax] = fig.axes
    [mean_line] = [line for line in ax.get_lines() if line.get_label() == "runs"]
    rows = rows_of(only_sweep_dir(workdir))
    for x, y in mean_line.get_xydata():
        gaps = [float(r["gap"]) for r in rows if float(r["optimizer.step_size"]) == x]
        # a mean of gaps >= 0 summed in another order (statistics.fmean's exact sum): len(gaps) roundings
        assert y == pytest.approx(sum(gaps) / len(gaps), rel=rounding(len(gaps)))


@pytest.mark.slow
def test_sweep_png_draws_an_exact_zero_gap_at_the_floor_with_a_note(tmp_path, monkeypatch):
    import matplotlib.figure

    from optrun.plots.sweep import plot_sweep

    saved = []
    original = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(
        matplotlib.figure.Figure, "savefig", lambda self, *a, **k: (saved.append(self), original(self, *a, **k))[1]
    )
    rows = [
        {"index": i, "stop.max_iter": n, "seed": 0, "status": "converged", "f": f, "gap": f + 4.0}
        for i, (n, f) in enumerate([(1, 17.0), (2, -4.0), (50, -4.0)], start=1)
    ]
    assert plot_sweep(rows, ["stop.max_iter", "seed"], tmp_path / "sweep.png")
    [ax] = saved[0].axes
    assert ax.get_title() == "f - f* = 0 in 2 of 3 runs, drawn at the floor 4e-16"
    [mean_line] = [line for line in ax.get_lines() if line.get_label() == "runs"]
    assert mean_line.get_ydata().tolist() == [21.0, 4e-16, 4e-16]  # not at the smallest gap seen (21)
    assert saved[0]._suptitle.get_text().startswith("sweep of 3 runs")  # no run folders: no names to give


# ------------------------------------------------ sweeps across optimizer families (issue 18.4)
FAMILIES = "problem: {name: trid, dim: 3}\noptimizer: {name: gd, step_size: 0.1}\nstop: {max_iter: 50}\n"


def test_a_grid_over_methods_leaves_out_options_a_method_does_not_take(workdir):
    (workdir / "s.yaml").write_text(FAMILIES)
    result = sweep("s.yaml", "--grid", "optimizer.name=gd,adam,lbfgs,bfgs", "--workers", "1")
    assert result.exit_code == 0, result.stderr
    assert (
        "note: optimizer.step_size=0.1 from the config does not apply to lbfgs, bfgs: left out of their runs; "
        "kept for gd, adam"
    ) in " ".join(result.stderr.split())
    sweep_dir = only_sweep_dir(workdir)
    rows = rows_of(sweep_dir)
    assert [r["optimizer.name"] for r in rows] == ["gd", "adam", "lbfgs", "bfgs"]
    assert all(r["status"] in ("converged", "max_iter") for r in rows)
    import yaml

    configs = [yaml.safe_load((sweep_dir / f"run-{i:04d}" / "config.yaml").read_text()) for i in range(1, 5)]
    assert [c["optimizer"].get("step_size") for c in configs[:2]] == [0.1, 0.1]
    assert "step_size" not in configs[2]["optimizer"] and "step_size" not in configs[3]["optimizer"]
    # the same drop on --resume: the plan keeps the base section
    assert json.loads((sweep_dir / "sweep.json").read_text())["sections"] == {
        "optimizer": {"name": "gd", "step_size": 0.1}
    }


def test_a_grid_may_give_a_key_the_base_config_lacks(workdir):
    (workdir / "s.yaml").write_text(FAMILIES)
    result = sweep("s.yaml", "--set", "init.kind=values", "--grid", "init.values.x=[0,0,0],[1,1,1]", "--workers", "1")
    assert result.exit_code == 0, result.stderr
    assert [r["init.values.x"] for r in rows_of(only_sweep_dir(workdir))] == ["[0, 0, 0]", "[1, 1, 1]"]
    # without the kind: the error says how to write it
    result = sweep("s.yaml", "--grid", "init.values.x=[0,0,0],[1,1,1]", "--workers", "1")
    assert result.exit_code == 2 and "for values, add kind: values (--set init.kind=values)" in " ".join(
        result.stderr.split()
    )


def test_categorical_keys_are_plotted_and_a_seeds_only_sweep_names_no_plot(workdir):
    (workdir / "s.yaml").write_text(FAMILIES)
    result = sweep("s.yaml", "--grid", "optimizer.name=gd,adam", "--workers", "1")
    assert result.exit_code == 0 and "sweep.csv, sweep.png" in result.stdout
    assert (only_sweep_dir(workdir) / "sweep.png").stat().st_size > 10_000
    (workdir / "t.yaml").write_text(FAMILIES.replace("optimizer:", "init: {kind: normal}\noptimizer:"))
    result = sweep("t.yaml", "--seeds", "2", "--workers", "1")
    assert result.exit_code == 0
    sweep_dir = only_sweep_dir(workdir, "t")
    assert "sweep.png" not in result.stdout and result.stdout.split("runs done")[1].strip().endswith("sweep.csv")
    assert not (sweep_dir / "sweep.png").exists()


@pytest.mark.slow
def test_show_plot_and_compare_take_a_sweep_directory(workdir):
    (workdir / "s.yaml").write_text(FAMILIES)
    assert sweep("s.yaml", "--grid", "optimizer.step_size=0.01,0.1", "--workers", "1").exit_code == 0
    sweep_dir = only_sweep_dir(workdir)
    shown = runner.invoke(app, ["show", str(sweep_dir)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.stderr
    assert "optimizer.step_size" in shown.stdout and "best: optimizer.step_size=0.1" in shown.stdout
    assert "2 of 2 runs finished" in shown.stdout
    data = json.loads(runner.invoke(app, ["show", str(sweep_dir), "--json"]).stdout)
    assert data["keys"] == ["optimizer.step_size", "seed"] and data["planned"] == 2
    csv_rows = rows_of(sweep_dir)
    assert [r["f"] for r in data["runs"]] == [float(r["f"]) for r in csv_rows]
    (sweep_dir / "sweep.png").unlink()
    plotted = runner.invoke(app, ["plot", str(sweep_dir)], env={"COLUMNS": "200"})
    assert plotted.exit_code == 0, plotted.stderr
    assert (sweep_dir / "sweep.png").is_file() and (sweep_dir / "run-0001" / "loss.png").is_file()
    assert "run-0002/loss.png" in plotted.stdout


@pytest.mark.slow
def test_compare_takes_a_name_folder_as_its_runs(workdir):
    (workdir / "s.yaml").write_text(FAMILIES)
    for step in ("0.01", "0.1"):
        assert runner.invoke(app, ["run", "s.yaml", "-q", "--set", f"optimizer.step_size={step}"]).exit_code == 0
    assert (
        sweep("s.yaml", "--grid", "optimizer.step_size=0.01,0.1", "--workers", "1").exit_code == 0
    )  # left out: not a run
    result = runner.invoke(app, ["compare", str(workdir / "outputs" / "s"), "--json", "--out", str(workdir / "c.png")])
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 2 and {r["run_dir"].split("/")[-2] for r in rows} == {"s"}
    assert rows[0]["f"] != rows[1]["f"]


# ------------------------------------------------ --vectorize (issue 19.4)
JAX_SEEDS = (
    "problem: {name: rosenbrock, dim: 4}\ninit: {kind: normal, scale: 0.5}\n"
    "optimizer: {name: adam, step_size: 0.01}\nstop: {max_iter: 150}\nbackend: jax\n"
)


@pytest.mark.slow
def test_vectorize_with_plots_draws_each_runs_plots(workdir):
    # execute_batch drew plots through a module it never imported (a NameError once output.plots was on)
    (workdir / "v.yaml").write_text(JAX_SEEDS.replace("stop: {max_iter: 150}", "stop: {max_iter: 20}"))
    result = sweep("v.yaml", "--seeds", "2", "--vectorize", "--plots")
    assert result.exit_code == 0, result.output
    [folder] = (workdir / "outputs" / "v").glob("sweep-*")
    runs = sorted(p for p in folder.iterdir() if p.is_dir())
    assert len(runs) == 2 and all((run / "loss.png").stat().st_size > 0 for run in runs)


@pytest.mark.slow
def test_vectorize_writes_the_run_directories_a_sequential_sweep_writes(workdir):
    (workdir / "v.yaml").write_text(JAX_SEEDS)
    assert sweep("v.yaml", "--seeds", "3", "--vectorize").exit_code == 0
    assert sweep("v.yaml", "--seeds", "3", "--workers", "1").exit_code == 0
    vectorized, sequential = sorted((workdir / "outputs" / "v").glob("sweep-*"))
    for i in range(1, 4):
        a = list(csv.DictReader(open(vectorized / f"run-{i:04d}" / "trace.csv")))
        b = list(csv.DictReader(open(sequential / f"run-{i:04d}" / "trace.csv")))
        assert len(a) == len(b) == 151
        assert [r["iter"] for r in a] == [r["iter"] for r in b]
        for ra, rb in zip(a, b):
            assert float(ra["f"]) == pytest.approx(float(rb["f"]), rel=1e-12)
        sa, sb = (json.loads((d / f"run-{i:04d}" / "summary.json").read_text()) for d in (vectorized, sequential))
        assert (sa["status"], sa["nit"], sa["nfev"], sa["seed"]) == (sb["status"], sb["nit"], sb["nfev"], sb["seed"])
    assert len({r["f"] for r in rows_of(vectorized)}) == 3  # three different starts


@pytest.mark.slow
def test_vectorize_runs_a_grid_over_step_sizes_and_numeric_options_as_sequential_runs(workdir):
    """--grid over the optimizer's numeric options (step_size, b1) with --seeds: one batch, each run its own options."""
    (workdir / "v.yaml").write_text(JAX_SEEDS)
    args = ("--grid", "optimizer.step_size=0.003,0.03", "--grid", "optimizer.b1=0.5,0.9", "--seeds", "2")
    assert sweep("v.yaml", *args, "--vectorize").exit_code == 0
    assert sweep("v.yaml", *args, "--workers", "1").exit_code == 0
    vectorized, sequential = sorted((workdir / "outputs" / "v").glob("sweep-*"))
    rows_v, rows_s = rows_of(vectorized), rows_of(sequential)
    assert len(rows_v) == len(rows_s) == 8
    for rv, rs in zip(rows_v, rows_s):
        assert (rv["optimizer.step_size"], rv["optimizer.b1"], rv["seed"]) == (
            rs["optimizer.step_size"],
            rs["optimizer.b1"],
            rs["seed"],
        )
        assert float(rv["f"]) == pytest.approx(float(rs["f"]), rel=1e-12)
        a = list(csv.DictReader(open(vectorized / Path(rv["run_dir"]).name / "trace.csv")))
        b = list(csv.DictReader(open(sequential / Path(rs["run_dir"]).name / "trace.csv")))
        assert [r["step_size"] for r in a] == [r["step_size"] for r in b] and len(a) == 151
        assert [float(r["f"]) for r in a] == pytest.approx([float(r["f"]) for r in b], rel=1e-12)
    assert len({r["f"] for r in rows_v}) == 8  # every run its own


def test_vectorize_refuses_what_it_cannot_run_before_anything_is_written(workdir):
    (workdir / "v.yaml").write_text(JAX_SEEDS)
    cases = [
        (["--set", "backend=autograd"], "--vectorize runs on the jax backend"),
        (["--set", "optimizer={name: lbfgs}"], "optimizer 'lbfgs' has none (those that have: "),
        (["--grid", "optimizer.name=adam,adamw"], "sweep only seed, init.* and the optimizer's numeric options"),
        (["--grid", "stop.max_iter=10,20"], "sweep only seed, init.* and the optimizer's numeric options"),
        (
            ["--grid", "optimizer.clip_grad_norm=null,1.0"],
            "optimizer.clip_grad_norm: --vectorize runs differ only in numeric option values",
        ),
        (["--dask", "local:2"], "leave out --dask"),
    ]
    for extra, message in cases:
        result = sweep("v.yaml", "--seeds", "2", "--vectorize", *extra)
        assert result.exit_code == 2 and message in " ".join(result.stderr.split()), (extra, result.stderr)
    assert not (workdir / "outputs").exists()
