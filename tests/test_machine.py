"""Where numbers come from (optrun/machine.py): the machine in summary.json,
and one BLAS thread setting that every executor obeys, so the same config and
seed give a bit-identical trace whatever runs it."""

import csv
import json

import numpy as np
import pytest

import optrun
from optrun.core import machine
from optrun.core.errors import ConfigError

from helpers import run_cli


def test_summary_records_the_machine(workdir):
    result = optrun.run({"problem": "trid", "optimizer": {"name": "gd", "step_size": 0.1}, "output": {"plots": False}})
    recorded = json.loads((result.run_dir / "summary.json").read_text())["machine"]
    assert recorded["cpu"] == machine.cpu_model() and recorded["arch"]
    (blas,) = [lib for lib in recorded["blas"]][:1]
    from threadpoolctl import threadpool_info

    numpy_blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"][0]
    threads = machine.blas_threads()  # the setting: 1 unless OPTRUN_BLAS_THREADS says otherwise
    assert blas == {"vendor": numpy_blas["internal_api"], "version": numpy_blas["version"], "core": numpy_blas["architecture"], "threads": threads}
    assert "versions" in json.loads((result.run_dir / "summary.json").read_text())
    assert machine.describe(recorded).endswith(f"{blas['vendor']} {blas['version']} {blas['core']}, {threads} thread" + "s" * (threads > 1))


def test_the_thread_setting_is_applied_and_recorded(workdir, monkeypatch):
    monkeypatch.setenv(machine.BLAS_THREADS_ENV, "2")
    result = optrun.run({"problem": "trid", "optimizer": {"name": "newton"}, "output": {"plots": False}})
    assert all(lib["threads"] == 2 for lib in result.summary.machine["blas"])
    assert result.summary.machine["blas"] and optrun.run(
        {"problem": "trid", "optimizer": {"name": "newton"}, "output": {"plots": False}}, []
    ).summary.machine["blas"][0]["threads"] == 2


@pytest.mark.parametrize("value", ["0", "x", "-3", "2.5", "100000"])
def test_a_bad_thread_setting_is_one_line(value, monkeypatch):
    monkeypatch.setenv(machine.BLAS_THREADS_ENV, value)
    with pytest.raises(ConfigError, match=r"^OPTRUN_BLAS_THREADS: the BLAS thread count must be a whole number from 1 to 1024"):
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
def test_every_executor_gives_a_bit_identical_trace(workdir):
    (workdir / "b.yaml").write_text(BLAS_BOUND)
    single = ["--grid", "optimizer.step_size=1.0e-6"]  # a sweep of one point
    commands = {
        "run": ["run", "b.yaml", "-q"],
        "sweep --workers 1": ["sweep", "b.yaml", *single, "--workers", "1"],
        "sweep --workers 2": ["sweep", "b.yaml", "--grid", "optimizer.step_size=1.0e-6,2.0e-6", "--workers", "2"],
        "sweep --dask local:2": ["sweep", "b.yaml", *single, "--dask", "local:2"],
        "check --workers 2": ["check", "b.yaml", str(workdir / "b.yaml"), "--workers", "2"],
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
    (workdir / "b.yaml").write_text(BLAS_BOUND)
    plain = run_cli("run", "b.yaml", "--json", cwd=workdir, env_extra={"OPENBLAS_CORETYPE": None})  # the CPU's own kernels
    other = run_cli("run", "b.yaml", "--json", cwd=workdir, env_extra={"OPENBLAS_CORETYPE": "Prescott", "OPENBLAS_NUM_THREADS": "1"})
    cores = [json.loads(r.stdout)["machine"]["blas"][0]["core"] for r in (plain, other)]
    assert cores[0] != cores[1]
    assert np.isclose(json.loads(plain.stdout)["fun"], json.loads(other.stdout)["fun"], rtol=1e-9)
