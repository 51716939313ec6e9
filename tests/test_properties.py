"""Property-based tests of the config loader and the --set parser."""

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optrun
from optrun.config import load_config
from optrun.core.errors import ConfigError

pytestmark = pytest.mark.slow  # hypothesis: hundreds of examples each; not in the fast subset (pytest -m "not slow")

KEYS = [
    "name",
    "seed",
    "problem",
    "init",
    "optimizer",
    "fix",
    "stop",
    "output",
    "expect",
    "dim",
    "step_size",
    "kind",
    "values",
    "max_iter",
    "grad_tol",
    "x",
    "y",
    "plots",
    "dir",
    "fun",
    "params",
    "atol",
    "known",
    "trid",
    "gd",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(KEYS),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=5),
    ),
    max_leaves=25,
)
BASE = {"problem": "trid", "optimizer": "gd", "output": {"plots": False}}


def loads_or_config_error(config, overrides=()):
    try:
        load_config(config, overrides)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_any_yaml_document_is_a_config_or_a_config_error(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("docs") / "c.yaml"
    path.write_text(yaml.safe_dump(document))
    loads_or_config_error(path)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_file_is_a_config_or_a_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("texts") / "c.yaml"
    path.write_text(text, encoding="utf-8")
    loads_or_config_error(path)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=3))
def test_any_override_string_is_applied_or_a_config_error(overrides):
    loads_or_config_error(dict(BASE), overrides)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(
        [
            "stop.max_iter",
            "optimizer.step_size",
            "problem.dim",
            "seed",
            "init.kind",
            "stop",
            "problem",
            "fix.x",
            "output.plots",
            "expect.fun",
            "a.b.c",
        ]
    ),
    st.one_of(st.integers(-5, 10**9), st.floats(), st.text(max_size=10), st.lists(st.integers(), max_size=3)),
)
def test_dotted_overrides_of_any_value(path, value):
    loads_or_config_error(
        dict(BASE), [f"{path}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"]
    )


valid_configs = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 1000),
        "problem": st.sampled_from(
            [
                {"name": "trid", "dim": 3},
                {"name": "goldfield"},
                {"name": "rosenbrock"},
                {"name": "booth"},
                {"name": "polynomial", "coeffs": [1.0, 0.0, -2.0, 1.0, 0.5]},
            ]
        ),
        "init": st.sampled_from(
            [
                {"kind": "default"},
                {"kind": "normal", "scale": 0.5},
                {"kind": "uniform", "low": -1.0, "high": 1.0},
                {"kind": "constant", "value": 0.3},
            ]
        ),
        "optimizer": st.one_of(
            st.builds(lambda s: {"name": "gd", "step_size": s}, st.floats(1e-4, 1e-2)),
            st.builds(
                lambda s, b: {"name": "momentum", "step_size": s, "beta": b},
                st.floats(1e-4, 1e-2),
                st.floats(0.0, 0.95),
            ),
            st.builds(lambda s: {"name": "adam", "step_size": s}, st.floats(1e-4, 1e-1)),
        ),
        "stop": st.fixed_dictionaries({"max_iter": st.integers(1, 30), "grad_tol": st.sampled_from([None, 1e-6])}),
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(valid_configs)
def test_valid_configs_round_trip_through_the_resolved_config(tmp_path_factory, config):
    folder = tmp_path_factory.mktemp("runs")
    config = {**config, "output": {"dir": str(folder), "plots": False}}
    first = optrun.run(config)
    again = optrun.run(first.run_dir / "config.yaml")
    assert (
        load_config(first.run_dir / "config.yaml").resolved() == load_config(again.run_dir / "config.yaml").resolved()
    )
    for column in first.trace:
        if column != "time_s":
            np.testing.assert_array_equal(first.trace[column], again.trace[column])
    assert (first.status, first.nit) == (again.status, again.nit)


# YAML text built from the pieces that broke the loader (anchors, aliases, tags, deep
# brackets, '?' keys, long digit runs, NUL escapes): the loader returns a value or raises
# the one-line ConfigError, and does so quickly; nothing else escapes.
YAML_PIECES = [
    "[",
    "]",
    "{",
    "}",
    ", ",
    ": ",
    "? ",
    "- ",
    "\n",
    "  ",
    "&a ",
    "&b ",
    "*a",
    "*b",
    "!!int ",
    "!!float ",
    "!!timestamp ",
    "!!bool ",
    "!!str ",
    "!!binary ",
    "!!set ",
    "!!omap ",
    "<<: ",
    "x",
    "1",
    "9" * 50,
    "1e999",
    ".nan",
    '"\\0"',
    "'",
    '"',
    "#",
    "|",
    ">",
    "---\n",
    "~",
    "2001-12-14",
    "1:30",
    "0x1F",
    "0o17",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(YAML_PIECES), max_size=60), st.integers(0, 3))
def test_any_yaml_made_of_hostile_pieces_is_a_value_or_one_line_error(pieces, repeat):
    import time

    from optrun.core.safe_yaml import parse_yaml

    text = "".join(pieces) * (1 + repeat)
    start = time.monotonic()
    try:
        parse_yaml(text, "t.yaml")
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("t.yaml: ")
    assert time.monotonic() - start < 5


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 12), st.integers(2, 12))
def test_alias_towers_are_refused_exactly_when_they_expand_past_the_budget(levels, width):
    from optrun.core.safe_yaml import MAX_YAML_NODES, parse_yaml

    lines, previous, expanded = [f"l0: &l0 [{', '.join(['1'] * width)}]"], "l0", [width + 1]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*{previous}'] * width)}]")
        previous = f"l{level}"
        expanded.append(1 + width * expanded[-1])
    aliased = sum(width * size for size in expanded[:-1])  # values reached through aliases
    total = 1 + sum(1 + size for size in expanded)  # the document: a mapping of `levels` keys
    try:
        parse_yaml("\n".join(lines), "t.yaml")
        refused = False
    except ConfigError as exc:
        assert "aliases expand to more than" in str(exc) or "the document has more than" in str(exc)
        refused = True
    assert refused == (aliased > MAX_YAML_NODES or total > MAX_YAML_NODES)
