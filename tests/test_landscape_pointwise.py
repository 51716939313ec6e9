"""The landscape never contradicts the run (issue 30, points 1 and 6): a
problem's objective is called on a whole mesh only when the problem declares
it vectorized; anything else (Python functions, user problems, expressions
that sum) is evaluated point by point, with its stderr contained and points
where it raises left blank. A formula that is a vector is refused, not summed."""

import dataclasses
import math
import textwrap
import time

import autograd.numpy as anp
import numpy as np
import pytest
from helpers import run_cli
from matplotlib.figure import Figure

import optrun
from optrun.config import load_config
from optrun.core.problems.python import PythonFunction
from optrun.core.rundir import read_run
from optrun.engine.prepare import prepare
from optrun.plots import landscape
from optrun.plots.landscape import broadcasts, evaluate, landscape_mesh, plot_landscape


def notebook_f(p):
    """The neural-network notebook's way of writing f(x_D): one sum over an
    array of terms, (x1 - 1)^2 + (x2 - 1)^2 - x1 x2, minimum -2 at (2, 2)."""
    return anp.sum(anp.square(anp.array([p["x1"] - 1, p["x2"] - 1]))) - p["x1"] * p["x2"]


def prep_of(problem, optimizer="gd", **extra):
    return prepare(load_config({"problem": problem, "optimizer": optimizer, **extra}))


def counting(prep):
    """``prep`` whose objective counts its calls (in ``calls[0]``)."""
    calls = [0]
    objective = prep.problem.objective

    def counted(params):
        calls[0] += 1
        return objective(params)

    return dataclasses.replace(prep, problem=dataclasses.replace(prep.problem, objective=counted)), calls


def test_a_summing_python_function_is_evaluated_point_by_point_to_its_own_bowl():
    prep = prep_of(PythonFunction(notebook_f, {"x1": 1.0, "x2": -1.0}), {"name": "gd", "step_size": 0.1})
    assert not broadcasts(prep)  # a Python function is evaluated point by point
    mesh = landscape_mesh(prep, (0.0, 4.0), (0.0, 4.0))
    n = math.isqrt(len(mesh.points))  # GRID, unless a very busy machine made one call look slow
    assert landscape.MIN_GRID <= n <= landscape.GRID and len(mesh.points) == n * n
    lowest = int(np.argmin(mesh.values))
    spacing = 4.0 / (n - 1)
    assert np.abs(mesh.points[lowest] - [2.0, 2.0]).max() <= spacing  # the bowl is at (2, 2)
    # f = -2 + (d1^2 + d2^2 - d1 d2) at (2 + d1, 2 + d2): within 1.5 spacings^2 of -2 at the nearest mesh point
    assert -2.0 <= mesh.values[lowest] <= -2.0 + 1.5 * spacing**2
    x1, x2 = mesh.points.T
    assert np.allclose(mesh.values, (x1 - 1) ** 2 + (x2 - 1) ** 2 - x1 * x2, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_the_notebooks_lambda_through_minimize_draws_a_colour_range_from_minus_two(workdir):
    result = optrun.minimize(
        lambda p: anp.sum(anp.square(anp.array([p["x1"] - 1, p["x2"] - 1]))) - p["x1"] * p["x2"],
        {"x1": 1.0, "x2": -1.0},
        "gd",
        step_size=0.1,
    )
    assert result.summary.fun == pytest.approx(-2.0, abs=1e-12)
    assert (result.run_dir / "landscape.png").stat().st_size > 10_000
    prep = prep_of(PythonFunction(notebook_f, {"x1": 1.0, "x2": -1.0}), {"name": "gd", "step_size": 0.1})
    fig = Figure()  # the drawn plot's colour range: about [-2, f at the path's corners], not 34532-34542
    assert plot_landscape(read_run(result.run_dir), prep, None, fig.add_subplot())
    filled = next(c for c in fig.axes[0].collections if hasattr(c, "levels") and c.filled)
    assert filled.levels[0] <= -2.0 < filled.levels[1] and filled.levels[-1] < 100


def test_builtins_declared_vectorized_evaluate_the_mesh_in_one_call():
    prep, calls = counting(prep_of("goldfield"))
    assert broadcasts(prep)
    mesh = landscape_mesh(prep, (-2.0, 2.0), (-1.5, 1.5))
    assert calls[0] == 1 and len(mesh.points) == landscape.GRID**2
    x, y = mesh.points.T
    assert np.allclose(mesh.values, 2 * x**2 - 4 * x * y + y**4 + 2, rtol=1e-14, atol=0)  # the closed form


def test_a_python_function_is_called_once_per_mesh_point():
    prep, calls = counting(prep_of(PythonFunction(notebook_f, {"x1": 1.0, "x2": -1.0})))
    mesh = evaluate(prep, np.array([[2.0, 2.0], [0.0, 0.0], [1.0, 3.0]]))
    assert calls[0] == 3
    assert mesh.values.tolist() == [-2.0, 2.0, 1.0]  # exact: small integers


def test_a_one_parameter_curve_of_a_builtin_is_one_call():
    prep, calls = counting(prep_of({"name": "polynomial", "coeffs": [1.0, -2.0, 0.5, 3.0]}))
    xs = np.linspace(-2.0, 3.0, 50)
    curve = evaluate(prep, xs[:, None])
    assert calls[0] == 1
    assert np.allclose(curve.values, np.polyval([1.0, -2.0, 0.5, 3.0], xs), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(
    "expr, vectorized, closed_form",
    [
        ("(x - 1)**2 + 10*(y - x**2)**2", True, lambda x, y: (x - 1) ** 2 + 10 * (y - x**2) ** 2),
        ("sum(x**2) + y**2", False, lambda x, y: x**2 + y**2),  # sum would sum the mesh
        ("dot(x, y) + mean(y)", False, lambda x, y: x * y + y),  # dot would be a matrix product
    ],
)
def test_an_expression_broadcasts_unless_it_reduces(expr, vectorized, closed_form):
    prep = prep_of({"name": "expression", "expr": expr, "params": {"x": 0.5, "y": -1.0}})
    assert broadcasts(prep) is vectorized
    mesh = landscape_mesh(prep, (-1.0, 1.0), (-1.0, 1.0))
    assert np.allclose(mesh.values, closed_form(*mesh.points.T), rtol=1e-14, atol=1e-14)


def test_what_a_python_function_prints_or_warns_on_the_mesh_is_not_shown(capsys):
    import sys
    import warnings

    def chatty(p):
        print("called at", p, flush=True)
        print("and on stderr", file=sys.stderr)
        warnings.warn("a warning per call", stacklevel=1)
        return (p["x"] - 1.0) ** 2

    prep = prep_of(PythonFunction(chatty, {"x": 0.0}))
    capsys.readouterr()
    curve = evaluate(prep, np.linspace(-1.0, 3.0, 101)[:, None])
    assert curve.values == pytest.approx((np.linspace(-1.0, 3.0, 101) - 1.0) ** 2, rel=1e-15, abs=0)
    assert capsys.readouterr() == ("", "")


def test_a_slow_objective_gets_a_smaller_mesh_and_the_plot_says_so(monkeypatch):
    def slow(p):
        time.sleep(0.002)
        return p["x"] ** 2 + p["y"] ** 2

    monkeypatch.setattr(landscape, "POINTWISE_BUDGET_S", 0.2)  # about 100 calls of 2 ms: 10 x 10
    monkeypatch.setattr(landscape, "MIN_GRID", 4)
    prep, calls = counting(prep_of(PythonFunction(slow, {"x": 1.0, "y": 1.0})))
    mesh = landscape_mesh(prep, (-1.0, 1.0), (-1.0, 1.0))
    n = math.isqrt(len(mesh.points))
    assert 4 <= n <= 10 and calls[0] == n * n + landscape.TIMED_CALLS + 1
    assert mesh.note == f"{n} x {n} mesh (f is slow, evaluated point by point)"


def test_points_where_the_objective_raises_are_blank_with_one_note(workdir):
    def f(p):
        if p["x"] > 1.0:
            raise ValueError("outside the domain\nsecond line")
        return (p["x"] - 0.5) ** 2 + p["y"] ** 2

    prep = prep_of(PythonFunction(f, {"x": 0.0, "y": 1.0}))
    mesh = evaluate(prep, np.array([[0.0, 0.0], [2.0, 0.0], [0.5, 1.0], [3.0, 1.0]]))
    assert np.isnan(mesh.values[[1, 3]]).all() and mesh.values[[0, 2]].tolist() == [0.25, 1.0]
    assert mesh.note == "f raised at 2 of 4 points, left blank (first: ValueError: outside the domain)"


@pytest.mark.slow
def test_a_vector_expression_is_refused_in_one_line_before_anything_is_written(workdir):
    (workdir / "vec.yaml").write_text(
        'problem: {name: expression, expr: "x * w", params: {x: 1.0, w: [1.0, 2.0]}}\noptimizer: gd\n'
    )
    done = run_cli("run", "vec.yaml", cwd=workdir)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "problem.expr" in done.stderr and "'x * w'" in done.stderr and "sum(x * w)" in done.stderr
    assert not (workdir / "outputs").exists()


@pytest.mark.parametrize("expr", [["x * y", "x * w"]])
def test_each_formula_of_a_vector_function_is_one_number(expr):
    from optrun.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"problem\.expr\[1\]: the formula 'x \* w' is a vector of shape \(2,\)"):
        prep_of({"name": "expression", "expr": expr, "params": {"x": 1.0, "y": 2.0, "w": [1.0, 2.0]}})


def test_an_expression_summed_explicitly_runs_to_its_minimum(workdir):
    result = optrun.run(
        {
            "problem": {"name": "expression", "expr": "sum((w - 3)**2)", "params": {"w": [0.0, 1.0]}},
            "optimizer": {"name": "gd", "step_size": 0.25},
            "output": {"plots": False},
        }
    )
    assert result.summary.params["w"] == pytest.approx([3.0, 3.0], abs=1e-7)


NOISY = textwrap.dedent(
    """
    import sys

    from optrun.core.problems import Problem, register_problem


    @register_problem("noisy_bowl", description="prints on every call", parameters="x, y")
    def noisy_bowl(options):
        def f(p):
            print("noisy_bowl was called at", p["x"], p["y"], file=sys.stderr)
            if p["x"] > 2.1:  # the path (x <= 2) never goes there, the landscape's mesh does (to x = 2.25)
                raise ValueError("x > 2.1")
            return (p["x"] - 1) ** 2 + (p["y"] + 1) ** 2

        return Problem(objective=f, start={"x": 2.0, "y": 0.0})
    """
)


@pytest.mark.slow
def test_a_user_problem_that_prints_and_raises_draws_without_a_stderr_dump(workdir):
    (workdir / "problems").mkdir()
    (workdir / "problems" / "noisy.py").write_text(NOISY)
    (workdir / "cfg.yaml").write_text(
        "problem: noisy_bowl\noptimizer: {name: gd, step_size: 0.1}\nstop: {max_iter: 20}\n"
    )
    done = run_cli("run", "cfg.yaml", cwd=workdir)
    assert done.returncode == 0, done.stderr
    (run_dir,) = (workdir / "outputs" / "cfg").iterdir()
    assert (run_dir / "landscape.png").stat().st_size > 10_000
    summary = optrun.load(run_dir).summary
    # the run's own calls print (at most one per evaluation); the landscape's thousands of calls do not
    assert done.stderr.count("noisy_bowl was called") <= summary.nfev + summary.njev + 2
    assert len(done.stderr) < 10_000 and "Traceback" not in done.stderr
