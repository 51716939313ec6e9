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




@pytest.fixture
def raising_past_two():
    """A registered problem, (x - 3)^2 from x = 0, whose objective raises
    ValueError('x left the domain') once x passes 2."""
    from optrun.core.problems import PROBLEMS, Problem, register_problem

    @register_problem("test_raises_past_two", description="raises past x = 2", formula="(x-3)^2", parameters="x")
    def build(options):
        def f(p):
            if float(getattr(p["x"], "_value", p["x"])) > 2.0:
                raise ValueError("x left the domain")
            return (p["x"] - 3.0) ** 2

        return Problem(objective=f, start={"x": 0.0})

    yield "test_raises_past_two"
    PROBLEMS.unregister("test_raises_past_two")
