"""Every command alike, round three (issue 29): the flags each command gained
(grad --quiet/--plots, --json on check/sweep/bench, --quiet on show/compare/
plot/report, report --problems, compare -o), result tables that fit the piped
width, paths shortened, swept values written one way, and the small texts."""

import csv
import json
import re

import pytest
from helpers import run_cli
from typer.testing import CliRunner

from optrun.cli import app

runner = CliRunner()

OK = "problem: {name: trid, dim: 2}\noptimizer: {name: gd, step_size: 0.1}\nstop: {max_iter: 300}\n"
EXPECT = "expect: {fun: known, atol: 1.0e-6}\n"


def invoke(*args, columns="100"):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": columns})


def run_dirs(workdir, name="cfg"):
    return sorted(p for p in (workdir / "outputs" / name).iterdir() if p.is_dir())


# ---------------------------------------------------------------- grad
@pytest.mark.slow
def test_grad_quiet_prints_nothing_and_no_plots_draws_none(write_config, workdir):
    path = write_config(OK)
    result = invoke("grad", path, "--quiet", "--no-plots")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    [run] = (workdir / "outputs" / "cfg").iterdir()
    assert (run / "grad.json").is_file() and not list(run.glob("*.png"))
    invoke("grad", path, "-q", "--plots", "-s", "output.plots=false")  # --plots wins over the config
    drawn = [p for p in (workdir / "outputs" / "cfg").iterdir() if p != run]
    assert len(drawn) == 1 and list(drawn[0].glob("*.png"))


# ---------------------------------------------------------------- --json
def test_check_json_has_totals_and_every_compared_field(write_config, workdir):
    write_config(OK + EXPECT, "good.yaml")
    write_config(OK + "expect: {fun: 5.0, atol: 1.0e-6}\n", "bad.yaml")
    result = invoke("check", workdir, "--json", "-w", "1")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["totals"]["configs"] == 2 and data["totals"]["pass"] == 1 and data["totals"]["fail"] == 1
    by_name = {entry["config"].rsplit("/", 1)[-1]: entry for entry in data["configs"]}
    bad = by_name["bad.yaml"]
    assert bad["result"] == "fail" and bad["status"] == "converged"
    [fun] = [c for c in bad["checks"] if c["field"] == "fun"]
    assert fun["expected"] == 5.0 and fun["ok"] is False and abs(fun["got"] - bad["fun"]) == 0
    assert by_name["good.yaml"]["result"] == "pass"


def test_check_json_is_refused_with_calibrate(write_config):
    path = write_config(OK + EXPECT)
    result = run_cli("check", path, "--json", "--calibrate", cwd=path.parent)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and "--json" in result.stderr


@pytest.mark.slow
def test_sweep_json_has_every_setting_and_run(write_config, workdir):
    path = write_config(OK)
    result = invoke("sweep", path, "--grid", "optimizer.step_size=0.1,1e-7", "--seeds", "2", "-w", "1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["keys"] == ["optimizer.step_size", "seed"] and data["planned"] == 4 and len(data["runs"]) == 4
    settings = {s["point"]["optimizer.step_size"]: s for s in data["settings"]}
    assert set(settings) == {0.1, 1e-7} and settings[0.1]["best"] and not settings[1e-7]["best"]  # typed, as swept
    finals = [r["gap"] for r in data["runs"] if r["optimizer.step_size"] == 1e-7]
    assert settings[1e-7]["mean"] == pytest.approx(sum(finals) / 2, rel=1e-12)
    shown = json.loads(invoke("show", data["sweep_dir"], "--json").stdout)
    assert shown["settings"] == data["settings"]


# ---------------------------------------------------------------- --quiet
@pytest.mark.slow
def test_show_compare_plot_report_quiet_print_nothing_but_do_their_work(write_config, workdir):
    path = write_config(OK)
    invoke("run", path, "-q")
    invoke("run", path, "-q", "-s", "optimizer.step_size=0.05")
    first, second = run_dirs(workdir)
    for args in (
        ("show", first, "-q"),
        ("plot", first, "-q"),
        ("compare", first, second, "-q", "-o", "both.svg"),
        ("report", first, "-q", "-o", "page.html"),
    ):
        result = invoke(*args)
        assert result.exit_code == 0 and result.stdout == "", (args, result.output)
    assert (workdir / "both.svg").is_file() and (workdir / "both.csv").is_file()
    assert (workdir / "page.html").is_file()
    assert invoke("show", workdir / "nowhere", "-q").exit_code != 0  # quiet, but the status still says it


@pytest.mark.slow
def test_report_and_show_describe_a_user_problem_given_with_problems(write_config, workdir):
    folder = workdir / "mine"
    folder.mkdir()
    (folder / "bowl.py").write_text(
        "import autograd.numpy as anp\n"
        "from optrun import Options, Problem, register_problem\n"
        "class BowlOptions(Options):\n"
        "    pass\n"
        "@register_problem('bowl', description='a round bowl for the report', formula='f(x) = sum(x^2)',\n"
        "                  parameters='x (2,)', options=BowlOptions)\n"
        "def bowl(options):\n"
        "    return Problem(objective=lambda p: anp.sum(p['x'] ** 2), start={'x': anp.array([1.0, 2.0])})\n"
    )
    path = write_config("problem: bowl\noptimizer: {name: gd, step_size: 0.1}\nstop: {max_iter: 5}\n")
    assert invoke("run", path, "-q", "--problems", folder).exit_code == 0
    [run] = run_dirs(workdir)
    assert invoke("report", run, "-q", "--problems", folder).exit_code == 0
    assert "a round bowl for the report" in (workdir / "report.html").read_text()
    shown = run_cli("show", run, "--problems", folder, cwd=workdir)  # (a fresh process: a fresh registry)
    assert "a round bowl for the report" in " ".join(shown.stdout.split())
    (workdir / "empty").mkdir()
    shown = run_cli("show", run, "--problems", workdir / "empty", cwd=workdir)
    assert "not registered here" in " ".join(shown.stdout.split())


# ---------------------------------------------------------------- widths
TOTALS = re.compile(r"\d+ (passed|of \d+ runs)")  # check's and sweep's last line: never folded, so grep finds it
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def numbers(text: str) -> list[str]:
    """Every number in ``text`` with its line breaks and borders taken out."""
    return NUMBER.findall(text)


@pytest.mark.slow
@pytest.mark.parametrize("columns", [None, "60"])
def test_result_tables_fit_the_piped_width_and_keep_numbers_whole(write_config, workdir, columns):
    path = write_config(OK + EXPECT)
    width = int(columns or 80)
    env = {"COLUMNS": columns}
    outputs = {}
    for args in (
        ("run", path, "--no-plots"),
        ("check", path, "-w", "1"),
        ("sweep", path, "--grid", "optimizer.step_size=0.1,0.05", "--seeds", "2", "-w", "1"),
    ):
        result = run_cli(*args, cwd=workdir, env_extra=env)
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stdout.splitlines() if not TOTALS.match(line)]  # one line each: grep
        assert lines and max(map(len, lines)) <= width, (args, result.stdout)
        outputs[args[0]] = result.stdout
    runs = [str(p) for p in run_dirs(workdir)]
    result = run_cli("compare", *runs, "--json", cwd=workdir)
    rows = json.loads(result.stdout)
    result = run_cli("compare", *runs, cwd=workdir, env_extra=env)
    assert max(map(len, result.stdout.splitlines())) <= width, result.stdout
    for row in rows:  # every f as the table writes it (10 digits), whole on one line
        assert f"{row['f']:.10g}" in result.stdout, (row["f"], result.stdout)
    assert "-2" in numbers(outputs["check"])  # trid 2's f* = -2, whole


@pytest.mark.slow
def test_check_from_another_folder_shows_the_configs_below_their_folder(write_config, workdir, tmp_path_factory):
    write_config(OK + EXPECT, "first-config-with-a-long-name.yaml")
    write_config(OK + EXPECT, "second-config-with-a-long-name.yaml")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = run_cli("check", workdir, "-w", "1", cwd=elsewhere, env_extra={"COLUMNS": None})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for name in ("first-config-with-a-long-name.yaml", "second-config-with-a-long-name.yaml"):
        for part in re.split(r"(?<=[-/_])", name):  # a name may break after - / _, never inside a part
            assert part in text, (part, text)
    assert max(len(line) for line in text.splitlines() if not TOTALS.match(line)) <= 80


# ---------------------------------------------------------------- sweep texts
@pytest.mark.slow
def test_a_swept_value_reads_the_same_in_the_table_and_sweep_csv(write_config, workdir):
    path = write_config(OK)
    result = run_cli("sweep", path, "--grid", "optimizer.step_size=0.1,1e-07", "-w", "1", cwd=workdir)
    assert result.returncode == 0, result.stderr
    [sweep_dir] = (workdir / "outputs" / "cfg").glob("sweep-*")
    with open(sweep_dir / "sweep.csv", newline="") as handle:
        written = [row["optimizer.step_size"] for row in csv.DictReader(handle)]
    assert written == ["0.1", "1e-7"]
    assert re.search(r"\s1e-7\s", result.stdout) and "1.0e-07" not in result.stdout and "1e-07" not in result.stdout


@pytest.mark.slow
def test_a_seeds_only_sweep_names_no_best_setting(write_config, workdir):
    path = write_config(OK.replace("optimizer:", "init: {kind: normal, scale: 1}\noptimizer:"))
    result = run_cli("sweep", path, "--seeds", "3", "-w", "1", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "best:" not in result.stdout and "the one setting" not in result.stdout
    assert "3 of 3 runs done" in " ".join(result.stdout.split())


HIDE_JAX = """
import importlib.machinery

_find = importlib.machinery.PathFinder.find_spec


def _hidden(name, path=None, target=None):
    return None if name == "jax" or name.startswith("jax.") else _find(name, path, target)


importlib.machinery.PathFinder.find_spec = _hidden
"""


@pytest.mark.slow
def test_vectorize_without_jax_names_no_empty_run(write_config, workdir):
    """jax cannot be found (a sitecustomize hides it from the import system,
    as on a machine without it): the one-line error has no '(run with )'."""
    hidden = workdir / "nojax"
    hidden.mkdir()
    (hidden / "sitecustomize.py").write_text(HIDE_JAX)
    path = write_config(OK + "backend: jax\n")
    result = run_cli("sweep", path, "--seeds", "2", "--vectorize", cwd=workdir, env_extra={"PYTHONPATH": str(hidden)})
    assert result.returncode == 2, (result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert "jax" in line and "run with" not in line


@pytest.mark.slow
def test_a_backend_whose_library_fails_to_import_is_one_line(write_config, workdir):
    broken = workdir / "broken"
    (broken / "jax").mkdir(parents=True)
    (broken / "jax" / "__init__.py").write_text("raise ImportError('a broken jax install')\n")
    path = write_config(OK + "backend: jax\n")
    result = run_cli("run", path, cwd=workdir, env_extra={"PYTHONPATH": str(broken)})
    assert result.returncode == 2, (result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "backend" in line and "a broken jax install" in line
    assert not (workdir / "outputs").exists()


def test_comparison_to_pandas_keeps_number_columns_numeric_without_a_known_minimum(workdir):
    import autograd.numpy as anp

    import optrun

    def bowl(p):
        return anp.sum((p["x"] - 1.0) ** 2)

    runs = [
        optrun.minimize(bowl, {"x": anp.zeros(2)}, "gd", step_size=s, stop={"max_iter": 20}, output={"plots": False})
        for s in (0.1, 0.2)
    ]
    frame = optrun.compare(runs).to_pandas()
    assert frame["gap"].isna().all()  # a Python function has no known minimum
    assert {str(frame[c].dtype) for c in ("f", "gap", "wall_time_s")} == {"float64"}
    assert {str(frame[c].dtype) for c in ("run", "nit", "nfev")} == {"int64"}
    assert frame["f"].tolist() == [r.summary.fun for r in runs]


@pytest.mark.slow
def test_a_config_is_never_offered_the_python_only_problem(write_config, workdir):
    path = write_config(OK)
    result = run_cli("run", path, "--set", "problem={name: rosenbrok}", cwd=workdir)
    [line] = result.stderr.splitlines()
    assert result.returncode == 2 and "known: " in line and "rosenbrock" in line
    assert "python" not in line.split("known: ")[1].split(")")[0].split(", ")
    result = run_cli("run", path, "--set", "problem=python", cwd=workdir)
    [line] = result.stderr.splitlines()
    assert result.returncode == 2 and "usable from Python only" in line and "required" not in line
    assert not (workdir / "outputs").exists()


@pytest.mark.parametrize(
    "override, shown",
    [("stop.max_fev=true", "got true"), ("stop.max_iter=null", "got null"), ("seed=None", "got 'None'")],
)
def test_a_config_error_quotes_the_value_as_yaml(write_config, workdir, override, shown):
    result = invoke("run", write_config(OK), "--set", override)
    assert result.exit_code == 2 and shown in result.output


@pytest.mark.slow
def test_usage_errors_name_the_command_and_an_unknown_command_lists_them(tmp_path):
    result = run_cli("sweep", "c.yaml", "--grid", cwd=tmp_path)
    [line] = result.stderr.splitlines()
    assert result.returncode == 2 and line.startswith("error: python -m optrun sweep: ") and "--grid" in line
    result = run_cli("bogus-cmd", cwd=tmp_path)
    [line] = result.stderr.splitlines()
    assert result.returncode == 2 and "'bogus-cmd'" in line
    assert all(command in line for command in ("run", "sweep", "check", "bench", "describe", "report"))


@pytest.mark.slow
def test_bench_set_of_the_suite_budget_is_refused_with_the_stop_key_to_use(workdir):
    (workdir / "s.yaml").write_text("name: tiny\nproblems: [rosenbrock]\noptimizers: [gd]\n")
    result = run_cli("bench", "s.yaml", "--set", "budget.max_fev=5", cwd=workdir)
    [line] = result.stderr.splitlines()
    assert result.returncode == 2 and "budget.max_fev" in line and "stop.max_fev" in line
    assert not (workdir / "outputs").exists()


@pytest.mark.slow
def test_sweep_ties_within_rounding_and_null_values(write_config, workdir):
    """Two settings whose gaps are both 0 or within rounding tie (no winner by
    rounding noise); a swept null reads null in the table and sweep.csv."""
    path = write_config(OK)
    result = run_cli(
        "sweep", path, "--grid", "stop.max_fev=null,1000", "-w", "1", cwd=workdir, env_extra={"COLUMNS": "200"}
    )
    assert result.returncode == 0, result.stderr
    assert "best: tied: stop.max_fev=null; stop.max_fev=1000" in result.stdout
    [sweep_dir] = (workdir / "outputs" / "cfg").glob("sweep-*")
    with open(sweep_dir / "sweep.csv", newline="") as handle:
        assert [row["stop.max_fev"] for row in csv.DictReader(handle)] == ["null", "1000"]


def test_show_piped_prints_the_config_file_as_it_is(write_config, workdir):
    long_line = (
        "problem: {name: trid, dim: 2}\noptimizer: {name: adam, step_size: 0.1, b1: 0.9, b2: 0.999, eps: 1.0e-8}\n"
    )
    invoke("run", write_config(long_line + "stop: {max_iter: 5}\n"), "-q", "--no-plots")
    [run] = run_dirs(workdir)
    shown = run_cli("show", run, cwd=workdir, env_extra={"COLUMNS": None}).stdout
    for line in (run / "config.yaml").read_text().splitlines():
        assert line in shown.splitlines(), line
