"""optrun grad --timing (optrun/engine/grad_timing.py): forward against reverse
mode as the input grows. Times are machine-dependent: the tests check the
passes (n JVPs forward, 1 reverse pass for a scalar f: closed forms), the
JSON, that times are positive floats, the files, and bad input."""

import json
import math

from typer.testing import CliRunner

from optrun.cli import app
from optrun.config import load_config
from optrun.engine.grad_timing import measure

runner = CliRunner()

ROSENBROCK = "problem: {name: rosenbrock, dim: 2}\noptimizer: gd\n"


def timing_json(path, *args):
    result = runner.invoke(app, ["grad", str(path), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def positive_float(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_passes_per_size_and_json(write_config, workdir):
    """Forward mode takes n JVPs, reverse mode 1 pass for the scalar Rosenbrock, at each size."""
    data = timing_json(write_config(ROSENBROCK), "--timing-sizes", "3,7", "--no-plots")
    assert data["timing_option"] == "dim" and data["timing_backend"] == "autograd"
    assert [row["size"] for row in data["timing"]] == [3, 7]
    for row in data["timing"]:
        assert row["inputs"] == row["size"] and row["outputs"] == 1
        assert row["forward"]["passes"] == row["size"] and row["reverse"]["passes"] == 1
        for mode in ("forward", "reverse"):
            assert positive_float(row[mode]["seconds"]) and row[mode]["repeats"] >= 1
            assert "compile_seconds" not in row[mode]  # autograd compiles nothing
        assert row["ratio"] == row["forward"]["seconds"] / row["reverse"]["seconds"]
    recorded = json.loads((workdir / data["run_dir"] / "timing.json").read_text())
    assert recorded["timing"] == data["timing"]
    assert not (workdir / data["run_dir"] / "timing.png").exists()  # --no-plots


def test_size_option_n(write_config):
    """A problem sized by n (MGH's variably dimensioned): n JVPs at its start."""
    data = timing_json(write_config("problem: variably_dimensioned\noptimizer: gd\n"), "--timing-sizes", "4")
    assert data["timing_option"] == "n"
    row = data["timing"][0]
    assert (row["inputs"], row["forward"]["passes"], row["reverse"]["passes"]) == (4, 4, 1)


def test_png_written(write_config, workdir):
    data = timing_json(write_config(ROSENBROCK), "--timing-sizes", "2,5", "--plots")
    png = workdir / data["run_dir"] / "timing.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_jax_compile_and_run(write_config):
    """On jax each mode has its compile time (the first call) and run time (the compiled calls)."""
    data = timing_json(write_config(ROSENBROCK), "--timing-sizes", "2,4", "--no-plots", "--set", "backend=jax")
    assert data["timing_backend"] == "jax"
    for row in data["timing"]:
        assert (row["forward"]["passes"], row["reverse"]["passes"]) == (row["size"], 1)
        for mode in ("forward", "reverse"):
            timing = row[mode]
            assert positive_float(timing["compile_seconds"]) and positive_float(timing["run_seconds"])
            assert timing["run_seconds"] == timing["seconds"]


def test_problem_without_size_option(write_config, workdir):
    """goldfield has no dim or n: one line naming its options, exit 2, nothing recorded."""
    result = runner.invoke(app, ["grad", str(write_config("problem: goldfield\noptimizer: gd\n")), "--timing"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "dim or n" in lines[0] and "goldfield" in lines[0]
    assert not (workdir / "outputs").exists()


def test_bad_sizes(write_config, workdir):
    result = runner.invoke(app, ["grad", str(write_config(ROSENBROCK)), "--timing-sizes", "10,x"])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "--timing-sizes" in result.stderr and not (workdir / "outputs").exists()


def test_budget_cuts_sizes(write_config):
    """With no time left after the first size, the rest are left out with a note."""
    timing = measure(load_config(write_config(ROSENBROCK)), (2, 3, 4), max_seconds=0.0)
    assert [row.size for row in timing.rows] == [2]
    assert len(timing.notes) == 1 and "3, 4" in timing.notes[0]
