"""Every shipped config runs and ends with the status its `expect:` names.
(The full comparison of values is `optrun check`'s job.)"""

from pathlib import Path

import pytest
import yaml

import optrun

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_there_are_shipped_configs():
    assert len(CONFIGS) >= 5


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_runs(path, workdir):
    expect = yaml.safe_load(path.read_text()).get("expect")
    assert expect, f"{path.name} has no expect: block"
    result = optrun.run(path, ["output.plots=false"])
    assert result.status == expect["status"], result.message
