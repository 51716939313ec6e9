"""optrun bench: suite files, starts, bench.csv from the traces, resume, Ctrl-C, show and compare."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import REPO
from typer.testing import CliRunner

from optrun.cli import app
from optrun.config.bench import load_suite
from optrun.core.rundir import read_run
from optrun.engine.bench import make_bench_plan

runner = CliRunner()
SMALL = (
    "name: tiny\nproblems: [beale, {name: trid, dim: 3}]\noptimizers: [lbfgs, {name: gd, step_size: 1.0e-2}]\n"
    "starts: 2\nbudget: {max_iter: 150}\ntargets: [1.0e-1, 1.0e-4]\n"
)


def bench(*args):
    return runner.invoke(app, ["bench", *map(str, args)], env={"COLUMNS": "200"})


def rows_of(bench_dir):
    return list(csv.DictReader(open(bench_dir / "bench.csv")))


def only_bench_dir(workdir, name="tiny"):
    [found] = sorted((workdir / "outputs" / name).glob("bench-*"))
    return found


# -------------------------------------------------------------- suite files
@pytest.mark.parametrize(
    "text, message",
    [
        ("name: x\nproblems: [beale]\n", "optimizers: is required but missing"),
        ("name: x\nproblems: [beale]\noptimizers: [gd]\nstarts: 0\n", "starts: "),
        (
            "name: x\nproblems: [beale]\noptimizers: [gd]\ntargets: [2.0]\n",
            "targets: targets are tolerances between 0 and 1",
        ),
        ("name: x\nproblems: [beale]\noptimizers: [gd]\nbudget: {max_evals: 3}\n", "budget.max_evals"),
        ("name: x\nproblems: [beale]\noptimizers: [gd]\ncolour: red\n", "colour"),
        ("name: x\nproblems: [beale, beale]\noptimizers: [gd]\n", "problems: 'beale' is listed twice"),
        ("name: x\nproblems: [{n: 3}]\noptimizers: [gd]\n", "needs 'name:'"),
        ("name: x\nproblems: [nosuchproblem]\noptimizers: [gd]\n", "problem.name"),
        ("name: x\nproblems: [beale]\noptimizers: [{name: gd, step_sise: 1}]\n", "optimizer.step_sise"),
        ("name: x\nproblems: [{name: trid, dim: 0}]\noptimizers: [gd]\n", "problem.dim"),
        ("name: 'a/b'\nproblems: [beale]\noptimizers: [gd]\n", "name: "),
        ("- just a list\n", "must be a mapping"),
        ("", "suite file is empty"),
    ],
)
def test_bad_suite_files_are_one_line_exit_2_and_write_nothing(workdir, text, message):
    (workdir / "s.yaml").write_text(text)
    result = bench("s.yaml", "--workers", "1")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "s.yaml" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (workdir / "outputs").exists()


def test_resume_errors(workdir):
    result = bench("--resume", workdir)
    assert result.exit_code == 2 and "not a bench directory (no bench.json)" in result.stderr
    (workdir / "s.yaml").write_text(SMALL)
    result = bench("s.yaml", "--resume", workdir)
    assert result.exit_code == 2 and "--resume takes a bench directory only" in result.stderr
    assert bench().exit_code == 2


def test_suites_resolve_through_the_problem_registry(workdir, monkeypatch):
    import optrun.core.problems as problems_module

    monkeypatch.setattr(problems_module, "SUITES", {"twosome": None}, raising=False)
    monkeypatch.setattr(
        problems_module, "suite_members", lambda name: [("beale", {}), ("trid", {"dim": 4})], raising=False
    )
    (workdir / "s.yaml").write_text("name: x\nproblems: twosome\noptimizers: [gd]\n")
    assert load_suite(workdir / "s.yaml").problems == [{"name": "beale"}, {"name": "trid", "dim": 4}]


# ------------------------------------------------------------------- starts
def test_random_starts_are_seeded_shared_by_optimizers_and_scaled(workdir):
    (workdir / "s.yaml").write_text(SMALL.replace("starts: 2", "starts: 3"))
    plan, meta = make_bench_plan(load_suite(workdir / "s.yaml"))
    assert len(plan.runs) == 2 * 2 * 3
    assert [m["start"] for m in meta[:6]] == [0, 1, 2, 0, 1, 2]
    assert plan.runs[0]["init"] == "default"
    # a start is its rule (the perturbed initializer), not its numbers
    assert plan.runs[1]["init"] == {"kind": "perturbed", "seed": 0, "label": "beale", "k": 1}
    assert plan.runs[8]["init"] == {"kind": "perturbed", "seed": 0, "label": "trid(dim=3)", "k": 2}
    assert plan.runs[1]["init"] == plan.runs[4]["init"]  # same start for lbfgs and gd
    assert plan.runs[1]["init"] != plan.runs[2]["init"]
    assert meta[0]["dimension"] == 2 and meta[6]["dimension"] == 3
    again, _ = make_bench_plan(load_suite(workdir / "s.yaml"))
    assert again.runs == plan.runs


# ------------------------------------------------------- large dimensions
BIG_DIM = 60_000


@pytest.mark.slow
def test_a_large_dimension_bench_writes_small_files_and_a_run_redoes_alone(workdir):
    """Issue 28 point 7: two 1-iteration runs at dimension 60000 wrote every
    start in full (sweep.json, config.yaml, sweep.csv, the sweep plot's labels:
    206 s, 940 MB) and optrun then refused the run's own config.yaml as over
    1 MB. A start travels as (seed, label, k): every file stays small, and a
    run's config.yaml loads back and redoes the run (the same trace)."""
    (workdir / "s.yaml").write_text(
        f"name: big\nproblems: [{{name: trid, dim: {BIG_DIM}}}]\noptimizers: [gd]\nstarts: 2\nbudget: {{max_iter: 1}}\n"
    )
    result = bench("s.yaml", "--workers", "1")
    assert result.exit_code == 0, result.output
    bench_dir = only_bench_dir(workdir, "big")
    runs = bench_dir / "runs"
    sizes = {
        name: (runs / name).stat().st_size
        for name in ("sweep.json", "sweep.csv", "run-0001/config.yaml", "run-0002/config.yaml")
    }
    assert all(size < 4000 for size in sizes.values()), sizes
    assert (runs / "sweep.png").stat().st_size < 300_000
    assert (bench_dir / "bench.json").stat().st_size < 4000 and (bench_dir / "bench.csv").stat().st_size < 4000
    config_text = (runs / "run-0002" / "config.yaml").read_text()
    assert "init: {kind: perturbed, seed: 0, label: trid(dim=60000), k: 1}" in config_text
    rows = rows_of(bench_dir)
    assert [(r["dimension"], r["start"], r["run_dir"]) for r in rows] == [
        (str(BIG_DIM), "0", "runs/run-0001"),
        (str(BIG_DIM), "1", "runs/run-0002"),
    ]
    # the run's own config.yaml redoes it alone, from the same start
    redo = runner.invoke(app, ["run", str(runs / "run-0002" / "config.yaml")], env={"COLUMNS": "200"})
    assert redo.exit_code == 0, redo.output
    [again] = [p for p in (workdir / "outputs" / "big").iterdir() if not p.name.startswith("bench-")]

    def trace(run_dir):
        table = read_run(run_dir).trace
        return {key: np.asarray(table[key]) for key in ("iter", "f", "grad_norm", "nfev", "gap")}

    first, second = trace(runs / "run-0002"), trace(again)
    assert all(np.array_equal(first[key], second[key]) for key in first), (first, second)
    assert first["f"][0] != trace(runs / "run-0001")["f"][0]  # start 1 is not start 0


@pytest.mark.slow
# --------------------------------------------------------------- end to end
def test_small_bench_writes_runs_csv_table_and_plots_and_resumes(workdir):
    (workdir / "s.yaml").write_text(SMALL)
    result = bench("s.yaml", "--workers", "1")
    assert result.exit_code == 0, result.output
    bench_dir = only_bench_dir(workdir)
    assert "solved 0.0001" in result.stdout and "8 of 8 runs done" in result.stdout
    for name in (
        "bench.json",
        "bench.csv",
        "perf_evals.png",
        "perf_time.png",
        "data_profiles.png",
        "ecdf.png",
        "runs/sweep.json",
    ):
        assert (bench_dir / name).is_file(), name
    rows = rows_of(bench_dir)
    assert list(rows[0])[:11] == [
        "problem",
        "dimension",
        "optimizer",
        "start",
        "status",
        "f",
        "gap",
        "nit",
        "nfev",
        "njev",
        "time",
    ]
    assert [(r["problem"], r["optimizer"], r["start"]) for r in rows[:4]] == [
        ("beale", "lbfgs", "0"),
        ("beale", "lbfgs", "1"),
        ("beale", "gd(step_size=0.01)", "0"),
        ("beale", "gd(step_size=0.01)", "1"),
    ]
    assert {r["problem"] for r in rows} == {"beale", "trid(dim=3)"}
    # evaluations-to-target are read from each run's trace: f* + tau max(1, |f*|) first reached there
    for r in rows:
        run = read_run(bench_dir / r["run_dir"])
        f_star = run.summary.reference.fun
        for tau in ("0.1", "0.0001"):
            level = f_star + float(tau) * max(1.0, abs(f_star))
            hit = np.flatnonzero(run.trace["f"] <= level)
            expected = str(int(run.trace["nfev"][hit[0]])) if hit.size else ""
            assert r[f"nfev_to_{tau}"] == expected
            assert (r[f"time_to_{tau}"] == "") == (expected == "")
    assert any(r["nfev_to_0.0001"] == "" for r in rows) and any(r["nfev_to_0.0001"] != "" for r in rows)
    # show and compare read the bench directory
    shown = runner.invoke(app, ["show", str(bench_dir)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "solved 0.1" in shown.stdout and "8 of 8 runs" in shown.stdout
    compared = runner.invoke(app, ["compare", str(bench_dir), "--out", str(workdir / "c.png")], env={"COLUMNS": "200"})
    assert compared.exit_code == 0, compared.output
    assert len(list(csv.DictReader(open(workdir / "c.csv")))) == 8 and "solved 0.1" in compared.stdout
    # a partial bench (killed: one run without summary, one never started) is finished by --resume
    kept = {p.parent.name: p.stat().st_mtime_ns for p in bench_dir.glob("runs/run-*/trace.csv")}
    (bench_dir / "runs" / "run-0003" / "summary.json").unlink()
    shutil.rmtree(bench_dir / "runs" / "run-0008")
    (bench_dir / "bench.csv").unlink()
    result = bench("--resume", bench_dir, "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "8 of 8 runs done (6 kept from before)" in result.stdout
    assert rows_of(bench_dir) == rows_of(bench_dir) and len(rows_of(bench_dir)) == 8
    for name in ("run-0001", "run-0002", "run-0004"):
        assert (bench_dir / "runs" / name / "trace.csv").stat().st_mtime_ns == kept[name]
    assert [r["nfev_to_0.1"] for r in rows_of(bench_dir)] == [r["nfev_to_0.1"] for r in rows]


@pytest.mark.slow
def test_problems_without_a_known_minimum_use_the_relative_reduction(workdir):
    # expression problems have no f*: a target is f <= f_L + tau (f0 - f_L), f_L the best any run of that start found
    (workdir / "s.yaml").write_text(
        "name: rel\nproblems: [{name: expression, expr: '(x - 1)**2 + 3', params: {x: 5.0}}]\n"
        "optimizers: [lbfgs, {name: gd, step_size: 1.0e-3}]\nbudget: {max_iter: 50}\ntargets: [0.5, 1.0e-3]\n"
    )
    result = bench("s.yaml", "--workers", "1")
    assert result.exit_code == 0, result.output
    rows = rows_of(only_bench_dir(workdir, "rel"))
    lbfgs, gd = rows
    assert lbfgs["gap"] == "" and lbfgs["nfev_to_0.001"] != ""
    assert gd["nfev_to_0.001"] == ""  # 50 small steps from f0 do not get within 0.1% of lbfgs's reduction
    run = read_run(only_bench_dir(workdir, "rel") / gd["run_dir"])
    f0, f_low = run.trace["f"][0], float(lbfgs["f"])
    hit = np.flatnonzero(run.trace["f"] <= f_low + 0.5 * (f0 - f_low))
    assert gd["nfev_to_0.5"] == (str(int(run.trace["nfev"][hit[0]])) if hit.size else "")


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_resume_completes(workdir):
    (workdir / "s.yaml").write_text(
        "name: cc\nproblems: [{name: trid, dim: 200}]\noptimizers: [{name: gd, step_size: 1.0e-9}]\n"
        "starts: 5\nbudget: {max_iter: 100000000, grad_tol: null, time_limit: 0.5}\ntargets: [0.1]\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "optrun", "bench", "s.yaml", "--workers", "1"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    finished = []
    while time.time() < deadline and len(finished) < 2:
        finished = sorted(workdir.glob("outputs/cc/bench-*/runs/run-*/summary.json"))
        time.sleep(0.005)
    assert len(finished) >= 2, "the bench never finished two runs"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "optrun bench --resume" in stderr
    bench_dir = only_bench_dir(workdir, "cc")
    assert 2 <= len(rows_of(bench_dir)) < 5
    result = bench("--resume", bench_dir, "--workers", "1")
    assert result.exit_code == 0, result.output
    assert len(rows_of(bench_dir)) == 5 and all(r["status"] == "time_limit" for r in rows_of(bench_dir))
    assert json.loads((bench_dir / "bench.json").read_text())["suite"]["starts"] == 5


def test_the_shipped_mgh_bench_is_valid_and_check_skips_it(workdir):
    """configs/bench-mgh.yaml: the issue's ten optimizers on the 24 MGH problems
    from 5 starts (1200 runs; README has its headline), and `optrun check
    configs/` reports it as a skipped bench suite instead of a broken config."""
    from pathlib import Path

    from optrun.config.bench import is_bench_suite, load_suite
    from optrun.engine.bench import make_bench_plan
    from optrun.engine.checks import BENCH_SUITE, check_one

    path = Path(__file__).resolve().parents[1] / "configs" / "bench-mgh.yaml"
    assert is_bench_suite(path)
    suite = load_suite(path)
    assert len(suite.problems) == 24 and len(suite.optimizers) == 10 and suite.config.starts == 5
    _, meta = make_bench_plan(suite)  # every (problem, optimizer) pair validates
    assert len(meta) == 1200
    result = check_one(str(path))
    assert result.outcome == "skip" and result.error == BENCH_SUITE


def test_sweep_plot_labels_are_bounded():
    from optrun.plots.sweep import LABEL_LIMIT, shown_label

    rule = "{k: 1, kind: perturbed, label: trid(dim=60000), seed: 0}"
    assert shown_label(rule) == rule
    vector = "{kind: values, values: {x: [" + ", ".join(str(i / 7) for i in range(60_000)) + "]}}"
    shown = shown_label(vector)
    assert len(shown) == LABEL_LIMIT and shown.startswith("{kind: values, values: {x: [0.0, ") and shown.endswith("]}}")


# ------------------------------------------------ evaluations budget, --set, --plots (issue 29)
def run_configs(plan):
    """Every run's config as the sweep builds it (the plan's config, then its overrides for the run)."""
    from optrun.config import load_config

    return [load_config(plan.config, plan.run_overrides(values)) for values in plan.runs]


def test_the_budget_in_evaluations_is_every_runs_max_fev(workdir):
    (workdir / "s.yaml").write_text(SMALL.replace("budget: {max_iter: 150}", "budget: {max_iter: 150, max_fev: 40}"))
    plan, _ = make_bench_plan(load_suite(workdir / "s.yaml"))
    assert {(c.stop.max_iter, c.stop.max_fev) for c in run_configs(plan)} == {(150, 40)}
    (workdir / "t.yaml").write_text(SMALL)
    plan, _ = make_bench_plan(load_suite(workdir / "t.yaml"))
    assert {c.stop.max_fev for c in run_configs(plan)} == {None}  # no budget in evaluations: no limit


@pytest.mark.parametrize("value", ["0", "1.5", "lots"])
def test_a_bad_budget_in_evaluations_is_one_line(workdir, value):
    from optrun.core.errors import ConfigError

    (workdir / "s.yaml").write_text(SMALL.replace("budget: {max_iter: 150}", f"budget: {{max_fev: {value}}}"))
    with pytest.raises(ConfigError, match=r"budget\.max_fev"):
        load_suite(workdir / "s.yaml")


def test_overrides_and_plots_reach_every_run(workdir):
    """--set applies to every run as sweep --set applies it (the plan's
    overrides), after the budget; plots draws each run's plots."""
    (workdir / "s.yaml").write_text(SMALL)
    suite = load_suite(workdir / "s.yaml")
    plan, _ = make_bench_plan(suite, overrides=["stop.f_tol=1e-9", "stop.max_iter=7"], plots=True)
    configs = run_configs(plan)
    assert len(configs) == 8 and plan.overrides == ("stop.f_tol=1e-9", "stop.max_iter=7") and plan.plots
    assert {(c.stop.f_tol, c.stop.max_iter, c.output.plots) for c in configs} == {(1e-9, 7, True)}
    assert {c.optimizer.name for c in configs} == {"lbfgs", "gd"}  # each run keeps its own optimizer
    plan, _ = make_bench_plan(suite)
    assert {c.output.plots for c in run_configs(plan)} == {False}


@pytest.mark.parametrize(
    "override, message",
    [
        ("stop.bogus=1", "--set (problem beale, optimizer lbfgs): stop.bogus: unknown key"),
        ("stop.max_fev=0", "--set (problem beale, optimizer lbfgs): stop.max_fev: "),
        ("stop.max_iter", "--set: override 'stop.max_iter' must look like dotted.key=value"),
        ("optimizer.step_size=0.1", "--set: cannot set 'optimizer.step_size' for a bench"),
        ("problem.dim=5", "--set: cannot set 'problem.dim' for a bench"),
        ("seed=3", "--set: cannot set 'seed' for a bench"),
        ("output.plots=true", "--set: cannot set 'output.plots' for a bench: use --plots"),
    ],
)
def test_a_bad_override_is_one_line_before_anything_is_written(workdir, override, message):
    from optrun.core.errors import ConfigError

    (workdir / "s.yaml").write_text(SMALL)
    with pytest.raises(ConfigError) as caught:
        make_bench_plan(load_suite(workdir / "s.yaml"), overrides=[override])
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    assert not (workdir / "outputs").exists()


@pytest.mark.slow
def test_a_bench_budgeted_in_evaluations_records_max_fev(workdir):
    """A bench whose budget is 30 evaluations: gd with a small step and
    Nelder-Mead spend it (status max_fev, nfev as each counts: gd 30, Nelder-Mead
    at least 30, ending, as SciPy's maxfev does, at the iteration that reached
    it); bench.json keeps the plan's --set."""
    from optrun.engine.bench import RUNS, start_bench

    (workdir / "s.yaml").write_text(
        "name: fev\nproblems: [beale]\noptimizers: [{name: gd, step_size: 1.0e-4}, nelder-mead]\n"
        "budget: {max_iter: 100000, max_fev: 30}\ntargets: [0.1]\n"
    )
    suite = load_suite(workdir / "s.yaml")
    plan, meta = make_bench_plan(suite, overrides=["stop.divergence=1e50"])
    bench_dir = start_bench(suite, plan, meta)
    assert json.loads((bench_dir / "bench.json").read_text())["overrides"] == ["stop.divergence=1e50"]
    result = bench("--resume", bench_dir, "--workers", "1")
    assert result.exit_code == 0, result.output
    gd, nelder_mead = rows_of(bench_dir)
    assert (gd["status"], gd["nfev"], gd["nit"]) == ("max_fev", "30", "29")
    assert nelder_mead["status"] == "max_fev" and int(nelder_mead["nfev"]) >= 30
    assert read_run(bench_dir / RUNS / "run-0001").config["stop"]["divergence"] == 1e50


@pytest.mark.parametrize(
    "override", ["stop.bogus=1", "optimizer.step_size=0.1", "stop.max_fev=0", "output.log_every=10"]
)
def test_a_bad_set_on_the_command_line_exits_2_with_nothing_written(workdir, override):
    (workdir / "s.yaml").write_text(SMALL)
    result = bench("s.yaml", "--set", override)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "--set" in result.stderr
    assert not (workdir / "outputs").exists()


@pytest.mark.slow
def test_set_and_plots_on_the_command_line_reach_the_runs(workdir):
    (workdir / "s.yaml").write_text(
        "name: flags\nproblems: [beale]\noptimizers: [{name: gd, step_size: 1.0e-3}]\ntargets: [0.1]\n"
    )
    result = bench("s.yaml", "--set", "stop.max_fev=20", "--plots", "--workers", "1")
    assert result.exit_code == 0, result.output
    bench_dir = only_bench_dir(workdir, "flags")
    [row] = rows_of(bench_dir)
    assert (row["status"], row["nfev"]) == ("max_fev", "20")
    assert (bench_dir / row["run_dir"] / "loss.png").is_file()


def test_a_bench_with_parquet_traces_gives_the_csv_bench_table(workdir):
    """bench.csv is computed from the traces (targets reached, evaluations and
    seconds): a suite recorded in trace.parquet gives the same rows, times aside."""
    (workdir / "s.yaml").write_text(SMALL.replace("starts: 2", "starts: 1"))
    tables = {}
    for fmt, other in (("csv", "parquet"), ("parquet", "csv")):
        result = bench("s.yaml", "--workers", "1", "--set", f"output.trace_format={fmt}")
        assert result.exit_code == 0, result.output
        bench_dir = only_bench_dir(workdir)
        assert len(list(bench_dir.rglob(f"trace.{fmt}"))) == 4 and not list(bench_dir.rglob(f"trace.{other}"))
        tables[fmt] = [{k: v for k, v in row.items() if "time" not in k} for row in rows_of(bench_dir)]
        shutil.rmtree(workdir / "outputs")
    assert tables["csv"] == tables["parquet"] and len(tables["csv"]) == 4
