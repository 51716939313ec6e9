"""Your own function from Python (optrun.minimize, optrun.grad(fun, at)),
results in a notebook (_repr_html_, to_pandas) and optrun.load: the same
pipeline and result object as optrun run (optrun/api.py, optrun/engine/record.py,
optrun/core/problems/python.py)."""

import json
import math

import autograd.numpy as anp
import numpy as np
import pytest
import yaml
from tolerances import rounding

import optrun
from optrun.core.errors import ConfigError, RunIOError


def polynomial(x):
    return 3 * x**2 + 4 * x - 3


def test_minimize_runs_seed_000s_descent_cell(workdir):
    """start = 3.0; 200 times: start -= dpolynomial(start) * 0.01 -> -0.666651184..."""
    result = optrun.minimize(
        polynomial, 3.0, "gd", step_size=0.01, stop={"max_iter": 200, "grad_tol": None}, output={"plots": False}
    )
    assert result.status == "max_iter" and result.nit == 200
    # each step rounds x - 0.01 (6x + 4) (|x| <= 3.7; the gradient's roundings are scaled by 0.01): under
    # rounding(4, 4); the map contracts an error by 0.94 a step, so they add up to at most that / (1 - 0.94)
    near = rounding(4, 4) / 0.06
    assert result.params["x"] == pytest.approx(-2 / 3 + 11 / 3 * 0.94**200, abs=near)
    np.testing.assert_allclose(result.trace["x"], -2 / 3 + 11 / 3 * 0.94 ** np.arange(201), rtol=0, atol=near)
    config = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert config["name"] == "polynomial" and result.run_dir.parent.name == "polynomial"
    assert config["problem"]["name"] == "python" and config["problem"]["function"].endswith(
        "test_python_api.polynomial"
    )
    assert len(config["problem"]["source_sha256"]) == 64
    assert json.loads((result.run_dir / "summary.json").read_text())["problem"] == "python"


def test_a_list_of_dicts_start_is_one_parameter_tree(workdir):
    """The notebooks' layered parameters: [{"w": ..., "b": ...}, ...] flattened once, named x[0].w[1], ..."""

    def loss(layers):
        return sum(anp.sum((layer["w"] - 1.0) ** 2) + (layer["b"] + 2.0) ** 2 for layer in layers)

    start = [{"w": np.zeros(2), "b": 0.0}, {"w": np.zeros(3), "b": 0.5}]
    result = optrun.minimize(loss, start, "gd", step_size=0.25, stop={"max_iter": 100}, output={"plots": False})
    assert result.status == "converged"
    assert [c for c in result.trace if c.startswith("x[")] == [
        "x[0].b",
        "x[0].w[0]",
        "x[0].w[1]",
        "x[1].b",
        "x[1].w[0]",
        "x[1].w[1]",
        "x[1].w[2]",
    ]
    # converged: |gradient| <= 1e-8 on a Hessian 2 I, so every entry is within 1e-8 / 2 of the minimum
    np.testing.assert_allclose(result.params["x"][1]["w"], np.ones(3), rtol=0, atol=1e-8 / 2)
    assert result.params["x"][0]["b"] == pytest.approx(-2.0, abs=1e-8 / 2)


def test_a_dict_start_names_the_parameters_and_fix_holds_one(workdir):
    def goldfield(p):
        return 2 * p["x"] ** 2 - 4 * p["x"] * p["y"] + p["y"] ** 4 + 2

    result = optrun.minimize(
        goldfield,
        {"x": 0.1, "y": 1.2},
        "gd",
        step_size=0.01,
        fix={"y": 1.2},
        stop={"max_iter": 300, "grad_tol": None},
        output={"plots": False},
    )
    # seed 000's one-axis robot: x_k = 1.2 - 1.1 * 0.96^k; each step rounds x - 0.01 (4x - 4.8) (|x| <= 1.2): under
    # rounding(4, 2), which the contraction by 0.96 adds up to at most / (1 - 0.96)
    assert result.params["y"] == 1.2 and result.params["x"] == pytest.approx(
        1.2 - 1.1 * 0.96**300, abs=rounding(4, 2) / 0.04
    )


def test_minimize_validates_like_a_config(workdir):
    with pytest.raises(ConfigError, match=r"optimizer.stepsize: unknown key 'stepsize'; did you mean 'step_size'\?"):
        optrun.minimize(polynomial, 3.0, "gd", stepsize=0.1)
    with pytest.raises(ConfigError, match=r"stop.max_iter"):
        optrun.minimize(polynomial, 3.0, stop={"max_iter": -1})
    with pytest.raises(ConfigError, match="must be a Python function"):
        optrun.minimize(42, 3.0)
    with pytest.raises(ConfigError, match=r"^backend: unknown backend '3' \(known: autograd, jax\)$"):
        optrun.minimize(polynomial, 3.0, backend=3)
    with pytest.raises(ConfigError, match=r"^backend: unknown backend 'jaxx'; did you mean 'jax'\?"):
        optrun.grad(polynomial, 3.0, backend="jaxx")
    assert not (workdir / "outputs").exists()


def test_grad_of_a_python_function(workdir):
    result = optrun.grad(polynomial, 3.0, order=2, write=False)
    assert result.gradient.grad == {"x": 22.0} and result.derivatives.values == (36.0, 22.0, 6.0)
    two = optrun.grad(lambda p: anp.sin(p["x1"]) + p["x1"] * p["x2"], {"x1": 3.0, "x2": 1.0}, hessian=True, write=False)
    # NumPy's cos and sin (within 4 ulps; SVML on AVX-512) against libm's (1 ulp), of values below 1: 5 eps absolute
    # (cos 3 + 1 = 0.01 by cancellation: 1e-13 relative)
    assert two.gradient.grad["x1"] == pytest.approx(math.cos(3) + 1, abs=rounding(5))
    np.testing.assert_allclose(two.hessian.array, [[-math.sin(3), 1.0], [1.0, 0.0]], rtol=0, atol=rounding(5))
    with pytest.raises(ConfigError, match="needs the point"):
        optrun.grad(polynomial)


@pytest.mark.slow
def test_load_returns_the_same_result_and_plot_explains_what_it_cannot_redraw(workdir):
    from optrun.plots.runs import draw_run_plots

    ran = optrun.minimize(polynomial, 3.0, "gd", step_size=0.1, stop={"max_iter": 30})
    loaded = optrun.load(ran.run_dir)
    assert loaded.summary == ran.summary and loaded.run_dir == ran.run_dir
    np.testing.assert_array_equal(loaded.trace["f"], ran.trace["f"])
    written, warnings = draw_run_plots(ran.run_dir)
    assert sorted(p.name for p in written) == ["loss.png", "params.png"]
    assert len(warnings) == 1 and "Python function" in warnings[0] and "polynomial" in warnings[0]
    (ran.run_dir / "summary.json").unlink()
    with pytest.raises(RunIOError, match="no summary.json"):
        optrun.load(ran.run_dir)


@pytest.mark.slow
def test_a_result_shows_as_html_and_a_dataframe(workdir):
    pandas = pytest.importorskip("pandas")  # a test extra: installed by pip install -e ".[test]"
    result = optrun.run(
        {
            "name": "<b>tag</b>".replace("<", "").replace(">", "").replace("/", ""),
            "problem": "trid",
            "optimizer": {"name": "gd", "step_size": 0.1},
            "output": {"plots": False},
        }
    )
    html = result._repr_html_()
    assert html.startswith("<table>") and "converged" in html and "-2" in html and str(result.run_dir) in html
    frame = result.to_pandas()
    assert isinstance(frame, pandas.DataFrame) and list(frame.columns[:3]) == ["iter", "f", "grad_norm"]
    assert len(frame) == result.nit + 1 and frame["f"].iloc[-1] == result.fun


def test_html_escapes_user_text(workdir):
    """An objective's own error message lands in the summary's message: it is text, not markup."""

    def hostile(x):
        if x < 0.5:
            raise ValueError("<script>alert(1)</script>")
        return (x - 1.0) ** 2

    result = optrun.minimize(hostile, 2.0, "gd", step_size=1.0, output={"plots": False})
    html = result._repr_html_()
    assert result.status == "failed" and "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.slow
def test_a_result_draws_its_plots_into_given_axes(workdir):
    from matplotlib.figure import Figure

    result = optrun.run(
        {
            "problem": "goldfield",
            "optimizer": {"name": "gd", "step_size": 0.01},
            "stop": {"max_iter": 50},
            "output": {"plots": False},
        }
    )
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert result.plot("loss", ax=left) is fig and result.plot("landscape", ax=right) is fig
    assert left.get_lines()[0].get_ydata().tolist() == result.trace["gap"].tolist()  # f - f* (goldfield's f* is known)
    path = [line for line in right.get_lines() if line.get_label() == "path"][0]
    assert path.get_xdata().tolist() == result.trace["x"].tolist()
    alone = result.plot("params")  # a new figure, outside pyplot
    assert [line.get_label() for line in alone.axes[0].get_lines()] == ["x", "y"]
    assert not list(result.run_dir.glob("*.png"))  # drawn in memory, no file written
    with pytest.raises(ConfigError, match="unknown plot 'contour'"):
        result.plot("contour")
    with pytest.raises(ConfigError, match="fit plot does not apply"):
        result.plot("fit")


def test_compare_from_python_gives_a_table_and_a_figure(workdir):
    a = optrun.minimize(polynomial, 3.0, "gd", name="slow", step_size=0.01, output={"plots": False})
    b = optrun.minimize(polynomial, 3.0, "gd", name="fast", step_size=0.1, output={"plots": False})
    comparison = optrun.compare([a, b.run_dir])
    assert [r["name"] for r in comparison.rows] == ["slow", "fast"] and comparison.rows[1]["nit"] < comparison.rows[0][
        "nit"
    ]
    [ax] = comparison.figure.axes
    assert [line.get_ydata().tolist() for line in ax.get_lines()] == [
        a.trace["f"].tolist(),
        b.trace["f"].tolist(),
    ]  # no f*: f itself
    assert "<td>fast</td>" in comparison._repr_html_()
    pandas = pytest.importorskip("pandas")
    assert isinstance(comparison.to_pandas(), pandas.DataFrame)
    with pytest.raises(ConfigError, match="needs at least one"):
        optrun.compare([])


@pytest.mark.slow  # imports jax
def test_minimize_and_grad_of_a_jax_function_on_the_jax_backend(workdir):
    """The notebook's "Autograd to JAX" move from Python: the same function in
    jax.numpy with backend="jax" runs compiled and gives autograd's numbers."""
    import jax.numpy as jnp

    def rosen(p):
        return 100.0 * (p["y"] - p["x"] ** 2) ** 2 + (1.0 - p["x"]) ** 2

    def rosen_jax(p):
        return 100.0 * jnp.square(p["y"] - jnp.square(p["x"])) + jnp.square(1.0 - p["x"])

    start = {"x": -1.2, "y": 1.0}
    kwargs = dict(optimizer="adam", step_size=0.01, stop={"max_iter": 300, "grad_tol": None}, output={"plots": False})
    auto = optrun.minimize(rosen, start, **kwargs)
    jaxed = optrun.minimize(rosen_jax, start, backend="jax", **kwargs)
    assert yaml.safe_load((jaxed.run_dir / "config.yaml").read_text())["backend"] == "jax"
    np.testing.assert_allclose(jaxed.trace["f"], auto.trace["f"], rtol=1e-12)
    assert jaxed.params["x"] == pytest.approx(auto.params["x"], rel=1e-12)
    g_auto = optrun.grad(rosen, start, hessian=True, write=False)
    g_jax = optrun.grad(rosen_jax, start, hessian=True, write=False, backend="jax")
    # the same derivatives in another order (XLA may fuse into FMAs): ~8 roundings per side on terms that add up to
    # at most 1.6 times the entry (the gradient (-215.6, -88), the Hessian's 1330, 480, 200)
    assert g_jax.gradient.grad == pytest.approx(g_auto.gradient.grad, rel=rounding(16))
    np.testing.assert_allclose(g_jax.hessian.array, g_auto.hessian.array, rtol=rounding(16))
    with pytest.raises(ConfigError, match=r"^backend: problem 'python' runs on the 'jax' backend only, not 'autograd'"):
        optrun.minimize(rosen_jax, start, backend="jax", overrides=["backend=autograd"])


def _self_listing():
    start: list = [1.0]
    start.append(start)
    return start


@pytest.mark.parametrize(
    "x0, fun",
    [
        (3, lambda x: (x - 1.0) ** 2),
        (np.array([1, 2]), lambda x: anp.sum((x - 1.0) ** 2)),
        ([1, 2], lambda x: (x[0] - 1.0) ** 2 + x[1] ** 2),
        ({"a": 3}, lambda p: (p["a"] - 1.0) ** 2),
    ],
    ids=["int", "int-array", "int-list", "int-dict"],
)
def test_integer_starts_become_floats(workdir, x0, fun):
    """What a notebook user types: before, autograd raised a traceback on integer starts."""
    result = optrun.minimize(fun, x0, "gd", step_size=0.1, stop={"max_iter": 3}, output={"plots": False})
    assert result.status == "max_iter" and result.nit == 3


@pytest.mark.parametrize(
    "x0, words",
    [
        ("abc", "x0: is 'abc' (str), not a number"),
        (None, "x0: is None (NoneType), not a number"),
        (True, "x0: is True, a truth value"),
        (np.array([1, "a"], dtype=object), "x0: is an array of object values"),
        (_self_listing(), "x0[1]: contains itself"),
        (eval("[" * 60 + "1.0" + "]" * 60), "x0: nests more than 50 levels"),
        ({1: 2.0}, "x0: has the key 1"),
    ],
    ids=["text", "none", "bool", "object-array", "self-reference", "deep", "int-key"],
)
def test_a_start_that_is_not_numbers_is_one_config_error(workdir, x0, words):
    with pytest.raises(optrun.ConfigError) as caught:
        optrun.minimize(lambda x: x, x0)
    assert str(caught.value).startswith(words)
    assert not (workdir / "outputs").exists()


def test_grad_names_its_point_at_in_a_bad_start():
    with pytest.raises(optrun.ConfigError) as caught:
        optrun.grad(lambda x: x**2, "abc")
    assert str(caught.value).startswith("at: is 'abc' (str), not a number")
    assert optrun.grad(lambda x: x**2, 3).gradient.grad == {"x": 6.0}  # an int point is a float


@pytest.mark.parametrize("run_dir", [None, 3, ["a"]])
def test_load_of_a_non_path_is_one_config_error(run_dir):
    with pytest.raises(optrun.ConfigError, match="run_dir: must be a run directory's path"):
        optrun.load(run_dir)
