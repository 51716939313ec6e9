"""Bad input over the whole CLI, table-driven: every case exits 2 (1 for
runtime I/O failures) with one clear line on stderr naming the file and the
key path, no traceback, and no run directory."""

import pytest
from typer.testing import CliRunner

from optrun.cli import app

runner = CliRunner()
OK = "problem: trid\noptimizer: {name: gd, step_size: 0.1}\n"

# (id, config text or None for no file, extra CLI args, expected exit code, text the one line must contain)
CASES = [
    # YAML itself
    ("yaml-syntax", "problem: [trid\noptimizer: gd\n", [], 2, "c.yaml: line 2, column 10: YAML error"),
    ("yaml-tab-indent", "problem:\n\tname: trid\n", [], 2, "c.yaml: line 2, column 1: YAML error"),
    ("yaml-python-object", "problem: !!python/object:os.system {}\noptimizer: gd\n", [], 2, "no tags such as !!python/object"),
    ("yaml-python-apply", "problem: !!python/object/apply:os.system [ls]\noptimizer: gd\n", [], 2, "no tags such as !!python/object"),
    ("yaml-custom-tag", "problem: !mytag trid\noptimizer: gd\n", [], 2, "could not determine a constructor for the tag '!mytag'"),
    ("yaml-duplicate-key", "problem: trid\noptimizer: gd\noptimizer: adam\n", [], 2, "line 3, column 1: YAML error: duplicate key 'optimizer'"),
    ("empty-file", "", [], 2, "c.yaml: config file is empty"),
    ("only-comments", "# nothing\n", [], 2, "c.yaml: config file is empty"),
    ("list-not-mapping", "- problem: trid\n", [], 2, "c.yaml: a config must be a mapping of keys, got a list"),
    ("scalar-not-mapping", "42\n", [], 2, "c.yaml: a config must be a mapping of keys, got a int"),
    ("not-utf8", b"problem: \xff\xfe trid\n", [], 2, "c.yaml: cannot read config file"),
    ("missing-file", None, [], 2, "c.yaml: config file not found"),
    # unknown keys at every level
    ("unknown-top", OK + "optimiser: gd\n", [], 2, "c.yaml: optimiser: unknown key 'optimiser'; did you mean 'optimizer'?"),
    ("unknown-stop", OK + "stop: {maxiter: 3}\n", [], 2, "c.yaml: stop.maxiter: unknown key 'maxiter'; did you mean 'max_iter'?"),
    ("unknown-output", OK + "output: {plot: false}\n", [], 2, "c.yaml: output.plot: unknown key 'plot'; did you mean 'plots'?"),
    ("unknown-expect", OK + "expect: {fn: known}\n", [], 2, "c.yaml: expect.fn: unknown key 'fn'; did you mean 'fun'?"),
    ("unknown-problem-option", "problem: {name: trid, dimension: 3}\noptimizer: gd\n", [], 2, "c.yaml: problem.dimension: unknown key 'dimension'"),
    ("unknown-optimizer-option", "problem: trid\noptimizer: {name: adam, beta1: 0.9}\n", [], 2, "c.yaml: optimizer.beta1: unknown key 'beta1'"),
    ("unknown-init-option", OK + "init: {kind: normal, sigma: 1}\n", [], 2, "c.yaml: init.sigma: unknown key 'sigma' (allowed: mean, scale)"),
    # unknown names, with suggestions
    ("unknown-problem", "problem: rosenbrok\noptimizer: gd\n", [], 2, "problem.name: unknown problem 'rosenbrok'; did you mean 'rosenbrock'?"),
    ("unknown-optimizer", "problem: trid\noptimizer: adamm\n", [], 2, "optimizer.name: unknown optimizer 'adamm'; did you mean 'adam'?"),
    ("unknown-initializer", OK + "init: zero\n", [], 2, "init.kind: unknown initializer 'zero'; did you mean 'zeros'?"),
    # wrong types
    ("type-max-iter", OK + "stop: {max_iter: many}\n", [], 2, "stop.max_iter: input should be a valid integer, got 'many'"),
    ("type-step-size-bool", "problem: trid\noptimizer: {name: gd, step_size: true}\n", [], 2, "optimizer.step_size:"),
    ("type-seed-float", OK + "seed: 1.5\n", [], 2, "seed: input should be a valid integer"),
    ("type-plots", OK + "output: {plots: maybe}\n", [], 2, "output.plots: input should be a valid boolean"),
    ("type-problem", "problem: 3\noptimizer: gd\n", [], 2, "problem: input should be a valid string or input should be a valid dictionary, got 3"),
    ("type-fix", OK + "fix: [1, 2]\n", [], 2, "fix: input should be a valid dictionary"),
    # out of range
    ("negative-step", "problem: trid\noptimizer: {name: gd, step_size: -0.1}\n", [], 2, "optimizer.step_size: input should be greater than 0, got -0.1"),
    ("zero-max-iter", OK + "stop: {max_iter: 0}\n", [], 2, "stop.max_iter: input should be greater than or equal to 1, got 0"),
    ("negative-grad-tol", OK + "stop: {grad_tol: -1.0}\n", [], 2, "stop.grad_tol: input should be greater than or equal to 0"),
    ("zero-time-limit", OK + "stop: {time_limit: 0}\n", [], 2, "stop.time_limit: input should be greater than 0"),
    ("inf-divergence", OK + "stop: {divergence: .inf}\n", [], 2, "stop.divergence: input should be a finite number"),
    ("negative-dim", "problem: {name: trid, dim: -2}\noptimizer: gd\n", [], 2, "problem.dim: input should be greater than or equal to 1, got -2"),
    ("adam-b1", "problem: trid\noptimizer: {name: adam, b1: 1.5}\n", [], 2, "optimizer.b1: input should be less than 1, got 1.5"),
    ("nan-init", OK + "init: {kind: values, values: {x: [.nan, 0]}}\n", [], 2, "init.values.x: must be finite numbers"),
    ("inf-init", OK + "init: {kind: values, values: {x: [.inf, 0]}}\n", [], 2, "init.values.x: must be finite numbers"),
    ("inf-constant", OK + "init: {kind: constant, value: .inf}\n", [], 2, "init.value: input should be a finite number"),
    # shapes
    ("shape-init", OK + "init: {kind: values, values: {x: [1, 2, 3]}}\n", [], 2, "init.values.x: must be an array of shape (2,), got shape (3,)"),
    ("shape-fix", "problem: goldfield\noptimizer: gd\nfix: {y: [1, 2]}\n", [], 2, "fix.y: must be a number, got shape (2,)"),
    ("shape-expect", OK + "expect: {params: {x: [1, 2, 3]}}\n", [], 2, "expect.params.x: must be an array of shape (2,), got shape (3,)"),
    ("ragged-init", OK + "init: {kind: values, values: {x: [[1], [2, 3]]}}\n", [], 2, "init.values.x: must be an array of shape (2,)"),
    ("text-in-init", OK + "init: {kind: values, values: {x: [a, b]}}\n", [], 2, "init.values.x: must be an array of shape (2,), got ['a', 'b']"),
    # fix
    ("fix-unknown", "problem: goldfield\noptimizer: gd\nfix: {z: 1}\n", [], 2, "fix.z: unknown parameter 'z' (parameters: x, y)"),
    ("fix-everything", "problem: goldfield\noptimizer: gd\nfix: {x: 1, y: 1}\n", [], 2, "fix: every parameter is fixed (x, y); leave at least one free"),
    # data files
    ("data-missing", "problem: {name: linear_regression, data: {path: nope.csv, target: y}}\noptimizer: gd\n", [], 2,
     "problem.data.path: data file not found: nope.csv"),
    ("data-is-dir", "problem: {name: gaussian_mle, data: {path: ., column: x}}\noptimizer: gd\n", [], 2,
     "problem.data.path: data path is a directory"),
    # --set
    ("set-no-equals", OK, ["--set", "stop.max_iter"], 2, "--set: override 'stop.max_iter' must look like dotted.key=value"),
    ("set-empty-key", OK, ["--set", "stop.=3"], 2, "override 'stop.=3' has an empty key"),
    ("set-into-scalar", OK, ["--set", "optimizer.name.x=1"], 2, "cannot set 'optimizer.name.x': 'optimizer.name' is 'gd', not a mapping"),
    ("set-bad-value", OK, ["--set", "stop.max_iter=[1"], 2, "--set stop.max_iter: line 1, column 3: YAML error"),
    ("set-bad-type", OK, ["--set", "stop.max_iter=ten"], 2, "stop.max_iter: input should be a valid integer, got 'ten'"),
    ("set-unknown-key", OK, ["--set", "stop.maxiter=3"], 2, "stop.maxiter: unknown key 'maxiter'; did you mean 'max_iter'?"),
    ("set-python-tag", OK, ["--set", "seed=!!python/object/apply:os.getpid []"], 2, "no tags such as !!python/object"),
    # output folder
    ("output-under-a-file", OK + "output: {dir: blocker/out}\n", [], 1, "blocker/out/c: cannot create the output folder"),
    ("output-in-proc", OK + "output: {dir: /proc/optrun-cannot-write}\n", [], 1, "cannot create the output folder"),
]


@pytest.mark.parametrize("case_id, text, args, code, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input(workdir, case_id, text, args, code, expected):
    if text is not None:
        (workdir / "c.yaml").write_bytes(text if isinstance(text, bytes) else text.encode())
    (workdir / "blocker").write_text("a file, not a folder")
    result = runner.invoke(app, ["run", "c.yaml", *args])
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    assert expected in lines[0], lines[0]
    assert not (workdir / "outputs").exists()


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


def test_unreadable_config_file(workdir, monkeypatch):
    # (running as root, file permissions cannot make a file unreadable: simulate the OS error)
    import os

    (workdir / "c.yaml").write_text(OK)
    real = os.open

    def denied(path, *a, **k):
        if str(path).endswith("c.yaml"):
            raise PermissionError(13, "Permission denied")
        return real(path, *a, **k)

    monkeypatch.setattr(os, "open", denied)
    result = runner.invoke(app, ["run", "c.yaml"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: c.yaml: cannot read config file: Permission denied"
