import textwrap
from pathlib import Path

import pytest

@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in a fresh folder so `outputs/` lands in tmp_path."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def write_config(workdir):
    def write(text: str, name: str = "cfg.yaml") -> Path:
        path = workdir / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


