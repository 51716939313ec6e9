"""Every shipped config runs and meets its `expect:` block."""

from pathlib import Path

import pytest

import optrun
from optrun.config import load_config
from optrun.commands.expect import check_expect

pytestmark = pytest.mark.slow  # 31 full runs: not in the fast subset (pytest -m "not slow")

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_meets_its_expect(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # data paths and user problems are found from the config, not the working folder
    config = load_config(path)
    assert config.expect is not None, f"{path.name} has no expect: block"
    result = optrun.run(path, ["output.plots=false", f"output.dir={tmp_path}"])
    failures = [f"{c.field}: expected {c.expected}, got {c.got} ({c.detail})" for c in check_expect(config.expect, result.summary) if not c.ok]
    assert not failures, failures
