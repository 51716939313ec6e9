"""optrun check: the CI regression test for converged minima."""

import tempfile
import textwrap
import xml.etree.ElementTree as ET

import pytest
from tolerances import rounding
from typer.testing import CliRunner

from optrun.cli import app
from optrun.engine.checks import check_one, find_configs

runner = CliRunner()


@pytest.fixture(autouse=True)
def scratch(tmp_path_factory, monkeypatch):
    """The system's temporary folder while a test runs: one of its own, where
    the checks' temporary folders are made (what one leaves there is seen)."""
    folder = tmp_path_factory.mktemp("tmp")
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# The tolerances in these expect: blocks are checked against what gd reaches on Trid 2-D (Hessian [[2, -1], [-1, 2]],
# eigenvalues 1 and 3): stopped at |g| <= 1e-10, |x - (2, 2)| <= |g| / 1 = 1e-10 and f + 2 <= |g|^2 / 2, 5e-21, below
# f's rounding: f is -2.0 exactly here (x = (2 - e, 2 - e), e = 6.6e-11, from gd's elementwise IEEE arithmetic, the
# same on every CPU; f = -2 + e^2 rounds to -2). A passing tolerance (atol 1e-8, or 1e-6, rtol 1e-6 by default) is
# over 100x that; a failing value is at least 0.1 away.

TRID = """\
# Trid 2-D; minimum (2, 2), f* = -2
problem: trid
optimizer: {{name: gd, step_size: 0.1}}   # plain gradient descent
stop: {{max_iter: 1000, grad_tol: 1.0e-10}}
expect:
{expect}
"""


def config(folder, name, expect, body=TRID):
    path = folder / name
    path.write_text(body.format(expect=textwrap.indent(textwrap.dedent(expect).strip(), "  ")))
    return path


def check(*args):
    return runner.invoke(app, ["check", *map(str, args)], env={"COLUMNS": "250"})


def test_pass(workdir, scratch):
    config(workdir, "ok.yaml", "fun: known\nparams: known\nstatus: converged\natol: 1.0e-8")
    result = check("ok.yaml")
    assert result.exit_code == 0, result.stdout
    assert "PASS" in result.stdout and "1 passed, 0 failed, 0 errors, 0 skipped" in result.stdout
    assert "kept" not in result.stdout  # nothing kept, nothing left: no ./outputs, no temporary folder
    assert sorted(p.name for p in workdir.iterdir()) == ["ok.yaml"] and list(scratch.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "expect, broke",
    [
        ("fun: -1.9\natol: 1.0e-6", "fun: expected -1.9, got -2"),
        ("params: {x: [2.0, 2.1]}\natol: 1.0e-6", "params.x: expected [2.0, 2.1]"),
        ("status: max_iter", "status: expected max_iter, got converged"),
        ("max_nit: 10", "max_nit: expected 10, got"),
        ("fun: known\natol: 0.0\nrtol: 0.0\nstatus: converged", None),  # gd lands within ~1e-20, not exactly? see below
    ],
)
def test_each_field_can_fail(workdir, expect, broke):
    config(workdir, "c.yaml", expect)
    result = check("c.yaml", "--keep-runs", "runs")
    if broke is None:  # exact comparison: pass or fail must agree with the value itself
        import json

        summary = json.loads(next((workdir / "runs" / "c").glob("*/summary.json")).read_text())
        assert result.exit_code == (0 if summary["fun"] == -2.0 else 1)
        return
    assert result.exit_code == 1, result.stdout
    assert "FAIL" in result.stdout
    assert broke in check_one("c.yaml").message


@pytest.mark.slow
def test_tolerance_edges_and_per_field_tolerances(workdir):
    # gd stops at |grad| <= 1e-10: f is within ~1e-21 of -2; x within 1e-10 of 2 (|g| / lambda_min), and no closer than
    # 0.7e-10 / 3 / sqrt(2) = 1.6e-11: gd's last step shrank |g| by at most 0.7 (1 - 0.1 * 3), from above 1e-10, and
    # |x - x*| >= |g| / lambda_max. tight (1e-13) fails, loose (1e-9) passes; the edge is exact, f being -2.0 (above)
    config(workdir, "tight.yaml", "params: {x: [2.0, 2.0]}\natol: {fun: 1.0, params: 1.0e-13}\nrtol: 0.0")
    config(workdir, "loose.yaml", "params: {x: [2.0, 2.0]}\natol: {params.x: 1.0e-9}\nrtol: 0.0")
    assert check("tight.yaml").exit_code == 1
    assert check("loose.yaml").exit_code == 0
    config(workdir, "edge.yaml", "fun: -2.5\natol: 0.5\nrtol: 0.0")  # |diff| = 0.5 <= 0.5
    assert check("edge.yaml").exit_code == 0
    config(workdir, "edge2.yaml", "fun: -2.5\natol: 0.4999\nrtol: 0.0")
    assert check("edge2.yaml").exit_code == 1


@pytest.mark.slow
def test_known_with_several_minima_picks_the_nearest(workdir):
    body = (
        "problem: himmelblau\ninit: {{kind: values, values: {{x: -3.0, y: -3.0}}}}\n"
        "optimizer: {{name: adam, step_size: 0.05}}\nstop: {{max_iter: 20000, grad_tol: 1.0e-9}}\nexpect:\n{expect}\n"
    )
    # adam stops at |g| <= 1e-9: |x - x*| <= 1e-9 / 70.7 (lambda_min there), f - f* <= 1e-18 / 141: far inside atol 1e-7
    config(workdir, "h.yaml", "fun: known\nparams: known\natol: 1.0e-7", body)
    result = check("h.yaml")
    assert result.exit_code == 0, result.stdout
    result = check_one("h.yaml")
    [px, py] = [c for c in result.checks if c.field.startswith("params.")]
    # the reference is Newton-polished to where g rounds: r1 = x^2 + y - 11 and r2 = x + y^2 - 7 within rounding(2, 30)
    # each, g = (4x r1 + 2 r2, 2 r1 + 4y r2) within 16 times that (|x|, |y| < 3.8), and |x - x*| <= |g| / lambda_min
    # (70.7 there), here and where the digits were printed (16 of them: +-5e-16)
    tol = 2 * 16 * rounding(2, 30) / 70 + 5e-16
    assert px.expected == pytest.approx(-3.779310253377747, abs=tol) and py.expected == pytest.approx(
        -3.2831859912861696, abs=tol
    )


def test_skipped_configs_are_listed(workdir):
    (workdir / "plain.yaml").write_text("problem: trid\noptimizer: gd\n")
    config(workdir, "ok.yaml", "fun: known\natol: 1.0e-6")
    result = check(workdir)
    assert result.exit_code == 0
    assert "SKIP" in result.stdout and "no expect: block" in result.stdout
    assert "1 passed, 0 failed, 0 errors, 1 skipped" in result.stdout


def test_exit_statuses(workdir):
    (workdir / "bad.yaml").write_text("problem: trid\noptimizer: {name: gd, step_size: -1}\nexpect: {fun: known}\n")
    result = check("bad.yaml")
    assert result.exit_code == 2 and "ERROR" in result.stdout and "optimizer.step_size" in result.stdout
    (workdir / "div.yaml").write_text(
        "problem: polynomial\noptimizer: {name: gd, step_size: 1.0}\nexpect: {fun: known}\n"
    )
    result = check("div.yaml")
    assert result.exit_code == 1 and "run diverged" in result.stdout
    (workdir / "div2.yaml").write_text(
        "problem: polynomial\noptimizer: {name: gd, step_size: 1.0}\nexpect: {status: diverged}\n"
    )
    result = check("div2.yaml")  # a diverged run always fails its check: expecting it is a config error
    assert result.exit_code == 2 and "expect.status" in result.stdout and "can never pass" in result.stdout
    assert check("nowhere").exit_code == 2
    config(workdir, "unknown-param.yaml", "params: {y: 1.0}")
    result = check("unknown-param.yaml")
    assert result.exit_code == 2 and "expect.params.y: unknown parameter 'y'" in result.stdout
    (workdir / "empty").mkdir()
    result = check("empty")
    assert result.exit_code == 2 and "no YAML configs found" in result.stderr


def test_junit_report(workdir, scratch):
    config(workdir, "ok.yaml", "fun: known\natol: 1.0e-6")
    config(workdir, "wrong.yaml", "fun: -1.5\natol: 1.0e-6")
    (workdir / "plain.yaml").write_text("problem: trid\noptimizer: gd\n")
    (workdir / "bad.yaml").write_text("problem: nope\noptimizer: gd\nexpect: {fun: known}\n")
    result = check(workdir, "--junit", "reports/junit.xml", "--workers", "1")
    assert result.exit_code == 2
    root = ET.parse(workdir / "reports" / "junit.xml").getroot()
    suite = root.find("testsuite")
    assert (
        suite.attrib["tests"] == "4"
        and suite.attrib["failures"] == "1"
        and suite.attrib["errors"] == "1"
        and suite.attrib["skipped"] == "1"
    )
    cases = {Path(c.attrib["name"]).name: c for c in suite.findall("testcase")}
    assert "fun: expected -1.5, got -2" in cases["wrong.yaml"].find("failure").attrib["message"]
    assert "unknown problem 'nope'" in cases["bad.yaml"].find("error").attrib["message"]
    assert cases["plain.yaml"].find("skipped") is not None
    assert cases["ok.yaml"].find("failure") is None
    # the failure's run directory is kept and named; the passing one's is gone, and not named
    kept = Path(cases["wrong.yaml"].find("system-out").text.removeprefix("run directory: "))
    assert (kept / "summary.json").is_file() and kept.parent.name == "wrong"
    [folder] = scratch.iterdir()  # the temporary folder holds the failure's run only
    assert folder.name.startswith("optrun-check-") and [p.relative_to(folder) for p in folder.glob("*/*")] == [
        kept.relative_to(folder)
    ]
    assert cases["ok.yaml"].find("system-out") is None and not (workdir / "outputs").exists()
    assert f"wrong.yaml: run kept in {kept}" in result.stdout


from pathlib import Path  # noqa: E402


@pytest.mark.slow
def test_workers_give_the_same_results(workdir):
    for i in range(4):
        config(workdir, f"c{i}.yaml", f"fun: {-2.0 + i * 0.5}\natol: 1.0e-6")
    serial = check(workdir)
    parallel = check(workdir, "--workers", "2")
    assert serial.exit_code == parallel.exit_code == 1
    assert "1 passed, 3 failed" in serial.stdout and "1 passed, 3 failed" in parallel.stdout


@pytest.mark.slow
def test_update_rewrites_failing_values_and_keeps_comments(workdir):
    path = config(
        workdir,
        "u.yaml",
        "fun: -1.5      # was measured by hand\nparams: {x: [2.0, 2.5]}\natol: 1.0e-6\nstatus: converged",
    )
    before = path.read_text()
    result = check("u.yaml", "--update")
    assert result.exit_code == 0
    assert "updated u.yaml: expect.fun: -1.5 -> -2" in result.stdout
    assert "expect.params.x: [2.0, 2.5] ->" in result.stdout
    after = path.read_text()
    assert (
        "# Trid 2-D; minimum (2, 2), f* = -2" in after
        and "# plain gradient descent" in after
        and "# was measured by hand" in after
    )
    assert after.splitlines()[:4] == before.splitlines()[:4]  # untouched lines stay byte for byte
    assert "grad_tol: 1.0e-10" in after and "status: converged" in after
    assert check("u.yaml").exit_code == 0  # and now it passes
    assert not (workdir / "outputs").exists()  # the checks' runs went to a temporary folder, removed


def test_find_configs_skips_run_directories_and_hidden_folders(workdir):
    (workdir / "a").mkdir()
    (workdir / "a" / "x.yaml").write_text("")
    (workdir / "a" / "y.yml").write_text("")
    (workdir / "a" / "z.txt").write_text("")
    run = workdir / "a" / "outputs" / "x" / "20260101-000000"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("")
    (run / "trace.csv").write_text("")
    (workdir / "a" / ".hidden").mkdir()
    (workdir / "a" / ".hidden" / "h.yaml").write_text("")
    assert [p.name for p in find_configs([workdir / "a"])] == ["x.yaml", "y.yml"]


def test_update_with_values_from_set_or_known_does_not_crash_and_still_fails(workdir):
    config(
        workdir, "k.yaml", "fun: known\nparams: known\natol: 1.0e-30\nrtol: 0.0"
    )  # x is >= 1.6e-11 from (2, 2): fails
    (workdir / "plain.yaml").write_text("problem: trid\noptimizer: {name: gd, step_size: 0.1}\nstop: {max_iter: 3}\n")
    result = check("k.yaml", "plain.yaml", "--set", "expect.max_nit=1", "--update", "--workers", "1")
    assert result.exit_code == 1, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "still failing" in result.stdout and "not in the file (given with --set?)" in result.stdout
    assert "known (the problem's reference) is not rewritten" in result.stdout


def test_interrupted_and_not_run_configs_are_reported_and_exit_128_plus_signal(workdir):
    from optrun.commands.check import exit_code, totals, write_junit
    from optrun.engine.checks import INTERRUPTED, NOT_RUN, CheckResult

    results = [
        CheckResult("a.yaml", "pass"),
        CheckResult("b.yaml", INTERRUPTED, error="interrupted by SIGTERM at iteration 7", signum=15),
        CheckResult("c.yaml", NOT_RUN, error="not started: the check was stopped by SIGTERM", signum=15),
    ]
    assert exit_code(results) == 143
    assert exit_code([CheckResult("a.yaml", "fail"), CheckResult("b.yaml", NOT_RUN, signum=2)]) == 130
    assert "1 passed, 0 failed, 0 errors, 0 skipped, 1 interrupted, 1 not run" in totals(results)
    assert "interrupted" not in totals(results[:1])
    write_junit(results, workdir / "j.xml")
    suite = ET.parse(workdir / "j.xml").getroot().find("testsuite")
    assert (suite.get("errors"), suite.get("skipped")) == ("1", "1")  # an interrupted check is never green
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["b.yaml"].find("error").get("type") == "Interrupted"
    assert cases["c.yaml"].find("skipped").get("message") == "not started: the check was stopped by SIGTERM"


def test_a_folder_with_nothing_to_check_says_so_and_strict_fails(workdir):
    (workdir / "a.yaml").write_text("problem: trid\noptimizer: gd\n")
    (workdir / "b.yaml").write_text("problem: booth\noptimizer: gd\n")
    plain = check(workdir)
    assert plain.exit_code == 0 and "warning: no config was checked: none of the 2 has an expect: block" in plain.stderr
    strict = check(workdir, "--strict")
    assert strict.exit_code == 1 and "error: no config was checked" in strict.stderr
    config(workdir, "ok.yaml", "fun: known\natol: 1.0e-6")
    assert check(workdir, "--strict").exit_code == 0  # one config checked is enough
