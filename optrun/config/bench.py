"""The suite file of ``optrun bench`` (README, "Benchmarks across a suite").

A suite file names the problems (problem names, ``{name, options...}``
mappings, or a named suite such as ``mgh``), the optimizers (names or
``{name, options...}``), the number of starts, the budget, the targets and
where the bench directory goes. It is validated like a config: unknown keys
and bad values are one-line :class:`ConfigError` naming the key path.
:mod:`optrun.commands.bench` turns it into runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from optrun.config import NAME_PATTERN, OutputConfig, is_valid_name
from optrun.core.errors import ConfigError, short
from optrun.core.options import Options, validate
from optrun.core.safe_yaml import read_yaml_file

MAX_STARTS = 1000
DEFAULT_TARGETS = (1e-1, 1e-3, 1e-6)


class BudgetConfig(Options):
    """What each run may spend: the runner's stop rules ``max_iter``,
    ``max_fev`` (function evaluations, as SciPy counts them) and
    ``time_limit`` (seconds), and its convergence rule ``grad_tol``."""

    max_iter: int = Field(default=1000, ge=1, description="steps each run may take: stop.max_iter")
    max_fev: int | None = Field(
        default=None, ge=1, description="function evaluations each run may use (null: no limit): stop.max_fev"
    )
    time_limit: float | None = Field(default=None, gt=0, description="seconds each run may take: stop.time_limit")
    grad_tol: float | None = Field(default=1e-8, ge=0, description="a run converges at |grad| <= this: stop.grad_tol")


class BenchOutput(Options):
    dir: str = Field(default="outputs", min_length=1, description="the bench goes to DIR/NAME/bench-TIMESTAMP")

    @field_validator("dir")
    @classmethod
    def _path(cls, value: str) -> str:
        return OutputConfig(dir=value).dir


class BenchConfig(Options):
    """A suite file (see the module docstring and the README)."""

    name: str = Field(pattern=f"^{NAME_PATTERN}$", description="the bench's name: its folder under output.dir")
    problems: str | list[str | dict[str, Any]] = Field(
        min_length=1, description="names, {name: NAME, OPTION: VALUE} mappings and suite names (mgh), or one suite"
    )
    optimizers: list[str | dict[str, Any]] = Field(
        min_length=1, description="names or {name: NAME, OPTION: VALUE} mappings"
    )
    starts: int = Field(1, ge=1, le=MAX_STARTS, description="the standard start plus starts - 1 random ones")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seeds the random starts (and every run)")
    budget: BudgetConfig = Field(default_factory=BudgetConfig, description="what each run may spend")
    targets: list[float] = Field(
        default_factory=lambda: list(DEFAULT_TARGETS),
        min_length=1,
        max_length=20,
        description="tolerances in (0, 1): a run solves target tau when f - f* <= tau max(1, |f*|)",
    )
    output: BenchOutput = Field(default_factory=BenchOutput, description="where the bench directory goes")

    @field_validator("problems", "optimizers")
    @classmethod
    def _named(cls, value: Any) -> Any:
        for item in [value] if isinstance(value, str) else value:
            if isinstance(item, dict) and not isinstance(item.get("name"), str):
                raise ValueError(f"a mapping needs 'name:' naming the entry, got {short(item)}")
        return value

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: list[float]) -> list[float]:
        if any(not 0 < t < 1 for t in value):
            raise ValueError(
                f"targets are tolerances between 0 and 1 (exclusive), e.g. [1.0e-1, 1.0e-3, 1.0e-6], got {value}"
            )
        if len(set(value)) != len(value):
            raise ValueError(f"targets must be distinct, got {value}")
        return sorted(value, reverse=True)


def suite_members(name: str) -> list[tuple[str, dict[str, Any]]] | None:
    """The problems of a named suite (``mgh``) as (name, options) pairs, or
    None when no suite has that name."""
    from optrun.core.problems import SUITES
    from optrun.core.problems import suite_members as members

    return members(name) if name in SUITES else None


def label(spec: dict[str, Any]) -> str:
    """``gd`` or ``gd(step_size=0.001)``: how tables, bench.csv and plots name an entry."""
    options = {k: v for k, v in spec.items() if k != "name"}
    if not options:
        return spec["name"]
    return f"{spec['name']}(" + ", ".join(f"{k}={short(v)}" for k, v in options.items()) + ")"


def _entries(items: list[Any], key: str, suites: bool) -> list[dict[str, Any]]:
    """Every entry as a ``{name, options...}`` mapping; problem names that
    are no problem but a suite's name stand for the suite's problems."""
    from optrun.core.problems import PROBLEMS

    found: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, str):
            members = suite_members(item) if suites and item not in PROBLEMS else None
            if members is not None:
                found += [{"name": member, **options} for member, options in members]
                continue
            found.append({"name": item})
        else:
            found.append(dict(item))
    labels: dict[str, int] = {}
    for i, entry in enumerate(found):
        text = label(entry)
        if text in labels:
            raise ConfigError(f"'{text}' is listed twice", path=key)
        labels[text] = i
    return found


class Suite:
    """A validated suite file with its problems and optimizers expanded."""

    def __init__(self, config: BenchConfig, source: str):
        self.config = config
        self.source = source
        problems = [config.problems] if isinstance(config.problems, str) else config.problems
        self.problems = _entries(problems, "problems", suites=True)
        self.optimizers = _entries(config.optimizers, "optimizers", suites=False)

    @property
    def name(self) -> str:
        return self.config.name

    def to_json(self) -> dict[str, Any]:
        return {**self.config.model_dump(mode="json"), "problems": self.problems, "optimizers": self.optimizers}


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; a bad one is a one-line ConfigError."""
    source = str(path)
    data = read_yaml_file(path, "suite file")
    if data is None:
        raise ConfigError("suite file is empty; it needs at least 'name', 'problems' and 'optimizers'", source=source)
    if not isinstance(data, dict):
        raise ConfigError(f"a suite file must be a mapping of keys, got a {type(data).__name__}", source=source)
    try:
        config = validate(BenchConfig, data)
        if not is_valid_name(config.name):
            raise ConfigError(
                "a name becomes a folder: use letters, digits, '.', '_' and '-', starting with a letter or digit",
                path="name",
            )
        return Suite(config, source)
    except ConfigError as exc:
        raise exc.located(source=exc.source or source) from None


def is_bench_suite(path: str | Path) -> bool:
    """Whether the YAML file at ``path`` is a bench suite (``problems:`` and
    ``optimizers:``, no ``optimizer:``) rather than a run config; a file
    that cannot be read is not (reading it as a config reports why)."""
    from optrun.core.errors import OptrunError
    from optrun.core.safe_yaml import read_yaml_file

    try:
        data = read_yaml_file(path)
    except OptrunError:
        return False
    return isinstance(data, dict) and "optimizers" in data and "problems" in data and "optimizer" not in data
