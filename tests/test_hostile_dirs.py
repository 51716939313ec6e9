"""Tampered run and sweep folders, table-driven: show, plot, compare and
sweep --resume answer with one line (exit 2 for a folder that is not what
the command takes), never a traceback, and never delete or write anything
outside the folder (nor, when they refuse, inside it)."""

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import optrun
from optrun.cli import app

pytestmark = pytest.mark.slow  # fault tests on many tampered folders (~10 s): not in the fast subset

runner = CliRunner()
CONFIG = "problem: trid\noptimizer: {name: gd, step_size: 0.1}\noutput: {plots: false, dir: %s}\n"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """One finished run directory and one finished two-run sweep, copied by each test."""
    root = tmp_path_factory.mktemp("base")
    (root / "c.yaml").write_text(CONFIG % (root / "outputs"))
    run = optrun.run(root / "c.yaml").run_dir
    result = runner.invoke(app, ["sweep", str(root / "c.yaml"), "--seeds", "2", "--set", "init.kind=normal", "-w", "1"])
    assert result.exit_code == 0, result.output
    [sweep] = (root / "outputs" / "c").glob("sweep-*")
    return run, sweep


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root (symlinks as their target) with its content."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path)] = b"-> " + os.readlink(path).encode()
        elif path.is_file():
            found[str(path)] = path.read_bytes()
        else:
            found[str(path)] = b"<dir>"
    return found


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    return result


def one_line(result, code, text):
    assert result.exit_code == code, (result.stdout[-1500:], result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert text in lines[0], lines[0]


# ------------------------------------------------------------- run folders
def _summary(run, change):
    data = json.loads((run / "summary.json").read_text())
    change(data)
    (run / "summary.json").write_text(json.dumps(data))


def _trace(run, change):
    lines = (run / "trace.csv").read_text().splitlines(keepends=True)
    (run / "trace.csv").write_text("".join(change(lines)))


def _drop_column(lines, name):
    index = lines[0].rstrip("\n").split(",").index(name)
    return [
        ",".join(cell for i, cell in enumerate(line.rstrip("\n").split(",")) if i != index) + "\n" for line in lines
    ]


def _set_cell(lines, row, column, value):
    cells = lines[row].rstrip("\n").split(",")
    cells[lines[0].split(",").index(column)] = value
    return [*lines[:row], ",".join(cells) + "\n", *lines[row + 1 :]]


def _rename_param(lines, header_cell):
    return [lines[0].replace(",x[1],", f",{header_cell},"), *lines[1:]]


def _symlink_out(run, outside):
    (outside / "victim.png").write_bytes(b"not a plot")
    (run / "loss.png").symlink_to(outside / "victim.png")


# (id, how to tamper with the run folder (run, outside folder), exit code, text of the one line; code 0: must work)
RUN_CASES = [
    (
        "summary-nit-text",
        lambda r, o: _summary(r, lambda d: d.update(nit="many")),
        2,
        "summary.json is not an optrun summary: 'nit' should be an integer, got \"many\"",
    ),
    (
        "summary-fun-text",
        lambda r, o: _summary(r, lambda d: d.update(fun="low")),
        2,
        "'fun' should be a number or null",
    ),
    (
        "summary-status-number",
        lambda r, o: _summary(r, lambda d: d.update(status=3)),
        2,
        "'status' should be a status name, got 3",
    ),
    ("summary-best-list", lambda r, o: _summary(r, lambda d: d.update(best=[1, 2])), 2, "'best' should be an object"),
    (
        "summary-best-iter-float",
        lambda r, o: _summary(r, lambda d: d["best"].update(iter=1.5)),
        2,
        "'best.iter' should be an integer or null",
    ),
    (
        "summary-reference-fun",
        lambda r, o: _summary(r, lambda d: d["reference"].update(fun="x")),
        2,
        "'reference.fun' should be a number",
    ),
    ("summary-no-wall-time", lambda r, o: _summary(r, lambda d: d.pop("wall_time_s")), 2, "no 'wall_time_s'"),
    (
        "summary-a-list",
        lambda r, o: (r / "summary.json").write_text("[1, 2]"),
        2,
        "summary.json is not an optrun summary: a JSON list",
    ),
    (
        "summary-not-json",
        lambda r, o: (r / "summary.json").write_text("{nope"),
        2,
        "summary.json is not an optrun summary: not JSON",
    ),
    (
        "trace-without-f",
        lambda r, o: _trace(r, lambda ls: _drop_column(ls, "f")),
        2,
        "trace.csv is not an optrun trace: no 'f' column",
    ),
    (
        "trace-nan-iter",
        lambda r, o: _trace(r, lambda ls: _set_cell(ls, 2, "iter", "nan")),
        2,
        "'iter' should hold whole numbers, got nan in row 2",
    ),
    (
        "trace-fractional-nfev",
        lambda r, o: _trace(r, lambda ls: _set_cell(ls, 1, "nfev", "1.5")),
        2,
        "'nfev' should hold whole numbers",
    ),
    (
        "trace-text-cell",
        lambda r, o: _trace(r, lambda ls: _set_cell(ls, 3, "f", "abc")),
        2,
        "'abc' is not a number",
    ),
    (
        "trace-short-rows",
        lambda r, o: _trace(r, lambda ls: [ls[0]] + [",".join(l.split(",")[:-1]) + "\n" for l in ls[1:]]),
        2,
        "fields but the header names",
    ),
    ("trace-empty", lambda r, o: (r / "trace.csv").write_text(""), 2, "trace.csv is empty"),
    (
        "trace-a-folder",
        lambda r, o: ((r / "trace.csv").unlink(), (r / "trace.csv").mkdir()),
        2,
        "not a run directory (no trace.csv or trace.parquet)",
    ),
    (
        "config-a-list",
        lambda r, o: (r / "config.yaml").write_text("- 1\n"),
        2,
        "config.yaml is not a resolved optrun config",
    ),
    ("config-missing", lambda r, o: (r / "config.yaml").unlink(), 2, "not a run directory (no config.yaml)"),
    ("run-is-a-file", lambda r, o: (shutil.rmtree(r), r.write_text("x")), 2, "not a run directory (no such folder)"),
    # tampered but still readable: these must work
    ("torn-last-row", lambda r, o: _trace(r, lambda ls: ls + ["99,1.0,2.0"]), 0, None),
    ("param-name-quoted", lambda r, o: _trace(r, lambda ls: _rename_param(ls, '"x""1"')), 0, None),
    ("param-name-bare-quote", lambda r, o: _trace(r, lambda ls: _rename_param(ls, 'x"1')), 0, None),
    ("loss-png-symlink-outside", _symlink_out, 0, None),
]


@pytest.mark.parametrize("command", ["show", "plot", "compare"])
@pytest.mark.parametrize("case_id, tamper, code, text", RUN_CASES, ids=[c[0] for c in RUN_CASES])
def test_tampered_run_folder(tmp_path, base, command, case_id, tamper, code, text):
    run = tmp_path / "run"
    shutil.copytree(base[0], run)
    outside = tmp_path / "outside"
    outside.mkdir()
    tamper(run, outside)
    before_run, before_outside = snapshot(run) if run.is_dir() else None, snapshot(outside)
    args = [command, run] + (["--out", tmp_path / "cmp" / "c.png"] if command == "compare" else [])
    result = invoke(*args)
    assert snapshot(outside) == before_outside  # never written through a symlink, never deleted
    if code:
        one_line(result, code, text)
        assert before_run is None or snapshot(run) == before_run
        assert not (tmp_path / "cmp").exists()
        return
    assert result.exit_code == 0, result.stderr
    if case_id == "torn-last-row":
        assert result.stderr.count("warning: ") == 1 and "the last line was incomplete" in result.stderr
    else:
        assert result.stderr == ""
    if command == "plot":
        assert (run / "loss.png").is_file() and not (run / "loss.png").is_symlink()
        if case_id.startswith("param-name"):
            assert (run / "params.png").is_file()


@pytest.mark.slow
def test_a_real_run_with_quotes_and_commas_in_parameter_names(workdir):
    """A parameter name with " and , is quoted in the trace header and read back."""
    from optrun.core.problems import PROBLEMS, Problem, register_problem

    @register_problem("test_odd_names", description="odd names", formula="sum of squares", parameters='a"b, c,d')
    def build(options):
        return Problem(objective=lambda p: p['a"b'] ** 2 + (p["c,d"] - 1.0) ** 2, start={'a"b': 2.0, "c,d": 0.0})

    try:
        result = optrun.run(
            {"problem": "test_odd_names", "optimizer": {"name": "gd", "step_size": 0.1}, "output": {"plots": False}}
        )
        header = (result.run_dir / "trace.csv").read_text().splitlines()[0]
        assert header.endswith(',"a""b","c,d"')
        assert result.trace['a"b'][0] == 2.0 and result.trace["c,d"][0] == 0.0
        for args in (["show", result.run_dir], ["compare", result.run_dir, "--out", workdir / "c.png"]):
            assert invoke(*args).exit_code == 0
        plotted = invoke("plot", result.run_dir)
        assert plotted.exit_code == 0 and (result.run_dir / "params.png").is_file(), plotted.stderr
    finally:
        PROBLEMS.unregister("test_odd_names")


# ----------------------------------------------------------- sweep folders
def _plan(sweep, change):
    data = json.loads((sweep / "sweep.json").read_text())
    (sweep / "sweep.json").write_text(json.dumps(change(data)))


def _unfinished(sweep, index=2):
    (sweep / f"run-{index:04d}" / "summary.json").unlink()


def _link_run(sweep, outside):
    target = outside / "someone-elses-run"
    shutil.copytree(sweep / "run-0001", target)
    (target / "summary.json").unlink()  # unfinished: an old --resume would have deleted it
    shutil.rmtree(sweep / "run-0001")
    (sweep / "run-0001").symlink_to(target)


def _stray_file(sweep):
    _unfinished(sweep)
    (sweep / "run-0002" / "notes.txt").write_text("mine")


def _linked_trace(sweep, outside):
    _unfinished(sweep)
    (outside / "data.csv").write_text("precious")
    (sweep / "run-0002" / "trace.csv").unlink()
    (sweep / "run-0002" / "trace.csv").symlink_to(outside / "data.csv")


def _empty(sweep):
    for run in sweep.glob("run-*"):
        shutil.rmtree(run)


OK = (0, None)
# (id, tamper (sweep, outside), --resume: (code, text), compare: (code, text)); None: command not tried
SWEEP_CASES = [
    (
        "plan-a-list",
        lambda s, o: _plan(s, lambda d: [d]),
        (2, "sweep.json is not an optrun sweep plan: a JSON list, not an object"),
        OK,
    ),
    ("plan-not-json", lambda s, o: (s / "sweep.json").write_text("{"), (2, "cannot read sweep.json"), OK),
    (
        "plan-no-runs",
        lambda s, o: _plan(s, lambda d: {k: v for k, v in d.items() if k != "runs"}),
        (2, "no 'runs'"),
        OK,
    ),
    (
        "plan-keys-mismatch",
        lambda s, o: _plan(s, lambda d: {**d, "keys": ["optimizer.step_size", "seed"]}),
        (2, "run 1 does not give exactly the keys"),
        OK,
    ),
    (
        "plan-run-not-object",
        lambda s, o: _plan(s, lambda d: {**d, "runs": [1, 2]}),
        (2, "run 1 does not give exactly the keys"),
        OK,
    ),
    (
        "plan-key-is-a-result-column",
        lambda s, o: _plan(
            s,
            lambda d: {**d, "keys": ["status", "seed"], "runs": [{"status": 1, "seed": r["seed"]} for r in d["runs"]]},
        ),
        (2, "'keys' names a result column (status)"),
        OK,
    ),
    (
        "plan-overrides-text",
        lambda s, o: _plan(s, lambda d: {**d, "overrides": "x=1"}),
        (2, "'overrides' should be a list"),
        OK,
    ),
    ("plan-missing", lambda s, o: (s / "sweep.json").unlink(), (2, "not a sweep directory (no sweep.json)"), None),
    (
        "run-a-file",
        lambda s, o: (shutil.rmtree(s / "run-0001"), (s / "run-0001").write_text("x")),
        (2, "run-0001 is not a folder, not a run directory of this sweep"),
        (2, "run-0001 is not a folder"),
    ),
    (
        "run-a-symlink",
        _link_run,
        (2, "run-0001 is a symbolic link, not a run directory of this sweep"),
        (2, "run-0001 is a symbolic link"),
    ),
    (
        "unfinished-run-with-a-stray-file",
        lambda s, o: _stray_file(s),
        (2, "holds 'notes.txt', which optrun did not write"),
        OK,
    ),
    ("unfinished-run-with-a-linked-trace", _linked_trace, (2, "holds 'trace.csv', which optrun did not write"), None),
    (
        "summary-wrong-types",
        lambda s, o: _summary(s / "run-0002", lambda d: d.update(nfev="x")),
        (
            2,
            "summary.json is not an optrun summary: 'nfev' should be an integer, got \"x\"; move this run away to redo it",
        ),
        (2, "'nfev' should be an integer"),
    ),
    (
        "summary-a-list",
        lambda s, o: (s / "run-0002" / "summary.json").write_text("[]"),
        (2, "summary.json is not an optrun summary: a JSON list"),
        (2, "a JSON list"),
    ),
    (
        "empty-sweep",
        lambda s, o: _empty(s),
        None,
        (2, "the sweep has no runs yet (no run-NNNN folder with a trace): nothing to compare"),
    ),
    (
        "sweep-is-a-file",
        lambda s, o: (shutil.rmtree(s), s.write_text("x")),
        (2, "not a sweep directory (no such folder)"),
        None,
    ),
]


# every (case, command) pair that applies
SWEEP_PARAMS = [
    pytest.param(command, tamper, expected, id=f"{case_id}-{command}")
    for case_id, tamper, resume, compare in SWEEP_CASES
    for command, expected in (("resume", resume), ("compare", compare))
    if expected is not None
]


@pytest.mark.parametrize("command, tamper, expected", SWEEP_PARAMS)
def test_tampered_sweep_folder(tmp_path, base, command, tamper, expected):
    sweep = tmp_path / "sweep"
    shutil.copytree(base[1], sweep, symlinks=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    tamper(sweep, outside)
    before_sweep, before_outside = snapshot(sweep) if sweep.is_dir() else None, snapshot(outside)
    if command == "resume":
        result = invoke("sweep", "--resume", sweep, "-w", "1")
    else:
        result = invoke("compare", sweep, "--out", tmp_path / "cmp" / "c.png")
    assert snapshot(outside) == before_outside  # nothing outside the folder deleted or written
    code, text = expected
    if code:
        one_line(result, code, text)
        assert before_sweep is None or snapshot(sweep) == before_sweep  # a refusal changes nothing
    else:
        assert result.exit_code == 0, result.stderr


def test_resume_redoes_an_unfinished_run_and_only_that(tmp_path, base):
    sweep = tmp_path / "sweep"
    shutil.copytree(base[1], sweep)
    _unfinished(sweep)
    (sweep / "run-0002" / ".summary.json.abc123.tmp").write_text("{")  # a temp file of a killed write
    kept = (sweep / "run-0001" / "summary.json").read_bytes()
    result = invoke("sweep", "--resume", sweep, "-w", "1")
    assert result.exit_code == 0, result.stderr
    assert (sweep / "run-0001" / "summary.json").read_bytes() == kept
    assert json.loads((sweep / "run-0002" / "summary.json").read_text())["status"] == "converged"
    assert not list(sweep.rglob("*.tmp"))
    assert "1 kept from before" in result.stdout


# ---------------------------------------------------------------- messages
@pytest.mark.parametrize(
    "args, code, text",
    [
        (
            ["run", "c.yaml", "--set", "output.dir=dangling"],
            1,
            "dangling/c: cannot create the output folder: dangling is a symbolic link to nowhere/at/all, which does not exist",
        ),
        (
            ["run", "c.yaml", "--set", "output.dir=dangling/deeper"],
            1,
            "dangling is a symbolic link to nowhere/at/all, which does not exist",
        ),
        (
            ["sweep", "c.yaml", "--seeds", "2", "--set", "init.kind=normal", "-w", "1", "--set", "output.dir=dangling"],
            1,
            "cannot create the output folder: dangling is a symbolic link to nowhere/at/all",
        ),
        (["check", "/dev/null"], 2, "/dev/null: not a config file or folder (a device, pipe or socket)"),
        (["check", "dangling"], 2, "dangling: a symbolic link to nowhere/at/all, which does not exist"),
    ],
    ids=[
        "run-dangling-output-dir",
        "run-under-a-dangling-link",
        "sweep-dangling-output-dir",
        "check-dev-null",
        "check-dangling-link",
    ],
)
def test_clear_messages(workdir, args, code, text):
    (workdir / "c.yaml").write_text(CONFIG % "outputs")
    (workdir / "dangling").symlink_to("nowhere/at/all")
    result = invoke(*args)
    one_line(result, code, text)
    assert sorted(p.name for p in workdir.iterdir()) == ["c.yaml", "dangling"]  # nothing created
