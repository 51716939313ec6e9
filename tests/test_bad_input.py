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
    (
        "yaml-python-object",
        "problem: !!python/object:os.system {}\noptimizer: gd\n",
        [],
        2,
        "no tags such as !!python/object",
    ),
    (
        "yaml-python-apply",
        "problem: !!python/object/apply:os.system [ls]\noptimizer: gd\n",
        [],
        2,
        "no tags such as !!python/object",
    ),
    (
        "yaml-custom-tag",
        "problem: !mytag trid\noptimizer: gd\n",
        [],
        2,
        "line 1, column 10: YAML error: the tag !mytag is not allowed",
    ),
    (
        "yaml-duplicate-key",
        "problem: trid\noptimizer: gd\noptimizer: adam\n",
        [],
        2,
        "line 3, column 1: YAML error: duplicate key 'optimizer'",
    ),
    ("empty-file", "", [], 2, "c.yaml: config file is empty"),
    ("only-comments", "# nothing\n", [], 2, "c.yaml: config file is empty"),
    ("list-not-mapping", "- problem: trid\n", [], 2, "c.yaml: a config must be a mapping of keys, got a list"),
    ("scalar-not-mapping", "42\n", [], 2, "c.yaml: a config must be a mapping of keys, got a int"),
    ("not-utf8", b"problem: \xff\xfe trid\n", [], 2, "c.yaml: cannot read config file"),
    ("missing-file", None, [], 2, "c.yaml: config file not found"),
    # unknown keys at every level
    (
        "unknown-top",
        OK + "optimiser: gd\n",
        [],
        2,
        "c.yaml: optimiser: unknown key 'optimiser'; did you mean 'optimizer'?",
    ),
    (
        "unknown-stop",
        OK + "stop: {maxiter: 3}\n",
        [],
        2,
        "c.yaml: stop.maxiter: unknown key 'maxiter'; did you mean 'max_iter'?",
    ),
    (
        "unknown-output",
        OK + "output: {plot: false}\n",
        [],
        2,
        "c.yaml: output.plot: unknown key 'plot'; did you mean 'plots'?",
    ),
    ("unknown-expect", OK + "expect: {fn: known}\n", [], 2, "c.yaml: expect.fn: unknown key 'fn'; did you mean 'fun'?"),
    (
        "unknown-problem-option",
        "problem: {name: trid, dimension: 3}\noptimizer: gd\n",
        [],
        2,
        "c.yaml: problem.dimension: unknown key 'dimension'",
    ),
    (
        "unknown-optimizer-option",
        "problem: trid\noptimizer: {name: adam, beta1: 0.9}\n",
        [],
        2,
        "c.yaml: optimizer.beta1: unknown key 'beta1'",
    ),
    (
        "unknown-init-option",
        OK + "init: {kind: normal, sigma: 1}\n",
        [],
        2,
        "c.yaml: init.sigma: unknown key 'sigma' (allowed: mean, only, scale)",
    ),
    # unknown names, with suggestions
    (
        "unknown-problem",
        "problem: rosenbrok\noptimizer: gd\n",
        [],
        2,
        "problem.name: unknown problem 'rosenbrok'; did you mean 'rosenbrock'?",
    ),
    (
        "unknown-optimizer",
        "problem: trid\noptimizer: adamm\n",
        [],
        2,
        "optimizer.name: unknown optimizer 'adamm'; did you mean 'adam'?",
    ),
    ("unknown-initializer", OK + "init: zero\n", [], 2, "init.kind: unknown initializer 'zero'; did you mean 'zeros'?"),
    # wrong types
    (
        "type-max-iter",
        OK + "stop: {max_iter: many}\n",
        [],
        2,
        "stop.max_iter: input should be a valid integer, got 'many'",
    ),
    ("type-step-size-bool", "problem: trid\noptimizer: {name: gd, step_size: true}\n", [], 2, "optimizer.step_size:"),
    ("type-seed-float", OK + "seed: 1.5\n", [], 2, "seed: input should be a valid integer"),
    ("type-plots", OK + "output: {plots: maybe}\n", [], 2, "output.plots: input should be true or false"),
    (
        "type-problem",
        "problem: 3\noptimizer: gd\n",
        [],
        2,
        "problem: input should be text or input should be a mapping, got 3",
    ),
    ("type-fix", OK + "fix: [1, 2]\n", [], 2, "fix: input should be a mapping"),
    # out of range
    (
        "negative-step",
        "problem: trid\noptimizer: {name: gd, step_size: -0.1}\n",
        [],
        2,
        "optimizer.step_size: input should be greater than 0, got -0.1",
    ),
    (
        "negative-max-iter",
        OK + "stop: {max_iter: -1}\n",
        [],
        2,
        "stop.max_iter: input should be greater than or equal to 0, got -1",
    ),
    (
        "negative-grad-tol",
        OK + "stop: {grad_tol: -1.0}\n",
        [],
        2,
        "stop.grad_tol: input should be greater than or equal to 0",
    ),
    ("zero-time-limit", OK + "stop: {time_limit: 0}\n", [], 2, "stop.time_limit: input should be greater than 0"),
    ("inf-divergence", OK + "stop: {divergence: .inf}\n", [], 2, "stop.divergence: input should be a finite number"),
    (
        "negative-dim",
        "problem: {name: trid, dim: -2}\noptimizer: gd\n",
        [],
        2,
        "problem.dim: input should be greater than or equal to 1, got -2",
    ),
    (
        "adam-b1",
        "problem: trid\noptimizer: {name: adam, b1: 1.5}\n",
        [],
        2,
        "optimizer.b1: input should be less than 1, got 1.5",
    ),
    ("nan-init", OK + "init: {kind: values, values: {x: [.nan, 0]}}\n", [], 2, "init.values.x: must be finite numbers"),
    ("inf-init", OK + "init: {kind: values, values: {x: [.inf, 0]}}\n", [], 2, "init.values.x: must be finite numbers"),
    (
        "inf-constant",
        OK + "init: {kind: constant, value: .inf}\n",
        [],
        2,
        "init.value: input should be a finite number",
    ),
    # shapes
    (
        "shape-init",
        OK + "init: {kind: values, values: {x: [1, 2, 3]}}\n",
        [],
        2,
        "init.values.x: must be an array of shape (2,), got shape (3,)",
    ),
    (
        "shape-fix",
        "problem: goldfield\noptimizer: gd\nfix: {y: [1, 2]}\n",
        [],
        2,
        "fix.y: must be a number, got shape (2,)",
    ),
    (
        "shape-expect",
        OK + "expect: {params: {x: [1, 2, 3]}}\n",
        [],
        2,
        "expect.params.x: must be an array of shape (2,), got shape (3,)",
    ),
    (
        "ragged-init",
        OK + "init: {kind: values, values: {x: [[1], [2, 3]]}}\n",
        [],
        2,
        "init.values.x: must be an array of shape (2,)",
    ),
    (
        "text-in-init",
        OK + "init: {kind: values, values: {x: [a, b]}}\n",
        [],
        2,
        "init.values.x: must be an array of shape (2,), got ['a', 'b']",
    ),
    # fix
    (
        "fix-unknown",
        "problem: goldfield\noptimizer: gd\nfix: {z: 1}\n",
        [],
        2,
        "fix.z: unknown parameter 'z' (parameters: x, y)",
    ),
    (
        "fix-everything",
        "problem: goldfield\noptimizer: gd\nfix: {x: 1, y: 1}\n",
        [],
        2,
        "fix: every parameter is fixed (x, y); leave at least one free",
    ),
    # data files
    (
        "data-missing",
        "problem: {name: linear_regression, data: {path: nope.csv, target: y}}\noptimizer: gd\n",
        [],
        2,
        "problem.data.path: data file 'nope.csv' not found (relative paths are looked up in the config's folder",
    ),
    (
        "data-is-dir",
        "problem: {name: gaussian_mle, data: {path: ., column: x}}\noptimizer: gd\n",
        [],
        2,
        "problem.data.path: data path is a directory",
    ),
    # --set
    (
        "set-no-equals",
        OK,
        ["--set", "stop.max_iter"],
        2,
        "--set: override 'stop.max_iter' must look like dotted.key=value",
    ),
    ("set-empty-key", OK, ["--set", "stop.=3"], 2, "override 'stop.=3' has an empty key"),
    (
        "set-into-scalar",
        OK,
        ["--set", "optimizer.name.x=1"],
        2,
        "cannot set 'optimizer.name.x': 'optimizer.name' is 'gd', not a mapping",
    ),
    ("set-bad-value", OK, ["--set", "stop.max_iter=[1"], 2, "--set stop.max_iter: line 1, column 3: YAML error"),
    (
        "set-bad-type",
        OK,
        ["--set", "stop.max_iter=ten"],
        2,
        "stop.max_iter: input should be a valid integer, got 'ten'",
    ),
    (
        "set-unknown-key",
        OK,
        ["--set", "stop.maxiter=3"],
        2,
        "stop.maxiter: unknown key 'maxiter'; did you mean 'max_iter'?",
    ),
    ("set-python-tag", OK, ["--set", "seed=!!python/object/apply:os.getpid []"], 2, "no tags such as !!python/object"),
    # output folder
    (
        "output-under-a-file",
        OK + "output: {dir: blocker/out}\n",
        [],
        1,
        "blocker/out/c: cannot create the output folder",
    ),
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


# ------------------------------------------------------------------------------------------
# Input that crashed or hung (issue 13, round two): every case runs `python -m optrun` in a
# real process, with at most 2 GB of address space and a timeout, so a hang or a memory
# blow-up fails the test instead of stalling it.
import os
import resource
import time

from helpers import run_cli

FIFO = object()  # a file entry that is made a FIFO
SPARSE_OVER_100_MB = ("sparse", 100_000_001)  # st_size over the data limit, no disk used


def _alias_bomb(prefix: str = "") -> str:
    """The 9-level 'billion laughs': 9**9 values once expanded, ~320 bytes of YAML."""
    lines, previous = [f"{prefix}a: &a [x,x,x,x,x,x,x,x,x]"], "a"
    for name in "bcdefghi":
        lines.append(f"{prefix}{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def _flow_bomb() -> str:
    """The same bomb as one flow value, for --set and --grid."""
    parts, previous = ["&a [x,x,x,x,x,x,x,x,x]"], "a"
    for name in "bcdefghi":
        parts.append(f"&{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "[" + ", ".join(parts) + "]"


DEEP = "[" * 1000 + "]" * 1000
BIG_INT = "1" * 5000
TRACE = "iter,f,grad_norm,step_size,time_s,nfev,njev\n0,1.0,1.0,0.1,0.0,1,1\n"
RUN_OK = "name: r\nproblem: {name: trid}\noptimizer: {name: gd}\n"
GRID_1000 = ",".join(str(i) for i in range(1, 1001))

# (id, files to make, command line, text the one error line must contain)
CRASH_CASES = [
    # YAML that hung or crashed, in a config file
    (
        "file-alias-bomb",
        {"c.yaml": OK + _alias_bomb() + "seed: *i\n"},
        ["run", "c.yaml"],
        "c.yaml: line 9, column 8: YAML error: aliases expand to more than 1000000 values (an alias bomb?)",
    ),
    (
        "file-1000-nested-lists",
        {"c.yaml": OK + f"fix: {{x: {DEEP}}}\n"},
        ["run", "c.yaml"],
        "c.yaml: line 3, column 58: YAML error: values are nested more than 50 levels deep",
    ),  # the 51st level: root, {x:, 49th [
    (
        "file-recursive-alias",
        {"c.yaml": OK + "fix: &a {x: *a}\n"},
        ["run", "c.yaml"],
        "the alias *a is inside its own anchor",
    ),
    (
        "file-unhashable-key",
        {"c.yaml": OK + "? [a, b]\n: 1\n"},
        ["run", "c.yaml"],
        "line 3, column 3: YAML error: a list cannot be a key",
    ),
    (
        "file-unhashable-map-key",
        {"c.yaml": OK + "fix: {? {a: 1} : 2}\n"},
        ["run", "c.yaml"],
        "YAML error: a dict cannot be a key",
    ),
    (
        "file-int-tag",
        {"c.yaml": OK + "seed: !!int abc\n"},
        ["run", "c.yaml"],
        "line 3, column 7: YAML error: 'abc' is not a valid !!int",
    ),
    (
        "file-timestamp-tag",
        {"c.yaml": OK + "seed: !!timestamp x\n"},
        ["run", "c.yaml"],
        "YAML error: 'x' is not a valid !!timestamp",
    ),
    (
        "file-float-tag",
        {"c.yaml": OK + "seed: !!float abc\n"},
        ["run", "c.yaml"],
        "YAML error: 'abc' is not a valid !!float",
    ),
    (
        "file-bool-tag",
        {"c.yaml": OK + "seed: !!bool maybe\n"},
        ["run", "c.yaml"],
        "YAML error: 'maybe' is not a valid !!bool",
    ),
    (
        "file-big-int",
        {"c.yaml": OK + f"seed: {BIG_INT}\n"},
        ["run", "c.yaml"],
        "line 3, column 7: YAML error: an integer has more than 4300 digits",
    ),
    (
        "file-big-sexagesimal",
        {"c.yaml": OK + "seed: 1" + ":59" * 3000 + "\n"},
        ["run", "c.yaml"],
        "an integer has more than 4300 digits",
    ),
    (
        "file-uniform-inf-range",
        {"c.yaml": OK + "init: {kind: uniform, low: -1e308, high: 1e308}\n"},
        ["run", "c.yaml"],
        "c.yaml: init: high - low must be a finite number",
    ),
    (
        "file-output-dir-nul",
        {"c.yaml": OK + 'output: {dir: "a\\0b"}\n'},
        ["run", "c.yaml"],
        "a NUL character (\\0) is not allowed",
    ),
    (
        "file-huge-string-value",
        {"c.yaml": OK + "seed: " + "x" * 500_000 + "\n"},
        ["run", "c.yaml"],
        "seed: input should be a valid integer, got 'xxx",
    ),
    (
        "file-too-large",
        {"c.yaml": OK + "#" * 1_000_001 + "\n"},
        ["run", "c.yaml"],
        "c.yaml: config file is larger than 1 MB",
    ),
    ("file-fifo", {"c.yaml": FIFO}, ["run", "c.yaml"], "c.yaml: is not a regular file (a FIFO)"),
    ("file-dev-zero", {}, ["run", "/dev/zero"], "/dev/zero: is not a regular file (a character device)"),
    ("check-fifo", {"c.yaml": FIFO}, ["check", "c.yaml"], "c.yaml: "),  # check finds no config there; it must not block
    # the same through --set
    (
        "set-alias-bomb",
        {"c.yaml": OK},
        ["run", "c.yaml", "--set", f"fix.x={_flow_bomb()}"],
        "--set fix.x: line 1, column",
    ),
    (
        "set-1000-nested-lists",
        {"c.yaml": OK},
        ["run", "c.yaml", "--set", f"fix.x={DEEP}"],
        "--set fix.x: line 1, column 51: YAML error: values are nested",
    ),
    (
        "set-unhashable-key",
        {"c.yaml": OK},
        ["run", "c.yaml", "--set", "fix={? [a, b] : 1}"],
        "--set fix: line 1, column 4: YAML error: a list cannot be a key",
    ),
    (
        "set-int-tag",
        {"c.yaml": OK},
        ["run", "c.yaml", "--set", "seed=!!int abc"],
        "--set seed: line 1, column 1: YAML error: 'abc' is not a valid !!int",
    ),
    (
        "set-timestamp-tag",
        {"c.yaml": OK},
        ["run", "c.yaml", "--set", "seed=!!timestamp x"],
        "'x' is not a valid !!timestamp",
    ),
    (
        "set-big-int",
        {"c.yaml": OK},
        ["run", "c.yaml", "--set", f"seed={BIG_INT}"],
        "--set seed: line 1, column 1: YAML error: an integer has more than 4300 digits",
    ),
    (
        "set-uniform-inf-range",
        {"c.yaml": OK},
        ["run", "c.yaml", "--set", "init={kind: uniform, low: -1e308, high: 1e308}"],
        "init: high - low must be a finite number",
    ),
    (
        "set-output-dir-nul",
        {"c.yaml": OK},
        ["run", "c.yaml", "--set", 'output.dir="a\\0b"'],
        "a NUL character (\\0) is not allowed",
    ),
    (
        "set-into-huge-value",
        {"c.yaml": OK + "fix: {x: [" + ",".join(["1"] * 100_000) + "]}\n"},
        ["run", "c.yaml", "--set", "fix.x.y=1"],
        "cannot set 'fix.x.y': 'fix.x' is [1, 1, 1, 1, 1, 1, 1, 1, ...], not a mapping",
    ),
    # the same through --grid (sweep), and a sweep: block
    (
        "grid-alias-bomb",
        {"c.yaml": OK},
        ["sweep", "c.yaml", "--grid", f"fix.x={_flow_bomb()}"],
        "--grid fix.x: line 1, column",
    ),
    (
        "grid-1000-nested-lists",
        {"c.yaml": OK},
        ["sweep", "c.yaml", "--grid", f"fix.x={DEEP}"],
        "--grid fix.x: line 1, column 51: YAML error: values are nested more than 50 levels deep",
    ),
    (
        "grid-int-tag",
        {"c.yaml": OK},
        ["sweep", "c.yaml", "--grid", "optimizer.step_size=!!int abc"],
        "'abc' is not a valid !!int",
    ),
    (
        "grid-big-int",
        {"c.yaml": OK},
        ["sweep", "c.yaml", "--grid", f"stop.max_iter=1,{BIG_INT}"],
        "an integer has more than 4300 digits",
    ),
    ("grid-unhashable-key", {"c.yaml": OK}, ["sweep", "c.yaml", "--grid", "fix={? [a] : 1}"], "a list cannot be a key"),
    (
        "grid-uniform-inf-range",
        {"c.yaml": OK},
        ["sweep", "c.yaml", "--grid", "init={kind: uniform, low: -1e308, high: 1e308}"],
        "init: high - low must be a finite number",
    ),
    (
        "sweep-block-alias-bomb",
        {"c.yaml": OK + "sweep:\n  grid:\n" + _alias_bomb("    ")},
        ["sweep", "c.yaml"],
        "aliases expand to more than",
    ),
    # a run directory's config.yaml, read back by show, plot and compare
    (
        "show-alias-bomb",
        {"run/config.yaml": RUN_OK + _alias_bomb() + "x: *i\n", "run/trace.csv": TRACE},
        ["show", "run"],
        "run/config.yaml: line 10, column 8: YAML error: aliases expand to more than 1000000 values",
    ),
    (
        "plot-1000-nested-lists",
        {"run/config.yaml": RUN_OK + f"x: {DEEP}\n", "run/trace.csv": TRACE},
        ["plot", "run"],
        "run/config.yaml: line 4, column 53: YAML error: values are nested",
    ),
    (
        "compare-int-tag",
        {"run/config.yaml": RUN_OK + "seed: !!int abc\n", "run/trace.csv": TRACE},
        ["compare", "run"],
        "run/config.yaml: line 4, column 7: YAML error: 'abc' is not a valid !!int",
    ),
    (
        "show-python-tag",
        {"run/config.yaml": RUN_OK + "x: !!python/object/apply:os.getpid []\n", "run/trace.csv": TRACE},
        ["show", "run"],
        "no tags such as !!python/object",
    ),
    (
        "compare-too-large",
        {"run/config.yaml": RUN_OK + "#" * 1_000_001 + "\n", "run/trace.csv": TRACE},
        ["compare", "run"],
        "run/config.yaml: run config is larger than 1 MB",
    ),
    # unbounded work
    (
        "sweep-1000x1000-grid",
        {"c.yaml": OK},
        ["sweep", "c.yaml", "--grid", f"optimizer.step_size={GRID_1000}", "--grid", f"stop.max_iter={GRID_1000}"],
        "c.yaml: sweep: the sweep has 1000000 runs (1000000 grid points x 1 zip rows x 1 seeds); the limit is 10000 runs",
    ),
    (
        "newton-dense-hessian",
        {"c.yaml": "problem: {name: trid, dim: 1000000}\noptimizer: newton\n"},
        ["run", "c.yaml"],
        "c.yaml: optimizer.solver: cholesky forms the dense 1000000 x 1000000 Hessian",
    ),
    (
        "sweep-newton-dense-hessian",
        {"c.yaml": "problem: trid\noptimizer: newton\n"},
        ["sweep", "c.yaml", "--grid", "problem.dim=2,1000000"],
        "(run with problem.dim=1000000, seed=0): optimizer.solver: cholesky forms the dense",
    ),
    (
        "data-fifo",
        {"c.yaml": "problem: {name: gaussian_mle, data: {path: d.csv, column: x}}\noptimizer: gd\n", "d.csv": FIFO},
        ["run", "c.yaml"],
        "problem.data.path: data path is not a regular file (a FIFO, device or socket): /",
    ),  # the resolved path
    (
        "data-dev-zero",
        {"c.yaml": "problem: {name: gaussian_mle, data: {path: /dev/zero, column: x}}\noptimizer: gd\n"},
        ["run", "c.yaml"],
        "data path is not a regular file (a FIFO, device or socket): /dev/zero",
    ),
    (
        "data-over-100-mb",
        {
            "c.yaml": "problem: {name: gaussian_mle, data: {path: d.csv, column: x}}\noptimizer: gd\n",
            "d.csv": SPARSE_OVER_100_MB,
        },
        ["run", "c.yaml"],
        "/d.csv is larger than 100 MB",
    ),  # (the resolved path)
    # messages
    (
        "data-column-emoji-code",
        {
            "c.yaml": "problem: {name: gaussian_mle, data: {path: d.csv, column: y}}\noptimizer: gd\n",
            "d.csv": ":x:,[red]z\n1,2\n",
        },
        ["run", "c.yaml"],
        "/d.csv (columns: :x:, [red]z)",
    ),
    (
        "expect-atol-negative",
        {"c.yaml": OK + "expect: {atol: -1}\n"},
        ["run", "c.yaml"],
        "c.yaml: expect.atol: input should be greater than or equal to 0 or input should be a mapping, got -1",
    ),
    ("expect-atol-mapping", {"c.yaml": OK + "expect: {atol: {fun: -1}}\n"}, ["run", "c.yaml"], "c.yaml: expect.atol: "),
    (
        "name-trailing-newline",
        {"c.yaml": OK + 'name: "run1\\n"\n'},
        ["run", "c.yaml"],
        "c.yaml: name: a name becomes a folder",
    ),
    (
        "dask-colon",
        {"c.yaml": OK},
        ["sweep", "c.yaml", "--seeds", "2", "--dask", ":"],
        "--dask ':': needs a host and a port number",
    ),
    (
        "dask-unknown-protocol",
        {"c.yaml": OK},
        ["sweep", "c.yaml", "--seeds", "2", "--dask", "foo://bar"],
        "--dask 'foo://bar': unknown protocol 'foo'",
    ),
    (
        "dask-bad-port",
        {"c.yaml": OK},
        ["sweep", "c.yaml", "--seeds", "2", "--dask", "tcp://127.0.0.1:99999"],
        "a port from 1 to 65535",
    ),
    (
        "dask-too-many-local-workers",
        {"c.yaml": OK},
        ["sweep", "c.yaml", "--seeds", "2", "--dask", "local:100000"],
        "local:N needs a number of workers N from 1 to 256",
    ),
    (
        "usage-unknown-option",
        {"c.yaml": OK},
        ["run", "--bogus", "c.yaml"],
        "run: no such option --bogus; it takes --set/-s",
    ),
    ("usage-missing-argument", {}, ["run"], "'CONFIG'"),  # the argument, by our metavar (the words are Click's)
    ("usage-unknown-command", {}, ["runn"], "no such command 'runn'; the commands are run, "),
    ("usage-bad-option-value", {"c.yaml": OK}, ["sweep", "c.yaml", "--seeds", "zero"], "'--seeds'"),
]


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))  # a blow-up fails fast, not the machine


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.slow
@pytest.mark.parametrize("case_id, files, args, expected", CRASH_CASES, ids=[c[0] for c in CRASH_CASES])
def test_input_that_crashed_or_hung_is_one_line_exit_2(tmp_path, case_id, files, args, expected):
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is FIFO:
            os.mkfifo(path)
        elif isinstance(content, tuple):
            with open(path, "wb") as handle:
                handle.truncate(content[1])
        else:
            path.write_text(content, encoding="utf-8")
    before = _files(tmp_path)
    start = time.monotonic()
    result = run_cli(*args, cwd=tmp_path, timeout=60, preexec_fn=_limit_memory)
    seconds = time.monotonic() - start
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr[
        -2000:
    ]
    assert expected in lines[0], lines[0]
    assert len(lines[0]) < 2100
    assert _files(tmp_path) == before  # nothing written: no outputs/, no sweep.json, no compare.png
    assert seconds < 30, f"took {seconds:.1f} s"


def test_the_crash_cases_cover_file_set_grid_and_run_directories():
    commands = {
        tuple(args[:1]) + (("--set",) if "--set" in args else ("--grid",) if "--grid" in args else ())
        for _, _, args, _ in CRASH_CASES
    }
    assert {("run",), ("run", "--set"), ("sweep", "--grid"), ("show",), ("plot",), ("compare",)} <= commands
    assert len(CRASH_CASES) >= 50
