"""Every option of every built-in problem says what it means: ``optrun
describe PROBLEM`` shows each Field's description in its "meaning" column."""

import types
import typing
from typing import Any

from typer.testing import CliRunner

from optrun.cli import app
from optrun.core.options import Options
from optrun.core.problems import PROBLEMS

runner = CliRunner()


def nested_models(annotation: Any) -> list[type[Options]]:
    """The option models inside an annotation (``TableData | None`` gives TableData)."""
    if isinstance(annotation, type) and issubclass(annotation, Options):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, dict):
        return [model for arg in typing.get_args(annotation) for model in nested_models(arg)]
    return []


def undescribed(model: type[Options], prefix: str) -> list[str]:
    """``prefix.option`` for each option of ``model`` (and of the option models inside it) without a description."""
    missing = []
    for name, field in model.model_fields.items():
        if not (field.description or "").strip():
            missing.append(f"{prefix}.{name}")
        for inner in nested_models(field.annotation):
            missing += undescribed(inner, f"{prefix}.{name}")
    return missing


def built_in_entries() -> list[tuple[str, Any]]:
    return [(name, entry) for name, entry in PROBLEMS.items() if entry.build.__module__.startswith("optrun.")]


def test_every_built_in_problem_option_has_a_description():
    entries = built_in_entries()
    with_options = {name for name, entry in entries if entry.options.model_fields}
    # the check covers the option-bearing families (a registry that lost them would pass vacuously)
    assert {"polynomial", "trid", "linear_regression", "gaussian_mle", "expression", "watson", "penalty1"} <= (
        with_options
    )
    missing = [item for name, entry in entries for item in undescribed(entry.options, name)]
    assert missing == []


def test_the_check_finds_an_option_without_a_description():
    class Bare(Options):
        plain: int = 1

    assert undescribed(Bare, "bare") == ["bare.plain"]


def test_describe_trid_shows_what_dim_means():
    result = runner.invoke(app, ["describe", "trid"], env={"COLUMNS": "140"})
    assert result.exit_code == 0, result.output
    rows = [line.strip("│ ").split("│") for line in result.stdout.splitlines() if line.startswith("│ dim ")]
    assert len(rows) == 1
    meaning = rows[0][-1].strip()
    assert meaning not in ("", "-")
    assert meaning == PROBLEMS.get("trid").options.model_fields["dim"].description
