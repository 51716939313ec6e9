"""Calibrated expectations: tolerances measured, not guessed (optrun/calibrate.py)."""

import os
import shutil

import numpy as np
import pytest
import yaml
from helpers import REPO, other_kernel_env, run_cli
from tolerances import rounding

from optrun.config import ExpectConfig, load_config
from optrun.core.result import KnownMinimum
from optrun.engine import calibrate
from optrun.engine.calibrate import FLOOR, MARGIN, Sample, calibrate_samples, nudge, round_up


def sample(label, fun, x=None, status="converged", nit=10, reference=None):
    return Sample(label, status, fun, {"x": x if x is not None else [fun]}, nit, "test machine", reference)


def test_nudge_moves_each_entry_by_whole_ulps():
    x0 = np.array([1.0, -3.5, 0.0, 1e-300, 2.0**40])
    for ulps in (1, -1, 4, -4):
        moved = nudge(x0, ulps)
        unit = np.spacing(np.where(x0 == 0, 1.0, np.abs(x0)))
        assert np.array_equal(np.abs(moved - x0), abs(ulps) * unit)  # exact: the moves are whole ulps
    assert np.array_equal(nudge(x0, 1), nudge(x0, 1))  # seeded signs: calibrations repeat
    assert np.array_equal(nudge(x0, -1) - x0, -(nudge(x0, 1) - x0))


@pytest.mark.parametrize(
    "value, rounded", [(3.21, 3.3), (29.0, 29.0), (0.0139, 0.014), (1e-12, 1e-12), (6.81e-8, 6.9e-8), (0.0, 0.0)]
)
def test_round_up_to_two_digits_never_lowers(value, rounded):
    assert round_up(value) == rounded
    assert round_up(value) >= value


def test_tolerance_is_margin_times_the_largest_deviation_and_spread_is_from_the_plain_run():
    expect = ExpectConfig(fun=10.0, status="converged")
    runs = [sample("plain", 10.0 + 2e-10), sample("a", 10.0 + 5e-10), sample("b", 10.0 - 3e-10)]
    found = calibrate_samples("c.yaml", expect, runs)
    (fun,) = found.fields
    # |-3e-10 - 2e-10|: 10 + 2e-10 and 10 - 3e-10 each round by half an ulp of 10 (ulp = 8 eps),
    # their difference is exact
    assert fun.spread == pytest.approx(5e-10, abs=rounding(1, 10))
    assert fun.deviation == pytest.approx(5e-10, abs=rounding(1, 10))
    assert fun.tolerance == round_up(MARGIN * fun.deviation)
    assert found.ok and not found.sensitive  # 5e-10 < 1e-9 * max(1, 10)


def test_a_spread_above_one_in_a_billion_is_rounding_sensitive():
    expect = ExpectConfig(fun=1e6, status="max_iter")
    runs = [sample("plain", 1e6, status="max_iter"), sample("a", 1e6 + 30.0, status="max_iter")]
    found = calibrate_samples("c.yaml", expect, runs)
    assert found.sensitive and found.fields[0].tolerance == 300.0


def test_identical_runs_get_the_floor():
    found = calibrate_samples("c.yaml", ExpectConfig(fun=-2.0), [sample("plain", -2.0)] * 5)
    assert found.fields[0].tolerance == FLOOR * 2.0 and found.fields[0].spread == 0.0


def test_known_tolerances_cover_the_distance_to_the_reference():
    reference = KnownMinimum(0.0, [{"x": [1.0, 1.0]}, {"x": [-1.0, -1.0]}])
    runs = [sample("plain", 1e-15, x=[1.0 + 2e-9, 1.0]), sample("a", 2e-15, x=[1.0 + 3e-9, 1.0 - 1e-9])]
    runs = [Sample(s.label, s.status, s.fun, s.params, s.nit, s.machine, reference) for s in runs]
    found = calibrate_samples("c.yaml", ExpectConfig(fun="known", params="known"), runs)
    by_field = {f.field: f for f in found.fields}
    assert by_field["params.x"].tolerance == round_up(MARGIN * ((1.0 + 3e-9) - 1.0))  # nearest minimizer: (1, 1)
    assert by_field["fun"].tolerance == FLOOR


def test_a_status_that_depends_on_rounding_is_reported_not_written():
    runs = [sample("plain", 1.0), sample("a", 1.0, status="max_iter")]
    found = calibrate_samples("c.yaml", ExpectConfig(fun=1.0, status="converged"), runs)
    assert not found.ok and "the status depends on rounding (converged x1, max_iter x1)" in found.problems[0]


def test_a_failing_value_that_rounding_does_not_explain_is_a_change():
    runs = [sample("plain", 2.0), sample("a", 2.0 + 1e-15)]
    found = calibrate_samples("c.yaml", ExpectConfig(fun=1.0, atol=1e-6), runs)
    assert not found.ok and "expect.fun fails its check by 1" in found.problems[0]
    within = calibrate_samples("c.yaml", ExpectConfig(fun=2.0 + 1e-8, atol=1e-6), runs)  # passes today: calibrated
    assert within.ok and within.fields[0].tolerance == round_up(MARGIN * 1e-8)


def planned_samples() -> int:
    """8 runs (4 starts, 2 kernels, 2 BLAS threads), or 6 where the environment pins the OpenBLAS kernel (the
    machine's own setting, or CI's other-kernel job): calibrate leaves it as it is."""
    from optrun.core.machine import machine_kernel_setting

    return 6 if machine_kernel_setting() else 8


def test_variants_vary_the_start_and_the_blas():
    plan, note = calibrate.variants(threads=1)
    assert [v.ulps for v in plan[:5]] == [0, 1, -1, 4, -4]
    blas = [v for v in plan if v.env]
    from optrun.core.machine import blas_info, machine_kernel_setting

    if machine_kernel_setting():  # the machine sets its OpenBLAS kernel itself: left as it is
        assert blas == [] and machine_kernel_setting() in note
    elif blas_info()[0]["vendor"] == "openblas":  # this machine's NumPy: OpenBLAS, whose kernels are varied
        assert blas[0].env == {"OPENBLAS_CORETYPE": "Prescott"} and len(blas) == 2 and not note
    assert any(v.threads == 2 for v in plan)


@pytest.mark.slow
def test_calibrating_a_chaotic_and_a_converged_config(tmp_path):
    """mlp-gd (300 non-converged gd steps on an MLP) is rounding-sensitive and
    gets a tolerance covering its spread; trid-gd converges and gets a tight one.
    The calibrated mlp-gd then passes under another BLAS kernel."""
    for name in ("mlp-gd.yaml", "trid-gd.yaml"):
        shutil.copy(REPO / "configs" / name, tmp_path / name)
    result = run_cli("check", "mlp-gd.yaml", "trid-gd.yaml", "--calibrate", "--workers", "2", cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / "outputs").exists()  # the calibration's runs record nothing
    assert "tolerances written for 2 of 2 configs (1 rounding-sensitive)" in result.stdout
    mlp = yaml.safe_load((tmp_path / "mlp-gd.yaml").read_text())["expect"]
    trid = yaml.safe_load((tmp_path / "trid-gd.yaml").read_text())["expect"]
    assert mlp["calibration"]["sensitive"] is True and mlp["calibration"]["samples"] == planned_samples()
    assert (
        mlp["calibration"]["spread"]["fun"] > calibrate.SENSITIVE * mlp["fun"]
    )  # measured, chaotic: rounding-sensitive
    # 10x the largest |run - expected|, which is at least half the spread (|a - b| <= |a - e| + |b - e|)
    assert mlp["atol"]["fun"] >= MARGIN * mlp["calibration"]["spread"]["fun"] / 2 and mlp["rtol"] == 0.0
    assert trid["calibration"]["sensitive"] is False
    # converged to grad_tol 1e-8 on trid (dim 2: Hessian eigenvalues 1 and 3): every run is within 1e-8 / 1 of x* and
    # 1e-16 / 2 (plus f's roundings, rounding(4, 4)) of f*; MARGIN times that, rounded up to two digits, or the floor
    assert trid["atol"]["fun"] == round_up(max(MARGIN * (1e-16 / 2 + rounding(4, 4)), FLOOR * 2.0))
    assert trid["atol"]["params.x"] <= round_up(MARGIN * (1e-8 / 1.0 + rounding(4, 4)))
    assert "openblas" in mlp["recorded_on"] or "BLAS" in result.stdout
    assert mlp["fun"] == yaml.safe_load((REPO / "configs" / "mlp-gd.yaml").read_text())["expect"]["fun"]  # values kept
    shipped = (REPO / "configs" / "mlp-gd.yaml").read_text()
    assert shipped.startswith("# ") and (tmp_path / "mlp-gd.yaml").read_text().startswith(
        shipped.split("\nproblem")[0]
    )  # comments kept
    load_config(tmp_path / "mlp-gd.yaml")  # still a valid config
    again = run_cli(
        "check", "mlp-gd.yaml", "trid-gd.yaml", cwd=tmp_path, env_extra=other_kernel_env()
    )  # None: as it is
    assert again.returncode == 0, again.stdout + again.stderr
    assert "rounding-sensitive: last-bit changes move fun by" in again.stdout


@pytest.mark.slow
def test_update_rewrites_a_failing_value_then_calibrates_it(tmp_path):
    text = (REPO / "configs" / "trid-gd.yaml").read_text().replace("fun: known", "fun: -1.5")
    (tmp_path / "t.yaml").write_text(text)
    scratch = tmp_path / "tmp"  # TMPDIR: the check's temporary folder goes there
    scratch.mkdir()
    result = run_cli("check", "t.yaml", "--update", cwd=tmp_path, timeout=300, env_extra={"TMPDIR": str(scratch)})
    assert result.returncode == 0, result.stdout + result.stderr
    # no run in ./outputs: the failing run (before the rewrite) is kept in the temporary folder, and named
    [kept] = scratch.glob("optrun-check-*/t/*")
    assert f"t.yaml: run kept in {kept}" in result.stdout and not (tmp_path / "outputs").exists()
    assert (
        "updated t.yaml: expect.fun: -1.5 -> -2" in result.stdout and "tolerances written for 1 of 1" in result.stdout
    )
    expect = yaml.safe_load((tmp_path / "t.yaml").read_text())["expect"]
    # the run's f, converged (grad_tol 1e-8, lambda_min 1): within 1e-16 / 2 of f* = -2, plus f's roundings
    assert (
        expect["fun"] == pytest.approx(-2.0, abs=1e-16 / 2 + rounding(4, 4))
        and expect["calibration"]["samples"] == planned_samples()
    )
    assert run_cli("check", "t.yaml", cwd=tmp_path, env_extra={"TMPDIR": str(scratch)}).returncode == 0
    assert len(list(scratch.glob("optrun-check-*"))) == 1  # the passing check left nothing


def test_a_failure_says_where_the_expectation_was_recorded(tmp_path):
    (tmp_path / "t.yaml").write_text(
        "problem: {name: trid, dim: 2}\noptimizer: {name: gd, step_size: 0.1}\noutput: {plots: false}\n"
        "expect: {fun: -1.9, atol: 1.0e-9, "
        "recorded_on: 'Some Other CPU (x86_64); openblas 0.3.20 SkylakeX, 1 thread'}\n"
    )
    from optrun.engine.checks import check_one

    os.chdir(tmp_path)
    try:
        result = check_one(str(tmp_path / "t.yaml"))
    finally:
        os.chdir(REPO)
    assert result.outcome == "fail"
    assert result.message.endswith(
        "expectation recorded on Some Other CPU (x86_64); openblas 0.3.20 SkylakeX, 1 thread; this run: "
        + result.machine
    )


def test_a_signal_stops_a_calibration_before_any_config_is_written(tmp_path, monkeypatch):
    """SIGTERM arrives during the first sample (a real signal to this process,
    recorded by the engine's handler): no further sample starts, the
    calibration ends with StoppedBySignal (exit 143 from the CLI) and the
    config is left byte for byte as it was."""
    import signal

    from optrun.engine.calibrate import calibrate_configs
    from optrun.engine.signals import StoppedBySignal

    config = tmp_path / "trid-gd.yaml"
    shutil.copy(REPO / "configs" / "trid-gd.yaml", config)
    before = config.read_bytes()
    real, ran = calibrate.run_sample, []

    def signalled(*args, **kwargs):
        ran.append(args)
        if len(ran) == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(calibrate, "run_sample", signalled)
    with pytest.raises(StoppedBySignal) as stopped:
        calibrate_configs([config], workers=1)
    assert stopped.value.signum == signal.SIGTERM
    assert len(ran) == 1  # nothing started after the signal
    assert config.read_bytes() == before
