import pytest
import yaml

from optrun.config import apply_override, load_config, parse_yaml
from optrun.core.errors import ConfigError

BASE = {"problem": "trid", "optimizer": "gd"}


def error_of(config, overrides=()):
    with pytest.raises(ConfigError) as info:
        load_config(config, overrides)
    return str(info.value)


def test_shorthand_and_defaults_are_filled_in():
    cfg = load_config(dict(BASE))
    resolved = cfg.resolved()
    assert resolved["name"] == "trid"  # a mapping without name: its problem's
    assert resolved["seed"] == 0
    assert resolved["problem"] == {"name": "trid", "dim": 2}
    assert resolved["optimizer"] == {"name": "gd", "step_size": 0.01, "clip_grad_norm": None}
    assert resolved["init"] == {"kind": "default"}
    assert resolved["stop"]["max_iter"] == 1000
    assert resolved["stop"]["grad_tol"] == 1e-8
    assert resolved["stop"]["f_tol"] is None
    assert resolved["output"] == {
        "dir": "outputs",
        "plots": True,
        "plot_format": "png",
        "param_columns": 100,
        "grad_columns": False,
        "log_every": 1,
        "trace_format": "csv",
    }
    assert "expect" not in resolved


def test_name_defaults_to_file_stem(tmp_path):
    path = tmp_path / "my-study.yaml"
    path.write_text("problem: trid\noptimizer: gd\n")
    assert load_config(path).name == "my-study"


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config({**BASE, "optimizer": {"name": "adam", "step_size": 0.1}, "seed": 3, "expect": {"fun": "known"}})
    path = tmp_path / "resolved.yaml"
    path.write_text(yaml.safe_dump(cfg.resolved(), sort_keys=False))
    again = load_config(path)
    assert again.resolved() == cfg.resolved()


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"problem": "tird", "optimizer": "gd"}, "problem.name: unknown problem 'tird'; did you mean 'trid'?"),
        ({"problem": "trid", "optimizer": "gdd"}, "optimizer.name: unknown optimizer 'gdd'; did you mean 'gd'?"),
        ({"problem": "trid", "optimiser": "gd"}, "optimiser: unknown key 'optimiser'; did you mean 'optimizer'?"),
        ({**BASE, "stop": {"max_iters": 5}}, "stop.max_iters: unknown key 'max_iters'; did you mean 'max_iter'?"),
        ({**BASE, "stop": {"max_iter": -1}}, "stop.max_iter: input should be greater than or equal to 0, got -1"),
        ({**BASE, "stop": {"max_iter": "ten"}}, "stop.max_iter: input should be a valid integer, got 'ten'"),
        ({**BASE, "stop": {"max_iter": 10.5}}, "stop.max_iter:"),
        ({**BASE, "stop": {"time_limit": -1.0}}, "stop.time_limit: input should be greater than 0"),
        (
            {"problem": {"name": "trid", "dimm": 3}, "optimizer": "gd"},
            "problem.dimm: unknown key 'dimm'; did you mean 'dim'? (allowed: dim)",
        ),
        (
            {"problem": {"name": "trid", "dim": 0}, "optimizer": "gd"},
            "problem.dim: input should be greater than or equal to 1, got 0",
        ),
        ({"problem": {"dim": 3}, "optimizer": "gd"}, "problem: needs 'name:'"),
        ({"problem": {"name": 3}, "optimizer": "gd"}, "problem.name: must be a problem name, got 3"),
        (
            {"problem": "trid", "optimizer": {"name": "gd", "step_size": -0.1}},
            "optimizer.step_size: input should be greater than 0, got -0.1",
        ),
        (
            {"problem": "trid", "optimizer": {"name": "gd", "step_size": "big"}},
            "optimizer.step_size: input should be a valid number",
        ),
        ({"problem": "trid", "optimizer": {"name": "gd", "stepsize": 1}}, "did you mean 'step_size'?"),
        ({"problem": "trid", "optimizer": {"name": "adam", "b1": 1.0}}, "optimizer.b1: input should be less than 1"),
        ({**BASE, "init": "gaussian"}, "init.kind: unknown initializer 'gaussian'"),
        ({**BASE, "init": {"kind": "uniform", "low": 1.0, "high": 0.0}}, "init: low must be less than high"),
        ({**BASE, "init": {"kind": "normal", "scale": 0.0}}, "init.scale: input should be greater than 0"),
        ({**BASE, "init": {"kind": "constant"}}, "init.value: is required but missing"),
        ({**BASE, "seed": -1}, "seed: input should be greater than or equal to 0"),
        ({**BASE, "name": "../escape"}, "name: a name becomes a folder: use letters, digits, '.', '_' and '-'"),
        ({**BASE, "output": {"plots": "yes"}}, "output.plots: input should be true or false"),
        ({**BASE, "expect": {"status": "done"}}, "expect.status:"),
        ({**BASE, "expect": {"fun": "best"}}, "expect.fun:"),
        ({"optimizer": "gd"}, "problem: is required but missing"),
        ({**BASE, "fix": [1, 2]}, "fix: input should be a mapping"),
    ],
)
def test_invalid_configs_name_the_key_and_what_is_allowed(config, expected):
    assert expected in error_of(config)


def test_error_is_one_line_and_has_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("problem: trid\noptimizer: {name: gd, step_size: 0}\n")
    message = error_of(path)
    assert message.startswith(f"{path}: optimizer.step_size:")
    assert "\n" not in message


def test_several_errors_are_counted():
    assert "(and 1 more error)" in error_of({**BASE, "stop": {"max_iter": -1, "grad_tol": -1.0}})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("problem: [\n", "line 2, column 1: YAML error"),
        ("problem: !!python/object:os.system {}\noptimizer: gd\n", "no tags such as !!python/object"),
        (
            "problem: !!python/name:os.system\noptimizer: gd\n",
            "line 1, column 10: YAML error: the tag !!python/name:os.system is not allowed",
        ),
        ("problem: trid\nproblem: rosen\noptimizer: gd\n", "line 2, column 1: YAML error: duplicate key 'problem'"),
        ("", "config file is empty"),
        ("- problem\n- trid\n", "a config must be a mapping of keys, got a list"),
        ("just text\n", "a config must be a mapping of keys, got a str"),
    ],
)
def test_bad_yaml_files(tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert expected in error_of(path)


def test_missing_file_and_directory(tmp_path):
    assert error_of(tmp_path / "nope.yaml").endswith("nope.yaml: config file not found")
    assert "is a directory" in error_of(tmp_path)


def test_exponent_floats_without_a_dot_are_numbers():
    # PyYAML (YAML 1.1) reads 1e-8 as a string; configs mean a number
    assert parse_yaml("a: 1e-8\nb: -2E+3\nc: 1.5\nd: 10\ne: .inf", "x") == {
        "a": 1e-8,
        "b": -2000.0,
        "c": 1.5,
        "d": 10,
        "e": float("inf"),
    }


# ---------------------------------------------------------------- overrides
def test_overrides_set_nested_keys_and_expand_shorthand():
    cfg = load_config(dict(BASE), ["optimizer.step_size=0.1", "stop.max_iter=50", "problem.dim=3", "init.kind=zeros"])
    assert cfg.optimizer.options.step_size == 0.1
    assert cfg.stop.max_iter == 50
    assert cfg.problem.options.dim == 3
    assert cfg.init.name == "zeros"


def test_override_flow_collections():
    cfg = load_config(dict(BASE), ["init.kind=values", "init.values.x=[0, 0.5]"])
    assert cfg.init.options.values == {"x": [0, 0.5]}
    cfg = load_config(dict(BASE), ["optimizer={name: adam, step_size: 0.5}"])
    assert cfg.optimizer.name == "adam" and cfg.optimizer.options.step_size == 0.5


def test_override_does_not_touch_the_callers_dict():
    config = {"problem": {"name": "trid"}, "optimizer": "gd"}
    load_config(config, ["problem.dim=5"])
    assert config == {"problem": {"name": "trid"}, "optimizer": "gd"}


def test_later_override_wins():
    assert load_config(dict(BASE), ["seed=1", "seed=2"]).seed == 2


@pytest.mark.parametrize(
    "override, expected",
    [
        ("stop.max_iter", "must look like dotted.key=value"),
        ("=3", "has an empty key"),
        ("stop..max_iter=3", "has an empty key"),
        ("problem.name.x=1", "cannot set 'problem.name.x': 'problem.name' is 'trid', not a mapping"),
        ("stop.max_iter=[1", "YAML error"),
        ("stop.max_iter=abc", "stop.max_iter: input should be a valid integer, got 'abc'"),
        ("stop.maxiter=5", "stop.maxiter: unknown key 'maxiter'; did you mean 'max_iter'?"),
        ("optimizer.step_size=!!python/object:os.system {}", "no tags such as"),
    ],
)
def test_bad_overrides(override, expected):
    assert expected in error_of(dict(BASE), [override])


def test_apply_override_creates_missing_sections():
    data = {}
    apply_override(data, "stop.f_tol=1e-6")
    assert data == {"stop": {"f_tol": 1e-6}}


def test_integer_options_accept_integer_valued_floats():
    """stop.max_iter: 1e3 is how YAML reads a short thousand: it is 1000; 1.5 stays an error."""
    config = load_config(
        {"problem": {"name": "trid", "dim": 3.0}, "optimizer": "gd", "stop": {"max_iter": 1e3}, "sweep": {"seeds": 2.0}}
    )
    assert config.stop.max_iter == 1000 and type(config.stop.max_iter) is int and config.problem.options.dim == 3
    assert config.sweep.seeds == 2 and type(config.sweep.seeds) is int
    with pytest.raises(ConfigError, match=r"stop.max_iter: input should be a valid integer, got 1.5"):
        load_config({"problem": "trid", "optimizer": "gd", "stop": {"max_iter": 1.5}})
    with pytest.raises(ConfigError, match=r"step_size"):  # a float field is untouched
        load_config({"problem": "trid", "optimizer": {"name": "gd", "step_size": "0.1"}})
