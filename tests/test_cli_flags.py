"""Flags alike across commands (issue 18): --quiet, --plots/--no-plots, one
--workers default, help without Python types, catalogue widths, plot formats
given by --out's suffix."""

import os
import re
from pathlib import Path

import pytest
from helpers import run_cli
from typer.main import get_command
from typer.testing import CliRunner

import optrun
from optrun.cli import app

runner = CliRunner()

COMMANDS = sorted(get_command(app).commands)
QUIET = ["run", "check", "sweep", "bench"]

# OK converges (gd contracts by 0.9 a step: grad_tol 1e-8 by step ~190), so f - f* <= 1e-16 / 2 plus f's roundings:
# the expect: atol 1e-6 its checks below use holds on any machine
OK = "problem: {name: trid, dim: 2}\noptimizer: {name: gd, step_size: 0.1}\nstop: {max_iter: 300}\n"
DIVERGES = "problem: polynomial\noptimizer: {name: gd, step_size: 1.0}\nstop: {max_iter: 300}\n"  # |f| passes 1e100 at iteration 71


def invoke(*args, columns="100"):
    """The CLI in this process; stdout is not a terminal. ``columns`` None: no $COLUMNS."""
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": columns})


def usable_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


# ------------------------------------------------------------------ help
# Typer's type names: <bool>, <path>, <int>, <list[Path]>, <float range>, {CONFIG} in the usage line
PYTHON_TYPE = re.compile(
    r"<(bool|path|int|float|str|text|choice|list\[[^>]*\]|tuple\[[^>]*\]|[a-z]+ range)>|\{[A-Za-z_]+\}|list\[|\bPath\b"
)


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_shows_no_python_type(command):
    result = invoke(*([command] if command else []), "--help")
    assert result.exit_code == 0, result.output
    found = PYTHON_TYPE.findall(result.stdout)
    assert not found, (command, found, result.stdout)
    assert re.search(r"--help\s+-h\s+Show this message", result.stdout)  # nothing between the names and the text


@pytest.mark.parametrize(
    "command, usage",
    [
        ("run", "run [OPTIONS] CONFIG"),
        ("compare", "compare [OPTIONS] RUN_DIR..."),
        ("check", "check [OPTIONS] [PATH]..."),
        ("sweep", "sweep [OPTIONS] [CONFIG]"),
        ("plot", "plot [OPTIONS] RUN_DIR"),
        ("report", "report [OPTIONS] PATH..."),
    ],
)
def test_arguments_read_as_their_metavar(command, usage):
    assert re.search(rf"^ Usage: \S+ {re.escape(usage)}\s*$", invoke(command, "--help").stdout, re.M)


@pytest.mark.parametrize("command", QUIET)
def test_quiet_is_on_every_command_that_prints_progress_or_tables(command):
    help_text = invoke(command, "--help", columns="200").stdout
    assert re.search(
        r"--quiet\s+-q\s+No progress bar and no tables; a failure still prints one line on stderr", help_text
    )


def test_workers_has_one_default_for_check_sweep_and_bench():
    cores = usable_cores()
    for command in ("check", "sweep", "bench"):
        help_text = " ".join(invoke(command, "--help", columns="250").stdout.split())
        assert f"(default: every usable core, here {cores})" in help_text, command
        [workers] = [p for p in get_command(app).commands[command].params if p.name == "workers"]
        assert workers.default == cores, command
    check_help = " ".join(invoke("check", "--help", columns="250").stdout.split())
    assert "Each run is limited to --blas-threads BLAS threads (default 1, set with threadpoolctl)" in check_help, check_help


def test_plots_flags_are_alike_and_show_their_default():
    for command in ("run", "grad", "check", "sweep", "bench"):
        assert re.search(r"--plots\s+--no-plots", invoke(command, "--help", columns="200").stdout), command
    for command in ("check", "sweep", "bench"):
        assert "default: off" in invoke(command, "--help", columns="200").stdout, command
    for command in ("run", "grad"):
        assert "default: output.plots" in invoke(command, "--help", columns="200").stdout, command


# ------------------------------------------------- the table of common flags
README = Path(__file__).resolve().parents[1] / "README.md"


def readme_flags() -> dict[str, set[str]]:
    """The README's table of common flags: command -> the flags it says the command has."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("<!-- common flags:") :].split("\n\n")[0].splitlines()[1:]
    # columns: the command, what it is for, then one column per flag
    flags = [cell.strip(" `") for cell in table[0].strip("|").split("|")[2:]]
    rows = {}
    for line in table[2:]:
        command, _purpose, *marks = (cell.strip(" `") for cell in line.strip("|").split("|"))
        rows[command] = {flag for flag, mark in zip(flags, marks, strict=True) if mark}
    return rows


def app_flags(command: str, common: set[str]) -> set[str]:
    """The common flags the Typer app gives ``command`` (each as the README writes it: --plots/--no-plots)."""
    params = get_command(app).commands[command].params
    names = {"/".join([*p.opts, *p.secondary_opts]) for p in params if p.param_type_name == "option"}
    return names & common


def test_every_command_has_the_common_flags_the_readme_table_gives_it():
    table = readme_flags()
    common = set().union(*table.values())
    assert common == {"--quiet/-q", "--json", "--plots/--no-plots", "--set/-s", "--problems", "--workers/-w", "--out/-o"}
    assert set(table) == set(COMMANDS)  # every command is in the table, and nothing else
    for command, flags in table.items():
        assert app_flags(command, common) == flags, command


@pytest.mark.slow
@pytest.mark.parametrize("flag", ["--quiet", "--set", "--problems", "--workers"])
def test_a_common_flag_has_one_help_text(flag):
    """One definition per flag: the same help on every command (--json, --out and --plots say what they print)."""
    texts = set()
    for command in COMMANDS:
        for param in get_command(app).commands[command].params:
            if flag in param.opts:
                texts.add(re.sub(r"\(.*", "", param.help or ""))  # --workers' default names the command's work
    assert len(texts) == 1, texts


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_option_lists_the_options_the_command_has(command, tmp_path):
    result = run_cli(command, "--no-such-flag", cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "--no-such-flag" in line
    params = get_command(app).commands[command].params
    for param in params:
        if param.param_type_name == "option":
            assert param.opts[0] in line, (param.opts, line)


# --------------------------------------------------------------- --quiet
def one_line(result):
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_check_quiet_prints_nothing_on_success_and_one_line_for_a_diverged_run(workdir):
    (workdir / "ok.yaml").write_text(OK + "expect: {fun: known, atol: 1.0e-6}\n")
    (workdir / "div.yaml").write_text(DIVERGES + "expect: {status: converged}\n")
    passed = invoke("check", "ok.yaml", "--quiet")
    assert (passed.exit_code, passed.stdout, passed.stderr) == (0, "", "")
    failed = invoke("check", "div.yaml", "-q")
    assert failed.exit_code == 1 and failed.stdout == ""
    line = one_line(failed)
    assert line.startswith("check failed: div.yaml: fail (run diverged: |f| = ")
    assert line.endswith("0 passed, 1 failed, 0 errors, 0 skipped (1 configs, " + line.split("(1 configs, ")[1])
    loud = invoke("check", "div.yaml")
    assert loud.exit_code == 1 and "FAIL" in loud.stdout and loud.stderr == ""  # without --quiet: the table


@pytest.mark.slow
def test_sweep_quiet_prints_nothing_on_success_and_one_line_for_a_diverged_run(workdir):
    (workdir / "s.yaml").write_text(DIVERGES)
    fine = invoke("sweep", "s.yaml", "--grid", "optimizer.step_size=0.01,0.05", "--workers", "1", "--quiet")
    assert (fine.exit_code, fine.stdout, fine.stderr) == (0, "", "")
    mixed = invoke("sweep", "s.yaml", "--grid", "optimizer.step_size=0.01,1.0", "--workers", "1", "-q")
    assert mixed.exit_code == 0 and mixed.stdout == ""  # a sweep with a diverged run still ends 0, as without --quiet
    line = one_line(mixed)
    assert re.fullmatch(r"sweep: 2 of 2 runs done, 1 failed or diverged; outputs/s/sweep-[0-9-]+/sweep\.csv", line), (
        line
    )


def test_run_quiet_says_a_diverged_run_in_one_line(write_config):
    result = invoke("run", write_config(DIVERGES + "output: {plots: false}\n"), "--quiet")
    assert result.exit_code == 1 and result.stdout == ""
    assert one_line(result).startswith("cfg: diverged: |f| = ")


@pytest.mark.slow
def test_bench_quiet_prints_nothing_on_success_and_one_line_for_a_diverged_run(workdir):
    suite = "name: tiny\nproblems: [{name: trid, dim: 2}]\noptimizers: [{name: gd, step_size: %s}]\nstarts: 1\nbudget: {max_iter: 100}\n"
    (workdir / "fine.yaml").write_text(suite % "0.1")
    fine = invoke("bench", "fine.yaml", "--workers", "1", "--quiet")
    assert (fine.exit_code, fine.stdout, fine.stderr) == (0, "", "")
    (workdir / "div.yaml").write_text(suite % "10.0")
    diverged = invoke("bench", "div.yaml", "--workers", "1", "-q")
    assert diverged.exit_code == 0 and diverged.stdout == ""
    assert re.fullmatch(
        r"bench: 1 of 1 runs done, 1 failed or diverged; outputs/tiny/bench-[0-9-]+/bench\.csv", one_line(diverged)
    )


@pytest.mark.slow
def test_quiet_check_and_sweep_with_the_default_workers_as_real_processes(workdir):
    """Default --workers (a pool when there are 2 or more configs or runs): still quiet, still one line."""
    (workdir / "ok.yaml").write_text(OK + "expect: {fun: known, atol: 1.0e-6}\n")
    (workdir / "div.yaml").write_text(DIVERGES + "expect: {status: converged}\n")
    check = run_cli("check", "ok.yaml", "div.yaml", "--quiet", cwd=workdir)
    assert check.returncode == 1 and check.stdout == "" and len(check.stderr.splitlines()) == 1, check.stderr
    assert "div.yaml: fail" in check.stderr and "ok.yaml" not in check.stderr
    sweep = run_cli("sweep", "div.yaml", "--grid", "optimizer.step_size=0.01,1.0", "--quiet", cwd=workdir)
    assert sweep.returncode == 0 and sweep.stdout == "" and len(sweep.stderr.splitlines()) == 1, sweep.stderr


# --------------------------------------------------------- --plots on run
@pytest.mark.slow
def test_run_plots_flag_overrides_output_plots(write_config, workdir):
    off = write_config(OK + "output: {plots: false}\n", "off.yaml")
    on = write_config(OK, "on.yaml")
    assert invoke("run", off, "--plots", "-q").exit_code == 0
    assert invoke("run", on, "--no-plots", "-q").exit_code == 0
    assert invoke("run", on, "-q").exit_code == 0
    [drawn] = list((workdir / "outputs" / "off").iterdir())
    [skipped, default] = sorted((workdir / "outputs" / "on").iterdir())
    assert {"loss.png", "params.png", "landscape.png"} <= {p.name for p in drawn.iterdir()}
    assert not list(skipped.glob("*.png"))
    assert "plots: false" in (skipped / "config.yaml").read_text()  # the run records what it did
    assert (default / "loss.png").is_file()


# ---------------------------------------------------- catalogue widths
def header_cells(text, title):
    """The header of the table titled ``title``: each column's header lines, joined."""
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.rstrip() == title)) + 2  # title, then the top border
    rows = []
    for line in lines[start:]:
        if line.startswith("┡"):
            break
        rows.append([cell.strip() for cell in line.strip("┃").split("┃")])
    return [" ".join(part for part in column if part) for column in zip(*rows)]


@pytest.mark.parametrize("columns", [None, "80"], ids=["piped", "COLUMNS=80"])
def test_catalogue_fits_80_columns_and_never_breaks_a_header_word(columns):
    problems = invoke("list-problems", columns=columns)
    assert problems.exit_code == 0
    assert max(map(len, problems.stdout.splitlines())) == 80
    # narrower than optrun.commands.entries.WIDE, each entry's fields are stacked beside its name (issue 29)
    assert header_cells(problems.stdout, "Problems") == ["name", "details"]
    assert "│ options (defaults): m=13" in problems.stdout and "│ known minimum: f* = " in problems.stdout
    assert header_cells(problems.stdout, "Suites") == ["name", "details"]
    optimizers = invoke("list-optimizers", columns=columns)
    assert max(map(len, optimizers.stdout.splitlines())) == 80
    assert header_cells(optimizers.stdout, "Optimizers") == ["name", "details"]
    assert "│ needs: gradient " in optimizers.stdout and "gradien\n" not in optimizers.stdout  # a need is never split
    described = invoke("describe", "linear_regression", columns=columns)
    assert max(map(len, described.stdout.splitlines())) <= 80
    assert header_cells(described.stdout, "options") == ["option", "details"]
    assert "│ default: [4.2, -4.2]" in described.stdout and "│ type: list of numbers, length >= 1" in described.stdout


def test_catalogue_follows_columns_when_piped():
    wide = invoke("list-problems", columns="150")
    assert max(map(len, wide.stdout.splitlines())) == 150


# ------------------------------------------------------------ --out suffix
@pytest.mark.parametrize("out", ["study/trid.gif", "study/trid", "study/trid.png.txt"])
def test_compare_refuses_a_plot_suffix_it_cannot_write(workdir, out):
    r = optrun.run(
        {"name": "a", "problem": "trid", "optimizer": "gd", "stop": {"max_iter": 3}, "output": {"plots": False}}
    )
    result = invoke("compare", r.run_dir, "--out", out)
    assert result.exit_code == 2 and result.stdout == ""
    assert (
        one_line(result) == f"error: --out must name a .png, .svg or .pdf file (its suffix is its format), got '{out}'"
    )
    assert not (workdir / "study").exists()


def test_a_bad_plot_format_in_a_config_is_one_line_and_no_run(write_config, workdir):
    result = invoke("run", write_config(OK + "output: {plot_format: jpg}\n").name)
    assert result.exit_code == 2
    assert one_line(result) == "error: cfg.yaml: output.plot_format: input should be 'png', 'svg' or 'pdf', got 'jpg'"
    assert not (workdir / "outputs").exists()
