"""Issue 29: YAML wherever a user copies from (list-*, describe, compare),
``optrun describe`` for every kind of entry, ``--names``, ``python`` out of
list-problems' table, and catalogue tables that fit the width without
breaking a number."""

import math
import re
from types import SimpleNamespace
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from optrun.cli import app
from optrun.commands.catalogue import list_optimizers_command, list_problems_command
from optrun.commands.describe import describe, option_rows
from optrun.config import load_config
from optrun.core.errors import ConfigError
from optrun.core.initializers import INITIALIZERS
from optrun.core.optimizers import OPTIMIZERS
from optrun.core.optimizers.schedules import SCHEDULES
from optrun.core.problems import PROBLEMS
from optrun.core.safe_yaml import parse_yaml
from optrun.core.yaml_text import yaml_text, yaml_type

runner = CliRunner()


# ------------------------------------------------------------------ yaml_text
def same(a: Any, b: Any) -> bool:
    """Equal as YAML data: the same types (a tuple is written as a list), floats bit for bit (nan, -0.0)."""
    if isinstance(a, tuple):
        a = list(a)
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize(
    "value, text",
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (1e-07, "1e-7"),
        (1e16, "1e16"),
        (1.5e-05, "1.5e-5"),
        (0.1, "0.1"),
        (1.0, "1.0"),
        (30, "30"),
        (float("inf"), ".inf"),
        (float("-inf"), "-.inf"),
        ("cholesky", "cholesky"),
        ("null", "'null'"),
        ("1e-7", "'1e-7'"),
        ("true", "'true'"),
        ("", "''"),
        ("a: b", "'a: b'"),
        ("a, b", "'a, b'"),
        ("it's", "it's"),
        ("'q", "'''q'"),
        ("a\nb", '"a\\nb"'),
        ([1e6, 2e-6], "[1000000.0, 2e-6]"),
        ((3.0, None), "[3.0, null]"),
        ({"schedule": "cosine", "value": 0.1}, "{schedule: cosine, value: 0.1}"),
    ],
)
def test_yaml_text_writes_what_a_config_holds(value, text):
    assert yaml_text(value) == text
    assert same(value, parse_yaml(text, "t"))


def test_pyyaml_alone_reads_the_short_exponent_as_text_and_optrun_reads_a_number():
    """Why the round trip goes through optrun's reader: plain YAML 1.1 reads 1e-7 as a string."""
    import yaml

    assert yaml.safe_load("1e-7") == "1e-7"
    assert parse_yaml("1e-7", "t") == 1e-7


texts = st.text(st.characters(exclude_characters="\x00"), max_size=12)  # optrun's reader refuses NUL
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(yaml_values)
def test_yaml_text_round_trips_through_the_config_reader(value):
    text = yaml_text(value)
    assert same(value, parse_yaml(text, "t")), text
    assert same(value, parse_yaml(f"[{text}]", "t")[0]), text  # inside a flow list too


@settings(max_examples=400, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_is_the_shortest_text_that_reads_back(value):
    text = yaml_text(value)
    assert parse_yaml(text, "t") == value and len(text) <= len(repr(value))


def test_yaml_text_bounds_a_huge_value_without_writing_it_all():
    text = yaml_text(list(range(10**6)), limit=30)
    assert len(text) == 30 and text.endswith("...") and text.startswith("[0, 1, 2")


def test_yaml_type_names():
    from pydantic import BaseModel

    class Data(BaseModel):
        """a CSV column"""

        path: str
        column: str | None = None

    cases = {
        float: "number",
        int: "integer",
        str: "text",
        bool: "true/false",
        float | None: "number or null",
        list[float]: "list of numbers",
        list[int]: "list of integers",
        str | list[str] | None: "text or list of texts or null",
        dict[str, Any]: "mapping",
        dict[str, float | list[float]]: "mapping of text to (number or list of numbers)",
        Literal["cholesky", "cg"]: "one of: cholesky, cg",
        Data | None: "a CSV column {path, column?} or null",
    }
    assert {t: yaml_type(t) for t in cases} == cases


# --------------------------------------------------- printed defaults through --set
# the options a built-in entry requires, so that the others can be checked alone
REQUIRED = {
    ("problem", "expression"): ["problem.expr=x**2", "problem.params={x: 1.0}"],
    ("initializer", "constant"): ["init.value=1.0"],
    ("initializer", "values"): ["init.values={x: [0.0, 0.0]}"],
    ("initializer", "perturbed"): ["init.k=1"],
}


def built_in(function) -> bool:
    return function.__module__.startswith("optrun.")


def sections():
    """(kind, name, options model, section path, overrides naming the entry, options of the loaded config)."""
    for name, entry in PROBLEMS.items():
        if built_in(entry.build) and name != "python":  # python: no default, no config (test below)
            yield "problem", name, entry.options, "problem", [f"problem.name={name}"], lambda c: c.problem.options
    for name, entry in OPTIMIZERS.items():
        if built_in(entry.factory):
            yield (
                "optimizer",
                name,
                entry.options,
                "optimizer",
                [f"optimizer.name={name}"],
                lambda c: c.optimizer.options,
            )
    for name, entry in INITIALIZERS.items():
        if built_in(entry.apply):
            yield "initializer", name, entry.options, "init", [f"init.kind={name}"], lambda c: c.init.options
    for name, entry in SCHEDULES.items():
        if built_in(entry.fn):
            naming = ["optimizer.name=gd", f"optimizer.step_size.schedule={name}", "optimizer.step_size.value=0.5"]
            yield (
                "schedule",
                name,
                entry.options,
                "optimizer.step_size",
                naming,
                lambda c: c.optimizer.options.step_size,
            )


def rendered(renderable, width=400) -> str:
    console = Console(record=True, width=width, emoji=False)
    console.print(renderable)
    return console.export_text()


def test_every_printed_default_reads_back_through_set_as_the_default():
    """Issue 29: every default list-* and describe print, fed back through
    --set as printed, validates to the default itself (type included)."""
    checked = 0
    for kind, name, options, path, naming, loaded in sections():
        listed = options.describe()  # the list-* tables' "options (defaults)"
        shown = rendered(describe(name, 400))
        for option, _, default_text, _, _ in option_rows(options):
            field = options.model_fields[option]
            if field.is_required():
                continue
            default = field.get_default(call_default_factory=True)
            assert f"{option}={default_text}" in listed, (kind, name, option, listed)
            row = next(line for line in shown.splitlines() if re.match(rf"[│|] {re.escape(option)} +[│|]", line))
            assert f" {default_text} " in row, (kind, name, option, row)
            config = load_config(
                {"problem": "rosenbrock", "optimizer": "gd"},
                [*naming, *REQUIRED.get((kind, name), []), f"{path}.{option}={default_text}"],
            )
            value = getattr(loaded(config), option)
            assert same(default, value), (kind, name, option, value)
            checked += 1
    assert checked > 90


def test_the_none_defaults_print_as_null_and_booleans_as_true_false():
    assert "clip_grad_norm=null" in OPTIMIZERS.get("adam").options.describe()
    assert "None" not in OPTIMIZERS.get("newton").options.describe()
    assert "adaptive=false" in OPTIMIZERS.get("nelder-mead").options.describe()
    assert "solver=cholesky" in OPTIMIZERS.get("newton").options.describe()
    assert "eps=1e-8" in OPTIMIZERS.get("adam").options.describe()
    assert "bias=true" in PROBLEMS.get("linear_regression").options.describe()


# ------------------------------------------------------------------ describe
def test_describe_an_optimizer_shows_options_needs_wrappers_backends_and_reference():
    result = runner.invoke(app, ["describe", "adam"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "adam (optimizer): Adam with bias correction" in text
    assert re.search(r"│ follows +│ optax\.adam", text)
    assert re.search(r"│ needs +│ gradient +│", text)
    assert "clip_grad_norm: the gradient is rescaled to at most this 2-norm" in text and "step_size: a number" in text
    assert "jax: compiled loop" in text
    cells = [line.split("│") for line in text.splitlines() if line.count("│") == 6]  # the options table's rows
    rows = {cell[1].strip(): [c.strip() for c in cell[2:-1]] for cell in cells}
    assert rows["eps"] == ["number", "1e-8", "> 0", "added to sqrt(v_hat) in the denominator"]
    assert rows["clip_grad_norm"][:3] == ["number or null", "null", "> 0"]
    scipy = runner.invoke(app, ["describe", "bfgs"], env={"COLUMNS": "200"}).stdout
    assert "none (no step_size schedule, no clip_grad_norm)" in scipy and "jax: Python loop" in scipy


def test_every_option_of_the_own_methods_schedules_and_initializers_says_what_it_means():
    modules = ("first_order", "line_search", "newton")
    entries = [e.options for _, e in OPTIMIZERS.items() if e.factory.__module__.rsplit(".", 1)[-1] in modules]
    entries += [e.options for _, e in SCHEDULES.items() if built_in(e.fn)]
    entries += [e.options for _, e in INITIALIZERS.items() if built_in(e.apply)]
    missing = [
        f"{model.__name__}.{name}"
        for model in entries
        for name, field in model.model_fields.items()
        if name != "schedule" and not field.description
    ]
    assert missing == []
    own = [e for _, e in OPTIMIZERS.items() if e.factory.__module__.rsplit(".", 1)[-1] in modules]
    assert len(own) == 9 and all(e.reference for e in own)


def test_a_name_in_several_registries_shows_each():
    text = rendered(describe("constant", 200))
    assert "constant (initializer): every parameter entry `value`" in text
    assert "constant (step-size schedule)" in text and "step_size: {schedule: constant" in text


def test_describe_initializer_and_schedule():
    text = rendered(describe("normal", 200))
    assert "normal (initializer)" in text and "init: {kind: normal" in text
    assert re.search(r"│ scale +│ number +│ 1\.0 +│ > 0 +│ standard deviation", text)
    text = rendered(describe("cosine", 200))
    assert re.search(r"│ decay_steps +│ integer +│ 1000 +│ >= 1 +│", text)
    assert "│ schedule " not in text  # the mapping's schedule: key is the name itself


def test_describe_python_says_where_it_is_usable():
    result = runner.invoke(app, ["describe", "python"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    assert "python (problem)" in result.stdout and "only from the Python API" in result.stdout


def test_an_unknown_name_is_one_line_with_close_names_of_every_kind():
    with pytest.raises(ConfigError) as caught:
        describe("cosin", 80)
    assert "unknown name 'cosin'" in caught.value.message and "'cosine' (schedule)" in caught.value.message
    result = runner.invoke(app, ["describe", "zzzz-nothing"])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "did you mean" not in result.stderr and result.stdout == ""


def test_a_reference_that_is_not_text_is_refused_at_registration():
    from optrun.core.optimizers import ContractError, register_optimizer
    from optrun.core.options import Options

    with pytest.raises(ContractError, match="reference must be a string"):
        register_optimizer("bad-reference", options=Options, description="x", reference=3)(lambda o, r: None)
    assert "bad-reference" not in OPTIMIZERS


# ---------------------------------------------------- --names, python, widths
def test_names_lists_one_name_a_line(capsys):
    assert list_problems_command(None, names=True) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [name for name in PROBLEMS if name != "python"] and "rosenbrock" in lines
    assert list_optimizers_command(None, names=True) == 0
    assert capsys.readouterr().out.splitlines() == list(OPTIMIZERS)


def test_names_flags_from_the_command_line():
    problems = runner.invoke(app, ["list-problems", "--names"])
    assert problems.exit_code == 0 and problems.stdout.splitlines() == [n for n in PROBLEMS if n != "python"]
    optimizers = runner.invoke(app, ["list-optimizers", "--names"])
    assert optimizers.exit_code == 0 and optimizers.stdout == "".join(f"{n}\n" for n in OPTIMIZERS)


def test_python_is_left_out_of_the_table_and_said_under_it():
    for columns in ("250", "80"):
        out = runner.invoke(app, ["list-problems"], env={"COLUMNS": columns}).stdout
        assert not any(re.match(r"│ python +│", line) for line in out.splitlines())
        assert "python: only from the Python API (optrun.minimize, optrun.grad)" in " ".join(out.split())


def test_no_other_problem_is_limited_to_python():
    """Every other built-in problem a config can name validates from a config."""
    for name, entry in PROBLEMS.items():
        if built_in(entry.build) and name != "python":
            load_config(
                {"problem": "rosenbrock", "optimizer": "gd"},
                [f"problem.name={name}", *REQUIRED.get(("problem", name), [])],
            )


def digit_words(text: str) -> set[str]:
    """Words holding a digit, table borders taken out."""
    words = re.sub(r"[│┃┏┓┗┛┡┩└┘┌┐├┤┬┴┼━─╇╈╋┳┻]", " ", text).split()
    return {word.strip(",;") for word in words if any(c.isdigit() for c in word)}


@pytest.mark.slow
@pytest.mark.parametrize("columns", [60, 80, 140])
def test_tables_fit_the_width_and_never_break_a_number(columns):
    """Issue 29: piped at 80 columns, list-problems broke `f* = 0.008214` /
    `877307` and `x=[1e+06` / `, 2e-06]`. Every word holding a digit in a wide
    rendering is whole on one line of the narrow one, and no line is wider."""
    commands = [["list-problems"], ["list-optimizers"], ["describe", "brown_badly_scaled"], ["describe", "newton"]]
    commands += [["describe", "bard"], ["describe", "linear_regression"], ["describe", "cosine"]]
    for command in commands:
        wide = runner.invoke(app, command, env={"COLUMNS": "400"}).stdout
        narrow = runner.invoke(app, command, env={"COLUMNS": str(columns)}).stdout
        lines = narrow.splitlines()
        assert max(len(line) for line in lines) <= columns
        whole = {word for line in lines for word in digit_words(line)}
        assert digit_words(wide) <= whole, (command, sorted(digit_words(wide) - whole))
    assert "0.008214877307" in runner.invoke(app, ["list-problems"], env={"COLUMNS": str(columns)}).stdout


def test_list_problems_is_shorter_at_80_columns():
    """512 lines at 80 columns before issue 29 (a column per field, each a few
    characters wide: about 14 a problem); stacked, about 8 a problem (9 with
    a line saying what bounds or constrains it), the suites' table included."""
    from optrun.core.problems import PROBLEMS

    lines = runner.invoke(app, ["list-problems"], env={"COLUMNS": "80"}).stdout.splitlines()
    assert len(lines) < 10 * len(PROBLEMS.listed())


# ------------------------------------------------------------------ compare
def test_compare_settings_write_values_as_yaml():
    from optrun.engine.compare import key_options, settings

    runs = [
        SimpleNamespace(config={"optimizer": {"name": "gd"}, "stop": {"grad_tol": tol, "max_iter": 5}})
        for tol in (None, 1e-07)
    ]
    assert settings(runs) == ["grad_tol=null", "grad_tol=1e-7"]
    run = SimpleNamespace(config={"optimizer": {"name": "adam", "clip_grad_norm": 1.0, "eps": 1e-8}}, optimizer="adam")
    assert key_options(run) == "clip_grad_norm=1.0"
