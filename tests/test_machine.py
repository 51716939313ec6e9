"""Where numbers come from (optrun/machine.py): the machine in summary.json,
and one BLAS thread setting that every executor obeys, so the same config and
seed give a bit-identical trace whatever runs it."""

import csv
import json

import numpy as np
import pytest
from helpers import other_kernel_env, run_cli

import optrun
from optrun.core import machine
from optrun.core.errors import ConfigError


def test_summary_records_the_machine(workdir):
    result = optrun.run({"problem": "trid", "optimizer": {"name": "gd", "step_size": 0.1}, "output": {"plots": False}})
    recorded = json.loads((result.run_dir / "summary.json").read_text())["machine"]
    assert recorded["cpu"] == machine.cpu_model() and recorded["arch"]
    (blas,) = [lib for lib in recorded["blas"]][:1]
    from threadpoolctl import threadpool_info

    numpy_blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"][0]
    threads = machine.blas_threads()  # the setting: 1 unless OPTRUN_BLAS_THREADS says otherwise
    core = machine.kernel_name(numpy_blas["architecture"], numpy_blas["internal_api"])
    assert blas == {
        "vendor": numpy_blas["internal_api"],
        "version": numpy_blas["version"],
        "core": core,
        "threads": threads,
    }
    assert recorded["numpy_simd"] == machine.numpy_simd() and recorded["numpy_simd"]["baseline"]
    assert "versions" in json.loads((result.run_dir / "summary.json").read_text())
    level = (recorded["numpy_simd"]["found"] or recorded["numpy_simd"]["baseline"])[-1]
    assert machine.describe(recorded).endswith(
        f"{blas['vendor']} {blas['version']} {blas['core']}, {threads} thread"
        + "s" * (threads > 1)
        + f"; NumPy SIMD {level}"
    )


def test_the_numpy_simd_level_is_what_numpy_reports_found_and_not_disabled():
    import subprocess
    import sys

    code = "import json; from optrun.core import machine; print(json.dumps(machine.numpy_simd()))"
    here = machine.numpy_simd()
    # disabling every extension NumPy found (the lowest of machine.lower_simd_levels; nothing more where NumPy already
    # runs at its baseline) leaves its baseline only, and the record says so
    levels = machine.lower_simd_levels()
    env = {**__import__("os").environ, **({"NPY_DISABLE_CPU_FEATURES": levels[-1]} if levels else {})}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    disabled = json.loads(out.splitlines()[0])
    assert disabled == {"baseline": here["baseline"], "found": []}
    assert (
        machine.describe({"cpu": "c", "arch": "a", "numpy_simd": disabled})
        == f"c (a); NumPy SIMD {here['baseline'][-1]}"
    )


def test_openblas_katmai_is_the_prescott_kernel_on_x86_64():
    # DYNAMIC_LIST builds alias the kernels they leave out to Prescott's and name it by the first alias, "Katmai"
    assert machine.kernel_name("Katmai", "openblas", "x86_64") == "Prescott"
    assert machine.kernel_name("Katmai", "openblas", "i686") == "Katmai"  # a 32-bit build may have it
    assert machine.kernel_name("Haswell", "openblas", "x86_64") == "Haswell"
    assert machine.kernel_name("Katmai", "mkl", "x86_64") == "Katmai"


def test_the_recorded_kernel_under_openblas_coretype_prescott(workdir):
    # the other-kernel job's setting; where the machine sets OPENBLAS_CORETYPE itself, it is left as it is
    import os
    import subprocess
    import sys

    env = {**os.environ, **(other_kernel_env() or {})}
    code = (
        "import numpy.linalg, json; from optrun.core import machine; from threadpoolctl import threadpool_info;"
        "lib = [l for l in threadpool_info() if l['user_api'] == 'blas'][0];"
        "print(json.dumps([lib['internal_api'], lib['architecture'], machine.blas_info()[0]['core']]))"
    )
    vendor, reported, recorded = json.loads(
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    )
    assert recorded == machine.kernel_name(reported, vendor)
    if vendor == "openblas" and "OPENBLAS_CORETYPE" not in os.environ and machine.platform.machine() == "x86_64":
        assert recorded == "Prescott"


def test_the_thread_setting_is_applied_and_recorded(workdir, monkeypatch):
    monkeypatch.setenv(machine.BLAS_THREADS_ENV, "2")
    result = optrun.run({"problem": "trid", "optimizer": {"name": "newton"}, "output": {"plots": False}})
    assert all(lib["threads"] == 2 for lib in result.summary.machine["blas"])
    assert (
        result.summary.machine["blas"]
        and optrun.run(
            {"problem": "trid", "optimizer": {"name": "newton"}, "output": {"plots": False}}, []
        ).summary.machine["blas"][0]["threads"]
        == 2
    )


@pytest.mark.parametrize("value", ["0", "x", "-3", "2.5", "100000"])
def test_a_bad_thread_setting_is_one_line(value, monkeypatch):
    monkeypatch.setenv(machine.BLAS_THREADS_ENV, value)
    with pytest.raises(
        ConfigError, match=r"^OPTRUN_BLAS_THREADS: the BLAS thread count must be a whole number from 1 to 1024"
    ):
        machine.blas_threads()


def test_a_bad_thread_setting_from_the_cli_exits_2(workdir):
    result = run_cli("list-optimizers", cwd=workdir, env_extra={"OPTRUN_BLAS_THREADS": "many"})
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: OPTRUN_BLAS_THREADS: the BLAS thread count must be a whole number from 1 to 1024, got 'many'"
    ]


# A gradient that is a large matrix-vector product (4000 x 300): OpenBLAS
# splits it across threads, and its last bits change with the thread count
# (measured on this machine: 1 and 2 threads give different traces). A run
# that ignored the one setting would show up here.
BLAS_BOUND = """\
problem: {name: linear_regression, n: 4000, dim: 300, true_w: [%s]}
optimizer: {name: gd, step_size: 1.0e-6}
stop: {max_iter: 5, grad_tol: null}
output: {plots: false}
expect: {status: max_iter}
""" % ", ".join(["0.5"] * 300)


def _trace(run_dir):
    with open(run_dir / "trace.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    drop = rows[0].index("time_s")
    return [[cell for i, cell in enumerate(row) if i != drop] for row in rows]


@pytest.mark.slow
@pytest.mark.long
def test_every_executor_gives_a_bit_identical_trace(workdir):
    (workdir / "b.yaml").write_text(BLAS_BOUND)
    single = ["--grid", "optimizer.step_size=1.0e-6"]  # a sweep of one point
    commands = {
        "run": ["run", "b.yaml", "-q"],
        "sweep --workers 1": ["sweep", "b.yaml", *single, "--workers", "1"],
        "sweep --workers 2": ["sweep", "b.yaml", "--grid", "optimizer.step_size=1.0e-6,2.0e-6", "--workers", "2"],
        "sweep --dask local:2": ["sweep", "b.yaml", *single, "--dask", "local:2"],
        "check --workers 2": ["check", "b.yaml", str(workdir / "b.yaml"), "--workers", "2", "--keep-runs", "outputs"],
    }
    for label, args in commands.items():
        result = run_cli(*args, cwd=workdir, timeout=300)
        assert result.returncode == 0, (label, result.stdout, result.stderr)
    in_process = optrun.run(workdir / "b.yaml")
    reference = _trace(in_process.run_dir)
    traces = sorted((workdir / "outputs" / "b").rglob("trace.csv"))
    step_1e6 = [t for t in traces if "step_size: 1.0e-06" in (t.parent / "config.yaml").read_text()]
    assert len(step_1e6) == 1 + 1 + 1 + 1 + 2 + 1  # run, three sweeps, check twice, optrun.run
    for trace in step_1e6:
        assert _trace(trace.parent) == reference, trace
    threads = {json.loads((t.parent / "summary.json").read_text())["machine"]["blas"][0]["threads"] for t in traces}
    assert threads == {machine.blas_threads()}
    other = _trace(optrun.run(workdir / "b.yaml", ["optimizer.step_size=2.0e-6"]).run_dir)
    assert other != reference  # the comparison can tell runs apart


@pytest.mark.slow
def test_another_blas_kernel_is_used_and_recorded(workdir):
    """OPENBLAS_CORETYPE changes NumPy's kernels (what another CPU would pick);
    the run records it, and the shipped check still passes (see .ci/run)."""
    if machine.blas_info()[0]["vendor"] != "openblas":
        pytest.fail("this test needs NumPy built with OpenBLAS, as the wheels from PyPI are")
    if other_kernel_env() is None:
        pytest.skip(
            f"the environment sets {machine.machine_kernel_setting()} (the machine, whose OpenBLAS needs it, or "
            "CI's other-kernel job): the kernel is left as it is"
        )
    (workdir / "b.yaml").write_text(BLAS_BOUND)
    plain = run_cli("run", "b.yaml", "--json", cwd=workdir)  # the CPU's own kernels
    other = run_cli("run", "b.yaml", "--json", cwd=workdir, env_extra=other_kernel_env())
    cores = [json.loads(r.stdout)["machine"]["blas"][0]["core"] for r in (plain, other)]
    assert cores[0] != cores[1]
    assert np.isclose(json.loads(plain.stdout)["fun"], json.loads(other.stdout)["fun"], rtol=1e-9)
