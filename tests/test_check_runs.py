"""Where `optrun check` records its runs: never ./outputs. A temporary folder
that keeps only the failing configs' runs (named in the output, the JUnit
report and --json), or --keep-runs DIR, which keeps every run as
DIR/NAME/TIMESTAMP. Each command runs as a real process with TMPDIR set to a
folder of the test's own, so whatever a check leaves there is seen."""

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import REPO, run_cli

from optrun.engine.check_runs import PREFIX, CheckRuns
from optrun.engine.checks import FAIL, PASS, CheckResult

# gd on Trid 2-D converges to (2, 2), f* = -2 (within 1e-16 of it at grad_tol 1e-8): "known" passes with atol 1e-6,
# an expected -1.5 fails by 0.5
TRID = "problem: {name: trid, dim: 2}\noptimizer: {name: gd, step_size: 0.1}\nstop: {max_iter: 1000}\n"
OK = "name: ok\n" + TRID + "expect: {fun: known, atol: 1.0e-6}\n"
WRONG = "name: wrong\n" + TRID + "expect: {fun: -1.5, atol: 1.0e-6}\n"
DIVERGES = "name: div\nproblem: polynomial\noptimizer: {name: gd, step_size: 1.0}\nexpect: {fun: known}\n"
BAD = "name: bad\nproblem: nope\noptimizer: gd\nexpect: {fun: known}\n"
LONG = (  # runs for hours: only a signal ends it
    "name: long\nproblem: {name: trid, dim: 2}\noptimizer: {name: gd, step_size: 1.0e-9}\n"
    "stop: {max_iter: 100000000, grad_tol: null}\nexpect: {fun: known}\n"
)


@pytest.fixture
def site(tmp_path):
    """(the working folder with the configs, the TMPDIR the commands get)"""
    folder, scratch = tmp_path / "work", tmp_path / "tmp"
    folder.mkdir()
    scratch.mkdir()
    for name, text in (("ok", OK), ("wrong", WRONG), ("div", DIVERGES), ("bad", BAD), ("long", LONG)):
        (folder / f"{name}.yaml").write_text(text)
    return folder, scratch


def optrun(site, *args, **kwargs):
    folder, scratch = site
    return run_cli(*args, cwd=folder, env_extra={"TMPDIR": str(scratch), "COLUMNS": "200"}, **kwargs)


def check_folders(scratch):
    return sorted(scratch.glob(f"{PREFIX}*"))


def runs_in(folder):
    """The run directories under a check's folder: {NAME/TIMESTAMP: path}."""
    return {str(p.relative_to(folder)): p for p in folder.glob("*/*")}


def test_a_passing_check_leaves_no_outputs_and_no_temporary_folder(site):
    folder, scratch = site
    (folder / "elsewhere.yaml").write_text(OK.replace("name: ok", "name: elsewhere") + "output: {dir: mine}\n")
    result = optrun(site, "check", "ok.yaml", "elsewhere.yaml", "--workers", "2", "--junit", "j.xml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed, 0 failed" in result.stdout and "kept" not in result.stdout + result.stderr
    assert not (folder / "outputs").exists() and not (folder / "mine").exists()  # nor a config's own output.dir
    assert check_folders(scratch) == []
    assert "run directory" not in (folder / "j.xml").read_text()  # no path to something removed


@pytest.mark.slow  # several end-to-end checks: the fast subset keeps the one-config ones
def test_the_runs_of_failing_configs_are_kept_and_named_the_passing_ones_removed(site):
    folder, scratch = site
    args = ("check", "ok.yaml", "wrong.yaml", "div.yaml", "bad.yaml", "--workers", "2", "--junit", "j.xml")
    result = optrun(site, *args)
    assert result.returncode == 2, result.stdout + result.stderr  # a config error (bad.yaml): as before
    assert "1 passed, 2 failed, 1 errors" in result.stdout
    [check_dir] = check_folders(scratch)
    kept = runs_in(check_dir)
    assert sorted(name.split("/")[0] for name in kept) == ["div", "wrong"]  # ok's run is gone; bad never ran
    for config, name in (("wrong.yaml", "wrong"), ("div.yaml", "div")):
        [(_, run)] = [(k, p) for k, p in kept.items() if k.startswith(name + "/")]
        assert f"{config}: run kept in {run}" in result.stdout.splitlines()  # one line each, the full path
        assert json.loads((run / "summary.json").read_text())["name"] == name
        shown = optrun(site, "show", run)
        assert shown.returncode == 0 and name in shown.stdout, shown.stderr
    assert not (folder / "outputs").exists()
    cases = {c.get("name"): c for c in ET.parse(folder / "j.xml").getroot().iter("testcase")}
    for config, name in (("wrong.yaml", "wrong"), ("div.yaml", "div")):  # JUnit names the kept run of a failure
        [run] = [p for k, p in kept.items() if k.startswith(name + "/")]
        assert cases[config].find("system-out").text == f"run directory: {run}"
    assert cases["ok.yaml"].find("system-out") is None and cases["bad.yaml"].find("system-out") is None


@pytest.mark.slow  # several end-to-end checks: the fast subset keeps the one-config ones
def test_quiet_and_json_name_the_kept_runs_too(site):
    _, scratch = site
    quiet = optrun(site, "check", "ok.yaml", "wrong.yaml", "--workers", "1", "--quiet")
    assert quiet.returncode == 1 and quiet.stdout == ""
    [line] = quiet.stderr.splitlines()
    [check_dir] = check_folders(scratch)
    [run] = runs_in(check_dir).values()
    assert (
        line.startswith("check failed: wrong.yaml: fail (fun: expected -1.5, got -2")
        and f", run kept in {run};" in line
    )
    as_json = optrun(site, "check", "ok.yaml", "wrong.yaml", "--workers", "1", "--json")
    assert as_json.returncode == 1
    configs = {Path(c["config"]).name: c for c in json.loads(as_json.stdout)["configs"]}  # stdout: the JSON alone
    assert configs["ok.yaml"]["run_dir"] is None and Path(configs["wrong.yaml"]["run_dir"]).is_dir()
    assert f"wrong.yaml: run kept in {configs['wrong.yaml']['run_dir']}" in as_json.stderr
    assert len(check_folders(scratch)) == 2  # each failing check keeps its own folder


@pytest.mark.slow  # several end-to-end checks: the fast subset keeps the one-config ones
def test_keep_runs_keeps_every_run_as_dir_name_timestamp_for_show_and_compare(site):
    folder, scratch = site
    result = optrun(site, "check", "ok.yaml", "wrong.yaml", "--keep-runs", "kept/runs", "--workers", "2")
    assert result.returncode == 1, result.stdout + result.stderr  # a failure: exit 1, as before
    runs = runs_in(folder / "kept" / "runs")
    assert sorted(name.split("/")[0] for name in runs) == ["ok", "wrong"]
    [wrong] = [p for k, p in runs.items() if k.startswith("wrong/")]
    assert f"wrong.yaml: run kept in kept/runs/wrong/{wrong.name}" in result.stdout.splitlines()
    assert "2 run directories kept in kept/runs (one per config: kept/runs/NAME/TIMESTAMP)" in result.stdout
    for run in runs.values():
        assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "summary.json", "trace.csv"]
        shown = optrun(site, "show", run)
        assert shown.returncode == 0 and "converged" in shown.stdout, shown.stderr
    compared = optrun(site, "compare", *runs.values(), "--out", "c.png")
    assert compared.returncode == 0 and (folder / "c.png").stat().st_size > 0, compared.stderr
    assert not (folder / "outputs").exists() and check_folders(scratch) == []
    again = optrun(site, "check", "ok.yaml", "--keep-runs", "kept/runs", "--quiet")  # nothing there is removed
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert len(list((folder / "kept" / "runs" / "ok").iterdir())) == 2 and all(p.exists() for p in runs.values())
    error = optrun(site, "check", "bad.yaml", "--keep-runs", "kept/runs")
    assert error.returncode == 2 and "0 run directories kept" in error.stdout


def test_keep_runs_that_is_a_file_and_keep_runs_with_calibrate_are_refused(site):
    folder, scratch = site
    for args, said in (
        (("--keep-runs", "ok.yaml"), "ok.yaml: --keep-runs: not a folder"),
        (("--keep-runs", "x", "--calibrate"), "--calibrate re-runs the configs without recording them"),
    ):
        result = optrun(site, "check", "ok.yaml", *args)
        assert result.returncode == 2 and result.stdout == "", result.stderr
        [line] = result.stderr.splitlines()
        assert said in line
    assert not (folder / "x").exists() and not (folder / "outputs").exists() and check_folders(scratch) == []


@pytest.mark.slow  # several end-to-end checks: the fast subset keeps the one-config ones
def test_update_records_no_runs_in_outputs(site):
    folder, scratch = site
    result = optrun(site, "check", "wrong.yaml", "--update", "--workers", "1", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "updated wrong.yaml: expect.fun: -1.5 -> -2" in result.stdout
    # the failing run is kept until the check ends (and named); nothing went to ./outputs
    [check_dir] = check_folders(scratch)
    [run] = runs_in(check_dir).values()
    assert f"wrong.yaml: run kept in {run}" in result.stdout and not (folder / "outputs").exists()


def test_settle_removes_what_no_result_keeps_and_nothing_outside_its_folder(tmp_path):
    folder = tmp_path / f"{PREFIX}x"
    outside = tmp_path / "mine" / "a" / "1"
    for path in (folder / "a" / "1", folder / "b" / "1", folder / "b" / ".2.incoming", folder / "c" / "1", outside):
        path.mkdir(parents=True)
        (path / "summary.json").write_text("{}")
    runs = CheckRuns(folder, keep_all=False)
    results = [
        CheckResult("a.yaml", FAIL, run_dir=str(folder / "a" / "1")),
        CheckResult("b.yaml", PASS, run_dir=str(folder / "b" / "1")),
        CheckResult("m.yaml", FAIL, run_dir=str(outside)),  # not in the folder: never removed, never named
    ]
    runs.done(results[1])  # a pass: its run goes at once
    assert not (folder / "b" / "1").exists() and (folder / "b" / ".2.incoming").exists()
    runs.done(CheckResult("m.yaml", PASS, run_dir=str(outside)))  # outside the folder: left alone
    settled = runs.settle(results)
    assert [r.run_dir for r in settled] == [str(folder / "a" / "1"), "", ""]
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == ["a", "a/1", "a/1/summary.json"]
    assert (outside / "summary.json").exists() and runs.kept == [folder / "a" / "1"]
    assert CheckRuns(folder, keep_all=False).settle([results[1]])[0].run_dir == ""
    assert not folder.exists()  # nothing kept: the folder goes too


# ----------------------------------------------------------- real signals
def start(site, *args):
    folder, scratch = site
    return subprocess.Popen(
        [sys.executable, "-m", "optrun", *map(str, args)],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(scratch), "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_rows(pattern_root, pattern, proc, rows=20):
    """Wait until a trace matching ``pattern`` under ``pattern_root`` has ``rows`` rows (the run is under way)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for trace in pattern_root.glob(pattern):
            try:
                if len(trace.read_text().splitlines()) > rows:
                    return trace.parent
            except OSError:
                pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.kill()
    raise AssertionError(f"no run reached {rows} trace rows")


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_signal_mid_check_leaves_no_temporary_folder(site, workers):
    folder, scratch = site
    (folder / "long2.yaml").write_text(LONG.replace("name: long", "name: long2"))
    proc = start(site, "check", "long.yaml", "long2.yaml", "--workers", workers)
    wait_for_rows(scratch, f"{PREFIX}*/long*/*/trace.csv", proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "INTERRUPTED" in stdout and "Traceback" not in stderr
    assert check_folders(scratch) == [] and not (folder / "outputs").exists()


@pytest.mark.slow
def test_a_signal_keeps_the_failures_already_checked_and_names_them(site):
    folder, scratch = site
    proc = start(site, "check", "wrong.yaml", "long.yaml", "--workers", "1", "--junit", "j.xml")
    wait_for_rows(scratch, f"{PREFIX}*/long/*/trace.csv", proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "1 failed, 0 errors, 0 skipped, 1 interrupted" in stdout
    [check_dir] = check_folders(scratch)
    [(name, run)] = runs_in(check_dir).items()  # the interrupted run is gone, the finished failure is kept
    assert name.startswith("wrong/") and f"wrong.yaml: run kept in {run}" in stdout
    junit = (folder / "j.xml").read_text()
    assert f"run directory: {run}" in junit and junit.count("run directory:") == 1


@pytest.mark.slow
def test_a_signal_with_keep_runs_keeps_the_interrupted_run_whole(site):
    folder, scratch = site
    proc = start(site, "check", "long.yaml", "--workers", "1", "--keep-runs", "kept")
    run = wait_for_rows(folder, "kept/long/*/trace.csv", proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
    assert "1 run directory kept in kept" in stdout and check_folders(scratch) == []


@pytest.mark.slow
def test_check_on_a_local_dask_cluster_keeps_only_the_failure_here(site):
    folder, scratch = site
    result = optrun(site, "check", "ok.yaml", "wrong.yaml", "--dask", "local:1", timeout=180)
    assert result.returncode == 1, result.stdout + result.stderr
    [check_dir] = check_folders(scratch)
    [(name, run)] = runs_in(check_dir).items()
    assert name.startswith("wrong/") and f"wrong.yaml: run kept in {run}" in result.stdout
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "summary.json", "trace.csv"]
    assert not (folder / "outputs").exists()


def test_check_help_says_where_the_runs_go():
    from typer.testing import CliRunner

    from optrun.cli import app

    shown = CliRunner().invoke(app, ["check", "--help"], env={"COLUMNS": "250"}).stdout
    text = " ".join(shown.replace("\u2502", " ").split())  # (the box's side lines cut a long help text)
    assert "--keep-runs DIR Keep every run directory, as DIR/NAME/TIMESTAMP" in text
    assert "removed at the end but for the failing configs' runs, whose paths the check prints" in text
