"""The inline `expression` problem: a whitelisted syntax, never evaluated as text."""

import builtins

import numpy as np
import pytest
from autograd import grad
from tolerances import rounding

import optrun
from optrun.core.errors import ConfigError
from optrun.core.problems.expression import compile_expression


def expression(expr, params=None, **run):
    return {
        "problem": {"name": "expression", "expr": expr, "params": {"x": -1.0, "y": 2.0} if params is None else params},
        "optimizer": {"name": "adam", "step_size": 0.05},
        "stop": {"max_iter": 10000, "grad_tol": 1e-8},
        "output": {"plots": False},
        **run,
    }


@pytest.mark.slow
def test_expression_runs_and_converges(workdir):
    result = optrun.run(expression("(x - 1)**2 + 10*(y - x**2)**2"))
    assert result.status == "converged"
    # |gradient| <= grad_tol = 1e-8, so |(x, y) - (1, 1)| <= 1e-8 / lambda_min of the Hessian there, [[82, -40], [-40, 20]]
    # (2.5e-8; 1% more for the third derivatives, <= 240, which move lambda_min = 0.39 by 6e-6 over that distance)
    near = 1.01 * 1e-8 / np.linalg.eigvalsh([[82.0, -40.0], [-40.0, 20.0]])[0]
    assert result.params == {"x": pytest.approx(1.0, abs=near), "y": pytest.approx(1.0, abs=near)}


def test_functions_constants_subscripts_and_where():
    f = compile_expression(
        "sum(z**2) + z[0] * z[-1] + sin(pi * x) + where(x > 0, x, -x) + e", {"x": 0.0, "z": np.zeros(3)}
    )
    z = np.array([1.0, 2.0, 3.0])
    # five sums in either order, each within eps/2 of the running total (<= 19.3), and sin within 4 ulps of 1, per side
    assert f({"x": -0.5, "z": z}) == pytest.approx(14 + 3 + np.sin(-0.5 * np.pi) + 0.5 + np.e, rel=rounding(16))
    g = grad(lambda v: f({"x": v, "z": z}))
    # pi x is exact (x = 1/4), cos within 4 ulps, then a product and a sum: 5 eps relative per side
    assert g(0.25) == pytest.approx(np.pi * np.cos(0.25 * np.pi) + 1.0, rel=rounding(10))


def test_expression_gradient_is_autograd(workdir):
    result = optrun.run(expression("exp(x) - 2*x + y**2", {"x": 3.0, "y": 1.0}))
    # converged to grad_tol 1e-8 on a Hessian diag(e^x, 2) = 2 I at the minimum: |x - log 2| <= 1e-8 / 2 (1% for e^x's change)
    assert result.params["x"] == pytest.approx(np.log(2.0), abs=1.01 * 1e-8 / 2)


HOSTILE = [
    ("__import__('os').system('touch pwned')", "attribute access (.) is not allowed"),
    ("__import__('os')", "the function '__import__' is not allowed"),
    ("getattr(x, 'real')", "the function 'getattr' is not allowed"),
    ("open('pwned', 'w')", "the function 'open' is not allowed"),
    ("eval('1')", "the function 'eval' is not allowed"),
    ("exec('x=1')", "the function 'exec' is not allowed"),
    ("x.__class__.__bases__", "attribute access (.) is not allowed"),
    ("sin.__globals__", "attribute access (.) is not allowed"),
    ("(lambda: 1)()", "calling anything but a listed function by name is not allowed"),
    ("lambda: 1", "lambda is not allowed"),
    ("[i for i in range(10)]", "a comprehension is not allowed"),
    ("sum(i for i in x)", "a comprehension is not allowed"),
    ("{k: 1 for k in x}", "a comprehension is not allowed"),
    ("9**9**9**9", "a constant exponent that is itself computed"),
    ("x**1000000", "the exponent 1000000 is too large"),
    ("'a' * 10**9", "the constant 'a' (only numbers) is not allowed"),
    ("x" + " + x" * 600, "the limit is 1000"),
    ("((((((((((x))))))))))" * 1 + "+1" * 300, "the limit is 400"),
    ("x if y else 1", "if/else (use where) is not allowed"),
    ("x and y", "and/or is not allowed"),
    ("x < y", "a comparison outside the condition of where"),
    ("(y := 3)", "assignment (:=) is not allowed"),
    ("[x, y]", "a list is not allowed"),
    ("x[0]", "x[0] is out of range: x has shape ()"),
    ("sin(x)[0]", "a subscript of anything but an array parameter"),
    ("sin(x, out=y)", "a keyword argument is not allowed"),
    ("np.sin(x)", "attribute access (.) is not allowed"),
    ("(x + y)(1)", "calling anything but a listed function by name"),
    ("z", "unknown name 'z'"),
    ("True + x", "the constant True (only numbers) is not allowed"),
    ("x @ y", "the operator MatMult is not allowed"),
    ("x // y", "the operator FloorDiv is not allowed"),
    ("where(x, y)", "where takes three arguments"),
    ("x +", "syntax error"),
    ("import os", "syntax error"),
]


@pytest.mark.parametrize("expr, message", HOSTILE, ids=[h[0][:30] for h in HOSTILE])
def test_hostile_expressions_are_rejected_and_never_evaluated(workdir, monkeypatch, expr, message):
    def guarded(real):
        # Python itself runs exec and eval on its own text (an import, a namedtuple, a dataclass):
        # only the expression's text is forbidden
        def call(source, *args, **kwargs):
            text = source.decode(errors="replace") if isinstance(source, bytes) else source
            if isinstance(text, str) and expr.strip() in text:
                raise AssertionError("eval/exec/compile must never be called on expression text")
            return real(source, *args, **kwargs)

        return call

    run = optrun.run
    monkeypatch.setattr(builtins, "eval", guarded(builtins.eval))
    monkeypatch.setattr(builtins, "exec", guarded(builtins.exec))
    with pytest.raises(ConfigError) as info:
        run(expression(expr))
    assert message in str(info.value)
    assert str(info.value).startswith("problem.expr:")
    assert not (workdir / "pwned").exists()
    assert not (workdir / "outputs").exists()


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"f": 1.0}, "parameter name 'f' is reserved"),
        ({"sin": 1.0}, "parameter name 'sin' is reserved"),
        ({"class": 1.0}, "is not a valid identifier"),
        ({"x y": 1.0}, "is not a valid identifier"),
        ({"x": []}, "parameter 'x' is an empty list"),
        ({}, "problem.params: dictionary should have at least 1 item"),
        ({"x": "one"}, "problem.params.x:"),
    ],
)
def test_bad_parameter_declarations(params, expected):
    with pytest.raises(ConfigError) as info:
        optrun.run(expression("1", params))
    assert expected in str(info.value)


def test_array_subscript_out_of_range():
    with pytest.raises(ConfigError, match=r"z\[5\] is out of range: z has shape \(2,\)"):
        compile_expression("z[5]", {"z": np.zeros(2)})


# ------------------------------------------------ describe, gammaln, vector form
def build(expr, params):
    from optrun.core.options import validate
    from optrun.core.problems import PROBLEMS

    entry = PROBLEMS.get("expression")
    return entry.build(validate(entry.options, {"expr": expr, "params": params}, "problem"))


def test_catalogue_builds_expression_from_its_example():
    """describe/list-problems build every problem from model_construct(): expr
    and params are required, so the example stands in (it used to be an
    AttributeError)."""
    from optrun.commands.catalogue import _minimum_text
    from optrun.commands.describe import describe_problem
    from optrun.core.problems import PROBLEMS
    from optrun.core.problems.expression import EXAMPLE

    entry = PROBLEMS.get("expression")
    problem = entry.build(entry.options.model_construct())
    assert problem.start == EXAMPLE["params"]
    assert problem.objective(problem.start) == 4.0 + 10 * 1.0  # at (-1, 2): small integers, exact
    assert "no known minimum" in _minimum_text(entry)
    describe_problem(entry, 80)  # no exception
    assert entry.options.model_fields["expr"].is_required()  # still required in a config
    with pytest.raises(ConfigError, match="problem.expr: is required but missing"):
        optrun.run({"problem": {"name": "expression", "params": {"x": 1.0}}, "optimizer": "gd"})


@pytest.mark.slow
def test_describe_and_list_problems_commands(tmp_path):
    from helpers import run_cli

    for args in (("describe", "expression"), ("list-problems",)):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stdout + result.stderr and "cannot build" not in result.stdout


@pytest.mark.parametrize("name", ["gammaln", "lgamma"])
def test_gammaln_matches_scipy_and_differentiates(name):
    import scipy.special

    f = compile_expression(f"{name}(x)", {"x": np.zeros(5)})
    x = np.array([0.3, 1.0, 2.5, 10.0, 170.5])
    # the expression's gammaln is SciPy's, and its derivative SciPy's digamma times seeds of 1: a rounding apart at most
    assert np.allclose(f({"x": x}), scipy.special.gammaln(x), rtol=rounding(2), atol=0)
    g = grad(lambda v: f({"x": v}).sum())(x)
    assert np.allclose(g, scipy.special.digamma(x), rtol=rounding(2), atol=0)


def test_poisson_log_likelihood_with_gammaln():
    """A Poisson likelihood needs log(k!) = gammaln(k + 1); its MLE is the mean count."""
    import scipy.stats

    counts = [2.0, 0.0, 3.0, 1.0, 4.0]
    problem = build("-sum(k * log_lam - exp(log_lam) - gammaln(k + 1))", {"log_lam": 0.3, "k": counts})
    at = {"log_lam": 0.3, "k": np.array(counts)}
    # five terms k log(lam) - lam - gammaln(k + 1) and their sum, ~10 roundings per side of terms that sum to
    # |terms| = 15.4 (f = 9.4); SciPy takes log(exp(0.3)), within 2 ulps of 0.3
    assert problem.objective(at) == pytest.approx(
        -scipy.stats.poisson.logpmf(counts, np.exp(0.3)).sum(), abs=rounding(20, 16)
    )
    d = grad(lambda v: problem.objective({**at, "log_lam": v}))(0.3)
    # 5 exp(0.3) - 10 = -3.25, sums of terms up to 10 on each side
    assert d == pytest.approx(len(counts) * np.exp(0.3) - sum(counts), abs=rounding(8, 10))


def test_gamma_names_are_reserved():
    with pytest.raises(ConfigError, match="parameter name 'lgamma' is reserved"):
        build("lgamma", {"lgamma": 1.0})


def test_vector_expression_is_a_function_r_n_to_r_m():
    problem = build(["x * y", "x + sin(y)", "exp(x - y)", "sum(z)"], {"x": 1.0, "y": 2.0, "z": [1.0, 2.0]})
    assert problem.outputs == 4 and problem.vector is not None
    value = problem.vector({"x": 1.0, "y": 2.0, "z": np.array([1.0, 2.0])})
    assert value.shape == (4,)
    assert np.allclose(
        value, [2.0, 1.0 + np.sin(2.0), np.exp(-1.0), 3.0], rtol=rounding(2), atol=0
    )  # NumPy's sin and exp; one +
    scalar = build("x * y", {"x": 1.0, "y": 2.0})
    assert scalar.vector is None and scalar.outputs == 1 and scalar.scalar_objective() is scalar.objective


def test_vector_expression_refuses_a_scalar_objective():
    problem = build(["x * y", "x + y"], {"x": 1.0, "y": 2.0})
    with pytest.raises(ConfigError) as info:
        problem.scalar_objective()
    message = str(info.value)
    assert message.startswith("problem: is a vector function R^2 -> R^2") and "\n" not in message
    with pytest.raises(ConfigError, match="vector function"):
        problem.objective(problem.start)  # nothing minimizes it by mistake


@pytest.mark.parametrize(
    "expr, expected",
    [
        ([], "problem.expr: a list of formulas needs 1 to 50 entries, got 0"),
        (["x"] * 51, "needs 1 to 50 entries, got 51"),
        (["x", ""], "problem.expr: entry 1 must be a formula (a non-empty string), got ''"),
        (["x", 3], "entry 1 must be a formula (a non-empty string), got 3"),
        (3, "problem.expr: must be a formula or a list of formulas (strings), got 3"),
        ("  ", "problem.expr: must be a formula, got an empty string"),
        (["x", "x +"], "problem.expr[1]: syntax error"),
        (["x", "q"], "problem.expr[1]: unknown name 'q'"),
        (["x", "open(x)"], "problem.expr[1]: the function 'open' is not allowed"),
    ],
)
def test_vector_expression_errors(expr, expected):
    with pytest.raises(ConfigError) as info:
        build(expr, {"x": 1.0})
    assert expected in str(info.value)


def test_a_caret_is_told_to_be_a_power():
    """x^2 as written on paper: ^ is exclusive-or in Python; the message says to write **."""
    from optrun.config import load_config
    from optrun.core.errors import ConfigError

    with pytest.raises(
        ConfigError,
        match=r"problem.expr: '\^' \(exclusive-or\) is not allowed in an expression: write powers with \*\* \(x\*\*2\)",
    ):
        from optrun.engine.prepare import prepare

        prepare(
            load_config({"problem": {"name": "expression", "expr": "x^2 + 1", "params": {"x": 1.0}}, "optimizer": "gd"})
        )
