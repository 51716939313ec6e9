"""Issue 28 (5, 6, 8, 10): received bench and sweep folders read by one bounded
reader (a FIFO or /dev/zero is refused before it blocks or grows; size,
depth, finite numbers, what optrun wrote), diverged runs on a log axis,
starts given from Python, and a 1200-deep folder tree."""

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import optrun
from optrun.core.errors import ConfigError
from optrun.engine.bench import load_bench, read_bench_csv
from optrun.engine.sweep_dir import load_plan

SUITE = """\
name: tiny
problems: [booth]
optimizers: [gd, adam]
starts: 1
budget: {max_iter: 20}
targets: [0.1, 0.001]
"""


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    """A real bench folder (bench.json, bench.csv, runs/sweep.json), made once."""
    from helpers import run_cli

    root = tmp_path_factory.mktemp("bench")
    (root / "suite.yaml").write_text(SUITE)
    done = run_cli("bench", "suite.yaml", "--quiet", cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr
    [found] = (root / "outputs" / "tiny").iterdir()
    return found


@pytest.fixture
def copy(bench_dir, tmp_path):
    target = tmp_path / "b"
    shutil.copytree(bench_dir, target)
    return target


def _error(call, *args):
    with pytest.raises(ConfigError) as caught:
        call(*args)
    return str(caught.value)


def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda d: d["runs"][0].update(problem=["a"]), "'problem' and 'optimizer' should be names"),
        (lambda d: d["runs"][0].update(optimizer={"a": 1}), "'problem' and 'optimizer' should be names"),
        (lambda d: d["runs"][0].update(start="0"), "'start' and 'dimension' should be whole numbers"),
        (lambda d: d.update(targets=[-1, 5]), "'targets' should be"),
        (lambda d: d.update(targets=[True]), "'targets' should be"),
        (lambda d: d.update(runs=[]), "'runs' should be a list of 1 to"),
    ],
)
@pytest.mark.slow
def test_a_tampered_bench_json_is_one_line(copy, change, words):
    _edit_json(copy / "bench.json", change)
    message = _error(load_bench, copy)
    assert "bench.json is not an optrun bench file" in message and words in message


@pytest.mark.parametrize(
    "text, words",
    [
        ('{"targets": [NaN]}', "NaN is not a finite number"),
        ('{"targets": [Infinity]}', "Infinity is not a finite number"),
        ('{"targets": [1e999]}', "1e999 is not a finite number"),
        ("[" * 100_000 + "]" * 100_000, "nested 100000 levels deep"),
        ("{" * 100_000, "nested 100000 levels deep"),
    ],
)
def test_bench_and_sweep_json_are_read_bounded(copy, text, words):
    (copy / "bench.json").write_text(text)
    assert words in _error(load_bench, copy)
    (copy / "runs" / "sweep.json").write_text(text)
    message = _error(load_plan, copy / "runs")
    assert message.startswith(str(copy / "runs")) and "sweep.json" in message and words in message


@pytest.mark.parametrize(
    "cell, column, words",
    [
        ("inf", "nfev", "not a whole number >= 0"),
        ("nan", "nit", "not a whole number >= 0"),
        ("9" * 400, "nfev", "not a whole number >= 0"),
        ("inf", "time", "not a finite number"),
        ("1.5", "start", "not a whole number >= 0"),
    ],
)
def test_a_tampered_bench_csv_cell_is_one_line(copy, cell, column, words):
    path = copy / "bench.csv"
    rows = list(csv.DictReader(path.open()))
    rows[0][column] = cell
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    message = _error(read_bench_csv, path)
    assert f"line 2, column '{column}'" in message and words in message


def test_bench_csv_with_extra_cells_and_a_diverged_f_of_inf(copy):
    path = copy / "bench.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("f")] = "inf"  # what the csv module writes for a diverged run's f: read, not refused
    path.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    assert read_bench_csv(path)[0]["f"] == float("inf")
    path.write_text("\n".join([lines[0], lines[1] + ",x,y", *lines[2:]]) + "\n")
    assert "line 2 has" in _error(read_bench_csv, path)


SPECIAL = [
    pytest.param(lambda p: os.mkfifo(p), id="fifo"),
    pytest.param(lambda p: os.symlink("/dev/zero", p), id="dev-zero"),
]


@pytest.mark.slow
@pytest.mark.parametrize("make", SPECIAL)
@pytest.mark.parametrize("name", ["bench.json", "bench.csv", "runs/sweep.json"])
def test_a_fifo_or_dev_zero_in_place_of_a_file_is_refused_without_blocking(copy, make, name):
    """In a subprocess with a timeout: before the fix a FIFO blocked forever and /dev/zero grew without bound."""
    target = copy / name
    target.unlink()
    make(target)
    code = (
        "import sys; from pathlib import Path\n"
        "from optrun.core.errors import ConfigError\n"
        "from optrun.engine.bench import load_bench, read_bench_csv\n"
        "from optrun.engine.sweep_dir import load_plan\n"
        f"b = Path({str(copy)!r})\n"
        "call = {'bench.json': lambda: load_bench(b), 'bench.csv': lambda: read_bench_csv(b / 'bench.csv'),"
        " 'runs/sweep.json': lambda: load_plan(b / 'runs')}[sys.argv[1]]\n"
        "try:\n    call()\nexcept ConfigError as exc:\n    print(exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run(
        [sys.executable, "-c", code, name], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "not a regular file" in done.stdout and name.split("/")[-1] in done.stdout


def test_resume_refuses_a_plan_past_the_run_limit(copy):
    path = copy / "runs" / "sweep.json"
    _edit_json(path, lambda d: d.update(runs=d["runs"] * 5001))
    assert "a sweep has at most 10000" in _error(load_plan, copy / "runs")


@pytest.mark.slow
def test_a_diverged_run_near_1e277_is_compared_and_reported(workdir):
    """gd on Rosenbrock with this step jumps from f 4e92 to 2.3e277 in one step: matplotlib's log ticker put a
    tick at 10^321 = inf and raised OverflowError; now the plot and the report are drawn."""
    from typer.testing import CliRunner

    from optrun.cli import app

    boom = optrun.run(
        {
            "name": "boom",
            "problem": "rosenbrock",
            "optimizer": {"name": "gd", "step_size": 0.019230769230769232},
            "stop": {"max_iter": 200},
            "output": {"plots": False},
        }
    )
    assert boom.status == "diverged" and boom.fun > 1e250
    comparison = optrun.compare([boom])
    comparison.figure.savefig(workdir / "x.png")
    [ax] = comparison.figure.axes
    assert "drawn at 1e+200" in ax.get_title()
    ticks = ax.yaxis.get_major_locator()()
    assert np.isfinite(ticks).all()
    runner = CliRunner()
    result = runner.invoke(app, ["compare", str(boom.run_dir), "--out", "c.png"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["report", str(boom.run_dir), "-o", "r.html"])
    assert result.exit_code == 0, result.output


def test_the_log_axis_survives_huge_inf_and_nan_values(workdir):
    from optrun.plots.figures import log_clip, log_safe_gap, log_scale, png_bytes, subplots

    values = np.array([1.0, 1e150, 2.3e277, np.inf, np.nan, 1e-320])
    fig, ax = subplots(figsize=(4, 3))
    ax.plot(np.arange(values.size), log_safe_gap(values)[0])
    log_scale(ax)
    assert png_bytes(fig)[:4] == b"\x89PNG"
    clipped, moved = log_clip(values)
    assert moved and np.nanmax(clipped) == 1e200 and np.isnan(clipped[4])


@pytest.mark.slow
def test_a_1200_deep_tree_is_searched_for_configs_and_runs(tmp_path):
    from optrun.commands.report import find_runs
    from optrun.engine.checks import find_configs

    folder = tmp_path
    for _ in range(1200):  # (os.makedirs itself recurses)
        folder = folder / "d"
        folder.mkdir()
    (folder / "c.yaml").write_text("problem: booth\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "h.yaml").write_text("problem: booth\n")
    run = folder / "run"  # and a run directory at the bottom, for optrun report's search
    run.mkdir()
    (run / "trace.csv").write_text("iter,f\n0,1.0\n")
    (run / "config.yaml").write_text("problem: booth\n")
    try:
        assert find_configs([tmp_path]) == [folder / "c.yaml"]  # (a run's config.yaml is a result, not a config)
        assert find_runs([tmp_path]) == [run]
    finally:  # removed here, level by level: pytest's own clean-up of old tmp folders recurses (shutil.rmtree)
        for file in (folder / "c.yaml", run / "trace.csv", run / "config.yaml"):
            file.unlink()
        run.rmdir()
        while folder != tmp_path:
            folder.rmdir()
            folder = folder.parent
