"""describe and the listings show bounds and constraints (optrun/commands/describe.py,
catalogue.py, entries.py): how each method takes bounds and whether it takes
constraints, from its registry entry; a problem's own bounds and constraints."""

import numpy as np
import pytest
from typer.testing import CliRunner

from optrun.cli import app
from optrun.core.optimizers import BOUNDS, OPTIMIZERS

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})  # wide: each row on one line
    assert result.exit_code == 0, result.output
    return result.stdout


def head_rows(text):
    """describe's head table as {field: value} (one line per row at this width)."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) == 4 and cells[1]:
            rows[cells[1]] = cells[2]
    return rows


@pytest.mark.parametrize("name", ["slsqp", "gd", "newton", "lbfgs", "trust-constr"])
def test_describe_optimizer_says_how_it_takes_bounds_and_constraints(name):
    entry = OPTIMIZERS.get(name)
    rows = head_rows(invoke("describe", name))
    if entry.bounds:
        assert rows["bounds"] == f"yes ({entry.bounds}): {BOUNDS[entry.bounds]}"
    else:
        assert rows["bounds"].startswith("no: a run with bounds is refused (methods that take them: adagrad, adam,")
    if entry.constraints:
        assert rows["constraints"].startswith("yes: ineq (c >= 0) and eq (c == 0)")
    else:
        assert (
            rows["constraints"] == "no: a run with constraints is refused (methods that take them: slsqp, trust-constr)"
        )


def test_list_optimizers_adds_a_takes_line_and_a_legend_only():
    """Under each method's description (after its jax line) 'takes ...' when it takes bounds or constraints,
    nothing when it refuses them; the legend under the table says what each means."""
    from optrun.commands.entries import takes

    text = invoke("list-optimizers")
    found, name = {}, None
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) > 2 and cells[1]:
            name = cells[1]
        if "takes " in line and name is not None and "│" in line:
            found[name] = line[line.index("takes ") :].split("│")[0].strip()
    expected = {name: takes(OPTIMIZERS.get(name)) for name in OPTIMIZERS}
    assert found == {name: text for name, text in expected.items() if text}
    assert found["gd"] == "takes bounds (projected)" and found["slsqp"] == "takes bounds (scipy) and constraints"
    assert "newton" not in found and "bfgs" not in found
    legend = " ".join(text.split("Step-size schedules")[0].split("┘")[-1].split())
    for key, meaning in BOUNDS.items():
        assert f"bounds ({key}): {meaning}" in legend
    assert "A method without a 'takes' line refuses a run with bounds or constraints." in legend


@pytest.fixture
def boxed_problem():
    from optrun.core.feasible import ConstraintSpec
    from optrun.core.problems import PROBLEMS, Problem, Reference, register_problem

    @register_problem("test_describe_boxed", description="a bowl in a box and a disc", parameters="x (2,)")
    def build(options):
        return Problem(
            objective=lambda p: ((p["x"] - 2) ** 2).sum(),
            start={"x": np.zeros(2)},
            reference=Reference(2.5, ({"x": np.array([1.0, 1.5])},)),
            bounds={"x": [[None, 1], [0, 3]]},
            constraints=(
                ConstraintSpec("ineq", lambda p: 4 - (p["x"] ** 2).sum(), "4 - |x|^2"),
                ConstraintSpec("eq", lambda p: p["x"][1] - p["x"][0] - 0.5, "x[1] - x[0] - 0.5"),
            ),
        )

    yield "test_describe_boxed"
    PROBLEMS.unregister("test_describe_boxed")


def test_describe_problem_shows_its_bounds_and_constraints(boxed_problem):
    text = invoke("describe", boxed_problem)
    rows = head_rows(text)
    assert rows["bounds"] == "x: [[null, 1], [0, 3]]"
    assert rows["constraints"] == "4 - |x|^2 >= 0 (ineq)"
    assert "│               │ x[1] - x[0] - 0.5 == 0 (eq)" in text  # the second constraint, on the next line
    assert rows["known minimum"] == "f* = 2.5 (within its bounds and constraints)"


def test_a_problem_without_bounds_or_constraints_is_described_as_before():
    rows = head_rows(invoke("describe", "trid"))
    assert list(rows) == [
        "formula",
        "parameters",
        "backends",
        "default start",
        "known minimum",
        "minimizer",
        "defined in",
    ]
    assert rows["known minimum"] == "f* = -2.0"


def test_list_problems_says_what_bounds_and_constrains_a_problem(boxed_problem):
    text = invoke("list-problems")
    block = text[text.index(f"│ {boxed_problem}") :].split("\n│ ")[0:6]
    assert any("bounds on x; 2 constraints (1 ineq, 1 eq)" in line for line in block)
    trid = text[text.index("│ trid ") :].split("\n")[0:4]
    assert not any("bounds on" in line or "constraint" in line for line in trid)
