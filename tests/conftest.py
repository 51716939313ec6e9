import os
import sys
import textwrap
from pathlib import Path

import pytest

# The tests read optrun's piped output at its own default width (160 columns, or $COLUMNS): a width from the
# environment pytest runs in (a shell that exports COLUMNS, or pytest-xdist, which sets COLUMNS=80 in its workers)
# must not change what they see. Tests of $COLUMNS itself set it.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

# Python's bytecode cache, as Python keeps it by default: the suite starts about 800 `python -m optrun` processes,
# and where the environment sets PYTHONDONTWRITEBYTECODE (some sandboxes and CI images do) each one compiled optrun
# and its dependencies from source again (0.6 s of a 1.1 s config error; 0.5 s with the cache), and pytest rewrote
# every test module's asserts again at each run.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


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


# ------------------------------------------------------------------ markers
# A test "compares floats" when its body uses a tolerance (approx, allclose, isclose, rtol/atol, rel=/abs=) or a
# tolerance file (tests/tolerances.py), or calls a helper of its module that does: CI runs those
# (`-m "not slow or floats"`) once per NumPy SIMD level and on another BLAS kernel (.ci/run), where rounding differs.
# Marked by reading the source, so a new test is covered without anyone remembering to mark it.
_FLOATS = __import__("re").compile(
    r"approx\(|allclose|isclose|assert_array_almost|\brtol\b|\batol\b|\brel=|\babs=|tolerances\."
)


def _compares_floats(function, helpers) -> bool:
    import inspect

    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return bool(_FLOATS.search(source) or (helpers and helpers.search(source)))


def _float_helpers(module):
    """A regex of the module's own helper functions (not tests) that compare floats, or None."""
    import inspect
    import re

    names = [
        name
        for name, obj in vars(module).items()
        if inspect.isfunction(obj)
        and not name.startswith("test")
        and obj.__module__ == module.__name__
        and _compares_floats(obj, None)
    ]
    return re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\(") if names else None


def pytest_collection_modifyitems(config, items):
    helpers: dict = {}
    seen: dict = {}
    for item in items:
        function, module = getattr(item, "function", None), getattr(item, "module", None)
        if function is None or module is None:
            continue
        if module not in helpers:
            helpers[module] = _float_helpers(module)
        if function not in seen:
            seen[function] = _compares_floats(function, helpers[module])
        if seen[function]:
            item.add_marker(pytest.mark.floats)
    # The tests that take tens of seconds go first: started last, one of them keeps one test process busy
    # while the other has nothing left to take (pytest-xdist's worksteal cannot split a running test).
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_report_header(config):
    """The environment block at the top of every test run: what to paste when reporting a failure."""
    from optrun.core.machine import environment

    return ["environment (paste this when reporting a failure):"] + [f"  {line}" for line in environment()]


@pytest.fixture
def drawn(monkeypatch):
    """Every figure the plots write, kept to be inspected (the plot tests read them back)."""
    import optrun.plots.figures as plots

    figures = []
    original = plots.figure_bytes
    monkeypatch.setattr(plots, "figure_bytes", lambda fig, fmt="png": (figures.append(fig), original(fig, fmt))[1])
    return figures
