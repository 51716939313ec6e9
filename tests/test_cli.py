"""The command line, in-process (CliRunner) and as real processes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import REPO, run_cli, run_dirs
from tolerances import rounding
from typer.testing import CliRunner

from optrun.cli import app

runner = CliRunner()

TRID = """\
problem: {name: trid, dim: 2}
optimizer: {name: gd, step_size: 0.1}
stop: {max_iter: 500, grad_tol: 1.0e-8}
output: {plots: false}
"""


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_run_prints_a_summary_table(write_config):
    path = write_config(TRID, "trid.yaml")
    result = invoke("run", path)
    assert result.exit_code == 0, result.output
    assert "converged" in result.output and "run directory" in result.output
    assert "f - f*" in result.output


def test_run_shows_the_summary_before_drawing_the_plots(write_config, monkeypatch):
    """The table is printed once summary.json is written; the plots (longer than a tiny run) come after."""
    from optrun.plots import runs as plots

    seen = {}

    def draw(run_dir, prep=None, raise_io=False):
        import sys

        seen["summary on disk"] = (run_dir / "summary.json").exists()
        sys.stdout.write("<drawing plots>\n")
        return [], ["a plot warning"]

    monkeypatch.setattr(plots, "draw_run_plots", draw)
    path = write_config(TRID.replace("plots: false", "plots: true"), "trid.yaml")
    result = invoke("run", path)
    assert result.exit_code == 0, result.output
    assert seen == {"summary on disk": True}
    assert result.stdout.index("run directory") < result.stdout.index("<drawing plots>")
    assert "a plot warning" in result.stderr  # the plots' warnings still reach the user


def test_run_json_is_the_summary(write_config, workdir):
    path = write_config(TRID, "trid.yaml")
    result = invoke("run", path, "--json", "--set", "optimizer.step_size=0.2")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    # converged to grad_tol 1e-8 on trid (Hessian eigenvalues 1, 3): f - f* <= 1e-16 / 2, plus f's roundings (terms <= 4)
    assert data["status"] == "converged" and data["fun"] == pytest.approx(-2.0, abs=1e-16 / 2 + rounding(4, 4))
    on_disk = json.loads((workdir / data["run_dir"] / "summary.json").read_text())
    assert {k: v for k, v in data.items() if k != "run_dir"} == on_disk


def test_quiet_prints_nothing(write_config):
    result = invoke("run", write_config(TRID), "--quiet")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""


def test_quiet_never_hides_a_failure(write_config):
    """A diverged run under --quiet: no table, but one line on stderr, exit 1."""
    result = invoke(
        "run", write_config(TRID), "--quiet", "--set", "optimizer.step_size=10", "--set", "output.plots=false"
    )
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and result.stdout == "" and len(lines) == 1
    assert lines[0].startswith("cfg: diverged: ") and "recorded in outputs/cfg/" in lines[0]


@pytest.mark.parametrize(
    "text, args, message",
    [
        ("problem: tird\noptimizer: gd\n", [], "problem.name: unknown problem 'tird'; did you mean 'trid'?"),
        (
            "problem: trid\noptimizer: {name: gd, step_size: -1}\n",
            [],
            "optimizer.step_size: input should be greater than 0, got -1",
        ),
        (
            "problem: trid\noptimizer: gd\n",
            ["--set", "stop.max_iter=-1"],
            "stop.max_iter: input should be greater than or equal to 0, got -1",
        ),
        (
            "problem: trid\noptimizer: gd\n",
            ["--set", "nonsense"],
            "override 'nonsense' must look like dotted.key=value",
        ),
        ("problem: !!python/object/apply:os.system [echo hi]\noptimizer: gd\n", [], "no tags such as !!python/object"),
    ],
)
def test_config_errors_exit_2_with_one_line(write_config, workdir, text, args, message):
    path = write_config(text, "bad.yaml")
    result = invoke("run", path, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (workdir / "outputs").exists()


def test_missing_config_file(workdir):
    result = invoke("run", "nope.yaml")
    assert result.exit_code == 2 and "nope.yaml: config file not found" in result.stderr


def test_failed_and_diverged_exit_1(write_config):
    path = write_config("problem: polynomial\noptimizer: {name: gd, step_size: 1.0}\noutput: {plots: false}\n")
    result = invoke("run", path)
    assert result.exit_code == 1 and "diverged" in result.stdout


def test_list_commands():
    problems = invoke("list-problems")
    assert problems.exit_code == 0
    for text in ("polynomial", "trid", "goldfield", "f* = -2 at x=[2, 2]", "dim=2"):
        assert text in problems.stdout
    optimizers = invoke("list-optimizers")
    assert optimizers.exit_code == 0
    for text in ("gd", "momentum", "adam", "step_size=0.001", "gradient"):
        assert text in optimizers.stdout


@pytest.mark.slow
def test_list_commands_do_not_import_matplotlib_or_scipy():
    code = (
        "import sys; from optrun.cli import app; from typer.testing import CliRunner;"
        "r = CliRunner().invoke(app, ['list-problems']); assert r.exit_code == 0;"
        "r = CliRunner().invoke(app, ['list-optimizers']); assert r.exit_code == 0;"
        "bad = [m for m in ('matplotlib', 'scipy') if m in sys.modules]; print(bad); assert not bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_help_imports_no_numerical_library():
    """`optrun --help` runs the whole entry path (optrun.entry.main -> run_command)
    without numpy, autograd, pydantic or the runner: they cost ~0.3 s."""
    code = (
        "import sys, runpy; sys.argv = ['optrun', '--help']\n"
        "try:\n    runpy.run_module('optrun', run_name='__main__')\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "bad = [m for m in ('numpy', 'autograd', 'pydantic', 'optrun.core.runner') if m in sys.modules]\n"
        "print(bad); assert not bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-500:] + proc.stderr


# ------------------------------------------------------------ real processes
@pytest.mark.slow
def test_python_dash_m_and_console_script(write_config, workdir):
    proc = run_cli("run", write_config(TRID), "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "converged"


LONG = """\
problem: {name: trid, dim: 200}
optimizer: {name: gd, step_size: 1.0e-9}
stop: {max_iter: 100000000, grad_tol: null}
output: {plots: true}
"""


def _start_long_run(workdir, write_config):
    path = write_config(LONG, "long.yaml")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "optrun", "run", str(path), "--json"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.time() + 60
    trace = None
    while time.time() < deadline:  # wait until rows reach the disk
        found = (
            list((workdir / "outputs" / "long").glob("*/trace.csv")) if (workdir / "outputs" / "long").exists() else []
        )
        if found and found[0].read_text().count("\n") > 5:
            trace = found[0]
            break
        time.sleep(0.1)
    assert trace is not None, "the run never wrote trace rows"
    return proc, trace


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.slow
def test_signal_interrupts_keep_trace_and_write_summary(workdir, write_config, sig, code):
    proc, trace = _start_long_run(workdir, write_config)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    summary = json.loads((trace.parent / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert signal.Signals(sig).name in summary["message"]
    assert json.loads(stdout)["status"] == "interrupted"
    lines = trace.read_text().splitlines()
    assert int(lines[-1].split(",")[0]) == summary["nit"] == len(lines) - 2
    assert (trace.parent / "loss.png").exists()


@pytest.mark.slow
def test_concurrent_runs_get_distinct_directories(workdir, write_config):
    path = write_config(TRID, "same.yaml")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-m", "optrun", "run", str(path), "-q"], cwd=workdir, env=env)
        for _ in range(6)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    dirs = run_dirs(workdir, "same")
    assert len(dirs) == 6
    assert all((d / "summary.json").exists() and (d / "trace.csv").exists() for d in dirs)


@pytest.mark.slow
def test_same_config_and_seed_give_identical_traces(workdir, write_config):
    path = write_config(
        "problem: {name: trid, dim: 5}\ninit: {kind: normal}\nseed: 3\n"
        "optimizer: {name: adam, step_size: 0.05}\nstop: {max_iter: 300}\noutput: {plots: false}\n",
        "det.yaml",
    )
    for _ in range(2):
        assert run_cli("run", path, "-q", cwd=workdir).returncode == 0
    traces = [(d / "trace.csv").read_text().splitlines() for d in run_dirs(workdir, "det")]

    def without_time(lines):
        header = lines[0].split(",")
        t = header.index("time_s")
        return [[v for i, v in enumerate(line.split(",")) if i != t] for line in lines]

    assert len(traces) == 2 and len(traces[0]) > 10
    assert without_time(traces[0]) == without_time(traces[1])


# ------------------------------------------------- how a command ends: one table
from optrun.commands import exits  # noqa: E402
from optrun.core.errors import ConfigError, OptrunError, RunIOError  # noqa: E402
from optrun.engine.signals import StoppedBySignal  # noqa: E402


class _TeapotError(OptrunError):
    exit_code = 3


# every command, the function it calls and arguments it parses
COMMANDS = [
    ("run", "optrun.commands.run.run_command", ["c.yaml"]),
    ("list-problems", "optrun.commands.catalogue.list_problems_command", []),
    ("describe", "optrun.commands.catalogue.describe_command", ["trid"]),
    ("list-optimizers", "optrun.commands.catalogue.list_optimizers_command", []),
    ("plot", "optrun.commands.show.plot_command", ["r"]),
    ("show", "optrun.commands.show.show_command", ["r"]),
    ("compare", "optrun.commands.compare.compare_command", ["r"]),
    ("check", "optrun.commands.check.check_command", []),
    ("sweep", "optrun.commands.sweep.sweep_command", ["c.yaml"]),
]


def _raising(exc):
    def command(*args, **kwargs):
        raise exc

    return command


@pytest.mark.parametrize("command, target, args", COMMANDS, ids=[c[0] for c in COMMANDS])
@pytest.mark.parametrize(
    "exc, code, line",
    [
        (
            ConfigError("bad value", path="optimizer.step_size", source="c.yaml"),
            2,
            "error: c.yaml: optimizer.step_size: bad value",
        ),
        (
            RunIOError("cannot write trace.csv: No space left on device", source="outputs/x"),
            1,
            "error: outputs/x: cannot write trace.csv: No space left on device",
        ),
        (_TeapotError("its own status"), 3, "error: its own status"),
        (
            StoppedBySignal("interrupted by SIGTERM before the run started; nothing was recorded", signal.SIGTERM),
            143,
            "error: interrupted by SIGTERM before the run started; nothing was recorded",
        ),
    ],
    ids=["ConfigError", "RunIOError", "OptrunError", "StoppedBySignal"],
)
def test_every_command_ends_an_error_by_the_one_table(monkeypatch, command, target, args, exc, code, line):
    monkeypatch.setattr(target, _raising(exc))
    result = invoke(command, *args)
    assert result.exit_code == code
    assert result.stderr == line + "\n" and result.stdout == ""


@pytest.mark.parametrize("command, target, args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_command_exits_with_the_status_it_returns(monkeypatch, command, target, args):
    monkeypatch.setattr(target, lambda *a, **k: 1)
    assert invoke(command, *args).exit_code == 1
    monkeypatch.setattr(target, lambda *a, **k: 0)
    result = invoke(command, *args)
    assert result.exit_code == 0 and result.stderr == ""


def test_an_error_outside_the_table_is_a_bug_not_a_message(monkeypatch):
    monkeypatch.setattr("optrun.commands.show.show_command", _raising(ZeroDivisionError("a bug")))
    result = invoke("show", "r")
    assert isinstance(result.exception, ZeroDivisionError)


def test_the_blas_threads_option_ends_by_the_table_too(monkeypatch):
    monkeypatch.setenv("OPTRUN_BLAS_THREADS", "many")
    result = invoke("list-problems")
    assert result.exit_code == 2
    assert (
        result.stderr
        == "error: OPTRUN_BLAS_THREADS: the BLAS thread count must be a whole number from 1 to 1024, got 'many'\n"
    )


def test_click_endings_in_the_table(capsys):
    from typer import Abort

    ClickException, UsageError = exits.click_exceptions.ClickException, exits.click_exceptions.UsageError
    assert exits.report(UsageError("No such option: --bogus")) == 2
    assert exits.report(ClickException("something\n  wrapped")) == 1
    assert exits.report(Abort()) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: optrun: No such option: --bogus (see 'optrun --help')",
        "error: something wrapped",
        "error: aborted",
    ]
    with pytest.raises(TypeError):
        exits.report(ValueError("not an ending"))


@pytest.mark.parametrize(
    "args, code, line",
    [
        (["run", "nope.yaml"], 2, "error: nope.yaml: config file not found"),
        (
            ["run", "c.yaml", "--bogus"],
            2,
            "error: python -m optrun run: no such option --bogus; it takes --set/-s, --quiet/-q, --json, "
            "--plots/--no-plots, --problems, --help/-h (see 'python -m optrun run --help')",
        ),
        (["show", "nowhere"], 2, "error: nowhere: not a run directory (no such folder)"),
    ],
)
def test_main_ends_errors_by_the_same_table(workdir, args, code, line):
    (workdir / "c.yaml").write_text(TRID)
    proc = run_cli(*args, cwd=workdir)
    assert proc.returncode == code
    assert proc.stderr == line + "\n", proc.stderr


def test_a_bad_option_value_is_one_line_in_the_same_frame(workdir):
    """Click words the reason (not asserted: a dependency's text); optrun frames it: one line,
    the command, the option, where to read more, exit 2."""
    proc = run_cli("--blas-threads", "0", "list-problems", cwd=workdir)
    [line] = proc.stderr.splitlines()
    assert proc.returncode == 2 and line.startswith("error: python -m optrun: ") and "'--blas-threads'" in line
    assert line.endswith("(see 'python -m optrun --help')")


def test_plain_optrun_prints_the_help_and_exits_2(workdir):
    proc = run_cli(cwd=workdir)
    assert proc.returncode == 2 and "Usage:" in proc.stdout and proc.stderr == ""


COMMANDS = [
    "run",
    "grad",
    "check",
    "sweep",
    "bench",
    "compare",
    "show",
    "plot",
    "describe",
    "report",
    "list-problems",
    "list-optimizers",
]


def test_version_and_short_help():
    from optrun import __version__

    for args in (["--version"], ["-V"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and result.stdout.strip() == f"optrun {__version__}"
    assert runner.invoke(app, ["-h"]).exit_code == 0


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_values_not_python_types(command):
    """Every command takes -h; options show what to write (KEY=VALUE, N, DIR),
    flags show nothing, never Python types such as <list[str]> or <int>."""
    result = runner.invoke(app, [command, "-h"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    options = result.stdout.split("Options")[1]  # (Typer labels arguments' types itself: <path>)
    for python_type in ("<list[", "<int>", "<float>", "<text>", "<str>", "<path>"):
        assert python_type not in options, (command, python_type)
    flag_lines = [line for line in options.splitlines() if "--help" not in line and "<bool>" in line]
    assert not flag_lines, flag_lines


@pytest.mark.slow
def test_show_and_compare_print_json_and_take_problems(workdir):
    """--json and --problems exist on show and compare too (as on run)."""
    (workdir / "c.yaml").write_text("problem: trid\noptimizer: gd\nstop: {max_iter: 20}\noutput: {plots: false}\n")
    assert runner.invoke(app, ["run", "c.yaml", "-q"]).exit_code == 0
    [run_dir] = list((workdir / "outputs" / "c").iterdir())
    shown = runner.invoke(app, ["show", str(run_dir), "--json", "--problems", str(workdir)])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert {k: data[k] for k in on_disk} == on_disk and data["config"]["problem"]["name"] == "trid"
    compared = runner.invoke(
        app, ["compare", str(run_dir), str(run_dir), "--json", "--out", "cmp.png", "--problems", str(workdir)]
    )
    assert compared.exit_code == 0, compared.output
    rows = json.loads(compared.stdout)
    assert [r["run"] for r in rows] == [1, 2] and rows[0]["status"] == "max_iter" and rows[0]["f"] == on_disk["fun"]


def test_the_command_freezes_the_garbage_collector_before_the_interpreter_exits(workdir):
    """The exit does not walk every object again (0.08 s once matplotlib is loaded): entry.main freezes gc when the command is done."""
    code = (
        "import atexit, gc, sys; import optrun.entry; "
        "atexit.register(lambda: print('frozen objects:', gc.get_freeze_count() > 0)); "
        "sys.argv = ['optrun', 'list-optimizers']; optrun.entry.main()"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=workdir, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("frozen objects: True")
