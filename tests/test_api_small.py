"""Issue 29's small Python API points: RunResult.to_pandas gives the count
columns as integers (optrun/engine/result.py), a config without ``name`` is
named after its problem or function (optrun/config/__init__.py,
default_name), and a gap that is a rounding residue reads "0 (within
rounding)" (optrun/core/result.py, gap_text; the run summary table)."""

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas
import pytest
import yaml

import optrun
from optrun.config import default_name, load_config
from optrun.core.result import GAP_ROUNDING_EPS, gap_text

EPS = float(np.finfo(float).eps)
COUNTS = ("iter", "nfev", "njev")


def csv_columns(run_dir: Path) -> dict[str, list[str]]:
    """trace.csv's columns as the text written, read with the csv module (not optrun's reader)."""
    with open(run_dir / "trace.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {name: [row[name] for row in rows] for name in rows[0]}


def assert_frame_matches_file(frame: pandas.DataFrame, run_dir: Path) -> None:
    written = csv_columns(run_dir)
    assert list(frame.columns) == list(written)
    for name, texts in written.items():
        if name in COUNTS:
            assert frame[name].dtype == np.int64, name
            assert frame[name].tolist() == [int(t) for t in texts], name
        else:
            assert frame[name].dtype == np.float64, name
            # repr round-trips exactly; nan (step_size at iteration 0) equals nan here
            np.testing.assert_array_equal(frame[name].to_numpy(), [float(t) for t in texts], err_msg=name)


# ------------------------------------------------------------------ to_pandas
def test_to_pandas_gives_counts_as_int64_right_after_a_run_and_read_back(workdir):
    result = optrun.run(
        {"problem": "booth", "optimizer": {"name": "gd", "step_size": 0.05}, "stop": {"max_iter": 30}},
        ["output.plots=false"],
    )
    frame = result.to_pandas()
    assert_frame_matches_file(frame, result.run_dir)
    assert frame["iter"].tolist() == list(range(result.nit + 1))
    assert frame["nfev"].iloc[-1] == result.nfev and frame["njev"].iloc[-1] == result.njev
    pandas.testing.assert_frame_equal(optrun.load(result.run_dir).to_pandas(), frame)


def test_to_pandas_gives_counts_as_int64_for_an_interrupted_run(workdir):
    calls = {"n": 0}

    def bowl(x):
        calls["n"] += 1
        if calls["n"] == 25:  # a real Ctrl-C arrives mid-run
            os.kill(os.getpid(), signal.SIGINT)
        return (x - 1.0) ** 2

    result = optrun.minimize(bowl, 3.0, "gd", step_size=0.01, output={"plots": False})
    assert result.status == "interrupted" and 0 < result.nit < 1000
    frame = result.to_pandas()
    assert_frame_matches_file(frame, result.run_dir)
    assert frame["iter"].iloc[-1] == result.nit


def test_to_pandas_of_an_empty_trace_keeps_the_dtypes(workdir):
    result = optrun.run({"problem": "booth", "optimizer": "gd", "stop": {"max_iter": 3}}, ["output.plots=false"])
    trace = result.run_dir / "trace.csv"
    trace.write_text(trace.read_text().splitlines(keepends=True)[0])  # the header only
    frame = optrun.load(result.run_dir).to_pandas()
    assert len(frame) == 0 and all(frame[name].dtype == np.int64 for name in COUNTS)
    assert frame["f"].dtype == np.float64


# --------------------------------------------------------------- default name
def test_a_mapping_without_name_is_named_after_its_problem(workdir):
    result = optrun.run(
        {"problem": "rosenbrock", "optimizer": {"name": "gd", "step_size": 1e-3}, "stop": {"max_iter": 5}},
        ["output.plots=false"],
    )
    assert result.run_dir.parent == workdir.resolve() / "outputs" / "rosenbrock"
    assert yaml.safe_load((result.run_dir / "config.yaml").read_text())["name"] == "rosenbrock"
    assert isinstance(result.run_dir, Path) and result.run_dir.is_absolute()


def test_a_given_name_and_a_file_stem_still_win(tmp_path):
    base = {"problem": {"name": "trid", "dim": 3}, "optimizer": "gd"}
    assert load_config(base).name == "trid"
    assert load_config({**base, "name": "mine"}).name == "mine"
    assert load_config(base, ["name=set"]).name == "set"
    assert load_config(base, ["problem=booth"]).name == "booth"  # the problem after --set
    path = tmp_path / "my-study.yaml"
    path.write_text("problem: trid\noptimizer: gd\n")
    assert load_config(path).name == "my-study"


def test_default_name_sanitizes_a_problem_name():
    assert default_name("", "my problem") == "my_problem"
    assert default_name("", "%%%") == "run"  # nothing usable left
    assert default_name("study", "trid") == "study"


def test_a_function_run_is_named_after_the_function(workdir):
    def parabola(x):
        return (x - 1.0) ** 2

    def odd(x):
        return (x - 1.0) ** 2

    odd.__name__ = "---"  # no usable folder name
    kwargs = {"step_size": 0.1, "stop": {"max_iter": 3}, "output": {"plots": False}}
    assert optrun.minimize(parabola, 3.0, "gd", **kwargs).run_dir.parent.name == "parabola"
    assert optrun.minimize(lambda x: x**2, 3.0, "gd", **kwargs).run_dir.parent.name == "lambda"
    assert optrun.minimize(odd, 3.0, "gd", **kwargs).run_dir.parent.name == "python"
    assert optrun.minimize(odd, 3.0, "gd", name="given", **kwargs).run_dir.parent.name == "given"


# ------------------------------------------------------------------ gap_text
@pytest.mark.parametrize(
    "gap, fstar",
    [
        (-8.881784197001252e-16, 1.6878230399909546),  # configs/linreg-csv.yaml's final gap
        (-8.88e-16, 0.5),  # 8 eps x 0.5
        (-9.094947017729282e-13, -210.0),  # configs/trid-nesterov.yaml's final gap
        (0.1 + 0.2 - 0.3, 0.3),
        (-(GAP_ROUNDING_EPS - 1) * EPS, 1.0),  # just inside the bound, each side
        ((GAP_ROUNDING_EPS - 1) * EPS, -1.0),
    ],
)
def test_a_rounding_residue_reads_zero_within_rounding(gap, fstar):
    assert gap_text(gap, fstar) == "0 (within rounding)"


@pytest.mark.parametrize(
    "gap, fstar, shown",
    [
        (1e-10, 0.5, "1e-10"),
        (1e-10, 1.0, "1e-10"),
        (-(GAP_ROUNDING_EPS + 1) * EPS, 1.0, f"{-(GAP_ROUNDING_EPS + 1) * EPS:.3g}"),  # just outside the bound
        (0.0, 0.5, "0"),  # exact: no rounding to speak of
        (-0.0, 0.5, "0"),
        (0.0, 0.0, "0"),
        (1e-20, 0.0, "1e-20"),  # f* = 0: the rounding is f's own, far below f
        (-1e-300, 0.0, "-1e-300"),
        (0.00447255878589, 2131.6367635726574, "0.00447"),  # the summary's usual 3 digits
        (float("nan"), 0.5, "nan"),
        (float("inf"), 0.5, "inf"),
        (float("-inf"), 0.0, "-inf"),
        (1e-17, float("nan"), "1e-17"),  # no usable f*: the number as it is
        (1e-17, None, "1e-17"),
        (None, 0.5, "-"),
        (None, None, "-"),
    ],
)
def test_a_real_gap_reads_as_a_number(gap, fstar, shown):
    assert gap_text(gap, fstar) == shown


def test_gap_text_takes_numpy_floats():
    assert gap_text(np.float64(-8.881784197001252e-16), np.float64(1.6878230399909546)) == "0 (within rounding)"
    assert gap_text(np.float64(1e-10), np.float64(0.5)) == "1e-10"


# A user problem whose f at its minimum x = 0 is a rounding residue away from its f*: f(0) = (0 + 0.1) + 0.2
# = 0.30000000000000004 against f* = 0.3 (IEEE 754 round-to-nearest: the same on every machine), or the reverse.
PROBLEM = """
from optrun import Problem, Reference, register_problem


@register_problem("tenths", description="x^2 + 0.1 + 0.2", formula="x^2 + 0.1 + 0.2", parameters="x")
def tenths(options):
    return Problem(objective=lambda p: p["x"] ** 2 + 0.1 + 0.2, start={"x": 1.0},
                   reference=Reference(fun=0.3, params=({"x": 0.0},)))


@register_problem("tenths_below", description="x^2 + 0.3", formula="x^2 + 0.3", parameters="x")
def tenths_below(options):
    return Problem(objective=lambda p: p["x"] ** 2 + 0.3, start={"x": 1.0},
                   reference=Reference(fun=0.1 + 0.2, params=({"x": 0.0},)))
"""


@pytest.mark.slow
@pytest.mark.parametrize("problem, gap", [("tenths", 0.1 + 0.2 - 0.3), ("tenths_below", 0.3 - (0.1 + 0.2))])
def test_optrun_run_shows_a_rounding_residue_as_zero(tmp_path, problem, gap):
    (tmp_path / "problems").mkdir()
    (tmp_path / "problems" / "tenths.py").write_text(PROBLEM)
    # gd with step 0.5 on x^2: x - 0.5 * 2x = 0 exactly, in one step
    config = f"problem: {problem}\noptimizer: {{name: gd, step_size: 0.5}}\noutput: {{plots: false}}\n"
    (tmp_path / "c.yaml").write_text(config)
    done = subprocess.run(
        [sys.executable, "-m", "optrun", "run", "c.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    [summary] = tmp_path.glob("outputs/c/*/summary.json")
    result = optrun.load(summary.parent)
    assert result.params == {"x": 0.0} and result.gap == gap and gap != 0
    [row] = [line for line in done.stdout.splitlines() if "f - f*" in line]
    assert "0 (within rounding)" in row and f"f* = {result.reference.fun:.10g}" in row
    assert "0 (within rounding)" in result._repr_html_()
    assert f"{gap:.3g}" not in done.stdout  # the residue itself is not shown
