"""Every shipped config runs and meets its `expect:` block."""

from pathlib import Path

import numpy as np
import pytest

import optrun
from optrun.config import load_config
from optrun.engine.expect import check_expect

pytestmark = pytest.mark.slow  # one full run per shipped config: not in the fast subset (pytest -m "not slow")

REPO = Path(__file__).resolve().parents[1]
from optrun.config.bench import is_bench_suite  # noqa: E402

# run configs; configs/bench-mgh.yaml is a bench suite (tests/test_bench.py, README)
CONFIGS = sorted(p for p in (REPO / "configs").glob("*.yaml") if not is_bench_suite(p))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_meets_its_expect(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # data paths and user problems are found from the config, not the working folder
    config = load_config(path)
    assert config.expect is not None, f"{path.name} has no expect: block"
    result = optrun.run(path, ["output.plots=false", f"output.dir={tmp_path}"])
    failures = [
        f"{c.field}: expected {c.expected}, got {c.got} ({c.detail})"
        for c in check_expect(config.expect, result.summary)
        if not c.ok
    ]
    assert not failures, failures


def test_gaussian_mle_runs_on_the_notebooks_own_draws(workdir):
    """Seed 000's MLE cell: the shipped draws are the notebook's JAX draws
    (mean and spread as the cell's N(-3, 2^2)), and 300 steps of 1e-4 from
    (-6, log 2) end where the notebook's loop does, in float64."""
    import optrun
    from optrun.core.problems.data import read_columns

    data = read_columns(str(REPO / "configs" / "data" / "gaussian_notebook.csv"))["x"]
    assert data.shape == (1000,) and data[:2].tolist() == [-7.356107234954834, -1.2795442342758179]
    assert np.all(data.astype(np.float32).astype(float) == data)  # float32 values, written exactly
    result = optrun.run(str(REPO / "configs" / "gaussian-mle-gd.yaml"), ["output.dir=" + str(workdir / "out")])
    # the notebook loop's float64 figures, to the config's own tolerances: measured by `optrun check --calibrate`
    # (start moved by 1 and 4 ulps, other OpenBLAS kernels, 2 BLAS threads: spread 0, so its floor, 1e-12 x |value|)
    atol = load_config(REPO / "configs" / "gaussian-mle-gd.yaml").expect.atol
    assert result.params == {
        "mu": pytest.approx(-3.0087650871014935, rel=0, abs=atol["params.mu"]),
        "log_sigma": pytest.approx(0.7127040961572705, rel=0, abs=atol["params.log_sigma"]),
    }
