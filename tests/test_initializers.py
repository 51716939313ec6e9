import numpy as np
import pytest

from optrun.config import load_config
from optrun.core.errors import ConfigError
from optrun.engine.prepare import prepare


def start_of(init, problem="trid", seed=0, **extra):
    cfg = load_config({"problem": problem, "optimizer": "gd", "init": init, "seed": seed, **extra})
    return prepare(cfg).params0


def test_default_is_the_problems_start():
    assert start_of("default")["x"].tolist() == [1.0, -1.0]
    assert start_of("default", problem="goldfield") == {"x": 0.1, "y": -0.1}


@pytest.mark.parametrize("kind, value", [("zeros", 0.0), ("ones", 1.0)])
def test_fill_kinds(kind, value):
    assert start_of(kind)["x"].tolist() == [value, value]
    assert start_of(kind, problem="goldfield") == {"x": value, "y": value}


def test_constant():
    assert start_of({"kind": "constant", "value": 2.5}, problem={"name": "trid", "dim": 3})["x"].tolist() == [2.5] * 3


def test_random_kinds_are_seeded_and_shaped():
    a = start_of({"kind": "normal", "scale": 0.5}, problem={"name": "trid", "dim": 5}, seed=7)["x"]
    b = start_of({"kind": "normal", "scale": 0.5}, problem={"name": "trid", "dim": 5}, seed=7)["x"]
    c = start_of({"kind": "normal", "scale": 0.5}, problem={"name": "trid", "dim": 5}, seed=8)["x"]
    assert a.shape == (5,) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(a, np.random.default_rng(7).normal(0.0, 0.5, size=5))
    u = start_of({"kind": "uniform", "low": 2.0, "high": 3.0}, problem={"name": "trid", "dim": 1000})["x"]
    assert u.min() >= 2.0 and u.max() < 3.0


def test_values_sets_named_parameters_and_keeps_others():
    assert start_of({"kind": "values", "values": {"x": 5}}, problem="goldfield") == {"x": 5.0, "y": -0.1}


@pytest.mark.parametrize(
    "values, expected",
    [
        ({"z": 1.0}, "init.values.z: unknown parameter 'z' (parameters: x, y)"),
        ({"x": [1.0, 2.0]}, "init.values.x: must be a number, got shape (2,)"),
        ({"x": float("nan")}, "init.values.x: must be finite numbers"),
    ],
)
def test_values_errors(values, expected):
    with pytest.raises(ConfigError) as info:
        start_of({"kind": "values", "values": values}, problem="goldfield")
    assert expected in str(info.value)


# ------------------------------------------------------------ only: parameter paths
def test_only_fills_the_matching_paths_and_keeps_the_start_elsewhere():
    """Seed 004's weights-only fill: random w, the biases left at the start (0)."""
    start = start_of("default", problem="mlp_regression")
    full = start_of({"kind": "normal", "scale": 0.1}, problem="mlp_regression")
    only = start_of({"kind": "normal", "scale": 0.1, "only": "layers[*].w"}, problem="mlp_regression")
    for layer, full_layer, start_layer in zip(only["layers"], full["layers"], start["layers"]):
        assert np.array_equal(layer["w"], full_layer["w"])  # the same draws as without only
        assert np.array_equal(layer["b"], start_layer["b"]) and not layer["b"].any()
        assert list(layer) == list(start_layer)


def test_only_patterns_reach_entries_lists_and_scalars():
    assert start_of({"kind": "ones", "only": "x[1]"}, problem={"name": "trid", "dim": 3})["x"].tolist() == [
        0.0,
        1.0,
        0.0,
    ]
    assert start_of({"kind": "ones", "only": "x[?]"}, problem={"name": "trid", "dim": 3})["x"].tolist() == [1.0] * 3
    assert start_of({"kind": "constant", "value": 7, "only": "y"}, problem="goldfield") == {"x": 0.1, "y": 7.0}
    assert start_of({"kind": "zeros", "only": ["x", "y"]}, problem="goldfield") == {"x": 0.0, "y": 0.0}
    ones = start_of({"kind": "ones", "only": ["layers[0]", "layers[1].w[0,*]"]}, problem="mlp_regression")
    first, second = ones["layers"]
    assert (first["w"] == 1).all() and (first["b"] == 1).all()
    assert (second["w"][0] == 1).all() and not (second["w"][1:] == 1).any() and not second["b"].any()
    default = start_of("default", problem="linear_regression")
    u = start_of({"kind": "uniform", "low": 2.0, "high": 3.0, "only": "b"}, problem="linear_regression")
    assert np.all((2.0 <= np.asarray(u["b"])) & (np.asarray(u["b"]) < 3.0)) and np.array_equal(u["w"], default["w"])


def test_only_glob_semantics():
    from optrun.core.initializers import path_pattern

    assert path_pattern("layers[*].w").fullmatch("layers[0].w")
    assert path_pattern("layers[*].w").fullmatch("layers[12].w")
    assert not path_pattern("layers[*].w").fullmatch("layers[0].b")
    assert not path_pattern("*").fullmatch("layers[0].w")  # * stops at '.'
    assert path_pattern("*.w").fullmatch("layers[0].w")
    assert path_pattern("w[?,*]").fullmatch("w[1,23]")
    assert not path_pattern("w.b").fullmatch("wxb")  # '.' is literal


@pytest.mark.parametrize(
    "init, expected",
    [
        (
            {"kind": "normal", "only": "layers[*].W"},
            "init.only: the pattern 'layers[*].W' matches no parameter; did you mean 'layers[",
        ),
        ({"kind": "zeros", "only": ["layers[*].w", "bias"]}, "init.only: the pattern 'bias' matches no parameter"),
        ({"kind": "zeros", "only": []}, "init.only: must be a path pattern or a list of 1 to 50 of them"),
        (
            {"kind": "zeros", "only": 3},
            'init.only: must be a path pattern or a list of 1 to 50 of them, e.g. "layers[*].w", got 3',
        ),
        ({"kind": "zeros", "only": ""}, "init.only: each pattern must be a non-empty string"),
        ({"kind": "default", "only": "x"}, "init.only: unknown key 'only' (this section takes no options)"),
        ({"kind": "values", "values": {"x": 1}, "only": "x"}, "init.only: unknown key 'only' (allowed: values)"),
    ],
)
def test_only_errors(init, expected):
    with pytest.raises(ConfigError) as info:
        start_of(init, problem="mlp_regression")
    message = str(info.value)
    assert expected in message and "\n" not in message
