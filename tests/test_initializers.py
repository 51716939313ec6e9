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


# ------------------------------------------------------------ perturbed: optrun bench's starts
def old_random_start(params0, seed, problem_label, k):
    """optrun.engine.bench.random_start before issue 28 point 7, verbatim: the
    bench wrote its result into each run's config as init.values."""
    import zlib

    rng = np.random.default_rng([seed, zlib.crc32(problem_label.encode("utf-8")), k])

    def perturb(value):
        if isinstance(value, dict):
            return {key: perturb(value[key]) for key in sorted(value)}
        x = np.asarray(value, dtype=float)
        moved = x + np.maximum(1.0, np.abs(x)) * rng.standard_normal(x.shape)
        return moved.tolist()

    return perturb(params0)


def test_perturbed_draws_the_old_bench_starts_bit_for_bit():
    """The shipped MGH suite's 24 problems (vectors, scalars, several
    parameters), seeds 0 and 7, starts 1 to 3: the start the perturbed
    initializer builds from (seed, label, k) is the old bench's vector exactly."""
    from pathlib import Path

    from optrun.config.bench import label, load_suite
    from optrun.core.params import to_jsonable

    suite = load_suite(Path(__file__).resolve().parents[1] / "configs" / "bench-mgh.yaml")
    problems = [*suite.problems, {"name": "goldfield"}, {"name": "trid", "dim": 7}]
    for problem in problems:
        for seed in (0, 7):
            params0 = to_jsonable(start_of("default", problem=problem, seed=seed))
            for k in (1, 2, 3):
                rule = {"kind": "perturbed", "seed": seed, "label": label(problem), "k": k}
                new = start_of(rule, problem=problem, seed=seed)
                old = start_of(
                    {"kind": "values", "values": old_random_start(params0, seed, label(problem), k)},
                    problem=problem,
                    seed=seed,
                )
                assert list(new) == list(old)
                for name in old:
                    assert np.array_equal(np.asarray(new[name]), np.asarray(old[name])), (problem, seed, k, name)
                    assert np.asarray(new[name]).dtype == np.asarray(old[name]).dtype
    # the rule's numbers matter: another k, seed or label is another start
    trid = {"name": "trid", "dim": 7}
    base = start_of({"kind": "perturbed", "seed": 0, "label": "trid(dim=7)", "k": 1}, problem=trid)
    for other in ({"k": 2}, {"seed": 1}, {"label": "trid"}):
        rule = {"kind": "perturbed", "seed": 0, "label": "trid(dim=7)", "k": 1, **other}
        assert not np.array_equal(start_of(rule, problem=trid)["x"], base["x"])


def test_perturbed_reaches_nested_parameters_and_scales_with_x0():
    from optrun.core.initializers import perturbed_start

    start = start_of("default", problem="mlp_regression")
    moved = start_of({"kind": "perturbed", "k": 1}, problem="mlp_regression")
    assert [list(layer) for layer in moved["layers"]] == [list(layer) for layer in start["layers"]]
    for layer, start_layer in zip(moved["layers"], start["layers"]):
        for key in start_layer:
            assert layer[key].shape == np.shape(start_layer[key]) and not np.array_equal(layer[key], start_layer[key])
    # x0 + max(1, |x0|) z: entries with |x0| > 1 move in proportion
    moved_x = np.array([perturbed_start({"x": np.array([0.0, 1e6])}, 0, "p", k)["x"] for k in range(1, 200)])
    steps = np.abs(moved_x - [0.0, 1e6])
    assert 0.5 < steps[:, 0].mean() < 1.2 and 0.5e6 < steps[:, 1].mean() < 1.2e6


@pytest.mark.parametrize(
    "init, expected",
    [
        ({"kind": "perturbed"}, "init.k: is required but missing"),
        ({"kind": "perturbed", "k": 0}, "init.k: "),
        ({"kind": "perturbed", "k": 1, "seed": -1}, "init.seed: "),
        ({"kind": "perturbed", "k": 1, "values": [1]}, "init.values: unknown key 'values'"),
    ],
)
def test_perturbed_errors(init, expected):
    with pytest.raises(ConfigError) as info:
        start_of(init)
    message = str(info.value)
    assert expected in message and "\n" not in message
