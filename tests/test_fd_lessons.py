"""Issue 30, point 2: the finite-difference lessons of ``optrun grad --fd``
(optrun/core/derivatives/finite_differences.py, optrun/engine/grad.py,
optrun/commands/grad.py, optrun/plots/grad.py): relative and absolute
errors over a chosen range of steps, several points, each entry's estimate,
the second difference, the evaluation counts, and the plots' data."""

import json
import math

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from typer.testing import CliRunner

import optrun
from optrun.cli import app
from optrun.core import derivatives as D
from optrun.core.problems import Problem
from optrun.plots import grad as plots

runner = CliRunner()
EXP = 'problem: {name: expression, expr: "exp(x)", params: {x: 5.0}}\noptimizer: gd\n'
STEPS = D.log_steps(1e-10, 10, 100)


def exp_problem(x):
    return Problem(objective=lambda p: anp.exp(p["x"]), start={"x": x})


def test_log_steps_is_numpy_logspace_largest_first():
    assert STEPS == tuple(np.logspace(-10, 1, 100)[::-1]) and len(STEPS) == 100 and STEPS[0] == 10.0


@pytest.mark.parametrize("x", [5.0, 2.0, 150.0])
def test_exp_relative_error_against_the_closed_forms(x):
    """exp at 5, 2 and 150: at large h the errors are the truncation's, in closed form
    ((e^h - 1)/h - 1 forward, sinh(h)/h - 1 central, 2(cosh h - 1)/h^2 - 1 second), the
    same relative error at every x; the least relative error is near h ~ 1e-8 forward
    (sqrt of eps, times x at x = 150, where the step's own rounding grows) and 1e-5 central."""
    check = D.fd_check(exp_problem(x), steps=STEPS)
    exact = math.exp(x)
    for i, h in enumerate(STEPS[:20]):  # h from 10 down to about 0.06: truncation dominates rounding by far
        assert check.forward.relative_errors[i] == pytest.approx(math.expm1(h) / h - 1, rel=1e-6)
        assert check.central.relative_errors[i] == pytest.approx(math.sinh(h) / h - 1, rel=1e-6)
        assert check.second.relative_errors[i] == pytest.approx(2 * (math.cosh(h) - 1) / h**2 - 1, rel=1e-5)
        assert check.forward.errors[i] == pytest.approx(exact * (math.expm1(h) / h - 1), rel=1e-6)
    forward_best = STEPS[int(np.argmin(check.forward.relative_errors))]
    central_best = STEPS[int(np.argmin(check.central.relative_errors))]
    assert 1e-9 <= forward_best <= 1e-6 and 1e-7 <= central_best <= 1e-4
    # each entry's estimate at its best h, against exp(x) (= f' = f'')
    assert check.forward.estimates[0] == pytest.approx(exact, rel=1e-7)
    assert check.central.estimates[0] == pytest.approx(exact, rel=1e-9)
    assert check.second.estimates[0] == pytest.approx(exact, rel=1e-6)
    assert check.second_autodiff == pytest.approx((exact,), rel=1e-15) and check.at == (x,)
    assert check.central.entry_relative_errors[0] == pytest.approx(abs(check.central.estimates[0] / exact - 1))


def test_evaluation_counts_forward_n_plus_1_central_2n_against_one_reverse_pass():
    """f of 3 entries, counted where it is called on plain floats (not while autograd traces it):
    one f(x), then per step 2n evaluations shared by forward (n + 1 with f(x)), central (2n) and
    the second difference, and 2 for the directional check."""
    calls = []

    def objective(p):
        if isinstance(p["w"], np.ndarray):
            calls.append(1)
        return anp.sum(anp.sin(p["w"]) * p["w"])

    steps = (1e-2, 1e-4, 1e-6)
    check = D.fd_check(Problem(objective=objective, start={"w": np.array([0.3, 1.1, -0.7])}), steps=steps)
    n = 3
    assert (check.forward.evaluations, check.central.evaluations, check.second.evaluations) == (n + 1, 2 * n, 2 * n + 1)
    assert check.reverse_passes == 1
    assert len(calls) == 1 + len(steps) * (2 * n + 2)


def test_the_second_difference_against_autograds_hessian():
    def f(p):
        return anp.sin(p["x"]) * p["y"] ** 2 + anp.exp(0.5 * p["x"] * p["y"])

    check = D.fd_check(Problem(objective=f, start={"x": 0.7, "y": 1.3}), steps=[1e-2, 1e-3, 1e-4, 1e-5])
    hess = autograd.hessian(lambda v: f({"x": v[0], "y": v[1]}))(np.array([0.7, 1.3]))
    np.testing.assert_allclose(check.second_autodiff, np.diag(hess), rtol=1e-12)
    np.testing.assert_allclose(check.second.estimates, np.diag(hess), rtol=1e-6)
    assert check.second.best_step in (1e-3, 1e-4)  # truncation h^2, rounding eps/h^2: the least near 1e-4
    # the whole Hessian by central differences of the gradient at h = 1e-5: truncation h^2 |f^(4)| / 6,
    # about 1e-10 here, and rounding eps |g| / h, about 1e-10: well under 1e-8
    np.testing.assert_allclose(check.hessian_autodiff, hess, rtol=1e-12)
    np.testing.assert_allclose(check.hessian_fd, hess, rtol=0, atol=1e-8)
    assert check.hessian_errors[0] == pytest.approx(np.abs(np.array(check.hessian_fd) - hess).max(), rel=1e-6)


def test_many_entries_are_checked_along_a_direction_without_the_second_difference():
    problem = Problem(objective=lambda p: anp.sum(p["w"] ** 2), start={"w": np.linspace(-1, 1, 30)})
    check = D.fd_check(problem)
    assert check.mode == "direction" and check.second is None and check.forward.evaluations == 2
    assert check.central.estimates[0] == pytest.approx(check.directional.autodiff, rel=1e-8)


def test_json_has_every_point_the_steps_and_each_entrys_estimate(workdir):
    (workdir / "e.yaml").write_text(EXP)
    args = ["grad", "e.yaml", "--at", "x=5", "--at", "x=2", "--at", "x=150", "--fd-steps", "1e-10,10,100"]
    result = runner.invoke(app, [*args, "--json", "--set", "output.plots=false"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["at"] == {"x": 5.0} and data["grad"] == {"x": pytest.approx(math.exp(5), rel=1e-15)}
    assert [p["at"] for p in data["fd_points"]] == [[5.0], [2.0], [150.0]] and data["fd"] == data["fd_points"][0]
    fd = data["fd_points"][2]
    assert fd["steps"] == list(STEPS) and len(fd["forward"]["relative_errors"]) == 100
    assert fd["evaluations"] == {"forward": 2, "central": 2, "autodiff_reverse_passes": 1}
    assert fd["central"]["estimates"][0] == pytest.approx(math.exp(150), rel=1e-8)
    assert fd["second"]["autodiff"][0] == pytest.approx(math.exp(150), rel=1e-15)
    assert fd["hessian"]["fd"][0][0] == pytest.approx(math.exp(150), rel=1e-8)
    assert fd["hessian"]["gradient_evaluations"] == 2 and fd["hessian"]["relative_error"] < 1e-8
    for key in ("errors", "best_step", "best_error", "best_relative_error", "entry_errors", "entry_relative_errors"):
        assert key in fd["forward"]


def test_the_table_shows_each_point_and_the_evaluations(workdir):
    (workdir / "e.yaml").write_text(EXP)
    result = runner.invoke(app, ["grad", "e.yaml", "--at", "x=5", "--at", "x=150", "--fd", "--no-plots"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "at x=5, along each entry" in text and "at x=150, along each entry" in text
    assert "f evaluations per step: forward 2, central 2; autodiff: 1 reverse pass" in text
    assert "each entry's estimate at the best h at x=150" in text


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--fd-steps", "1e-10,10"], "--fd-steps: '1e-10,10' must be LOW,HIGH,COUNT"),
        (["--fd-steps", "a,b,c"], "--fd-steps: 'a,b,c' must be LOW,HIGH,COUNT"),
        (["--fd-steps", "1e-10,10,5,6"], "must be LOW,HIGH,COUNT"),
        (["--fd-steps", "10,1e-10,5"], "--fd-steps: '10,1e-10,5': the range must be 0 < low < high"),
        (["--fd-steps", "0,1,5"], "the range must be 0 < low < high"),
        (["--fd-steps", "1e-10,10,1"], "the count must be an integer from 2 to 200, got 1"),
        (["--fd-steps", "1e-10,10,201"], "the count must be an integer from 2 to 200, got 201"),
        (["--at", "x=5", "--at", "x=2"], "--at: 2 points given (a name repeated); several points are compared by --fd"),
    ],
)
def test_bad_fd_options_are_one_line_and_exit_2(workdir, args, expected):
    (workdir / "e.yaml").write_text(EXP)
    result = runner.invoke(app, ["grad", "e.yaml", *args])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert expected in line and not (workdir / "outputs").exists()


def test_names_repeated_unequally_are_refused(workdir):
    (workdir / "g.yaml").write_text(
        'problem: {name: expression, expr: "x*y", params: {x: 1.0, y: 1.0}}\noptimizer: gd\n'
    )
    result = runner.invoke(
        app, ["grad", "g.yaml", "--fd", "--at", "x=1", "--at", "x=2", "--at", "y=1", "--at", "y=2", "--at", "y=3"]
    )
    assert result.exit_code == 2 and "repeated equally often, got x 2 times, y 3 times" in result.stderr
    ok = runner.invoke(
        app, ["grad", "g.yaml", "--fd", "--at", "x=1", "--at", "x=2", "--at", "y=3", "--json", "--no-plots"]
    )
    points = json.loads(ok.stdout)["fd_points"]
    assert [p["at"] for p in points] == [[1.0, 3.0], [2.0, 3.0]]  # y given once: in both
    assert points[1]["autodiff"] == [3.0, 2.0]


# ------------------------------------------------------------ the plots' data
def test_fd_error_overlays_every_point_absolute_and_relative():
    checks = [D.fd_check(exp_problem(x), steps=STEPS) for x in (5.0, 2.0, 150.0)]
    fig = plots.fd_error_figure(checks, "exp")
    absolute, relative = fig.axes
    assert len(absolute.lines) == len(relative.lines) == 9  # 3 points x forward, central, second difference
    assert "x=5" in fig._suptitle.get_text() and "x=150" in fig._suptitle.get_text()
    assert "relative" in relative.get_ylabel() and "absolute" in absolute.get_ylabel()
    # x = 150's forward curve is its relative errors (the finite ones), against h
    line = relative.lines[6]
    assert line.get_label() == "x=150: forward"
    np.testing.assert_array_equal(
        line.get_ydata(), np.array(checks[2].forward.relative_errors)[: len(line.get_ydata())]
    )


@pytest.mark.slow
def test_derivatives_png_has_a_panel_per_order_and_fd_dots_over_the_curves(workdir):
    config = {
        "problem": {"name": "expression", "expr": "sin(x) * y", "params": {"x": 1.0, "y": 2.0}},
        "fix": {"y": 2.0},
        "optimizer": "gd",
    }
    result = optrun.grad(config, order=3, fd=True)
    assert sorted(p.name for p in result.plots) == ["derivatives.png", "fd_error.png"]
    from optrun.core.backend import get_backend

    problem = Problem(objective=lambda p: anp.sin(p["x"]) * 2.0, start={"x": 1.0})
    fig = plots.derivatives_figure(problem, {"x": 1.0}, "x", 3, None, "s", get_backend(), held={"y": 2.0}, fd=True)
    assert len(fig.axes) == 4 and [ax.get_ylabel() for ax in fig.axes] == ["f", "f'", "f''", "f'''"]
    title = fig._suptitle.get_text()
    assert "x = 1" in title and "held: y=2" in title
    for k, derivative in ((1, np.cos), (2, lambda x: -np.sin(x)), (3, lambda x: -np.cos(x))):
        dots = [line for line in fig.axes[k].lines if line.get_linestyle() == "None" and len(line.get_xdata()) > 1]
        (dot,) = dots
        np.testing.assert_allclose(dot.get_ydata(), 2 * derivative(dot.get_xdata()), atol=1e-8)


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"fd_at": [{"y": 2.0}]}, "fd_at[0]: unknown parameter 'y' (parameters: x)"),
        ({"fd_at": [3]}, "fd_at[0]: must be a mapping of parameter names to values, got int"),
        ({"fd_steps": [-1]}, "fd_steps: must be 1 to 200 finite step sizes h > 0, got [-1]"),
    ],
)
def test_the_api_names_a_bad_fd_option(options, expected):
    with pytest.raises(optrun.core.errors.ConfigError) as info:
        optrun.grad(lambda x: anp.exp(x), 5.0, write=False, **options)
    assert expected in str(info.value)


def test_the_api_checks_several_points_with_the_steps_given():
    result = optrun.grad(lambda x: anp.exp(x), 5.0, fd_at=[{"x": 2.0}], fd_steps=[1e-3, 1e-5], write=False)
    assert [c.at for c in result.fd_points] == [(5.0,), (2.0,)] and result.fd is result.fd_points[0]
    assert result.fd_points[1].central.estimates[0] == pytest.approx(math.exp(2), rel=1e-9)
