"""Summary: the typed summary.json (optrun/core/result.py).

What a run builds is what it writes, byte for byte, and what is read back;
the gap f - f* has one definition; a tampered summary.json is a one-line
ConfigError naming the key, never a KeyError or TypeError."""

import dataclasses
import json
import math
import pickle

import pytest
from helpers import REPO
from tolerances import rounding

import optrun
from optrun.core.errors import ConfigError
from optrun.core.outputs import json_safe
from optrun.core.result import Best, KnownMinimum, Summary, summary_problem
from optrun.core.rundir import read_run, read_summary
from optrun.core.status import Status

# fast shipped configs: a known minimum, none (data), a fixed parameter, Hessian products
CONFIGS = ["polynomial-gd", "logistic-toy", "goldfield-fix-y", "trid-newton-cg"]


def _written(summary: Summary) -> str:
    """summary.json's text as write_json_atomic writes it."""
    return json.dumps(json_safe(summary.to_json()), indent=2) + "\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return {
        name: optrun.run(REPO / "configs" / f"{name}.yaml", [f"output.dir={out}", "output.plots=false"])
        for name in CONFIGS
    }


@pytest.mark.parametrize("name", CONFIGS)
def test_what_a_run_builds_is_what_it_writes_and_reads_back(runs, name):
    result = runs[name]
    text = (result.run_dir / "summary.json").read_text(encoding="utf-8")
    assert _written(result.summary) == text  # the same bytes: keys, order, number formatting
    data = json.loads(text)
    back = Summary.from_json(data, source=str(result.run_dir))
    assert back.to_json() == data and list(back.to_json()) == list(data)
    assert _written(back) == text
    assert back == result.summary  # every number finite: nothing became null
    assert read_run(result.run_dir).summary == back == read_summary(result.run_dir)
    assert isinstance(back.status, Status) and isinstance(back.best, Best)
    assert (back.reference is None) == (name == "logistic-toy")


def test_the_result_delegates_to_its_summary(runs):
    result = runs["polynomial-gd"]
    summary = result.summary
    assert (result.status, result.message, result.fun, result.params, result.nit) == (
        summary.status,
        summary.message,
        summary.fun,
        summary.params,
        summary.nit,
    )
    assert (
        result.grad_norm,
        result.nfev,
        result.njev,
        result.best,
        result.wall_time_s,
        result.reference,
        result.seed,
    ) == (
        summary.grad_norm,
        summary.nfev,
        summary.njev,
        summary.best,
        summary.wall_time_s,
        summary.reference,
        summary.seed,
    )
    assert result.status == "max_iter" and f"{result.status}" == "max_iter" and str(result.status) == "max_iter"
    assert result.ok and result.gap == summary.gap == result.fun - result.reference.fun  # the same subtraction: exact
    assert result.best.iter is not None and result.best.fun <= result.trace["f"][0]


def test_non_finite_numbers_are_null_in_the_file_and_none_read_back(workdir):
    result = optrun.run(
        {
            "problem": "trid",
            "optimizer": {"name": "gd", "step_size": 100.0},
            "stop": {"divergence": 1e308},
            "output": {"plots": False},
        }
    )
    assert result.status == "diverged" and not result.ok and math.isinf(result.fun)
    text = (result.run_dir / "summary.json").read_text(encoding="utf-8")
    assert _written(result.summary) == text
    back = read_summary(result.run_dir)
    assert back.fun is None and back.grad_norm is None and back.gap is None
    assert back.to_json() == json.loads(text)


def test_gap():
    base = Summary.from_json(_minimal())
    assert base.gap == -1.9999995 - -2.0  # the same subtraction of the same numbers: exact
    assert dataclasses.replace(base, reference=None).gap is None
    assert dataclasses.replace(base, fun=None).gap is None
    # -1.9999995 rounds to half an ulp of 2, the difference to half an ulp of 3.5: two roundings from the decimal
    assert dataclasses.replace(base, reference=KnownMinimum(1.5, [{"x": 0.0}])).gap == pytest.approx(
        -3.4999995, rel=rounding(2)
    )


def test_minimal_file_optional_fields_and_io_error():
    data = _minimal()
    summary = Summary.from_json(data)
    assert summary.name is None and summary.nhev is None and summary.machine is None and summary.io_error is None
    assert "io_error" not in summary.to_json()  # written only for a run whose files could not be written
    failed = Summary.from_json(
        {**data, "status": "failed", "io_error": "cannot write the trace: No space left on device"}
    )
    assert failed.status.failure and list(failed.to_json())[-1] == "io_error"
    assert pickle.loads(pickle.dumps(failed)) == failed  # check results come back from worker processes


def test_public_names():
    assert optrun.Summary is Summary and optrun.read_run is read_run


def _minimal():
    return {
        "status": "converged",
        "message": "ok",
        "fun": -1.9999995,
        "params": {"x": [2.0, 2.0]},
        "grad_norm": 1e-7,
        "nit": 40,
        "nfev": 41,
        "njev": 41,
        "best": {"fun": -1.9999995, "iter": 40},
        "wall_time_s": 0.01,
        "reference": {"fun": -2.0, "params": [{"x": [2.0, 2.0]}]},
    }


def _set(key, value):
    def change(data):
        data[key] = value
        return data

    return change


def _drop(key):
    def change(data):
        del data[key]
        return data

    return change


def _inner(outer, key, value):
    def change(data):
        data[outer] = (
            {**data[outer], key: value} if value is not ... else {k: v for k, v in data[outer].items() if k != key}
        )
        return data

    return change


# (id, change to a valid summary, the key the message must name)
HOSTILE = [
    *[
        (f"no-{key}", _drop(key), f"no '{key}'")
        for key in (
            "status",
            "message",
            "fun",
            "params",
            "grad_norm",
            "nit",
            "nfev",
            "njev",
            "best",
            "wall_time_s",
            "reference",
        )
    ],
    ("status-unknown", _set("status", "error"), "'status' should be a status name, got \"error\""),
    ("status-number", _set("status", 3), "'status' should be a status name, got 3"),
    ("status-list", _set("status", ["converged"]), "'status' should be a status name"),
    ("message-null", _set("message", None), "'message' should be a string"),
    ("fun-text", _set("fun", "low"), "'fun' should be a number or null"),
    ("fun-bool", _set("fun", True), "'fun' should be a number or null"),
    ("nit-float", _set("nit", 3.0), "'nit' should be an integer"),
    ("nfev-null", _set("nfev", None), "'nfev' should be an integer"),
    ("wall-time-null", _set("wall_time_s", None), "'wall_time_s' should be a number"),
    ("params-list", _set("params", [1, 2]), "'params' should be an object"),
    ("best-list", _set("best", [1, 2]), "'best' should be an object"),
    ("best-no-iter", _inner("best", "iter", ...), "no 'best.iter'"),
    ("best-iter-float", _inner("best", "iter", 1.5), "'best.iter' should be an integer or null"),
    ("best-fun-text", _inner("best", "fun", "x"), "'best.fun' should be a number or null"),
    ("reference-list", _set("reference", [1]), "'reference' should be an object or null"),
    ("reference-no-fun", _inner("reference", "fun", ...), "no 'reference.fun'"),
    ("reference-fun-null", _inner("reference", "fun", None), "'reference.fun' should be a number"),
    (
        "reference-params-object",
        _inner("reference", "params", {"x": 1}),
        "'reference.params' should be a list of objects",
    ),
    (
        "reference-params-numbers",
        _inner("reference", "params", [1, 2]),
        "'reference.params' should be a list of objects",
    ),
    ("name-number", _set("name", 7), "'name' should be a string"),
    ("nhev-text", _set("nhev", "3"), "'nhev' should be an integer"),
    ("seed-float", _set("seed", 0.5), "'seed' should be an integer"),
    ("versions-list", _set("versions", []), "'versions' should be an object"),
    ("machine-text", _set("machine", "fast"), "'machine' should be an object or null"),
    ("io-error-number", _set("io_error", 28), "'io_error' should be a string"),
    ("a-list", lambda data: [data], "a JSON list, not an object"),
    ("null", lambda data: None, "a JSON NoneType, not an object"),
    ("a-string", lambda data: "summary", "a JSON str, not an object"),
]


@pytest.mark.parametrize("change, text", [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_a_tampered_summary_is_one_line_naming_the_key(change, text):
    data = change(_minimal())
    with pytest.raises(ConfigError) as caught:
        Summary.from_json(data, source="outputs/c/20260101-000000")
    message = str(caught.value)
    assert message.startswith("outputs/c/20260101-000000: summary.json is not an optrun summary: ")
    assert text in message and "\n" not in message
    assert summary_problem(data) in message


@pytest.mark.parametrize(
    "content, text",
    [
        ("{nope", "summary.json is not an optrun summary: not JSON"),
        ("null", "a JSON NoneType, not an object"),
        ("[" * 100_000, "not JSON"),
        ('{"status": "converged"}', "no 'message'"),
    ],
)
def test_read_summary_of_a_garbled_file(tmp_path, content, text):
    (tmp_path / "summary.json").write_text(content)
    with pytest.raises(ConfigError) as caught:
        read_summary(tmp_path)
    assert text in str(caught.value) and str(tmp_path) in str(caught.value)


def test_read_summary_without_a_file(tmp_path):
    assert read_summary(tmp_path) is None  # killed, or still running
    assert read_summary(tmp_path / "missing") is None
