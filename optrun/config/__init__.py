"""Loading and validating a run config (the keys are listed in the README, "Configs").

``load_config`` reads YAML with a safe loader, applies ``--set`` overrides,
validates every key and looks up the problem, initializer and optimizer in
their registries, whose entries validate their own options. The result is a
frozen :class:`Config`; :meth:`Config.resolved` is what goes to the run's
``config.yaml`` (defaults filled in, overrides applied), and loading that file
again gives the same config.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from optrun.config.constraints import ConstraintConfig, FeasibleKeys, clip_option
from optrun.config.expect import ExpectConfig
from optrun.config.names import NAME_PATTERN, default_name, is_valid_name, name_from_stem  # noqa: F401
from optrun.config.sweep import SweepConfig
from optrun.core.backend import DEFAULT as DEFAULT_BACKEND
from optrun.core.backend import check_backend
from optrun.core.errors import ConfigError, short_repr
from optrun.core.feasible import DEFAULT_TOL as DEFAULT_FEASIBILITY_TOL
from optrun.core.options import Options, validate
from optrun.core.safe_yaml import parse_yaml, read_yaml_file


# ---------------------------------------------------------------- sections
class StopConfig(Options):
    """The stop rules the runner applies (README, "Configs")."""

    max_iter: int = Field(
        default=1000, ge=0, description="steps at most (0: evaluate f at the start and stop, status evaluated)"
    )
    max_fev: int | None = Field(
        default=None, ge=1, description="stop when the run has used this many function evaluations (null: no limit)"
    )
    grad_tol: float | None = Field(default=1e-8, ge=0, description="converged when |grad| <= grad_tol (null: off)")
    f_tol: float | None = Field(
        default=None, ge=0, description="converged when |f_k - f_{k-1}| <= f_tol * max(1, |f_k|) (null: off)"
    )
    time_limit: float | None = Field(default=None, gt=0, description="stop after this many seconds (null: none)")
    divergence: float = Field(default=1e100, gt=0, description="|f| above this counts as diverged")
    feasibility_tol: float = Field(
        default=DEFAULT_FEASIBILITY_TOL,
        gt=0,
        description="with bounds or constraints: a point whose largest violation is at most this is feasible; "
        "a run that ends farther out ends infeasible",
    )


class OutputConfig(Options):
    """Where a run is written and what goes into it."""

    dir: str = Field(
        default="outputs", min_length=1, description="runs go to DIR/NAME/TIMESTAMP (from the working folder)"
    )
    plots: bool = Field(default=True, description="draw the run's plots (loss, params, ...) when it ends")
    plot_format: Literal["png", "svg", "pdf"] = Field(
        default="png", description="the plots' file format: loss.png, loss.svg or loss.pdf, ..."
    )
    param_columns: int = Field(
        default=100, ge=0, description="trace has parameter columns while the count is at most this"
    )
    grad_columns: bool = Field(
        default=False, description="also write the signed gradient, a grad:<path> column per free parameter entry"
    )
    log_every: int = Field(
        default=1,
        ge=1,
        description="the trace keeps every K-th row, plus the first, the last and the best (for long runs)",
    )
    trace_format: Literal["csv", "parquet"] = Field(
        default="csv",
        description="trace.csv (text; a run killed outright keeps every row written) or trace.parquet "
        "(typed columns, for millions of rows or thousands of parameter columns; readable only once the run "
        "has closed it: a run killed outright (SIGKILL) or a full disk leaves no rows)",
    )

    @field_validator("dir")
    @classmethod
    def _path(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("a folder path cannot contain a NUL character (\\0)")
        return value


class _TopLevel(FeasibleKeys):
    name: str | None = Field(None, description="the run's name, a folder name (null: the config file's stem)")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seeds random initializers (and random default starts)")
    backend: str = Field(
        DEFAULT_BACKEND, min_length=1, description="autograd or jax: the array module and the derivatives"
    )
    problem: str | dict[str, Any] = Field(description="required: a problem's name, or {name: NAME, OPTION: VALUE, ...}")
    init: str | dict[str, Any] = Field("default", description="the start: default (the problem's) or {kind: KIND, ...}")
    optimizer: str | dict[str, Any] = Field(description="required: an optimizer's name, or {name: NAME, OPTION: VALUE}")
    fix: dict[str, Any] = Field(default_factory=dict, description="parameter name -> value held fixed (not optimized)")
    stop: StopConfig = Field(default_factory=StopConfig, description="the stop rules")
    output: OutputConfig = Field(default_factory=OutputConfig, description="where the run goes and what it writes")
    expect: ExpectConfig | None = Field(None, description="what optrun check compares the run with")
    sweep: SweepConfig | None = Field(None, description="the runs optrun sweep makes of this config")

    @field_validator("name")
    @classmethod
    def _folder_name(cls, name: str | None) -> str | None:
        if name is None:
            return None
        name = unicodedata.normalize("NFC", name)
        if not is_valid_name(name):
            raise ValueError(
                "a name becomes a folder: use letters, digits, '.', '_' and '-', "
                "starting with a letter or digit (at most 100)"
            )
        return name


@dataclass(frozen=True)
class Section:
    """A registry lookup plus its validated options (problem/init/optimizer)."""

    key: str  # "name" or "kind": how the config names the entry
    name: str
    entry: Any
    options: Options

    def resolved(self) -> dict[str, Any]:
        return {self.key: self.name, **self.options.resolved()}


@dataclass(frozen=True)
class Config:
    """A validated run config: every section looked up and checked. ``resolved()``
    is what the run directory's config.yaml holds."""

    name: str
    seed: int
    problem: Section
    init: Section
    optimizer: Section
    fix: Mapping[str, Any]
    stop: StopConfig
    output: OutputConfig
    expect: ExpectConfig | None
    sweep: SweepConfig | None = None
    source: str = ""
    warnings: tuple[str, ...] = ()  # e.g. a data path found only relative to the working folder
    backend: str = DEFAULT_BACKEND  # optrun.core.backend: "autograd" or "jax"
    bounds: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # optrun.config.constraints
    constraints: tuple[ConstraintConfig, ...] = ()
    clip_to_bounds: bool = False  # init.clip_to_bounds: a start outside the bounds is moved inside

    def resolved(self, bounded: bool = False) -> dict[str, Any]:
        """What the run directory's config.yaml holds; ``stop.feasibility_tol`` is
        there when the run is ``bounded`` (its problem's bounds or constraints: a
        prepared run knows) or the config has its own (a run without any records
        what it always did)."""
        stop = self.stop.model_dump(mode="json")
        if not (bounded or self.bounds or self.constraints) and self.stop.feasibility_tol == DEFAULT_FEASIBILITY_TOL:
            del stop["feasibility_tol"]
        data: dict[str, Any] = {
            "name": self.name,
            "seed": self.seed,
            "backend": self.backend,
            "problem": self.problem.resolved(),
            "init": {**self.init.resolved(), **({"clip_to_bounds": True} if self.clip_to_bounds else {})},
            "optimizer": self.optimizer.resolved(),
            "fix": dict(self.fix),
        }
        if self.bounds:
            data["bounds"] = dict(self.bounds)
        if self.constraints:
            data["constraints"] = [c.model_dump(mode="json") for c in self.constraints]
        data["stop"] = stop
        data["output"] = self.output.model_dump(mode="json")
        if self.expect is not None:
            data["expect"] = self.expect.model_dump(mode="json", exclude_none=True)
        if self.sweep is not None:
            data["sweep"] = self.sweep.model_dump(mode="json")
        return data


# --------------------------------------------------------------- overrides
SECTION_KEYS = {"problem": "name", "optimizer": "name", "init": "kind"}  # section -> the key naming its registry entry


def section_registry(section: str) -> Any:
    """The registry a section's entry name is looked up in."""
    from optrun.core.initializers import INITIALIZERS
    from optrun.core.optimizers import OPTIMIZERS
    from optrun.core.problems import PROBLEMS

    return {"problem": PROBLEMS, "optimizer": OPTIMIZERS, "init": INITIALIZERS}[section]


def apply_override(data: dict[str, Any], text: str) -> None:
    """Apply one ``dotted.key=value`` override in place; value is YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like dotted.key=value", source="--set")
    path, _, raw = text.partition("=")
    path = path.strip()
    keys = path.split(".")
    if not path or any(not k for k in keys):
        raise ConfigError(f"override {text!r} has an empty key in its path", source="--set")
    value = parse_yaml(raw, source=f"--set {path}") if raw.strip() else None
    node: Any = data
    for depth, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif isinstance(child, str) and key in SECTION_KEYS and depth == 0:
            child = node[key] = {SECTION_KEYS[key]: child}  # `problem: trid` shorthand
        if not isinstance(child, dict):
            where = ".".join(keys[: depth + 1])
            raise ConfigError(f"cannot set '{path}': '{where}' is {short_repr(child)}, not a mapping", source="--set")
        node = child
    node[keys[-1]] = value


# ------------------------------------------------------------------ loading
def read_config_file(path: str | Path) -> tuple[Any, str]:
    """Read and parse a YAML config file with the bounded safe reader: (data, source)."""
    data = read_yaml_file(path)
    if data is None:
        raise ConfigError("config file is empty; it needs at least 'problem' and 'optimizer'", source=str(path))
    return data, str(path)


def raw_config(config: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """A config's data before validation, overrides applied: a copy, as plain data."""
    return _read(config, overrides)[0]


def _read(config: str | Path | Mapping[str, Any], overrides: Sequence[str]) -> tuple[dict[str, Any], str, str]:
    """(data with overrides applied, source, file stem: "" for a mapping) of a config file or mapping."""
    if isinstance(config, Mapping):
        data, source, stem = plain_data(config), "", ""
    else:
        data, source = read_config_file(config)
        stem = Path(config).stem
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping of keys, got a {type(data).__name__}", source=source)
    try:
        for text in overrides:
            apply_override(data, text)
    except ConfigError as exc:
        raise exc.located(source=exc.source or source) from None
    return data, source, stem


def load_config(config: str | Path | Mapping[str, Any], overrides: Sequence[str] = (), shipped: bool = False) -> Config:
    """Read, override and validate a config given as a file path or a mapping.

    Relative paths in a config file are found from the file's folder, and the
    user problem folders there and above are loaded (:mod:`optrun.core.paths`); a
    mapping's paths are relative to the working folder. ``shipped``: a
    resolved config sent from another machine (:mod:`optrun.engine.remote`),
    whose paths are that machine's: nothing is looked up here."""
    from optrun.core.paths import PathContext

    data, source, stem = _read(config, overrides)
    if shipped:
        paths = PathContext([], from_file=False)
    else:
        paths = PathContext.for_config(None if isinstance(config, Mapping) else config)
    try:
        return _validate(data, stem, source, paths)
    except ConfigError as exc:
        raise exc.located(source=exc.source or source) from None


def plain_data(value: Any) -> Any:
    """A deep copy as plain dicts, lists and numbers (so overrides never touch
    the caller's data, and ruamel's or NumPy's number types print plainly)."""
    if isinstance(value, Mapping):
        return {k: plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    return value


def _validate(data: dict[str, Any], stem: str, source: str, paths: Any) -> Config:
    from optrun.config.plugins import load_problem_folders
    from optrun.core.initializers import INITIALIZERS
    from optrun.core.optimizers import OPTIMIZERS
    from optrun.core.problems import PROBLEMS
    from optrun.core.problems.python import PythonFunction

    function = data.get("problem") if isinstance(data.get("problem"), PythonFunction) else None
    top = validate(_TopLevel, {**data, "problem": "python"} if function is not None else data)
    folders, load_warnings = load_problem_folders(paths.dirs)
    paths.warnings.extend(load_warnings)
    looked = (
        ", ".join(str(f) for f in folders)
        if folders
        else f"none found; looked in {', '.join(str(d) for d in paths.dirs)}"
    )
    where = (
        "user problems are loaded from problems/ folders in the config's folder and its parents up to the "
        f"project root ({looked}), from ./problems and from --problems"
    )
    context = {"paths": paths}
    check_backend(top.backend)  # known and installed (jax itself is imported only when a run uses it)
    init, clip_to_bounds = clip_option(top.init)
    problem = (
        _section(top.problem, "problem", "name", PROBLEMS, context, hint=where)
        if function is None
        else _function_section(function)
    )
    problem.entry.check_backend(top.backend)
    return Config(
        name=top.name if top.name is not None else default_name(stem, problem.name, function),
        seed=top.seed,
        backend=top.backend,
        problem=problem,
        init=_section(init, "init", "kind", INITIALIZERS, context),
        optimizer=_section(top.optimizer, "optimizer", "name", OPTIMIZERS, context),
        fix=top.fix,
        stop=top.stop,
        output=top.output,
        expect=top.expect,
        sweep=top.sweep,
        source=source,
        warnings=tuple(paths.warnings),
        bounds=top.bounds,
        constraints=tuple(top.constraints),
        clip_to_bounds=clip_to_bounds,
    )


def _section(
    raw: str | dict[str, Any], path: str, key: str, registry: Any, context: Mapping[str, Any], hint: str = ""
) -> Section:
    options = dict(raw) if isinstance(raw, dict) else {key: raw}
    if key not in options:
        named = [k for k in options if k in registry]  # `init: {values: ...}` means kind: values
        hint = f"; for {named[0]}, add {key}: {named[0]} (--set {path}.{key}={named[0]})" if named else ""
        known = ", ".join(registry.listed())
        raise ConfigError(f"needs '{key}:' naming the {registry.kind} (known: {known}){hint}", path=path)
    name = options.pop(key)
    if not isinstance(name, str):
        raise ConfigError(
            f"must be a {registry.kind} name, got {short_repr(name)} (known: {', '.join(registry.listed())})",
            path=f"{path}.{key}",
        )
    try:
        entry = registry.get(name)
    except ConfigError as exc:
        error = ConfigError(f"{exc.message}; {hint}", path=exc.path) if hint else exc
        raise error.located(path=f"{path}.{key}") from None
    if name not in registry.listed() and "function" not in options:  # python: a function from Python (a recorded
        # run's config.yaml names it with its function, and its build says why it cannot be rebuilt)
        raise ConfigError(
            f"'{name}' is usable from Python only (optrun.minimize, optrun.grad give it a function); "
            f"a config names another {registry.kind} (optrun list-problems)",
            path=f"{path}.{key}",
        )
    return Section(key=key, name=name, entry=entry, options=validate(entry.options, options, path, context))


def _function_section(function: Any) -> Section:
    """``problem:`` given as a Python function (optrun.minimize, optrun.grad):
    the registered ``python`` entry, building this function's problem."""
    import dataclasses

    from optrun.core.problems import PROBLEMS
    from optrun.core.problems.python import PythonOptions

    entry = dataclasses.replace(
        PROBLEMS.get("python"),
        build=lambda options, xp: function.problem(),
        backends=function.backends,
        takes_module=True,
    )
    return Section(
        key="name", name="python", entry=entry, options=validate(PythonOptions, function.options(), "problem")
    )
