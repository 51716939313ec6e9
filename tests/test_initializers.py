import numpy as np
import pytest

from optrun.commands.run import prepare
from optrun.config import load_config
from optrun.core.errors import ConfigError


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
