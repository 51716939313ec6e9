"""`optrun schema`: the JSON Schema of configs accepts every shipped config,
refuses what the loader refuses, and describes every key; the generated
reference (docs/_gen) names every registered entry, command and config key."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from helpers import REPO

import optrun.cli_schema  # noqa: F401  (registers `optrun schema` on the app, wherever cli.py imports it)
from optrun.config import load_config
from optrun.config.bench import is_bench_suite, load_suite
from optrun.config.schema import config_schema
from optrun.core.errors import ConfigError
from optrun.core.safe_yaml import read_yaml_file

CONFIGS = sorted((REPO / "configs").glob("*.yaml")) + sorted((REPO / "suites").glob("*.yaml"))
RUN_CONFIGS = [p for p in CONFIGS if not is_bench_suite(p)]
USER_PROBLEM_CONFIGS = {"rastrigin-user-problem.yaml"}  # its problem is problems/example_rastrigin.py


def optrun_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`optrun ARGS` in a fresh process (its user problems stay out of this one)."""
    code = "import optrun.cli_schema; from optrun.entry import main; main()"
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture(scope="module")
def schemas(tmp_path_factory) -> dict[str, dict]:
    """`optrun schema -o` and `optrun schema --kind bench -o`, run in the repository
    (whose ./problems holds the user problem one shipped config names)."""
    out = tmp_path_factory.mktemp("schema")
    found = {}
    for kind in ("run", "bench"):
        path = out / f"{kind}.schema.json"
        done = optrun_cli("schema", "--kind", kind, "-o", str(path), cwd=REPO)
        assert done.returncode == 0, done.stderr
        what = "run configs" if kind == "run" else "bench suite files"
        # the path as optrun shows it: absolute, or relative when that is shorter (the checkout in /tmp)
        assert re.match(rf"wrote \S*{re.escape(path.name)}: the JSON Schema of {what}", done.stdout), done.stdout
        assert "user problem rastrigin" in done.stdout  # the user entries that went in are named
        found[kind] = json.loads(path.read_text(encoding="utf-8"))
        jsonschema.Draft7Validator.check_schema(found[kind])
        assert found[kind]["$schema"] == "http://json-schema.org/draft-07/schema#"
    return found


def validator(schemas: dict[str, dict], path: Path) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schemas["bench" if is_bench_suite(path) else "run"])


@pytest.mark.parametrize("path", CONFIGS, ids=[f"{p.parent.name}/{p.name}" for p in CONFIGS])
def test_every_shipped_config_is_valid(schemas, path):
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(schemas, path).iter_errors(read_yaml_file(path))
    ]
    assert not errors, errors


def test_the_command_prints_what_it_writes_as_json(schemas, tmp_path):
    printed = optrun_cli("schema", cwd=REPO)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == schemas["run"]
    assert printed.stdout.endswith("}\n")


def test_out_replaces_a_file_and_a_bad_folder_is_one_line(tmp_path):
    target = tmp_path / "optrun.schema.json"
    target.write_text("old")
    done = optrun_cli("schema", "-o", "optrun.schema.json", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "wrote optrun.schema.json: the JSON Schema of run configs\n"), (
        done.stderr
    )
    data = json.loads(target.read_text(encoding="utf-8"))
    assert "rastrigin" not in json.dumps(data)  # no ./problems here: the built-ins only
    assert [p.name for p in tmp_path.iterdir()] == ["optrun.schema.json"]  # no temporary file left
    missing = optrun_cli("schema", "-o", str(tmp_path / "no" / "such" / "s.json"), cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and str(tmp_path / "no" / "such" / "s.json") in missing.stderr


def test_the_user_problem_brings_its_own_options(schemas):
    validate = jsonschema.Draft7Validator(schemas["run"]).is_valid
    assert validate({"problem": {"name": "rastrigin", "dim": 3, "a": 5.0}, "optimizer": "gd"})
    assert not validate({"problem": {"name": "rastrigin", "dims": 3}, "optimizer": "gd"})
    builtins = config_schema("run", user=False)  # what the documentation publishes
    assert "rastrigin" not in json.dumps(builtins)


# deliberately wrong configs: the schema and the loader both refuse each
TRID = {"problem": "trid", "optimizer": "gd"}
WRONG = {
    "unknown top-level key": {**TRID, "stopp": {"max_iter": 3}},
    "unknown stop key": {**TRID, "stop": {"max_iters": 3}},
    "wrong type": {**TRID, "stop": {"max_iter": "ten"}},
    "text for a number": {"problem": "trid", "optimizer": {"name": "gd", "step_size": "0.1"}},
    "negative step size": {"problem": "trid", "optimizer": {"name": "gd", "step_size": -0.1}},
    "unknown optimizer option": {"problem": "trid", "optimizer": {"name": "gd", "beta": 0.9}},
    "another optimizer's option": {"problem": "trid", "optimizer": {"name": "adam", "weight_decay": 0.1}},
    "unknown problem option": {"problem": {"name": "trid", "dims": 3}, "optimizer": "gd"},
    "unknown problem": {"problem": "tridd", "optimizer": "gd"},
    "unknown optimizer": {"problem": "trid", "optimizer": {"name": "adamm"}},
    "unknown schedule option": {
        "problem": "trid",
        "optimizer": {"name": "gd", "step_size": {"schedule": "cosine", "value": 0.1, "decay_rate": 0.9}},
    },
    "unknown schedule": {**TRID, "optimizer": {"name": "gd", "step_size": {"schedule": "cosin", "value": 1}}},
    "a required option left out": {"problem": "expression", "optimizer": "gd"},
    "no optimizer": {"problem": "trid"},
    "init without kind": {**TRID, "init": {"values": {"x": [1, 2]}}},
    "unknown initializer option": {**TRID, "init": {"kind": "normal", "std": 1.0}},
    "unknown expect status": {**TRID, "expect": {"status": "done"}},
    "a status no check can pass with": {**TRID, "expect": {"status": "diverged"}},
    "unknown backend": {**TRID, "backend": "torch"},
    "a plot format": {**TRID, "output": {"plot_format": "jpg"}},
    # bounds, constraints, init.clip_to_bounds, stop.feasibility_tol
    "a bound of three numbers": {**TRID, "bounds": {"x": [0, 1, 2]}},
    "a bound side as text": {**TRID, "bounds": {"x": ["0", 1]}},
    "a bound side true": {**TRID, "bounds": {"x": [True, 1]}},
    "an empty list of pairs": {**TRID, "bounds": {"x": []}},
    "a short pair in a list": {**TRID, "bounds": {"x": [[0, 1], [2]]}},
    "bounds as a list": {**TRID, "bounds": [[0, 1]]},
    "a bound on an empty name": {**TRID, "bounds": {"": [0, 1]}},
    "a constraint type le": {**TRID, "constraints": [{"type": "le", "expr": "x[0]"}]},
    "a constraint without expr": {**TRID, "constraints": [{"type": "ineq"}]},
    "a blank constraint": {**TRID, "constraints": [{"type": "ineq", "expr": "  "}]},
    "a number for a formula": {**TRID, "constraints": [{"type": "eq", "expr": 3}]},
    "a constraint's unknown key": {**TRID, "constraints": [{"type": "ineq", "expr": "x[0]", "lb": 0}]},
    "constraints as a mapping": {**TRID, "constraints": {"type": "ineq", "expr": "x"}},
    "clip_to_bounds as text": {**TRID, "init": {"kind": "default", "clip_to_bounds": "y"}},
    "feasibility_tol 0": {**TRID, "stop": {"feasibility_tol": 0}},
    "feasibility_tol null": {**TRID, "stop": {"feasibility_tol": None}},
}


@pytest.mark.parametrize("name", list(WRONG))
def test_a_wrong_config_is_refused_by_the_schema_and_the_loader(schemas, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = WRONG[name]
    assert not jsonschema.Draft7Validator(schemas["run"]).is_valid(data)
    with pytest.raises(ConfigError):
        load_config(data)


# the forms of bounds and constraints a config may take: the schema and the loader both take each
FEASIBLE = {
    "a pair for every entry": {"bounds": {"x": [-1, 1]}},
    "null sides": {"bounds": {"x": [None, 0.5], "y": [0, None]}},
    "a pair per entry": {"bounds": {"x": [[-1.5, 0.5], [None, None]]}},
    "a dotted path": {"bounds": {"layers.0.w": [-1, 1], "layers[1].b": [[0, 1]]}},
    "constraints": {"constraints": [{"type": "ineq", "expr": "1 - x[0]**2"}, {"type": "eq", "expr": "sum(x) - 1"}]},
    "clip_to_bounds": {"init": {"kind": "normal", "scale": 0.1, "clip_to_bounds": True}},
    "clip_to_bounds alone": {"init": {"clip_to_bounds": True}},
    "feasibility_tol": {"stop": {"max_iter": 10, "feasibility_tol": 1.0e-9}},
}


@pytest.mark.parametrize("name", list(FEASIBLE))
def test_bounds_and_constraints_are_taken_by_the_schema_and_the_loader(schemas, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = {**TRID, **FEASIBLE[name]}
    assert [e.message for e in jsonschema.Draft7Validator(schemas["run"]).iter_errors(data)] == []
    load_config(data)


def load_bench_file(path: Path) -> None:
    """What `optrun bench` checks before it runs: the file, then each (problem, optimizer) pair's config."""
    from optrun.engine.bench import run_config

    suite = load_suite(path)
    for problem in suite.problems:
        for optimizer in suite.optimizers:
            load_config(run_config(suite, problem, optimizer))


def test_a_wrong_bench_file_is_refused_by_both(schemas, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = {"name": "b", "problems": ["mgh", {"name": "watson", "n": 6}], "optimizers": ["lbfgs"]}
    bench = jsonschema.Draft7Validator(schemas["bench"])
    path = tmp_path / "suite.yaml"
    path.write_text(json.dumps(good))
    load_bench_file(path)
    assert bench.is_valid(good)
    wrongs = [
        {**good, "start": 3},
        {**good, "optimizers": [{"name": "gd", "beta": 1}]},
        {**good, "problems": ["mgh", {"name": "watson", "m": 6}]},
        {**good, "problems": "mghh"},
        {**good, "problems": "expression"},  # needs its expr and params
        {**good, "targets": "x"},
        {**good, "budget": {"max_iters": 3}},
    ]
    for wrong in wrongs:
        assert not bench.is_valid(wrong), wrong
        path.write_text(json.dumps(wrong))
        with pytest.raises(ConfigError):
            load_bench_file(path)


def _registries():
    from optrun.core.initializers import INITIALIZERS
    from optrun.core.optimizers import OPTIMIZERS
    from optrun.core.problems import PROBLEMS

    return {"problem": PROBLEMS, "optimizer": OPTIMIZERS, "init": INITIALIZERS}


@pytest.mark.parametrize("section", ["problem", "optimizer", "init"])
def test_a_bare_name_is_valid_exactly_when_the_loader_takes_it(schemas, section, tmp_path, monkeypatch):
    """`problem: expression` needs options, `problem: trid` does not: the schema knows which."""
    monkeypatch.chdir(tmp_path)
    valid = jsonschema.Draft7Validator(schemas["run"]).is_valid
    for name in _registries()[section].listed():
        data = {"problem": "trid", "optimizer": "gd", section: name}
        try:
            load_config(data)
            loads = True
        except ConfigError:
            loads = False
        assert valid(data) == loads, (section, name)


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=[p.name for p in RUN_CONFIGS])
def test_a_runs_resolved_config_is_valid(path):
    """A run directory's config.yaml (every default filled in) is a config too."""
    config = load_config(path)  # loads the user problem a config next to problems/ names
    schema = config_schema("run")
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(config.resolved())]
    assert not errors, errors


def _properties(node, path=""):
    """(dotted path, property schema) of every property anywhere in a schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties":
                for name, prop in value.items():
                    yield f"{path}.{name}", prop
                    yield from _properties(prop, f"{path}.{name}")
            elif key not in ("default", "const", "enum"):
                yield from _properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _properties(item, f"{path}[{i}]")


@pytest.mark.parametrize("kind", ["run", "bench"])
def test_every_key_says_what_it_means(schemas, kind):
    props = list(_properties(schemas[kind]))
    assert len(props) > 100
    assert [path for path, prop in props if not prop.get("description", "").strip()] == []


# ------------------------------------------------------------------ the generated reference (docs/_gen)
def _generator():
    """docs/_gen/refgen.py, the page builder mkdocs-gen-files runs (importable without MkDocs)."""
    sys.path.insert(0, str(REPO / "docs" / "_gen"))
    import refgen

    return refgen


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return _generator().pages()


def _builtin(registry):
    from optrun.config.plugins import origin

    return [name for name in registry if origin(registry.kind, name) == "built-in"]


def test_every_generated_part_is_on_a_page(pages):
    refgen = _generator()
    hand_written = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "docs" / "reference").glob("*.md"))
    assert sorted(refgen.MARKER.findall(hand_written)) == sorted(refgen.parts())  # each part once
    assert not any(refgen.MARKER.search(text) for text in pages.values())


def test_every_registered_entry_is_in_the_reference(pages):
    from optrun.core.initializers import INITIALIZERS
    from optrun.core.optimizers import OPTIMIZERS
    from optrun.core.optimizers.schedules import SCHEDULES
    from optrun.core.problems import PROBLEMS, SUITES

    problems, optimizers = pages["reference/problems.md"], pages["reference/optimizers.md"]
    expected = [
        *((problems, f"### `{name}` {{#{name}}}") for name in _builtin(PROBLEMS)),  # `python` too
        *((problems, f"| `{name}` |") for name in _builtin(SUITES)),
        *((optimizers, f"### `{name}` {{#{name}}}") for name in _builtin(OPTIMIZERS)),
        *((optimizers, f"### `{name}` {{#init-{name}}}") for name in _builtin(INITIALIZERS)),
        *((optimizers, f"### `{name}` {{#schedule-{name}}}") for name in _builtin(SCHEDULES)),
    ]
    assert len(expected) > 60
    assert [heading for page, heading in expected if page.count(heading) != 1] == []


def test_a_newly_registered_problem_and_optimizer_get_their_entries():
    """Nothing is listed by hand: a registration is enough to appear."""
    from optrun.core.optimizers import OPTIMIZERS, Optimizer, register_optimizer
    from optrun.core.options import Options
    from optrun.core.problems import PROBLEMS, Problem, register_problem

    class WobbleOptions(Options):
        depth: int = 3

    @register_problem("wobble_for_docs", description="a test problem", formula="f(x) = x^2", options=WobbleOptions)
    def wobble(options):
        return Problem(objective=lambda p: p["x"] ** 2, start={"x": 1.0})

    @register_optimizer("still-for-docs", options=Options, description="a test optimizer")
    def still(options, oracle):
        return Optimizer(lambda x: None, lambda g, s, x: (0 * g, s))

    try:
        pages = _generator().pages()
        assert "### `wobble_for_docs` {#wobble_for_docs}" in pages["reference/problems.md"]
        assert "| `depth` | integer | `3` |" in pages["reference/problems.md"]
        assert "### `still-for-docs` {#still-for-docs}" in pages["reference/optimizers.md"]
    finally:
        PROBLEMS.unregister("wobble_for_docs")
        OPTIMIZERS.unregister("still-for-docs")


def test_every_config_key_is_in_the_reference(pages):
    sys.path.insert(0, str(REPO / "docs" / "_gen"))
    import ref_config

    from optrun.config import _TopLevel
    from optrun.config.bench import BenchConfig

    run_keys, bench_keys = ref_config.keys(_TopLevel), ref_config.keys(BenchConfig)
    assert {"stop.max_iter", "output.trace_format", "expect.calibration.spread", "sweep.zip"} <= set(run_keys)
    assert {"budget.max_fev", "targets", "output.dir"} <= set(bench_keys)
    config = pages["reference/config.md"]
    bench = config[config.index("{#bench-suite-files}") :]
    assert [key for key in run_keys if f"| `{key}` |" not in config] == []
    assert [key for key in bench_keys if f"| `{key}` |" not in bench] == []


def test_every_shipped_config_is_in_the_reference(pages):
    page = pages["reference/shipped-configs.md"]
    assert [p.name for p in CONFIGS if f"### `{p.name}` {{#{p.stem}}}" not in page] == []


def test_every_command_and_option_is_in_the_command_reference():
    """commands.md renders optrun/cli_click.py's `cli` with mkdocs-click, which
    shows every command and option of a Click group: `cli` must mirror the app."""
    import typer

    from optrun.cli_app import app
    from optrun.cli_click import cli as mirrored  # imported after optrun.cli_schema (above) registered `schema`

    page = (REPO / "docs" / "reference" / "commands.md").read_text(encoding="utf-8")
    assert "::: mkdocs-click\n    :module: optrun.cli_click\n    :command: cli\n" in page
    typer_group = typer.main.get_command(app)
    assert sorted(mirrored.commands) == sorted(typer_group.commands)
    assert {"run", "grad", "sweep", "bench", "check", "report", "schema", "describe"} <= set(mirrored.commands)
    for name, command in typer_group.commands.items():
        shown = {opt for param in mirrored.commands[name].params for opt in [*param.opts, *param.secondary_opts]}
        wanted = {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}
        assert wanted - {param.name for param in command.params if param.param_type_name == "argument"} <= shown
        assert not any(param.hidden for param in mirrored.commands[name].params if hasattr(param, "hidden"))


def test_a_user_option_no_schema_can_describe_takes_any_value(tmp_path):
    """A user problem whose options hold an arbitrary Python type: the schema is
    still written, says which entry it cannot check, and checks the others."""
    (tmp_path / "problems").mkdir()
    (tmp_path / "problems" / "odd.py").write_text(
        "import numpy as np\n"
        "from pydantic import ConfigDict\n"
        "from optrun import Options, Problem, register_problem\n\n"
        "class OddOptions(Options):\n"
        "    model_config = ConfigDict(arbitrary_types_allowed=True)\n"
        "    center: np.ndarray | None = None\n\n"
        "@register_problem('odd', description='an odd one', options=OddOptions)\n"
        "def odd(options):\n"
        "    return Problem(objective=lambda p: p['x'] ** 2, start={'x': 1.0})\n"
    )
    done = optrun_cli("schema", "-o", "s.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("warning: the schema takes any options for problem odd: pydantic cannot describe")
    assert done.stderr.count("\n") == 1
    assert "with user problem odd" in done.stdout
    valid = jsonschema.Draft7Validator(json.loads((tmp_path / "s.json").read_text())).is_valid
    assert valid({"problem": {"name": "odd", "center": [1, 2]}, "optimizer": "gd"})
    assert not valid({"problem": {"name": "trid", "center": [1, 2]}, "optimizer": "gd"})
