"""optrun grad (optrun/engine/grad.py, optrun/commands/grad.py): the notebooks' derivative cells
from the shipped configs, the --json interface, the grad-<timestamp> folder
and its plots, fixed parameters, the JVP/VJP lesson, and bad input."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from tolerances import rounding
from typer.testing import CliRunner

import optrun
from optrun.cli import app

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
runner = CliRunner()


def grad_json(workdir, *args):
    """--json of optrun grad (plots off: the plot tests are below)."""
    result = runner.invoke(app, ["grad", *map(str, args), "--json", "--set", "output.plots=false"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ------------------------------------------------------------ the notebooks' cells
# Polynomials at integers are integer arithmetic, exact (==). sin and cos are within 4 ulps (NumPy's, SVML on
# AVX-512; libm's in math) on either side; cos(3) + 1 = 0.01 cancels, leaving that error absolute.
def test_polynomial_at_3_seed_000(workdir):
    """dpolynomial(3.0) = 22 and ddpolynomial = 6 for 3x^2 + 4x - 3."""
    data = grad_json(workdir, CONFIGS / "polynomial-gd.yaml", "--order", 2, "--hessian")
    assert data["f"] == 36.0 and data["grad"] == {"x": 22.0}
    assert data["derivatives"] == [36.0, 22.0, 6.0] and data["hessian"] == [[6.0]]


def test_cubic_at_4_seed_003(workdir):
    """x**3 and its first four derivatives at 4: 64, 48, 24, 6, 0."""
    data = grad_json(workdir, CONFIGS / "grad-cubic.yaml", "--order", 4)
    assert data["derivatives"] == [64.0, 48.0, 24.0, 6.0, 0.0]


def test_sin_product_at_3_1_seed_003(workdir):
    """sin(x1) + x1 x2 at (3, 1): the partials cos(3) + 1 and 3, the Hessian [[-sin 3, 1], [1, 0]]."""
    data = grad_json(workdir, CONFIGS / "grad-sin-product.yaml", "--hessian")
    # sin(3) (0.14) within 4 ulps and the sum's rounding at 3.14, a side: rounding(2) relative
    assert data["f"] == pytest.approx(math.sin(3) + 3, rel=rounding(2))
    assert data["grad"] == {"x1": pytest.approx(math.cos(3) + 1, abs=rounding(4)), "x2": 3.0}
    # -sin(3) within 4 ulps a side; the other entries are exact
    np.testing.assert_allclose(data["hessian"], [[-math.sin(3), 1.0], [1.0, 0.0]], rtol=rounding(8), atol=0)
    assert data["hessian_labels"] == ["x1", "x2"]


def test_goldfield_signed_gradient_at_3_4_seed_000(workdir):
    """grad_ex_1's dgoldfield(3.0, 4.0) for 2x^2 - 4xy + y^4 + 2: (4x - 4y, -4x + 4y^3) = (-4, 244)."""
    data = grad_json(workdir, CONFIGS / "goldfield-gd.yaml", "--at", "x=3", "--at", "y=4")
    assert data["grad"] == {"x": -4.0, "y": 244.0} and data["at"] == {"x": 3.0, "y": 4.0}


@pytest.mark.slow
# ------------------------------------------------------------ interface and files
def test_json_is_grad_json_and_the_folder_is_run_style(workdir):
    result = runner.invoke(
        app,
        [
            "grad",
            str(CONFIGS / "grad-cubic.yaml"),
            "--order",
            "2",
            "--fd",
            "--json",
            "--set",
            f"output.dir={workdir / 'out'}",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    run_dir = workdir / data.pop("run_dir")  # shown relative to the working folder
    assert run_dir.parent == workdir / "out" / "grad-cubic" and run_dir.name.startswith("grad-")
    assert json.loads((run_dir / "grad.json").read_text()) == data
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml", "derivatives.png", "fd_error.png", "grad.json"]
    fd = data["fd"]
    assert fd["mode"] == "entries" and fd["steps"][0] == 0.1 and len(fd["steps"]) == 12
    # forward differences err by about h f''(x)/2 = 12 h at large h; central ones by h^2 f'''/6 = h^2 (exactly: x^3);
    # in floating point 4 +- 0.1 rounds at 4.1 (moving f by f' = 48 times that), and x^3 is within 4 ulps of 70
    # (np.power; SVML on AVX-512), both over h
    at_h = (48 * rounding(1, 4.1) + 2 * rounding(4, 70)) / 0.1
    assert fd["forward"]["errors"][0] == pytest.approx(12 * 0.1 + 0.1**2, abs=at_h)
    assert fd["central"]["errors"][0] == pytest.approx(0.01, abs=at_h)
    # at h = 1e-5 (one of the steps) the central error is at most h^2 = 1e-10 of truncation plus, as above,
    # (48 * 2 * 4.4e-16 (half an ulp of 4) + 2 * 4 ulps of 64) / 2h = 7.8e-9 of rounding: < 1e-8; and |grad . v| = 48
    assert fd["central"]["best_error"] < 1e-8 and fd["directional"]["relative_error"] < 1e-8


@pytest.mark.slow
def test_two_free_entries_draw_the_contour_with_the_gradient_field(workdir):
    result = optrun.grad(str(CONFIGS / "grad-sin-product.yaml"), overrides=[f"output.dir={workdir}"])
    assert [p.name for p in result.plots] == ["contour.png"]
    assert result.plots[0].stat().st_size > 10_000 and result.gradient.grad["x2"] == 3.0


def test_fixed_parameters_are_held_and_derivatives_are_in_the_free_one(workdir):
    """With x2 fixed at 1 the notebook's function is one of x1: f, f', f'' = sin 3 + 3, cos 3 + 1, -sin 3."""
    result = optrun.grad(
        str(CONFIGS / "grad-sin-product.yaml"), overrides=["fix.x2=1.0", "output.plots=false"], order=2
    )
    assert result.fixed == {"x2": 1.0} and list(result.at) == ["x1"]
    # sin and cos within 4 ulps a side of values <= 1, and the sum's rounding at 3.14: rounding(8) absolute
    np.testing.assert_allclose(
        result.derivatives.values, [math.sin(3) + 3, math.cos(3) + 1, -math.sin(3)], rtol=0, atol=rounding(8)
    )


def test_the_jvp_vjp_lesson_on_a_vector_expression(workdir):
    """R^2 -> R^3: the Jacobian from 2 JVPs (columns) equals the one from 3 VJPs (rows); one JVP is a column, one VJP a row."""
    config = {
        "problem": {
            "name": "expression",
            "expr": ["x1 * x2", "sin(x1) + x2", "x1**2 * x2"],
            "params": {"x1": 3.0, "x2": 1.0},
        },
        "optimizer": "gd",
        "output": {"plots": False},
    }
    result = optrun.grad(config, jvp={"x1": 1.0}, vjp=[0.0, 1.0, 0.0])
    expected = [[1.0, 3.0], [math.cos(3), 1.0], [6.0, 9.0]]
    # exact but for cos(3), within 4 ulps a side: rounding(8) relative
    np.testing.assert_allclose(result.jacobian.array, expected, rtol=rounding(8))
    assert result.jacobian.matrix == result.jacobian_other.matrix
    assert {result.jacobian.by: result.jacobian.passes, result.jacobian_other.by: result.jacobian_other.passes} == {
        "jvp": 2,
        "vjp": 3,
    }
    np.testing.assert_allclose(result.jvp.result, [row[0] for row in expected], rtol=rounding(8))
    np.testing.assert_allclose(result.vjp.result, expected[1], rtol=rounding(8))
    data = result.to_json()
    assert data["jacobian"] == [list(r) for r in result.jacobian.matrix] and data["jvp"] == list(result.jvp.result)
    # sin(3) within 4 ulps and the sum's rounding at 1.14, a side
    assert "grad" not in data and data["f"] == [3.0, pytest.approx(math.sin(3) + 1, rel=rounding(4)), 9.0]


# ------------------------------------------------------------ bad input: one line, exit 2, nothing written
VECTOR = 'problem: {name: expression, expr: ["x * y", "x + y"], params: {x: 1.0, y: 2.0}}\noptimizer: gd\n'
TRID = "problem: {name: trid, dim: 3}\noptimizer: gd\nfix: {}\n"
BAD = [
    ("unknown-at", TRID, ["--at", "z=1"], "at: unknown parameter 'z'"),
    ("at-shape", TRID, ["--at", "x=[1, 2]"], "at.x"),
    ("at-not-assignment", TRID, ["--at", "x"], "--at: 'x' must look like NAME=VALUE"),
    (
        "order-on-vector-parameter",
        TRID,
        ["--order", "2"],
        "order: derivatives up to order 2 are for one scalar parameter",
    ),
    ("order-zero", TRID, ["--order", "0"], "order: must be an integer from 1 to 10"),
    ("jvp-unknown-name", VECTOR, ["--jvp", "z=1"], "jvp"),
    ("jvp-wrong-length", VECTOR, ["--jvp", "x=[1, 2]"], "jvp.x"),
    ("vjp-wrong-length", VECTOR, ["--vjp", "[1, 0, 0]"], "vjp"),
    ("vjp-not-list", VECTOR, ["--vjp", "3"], "--vjp: must be a list of numbers"),
    ("hessian-of-vector", VECTOR, ["--hessian"], "is a vector function R^2 -> R^2"),
    ("at-fixed", "problem: goldfield\noptimizer: gd\nfix: {y: 1.0}\n", ["--at", "y=2"], "at.y: 'y' is fixed (fix.y)"),
    ("range-reversed", TRID, ["--range", "3,1"], "--range: '3,1': the first number must be below the second"),
]


@pytest.mark.parametrize("text, args, message", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(workdir, text, args, message):
    (workdir / "c.yaml").write_text(text)
    result = runner.invoke(app, ["grad", "c.yaml", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output, result.stderr
    assert not (workdir / "outputs").exists()


def test_run_refuses_a_vector_expression_before_writing_anything(workdir):
    (workdir / "v.yaml").write_text(VECTOR)
    result = runner.invoke(app, ["run", "v.yaml"])
    assert result.exit_code == 2 and "is a vector function R^2 -> R^2" in result.stderr
    assert not (workdir / "outputs").exists()


# ------------------------------------------------------------ the jax backend
def _both_backends(config, overrides=(), **asks):
    """optrun grad on each backend, plots off: the problem is built for that backend and differentiated by it."""
    return [
        optrun.grad(config, overrides=[*overrides, "output.plots=false", f"backend={name}"], **asks)
        for name in ("autograd", "jax")
    ]


# XLA and NumPy compute the same derivatives in other orders: each entry sums at most N = 300 data terms (mlp-gd; 4 for
# logistic) of ~30 roundings each (exp, log, tanh, sin, cos within 4 ulps on either side), and the terms add up to at
# most 40x the entry at these starts (38 for mlp-gd's gradient; cos(3) + 1 cancels 100x, but over 8 ulps of 0.99 only)
SAME = rounding(330 * 40)


def _same(a, b, rtol=SAME):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=1e-300)


@pytest.mark.slow  # imports jax and compiles
@pytest.mark.parametrize(
    "config, overrides, asks",
    [
        (CONFIGS / "grad-sin-product.yaml", (), {"hessian": True, "fd": True}),
        (CONFIGS / "grad-cubic.yaml", (), {"order": 4, "hessian": True}),
        (CONFIGS / "rosenbrock-newton.yaml", (), {"hessian": True}),
        (CONFIGS / "trid-gd.yaml", (), {"hessian": True}),
        (CONFIGS / "logistic-toy.yaml", (), {"hessian": True}),
        (CONFIGS / "mlp-gd.yaml", (), {}),  # nested parameters (layers of W and b)
    ],
    ids=["sin-product", "cubic", "rosenbrock", "trid", "logistic", "mlp"],
)
def test_grad_on_jax_equals_grad_on_autograd(workdir, config, overrides, asks):
    auto, jax_ = _both_backends(str(config), overrides, **asks)
    from autograd.misc.flatten import flatten

    np.testing.assert_array_equal(flatten(jax_.at)[0], flatten(auto.at)[0])  # the same start on both
    assert jax_.gradient.labels == auto.gradient.labels
    _same(jax_.gradient.value, auto.gradient.value)
    _same(jax_.gradient.flat, auto.gradient.flat)
    assert type(jax_.gradient.value) is float and all(
        type(v) is float for v in jax_.gradient.flat
    )  # no jax arrays leak out
    if asks.get("hessian"):
        _same(jax_.hessian.array, auto.hessian.array)
    if asks.get("order"):
        _same(jax_.derivatives.values, auto.derivatives.values)
    if asks.get("fd"):
        assert jax_.fd.steps == auto.fd.steps
        # at large steps the error is truncation, the same on both; at small ones it is rounding, which differs. f =
        # sin(x1) + x1 x2 at the same points (x +- h is NumPy's on both) differs by sin's 8 ulps of 0.14 and the sum's
        # rounding at 3.14, <= rounding(3): the central difference by rounding(3) / h; g by cos(3)'s 8 ulps, rounding(4)
        large = [i for i, h in enumerate(auto.fd.steps) if h >= 1e-4]
        for i in large:
            assert jax_.fd.central.errors[i] == pytest.approx(
                auto.fd.central.errors[i], abs=rounding(3) / auto.fd.steps[i] + rounding(4)
            )
        # at h = 1e-5: truncation h^2 |cos 3| / 6 = 1.7e-11, rounding ~3 rounding(1, 3.2) / h = 2e-10: < 1e-8
        assert jax_.fd.central.best_error < 1e-8


@pytest.mark.slow
@pytest.mark.floats  # its comparisons are in _same
def test_jacobians_jvp_and_vjp_on_jax_equal_autograd(workdir):
    config = {
        "problem": {
            "name": "expression",
            "expr": ["x1 * x2", "sin(x1) + x2", "x1**2 * x2"],
            "params": {"x1": 3.0, "x2": 1.0},
        },
        "optimizer": "gd",
    }
    auto, jax_ = _both_backends(config, jvp={"x1": 1.0, "x2": -2.0}, vjp=[0.5, 1.0, -1.0])
    for part in ("jacobian", "jacobian_other"):
        assert (
            getattr(jax_, part).by == getattr(auto, part).by
            and getattr(jax_, part).passes == getattr(auto, part).passes
        )
        _same(getattr(jax_, part).array, getattr(auto, part).array)
    _same(jax_.jvp.result, auto.jvp.result)
    _same(jax_.vjp.result, auto.vjp.result)
    _same(jax_.jvp.value, auto.jvp.value)


@pytest.mark.slow
def test_grad_on_jax_draws_its_plots(workdir):
    for config, asks, names in (
        (CONFIGS / "grad-sin-product.yaml", {}, ["contour.png"]),
        (CONFIGS / "grad-cubic.yaml", {"order": 3, "fd": True}, ["derivatives.png", "fd_error.png"]),
    ):
        result = optrun.grad(str(config), overrides=[f"output.dir={workdir}", "backend=jax"], **asks)
        assert sorted(p.name for p in result.plots) == names and all(p.stat().st_size > 10_000 for p in result.plots)
        assert result.run_dir.joinpath("grad.json").exists()
        assert "backend: jax" in result.run_dir.joinpath("config.yaml").read_text()


# ------------------------------------------------------------ issue 28: bounded work, no tracebacks, signals
ELEVEN = (  # an expression of 11 operations: f^(10) took 62 s to compose, and its plot over 900 s
    'problem: {name: expression, expr: "sin(x) * exp(x) + x**3 / (1 + x**2) - cos(2*x)", params: {x: 1.3}}\n'
    "optimizer: gd\n"
)


def test_an_order_beyond_its_cost_is_refused_before_it_starts(workdir):
    (workdir / "c.yaml").write_text(ELEVEN)
    result = runner.invoke(app, ["grad", "c.yaml", "--order", "10"])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "order: f^(10) of this objective (11 operations) would take about 11 x 3^10 = 649539" in line
    assert f"the limit is {optrun.core.derivatives.MAX_ORDER_WORK}: ask for order 7 or less" in line
    assert not (workdir / "outputs").exists()


@pytest.mark.slow
def test_the_derivatives_plot_draws_only_the_orders_it_can_afford(workdir, monkeypatch):
    from optrun.core import derivatives as d

    drawn = []
    curves = d.derivative_curves
    monkeypatch.setattr(
        d, "derivative_curves", lambda p, at, order, *a, **k: drawn.append(order) or curves(p, at, order, *a, **k)
    )
    (workdir / "c.yaml").write_text(ELEVEN)
    result = optrun.grad("c.yaml", order=7)
    assert len(result.derivatives.values) == 8 and [p.name for p in result.plots] == ["derivatives.png"]
    assert drawn == [2]  # 102 points x 12 x 3^k <= 20000 operations: f, f', f''


def test_a_jacobian_beyond_its_passes_is_built_the_cheap_way_only(workdir):
    """2 formulas over 5000 entries: 2 VJPs; the cross-check from 5000 JVPs (n passes over n) is left out, said so."""
    config = {
        "problem": {"name": "expression", "expr": ["sum(x**2)", "sum(sin(x))"], "params": {"x": [0.5] * 5000}},
        "optimizer": "gd",
        "output": {"plots": False},
    }
    result = optrun.grad(config)
    assert result.jacobian.by == "vjp" and result.jacobian.passes == 2 and result.jacobian_other is None
    assert "not also built from 5000 JVPs" in result.warnings[0] and "limit of 10000000" in result.warnings[0]
    assert json.loads((result.run_dir / "grad.json").read_text())["warnings"] == list(result.warnings)


def test_tables_show_the_first_entries_and_grad_json_has_all(workdir):
    (workdir / "c.yaml").write_text("problem: {name: trid, dim: 100}\noptimizer: gd\noutput: {plots: false}\n")
    result = runner.invoke(app, ["grad", "c.yaml"])
    assert result.exit_code == 0, result.output
    assert "gradient (signed) (first 20 of 100; all in grad.json)" in result.stdout
    assert "x[19]" in result.stdout and "x[20]" not in result.stdout and "(100 in all; see grad.json)" in result.stdout
    (run_dir,) = (workdir / "outputs" / "c").iterdir()
    assert len(json.loads((run_dir / "grad.json").read_text())["grad"]["x"]) == 100


CUBE = 'problem: {name: expression, expr: "x**3 + sin(x)", params: {x: 1.0}}\noptimizer: gd\n'


def test_an_overflow_at_the_point_is_inf_not_a_traceback(workdir):
    (workdir / "c.yaml").write_text(CUBE)
    result = runner.invoke(
        app, ["grad", "c.yaml", "--order", "3", "--at", "x=1e300", "--json", "--set", "output.plots=false"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # f and f' overflow to inf (null in JSON); f'' = 6x and f''' = 6 - cos(x) do not
    assert data["f"] is None and data["derivatives"][:3] == [None, None, 6e300] and 5 <= data["derivatives"][3] <= 7


def test_a_plot_beyond_floating_point_is_a_warning_and_grad_json_is_written(workdir):
    (workdir / "c.yaml").write_text(CUBE)
    result = runner.invoke(app, ["grad", "c.yaml", "--at", "x=1e308"])
    assert result.exit_code == 0, result.output
    assert "warning: c: derivatives.png not drawn: ValueError: the range 1e+308 +- 1e+308" in result.stderr
    (run_dir,) = (workdir / "outputs" / "c").iterdir()
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml", "grad.json"]
    assert "derivatives.png not drawn" in json.loads((run_dir / "grad.json").read_text())["warnings"][0]


def test_a_full_disk_loses_the_plot_not_grad_json_and_a_folder_with_nothing_is_removed(workdir, monkeypatch):
    import errno

    from optrun.core import outputs
    from optrun.core.errors import RunIOError
    from optrun.plots import grad as grad_plots

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(grad_plots, "save", full)
    (workdir / "c.yaml").write_text(CUBE)
    result = runner.invoke(app, ["grad", "c.yaml"])
    assert result.exit_code == 0 and "derivatives.png not drawn: OSError" in result.stderr, result.output
    (run_dir,) = (workdir / "outputs" / "c").iterdir()
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml", "grad.json"]

    def no_json(path, data):
        raise RunIOError("cannot write: No space left on device", source=str(path))

    monkeypatch.setattr(outputs, "write_json_atomic", no_json)
    result = runner.invoke(app, ["grad", "c.yaml"])
    assert result.exit_code == 1 and "cannot write: No space left on device" in result.stderr, result.output
    assert list((workdir / "outputs" / "c").iterdir()) == [run_dir]  # the new folder, with nothing recorded, is gone


def test_an_objective_that_raises_is_one_line_exit_1_and_nothing_written(workdir, raising_past_two):
    (workdir / "c.yaml").write_text(f"problem: {raising_past_two}\noptimizer: gd\n")
    result = runner.invoke(app, ["grad", "c.yaml", "--at", "x=3"])
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "problem: the objective raised ValueError: x left the domain; nothing was recorded" in line
    assert not (workdir / "outputs").exists()
    from optrun.engine.grad import ObjectiveError

    with pytest.raises(ObjectiveError, match=r"^problem: the objective raised ZeroDivisionError: division by zero;"):
        optrun.grad(lambda x: 1 / 0 + x, 1.0)
    assert not (workdir / "outputs").exists()


@pytest.mark.parametrize(
    "fun, asks, message",
    [
        (
            lambda x: np.array([x, x**2]),
            {},
            "problem: the objective must return one real number (a scalar), and it returned an array of shape (2,)",
        ),
        (lambda x: "abc", {}, "problem: the objective must return one real number (a scalar), and it returned 'abc'"),
        (lambda x: x**2, {"plot_range": "ab"}, "range: must be two finite numbers a,b with a < b, got 'ab'"),
        (lambda x: x**2, {"plot_range": (0.0, float("nan"))}, "range: must be two finite numbers"),
        (lambda x: x**2, {"plot_range": (1, "x")}, "range: must be two finite numbers"),
    ],
    ids=["vector-valued", "string", "range-string", "range-nan", "range-mixed"],
)
def test_the_python_api_refuses_bad_functions_and_ranges_with_config_errors(workdir, fun, asks, message):
    from optrun.core.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        optrun.grad(fun, 1.0, **asks)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (workdir / "outputs").exists()


# ------------------------------------------------------------ signals (issue 28, point 2): real processes
FIFO_OBJECTIVE = """\
import os
from optrun.core.problems import Problem, register_problem


@register_problem("fifo_objective", description="x^2, reading a FIFO away from x = A", formula="x^2", parameters="x")
def build(options):
    def f(p):
        x = p["x"]
        if float(getattr(x, "_value", x)) != float(os.environ["OPTRUN_TEST_AT"]):
            with open(os.environ["OPTRUN_TEST_FIFO"]) as handle:  # a data source that never comes
                handle.read()
        return x**2

    return Problem(objective=f, start={"x": 3.0})
"""


def _blocked_on_the_fifo(workdir, at):
    """`optrun grad` started, once it blocks opening the FIFO (per /proc/PID/wchan)."""
    import os
    import subprocess
    import sys
    import time

    from helpers import REPO

    (workdir / "problems").mkdir()
    (workdir / "problems" / "fifo_objective.py").write_text(FIFO_OBJECTIVE)
    os.mkfifo(workdir / "never")
    (workdir / "c.yaml").write_text("problem: fifo_objective\noptimizer: gd\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPTRUN_TEST_FIFO": str(workdir / "never"), "OPTRUN_TEST_AT": at}
    proc = subprocess.Popen(
        [sys.executable, "-m", "optrun", "grad", "c.yaml"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{proc.pid}/wchan").read_text() in ("wait_for_partner", "pipe_read", "anon_pipe_read"):
                return proc
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    proc.kill()
    raise AssertionError(f"never blocked on the FIFO: {proc.communicate()}")


def _stops(proc, sig):
    import subprocess

    proc.send_signal(sig)
    try:
        stdout, stderr = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"still running 10 s after {sig.name}") from None
    assert proc.returncode == 128 + sig, (proc.returncode, stderr)
    assert f"interrupted by {sig.name}" in stderr and "Traceback" not in stderr, stderr
    return stdout, stderr


skip_without_proc = pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs Linux /proc")


@pytest.mark.slow
@skip_without_proc
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_while_grad_computes_stops_it_and_records_nothing(workdir, sig):
    import signal

    sig = signal.Signals[sig]
    proc = _blocked_on_the_fifo(workdir, at="nan")  # the objective blocks at the point itself
    _, stderr = _stops(proc, sig)
    assert "nothing was recorded" in stderr
    assert not (workdir / "outputs").exists()


@pytest.mark.slow
@skip_without_proc
def test_a_signal_while_grad_draws_keeps_grad_json_without_the_plot(workdir):
    import signal

    proc = _blocked_on_the_fifo(workdir, at="3")  # at the point it computes; the plot's grid blocks
    stdout, stderr = _stops(proc, signal.SIGTERM)
    (run_dir,) = (workdir / "outputs" / "c").iterdir()
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml", "grad.json"]
    data = json.loads((run_dir / "grad.json").read_text())
    assert data["grad"] == {"x": 6.0} and data["warnings"] == ["plots not drawn: interrupted"]
    assert "recorded in" in stdout and "plots not drawn: interrupted" in stderr


def test_grad_json_converts_whole_arrays_by_the_same_rule_as_parameters():
    """grad.json of 10^6 parameters converts each finite array at once (15 s of --json was one float at a time)."""
    from optrun.core.params import to_jsonable
    from optrun.engine.grad import to_jsonable as at_once

    tree = {"a": np.array([1.0, np.inf]), "b": [np.arange(3.0).reshape(3, 1), 2.0], "c": np.float64(np.nan), "d": 1}
    assert (
        at_once(tree) == to_jsonable(tree) == {"a": [1.0, None], "b": [[[0.0], [1.0], [2.0]], 2.0], "c": None, "d": 1.0}
    )
