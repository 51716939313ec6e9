"""Loading and validating a run config (the contract is ``spec/config.md``).

``load_config`` reads YAML with a safe loader, applies ``--set`` overrides,
validates every key and looks up the problem, initializer and optimizer in
their registries, whose entries validate their own options. The result is a
frozen :class:`Config`; :meth:`Config.resolved` is what goes to the run's
``config.yaml`` (defaults filled in, overrides applied), and loading that file
again gives the same config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Sequence

import yaml
from pydantic import Field, field_validator

from optrun.errors import ConfigError
from optrun.options import Options, validate

DEFAULT_TOLERANCE = 1e-6
STATUSES = ("converged", "max_iter", "time_limit", "diverged", "interrupted", "failed")
Status = Literal["converged", "max_iter", "time_limit", "diverged", "interrupted", "failed"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


# --------------------------------------------------------------------- YAML
class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus: '1e-8' is a float (YAML 1.1 reads it as a
    string), and a key given twice in one mapping is an error."""

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", mark
                )
            seen[key] = True
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        if "could not determine a constructor" in str(problem):
            problem = f"{problem} (only plain YAML is allowed: no tags such as !!python/object)"
        raise ConfigError(f"{where}YAML error: {problem}", source=source) from None
    except yaml.YAMLError as exc:  # e.g. a control character the YAML reader refuses
        raise ConfigError(f"YAML error: {' '.join(str(exc).split())}", source=source) from None


# ---------------------------------------------------------------- sections
class StopConfig(Options):
    max_iter: int = Field(1000, ge=1)
    grad_tol: float | None = Field(1e-8, ge=0)
    f_tol: float | None = Field(None, ge=0)
    time_limit: float | None = Field(None, gt=0)
    divergence: float = Field(1e100, gt=0, description="|f| above this counts as diverged")


class OutputConfig(Options):
    dir: str = Field("outputs", min_length=1)
    plots: bool = True
    param_columns: int = Field(100, ge=0, description="trace has parameter columns while the count is at most this")


Tolerance = Annotated[float, Field(ge=0)]


class CalibrationRecord(Options):
    """What ``optrun check --calibrate`` measured (see :mod:`optrun.calibrate`)."""

    margin: float = Field(gt=0)  # tolerance = margin x the largest deviation seen
    samples: int = Field(ge=1)  # runs: the plain one plus the perturbed ones
    sensitive: bool  # the result depends on rounding (spread above 1e-9 relative)
    spread: dict[str, Tolerance] = Field(default_factory=dict)  # field -> largest |perturbed - plain|


class ExpectConfig(Options):
    """What ``optrun check`` compares. ``atol``/``rtol`` are one number for
    every field, or a mapping by field: ``fun``, ``params`` or ``params.NAME``
    (the most specific key wins; unlisted fields use 1e-6). ``recorded_on``
    and ``calibration`` are written by ``check --update``/``--calibrate``."""

    fun: float | Literal["known"] | None = None
    params: dict[str, Any] | Literal["known"] | None = None
    atol: Tolerance | dict[str, Tolerance] = 1e-6
    rtol: Tolerance | dict[str, Tolerance] = 1e-6
    status: Status | None = None
    max_nit: int | None = Field(None, ge=0)
    recorded_on: str | None = None  # the machine the values were recorded on (optrun.machine.describe)
    calibration: CalibrationRecord | None = None

    @field_validator("atol", "rtol")
    @classmethod
    def _fields(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key in value:
                if key not in ("fun", "params") and not key.startswith("params."):
                    raise ValueError(f"unknown field '{key}': the keys are 'fun', 'params' or 'params.NAME'")
        return value

    def tolerance(self, field: str) -> tuple[float, float]:
        """(atol, rtol) for a field such as 'fun' or 'params.x'."""
        return self._pick(self.atol, field), self._pick(self.rtol, field)

    @staticmethod
    def _pick(value: float | dict[str, float], field: str) -> float:
        if not isinstance(value, dict):
            return value
        for key in (field, field.split(".")[0]):
            if key in value:
                return value[key]
        return DEFAULT_TOLERANCE


class SweepConfig(Options):
    """A study over many runs (read by ``optrun sweep``; ignored by ``optrun run``).
    Keys of ``grid``/``zip`` are dotted config paths, as for ``--set``."""

    grid: dict[str, list[Any]] = Field(default_factory=dict)  # Cartesian product
    zip: dict[str, list[Any]] = Field(default_factory=dict)  # paired lists of one length
    seeds: int | list[int] = Field(1)  # repeats: N seeds from `seed`, or the seeds themselves

    @field_validator("grid", "zip")
    @classmethod
    def _non_empty(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"'{key}' has no values")
            if key == "seed":
                raise ValueError("'seed' cannot be swept: use seeds: for repeats")
            if key == "name" or key.startswith(("output.", "sweep", "expect")):
                raise ValueError(f"'{key}' cannot be swept: a sweep's runs share one sweep folder and expectations")
        return value

    @field_validator("zip")
    @classmethod
    def _same_length(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        lengths = {key: len(values) for key, values in value.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError("zip lists must have one length; their lengths are " + ", ".join(f"{k}: {n}" for k, n in lengths.items()))
        return value

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, int) and not 1 <= value <= 100_000:
            raise ValueError("seeds must be a count from 1 to 100000 or a list of seeds")
        if isinstance(value, list) and (not value or len(set(value)) != len(value) or min(value) < 0):
            raise ValueError("a list of seeds must be non-empty, distinct and >= 0")
        return value


class _TopLevel(Options):
    name: str | None = None
    seed: int = Field(0, ge=0, le=2**32 - 1)
    problem: str | dict[str, Any]
    init: str | dict[str, Any] = "default"
    optimizer: str | dict[str, Any]
    fix: dict[str, Any] = Field(default_factory=dict)
    stop: StopConfig = Field(default_factory=StopConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    expect: ExpectConfig | None = None
    sweep: SweepConfig | None = None

    @field_validator("name")
    @classmethod
    def _folder_name(cls, name: str | None) -> str | None:
        if name is not None and not re.match(NAME_PATTERN, name):
            raise ValueError("a name becomes a folder: use letters, digits, '.', '_' and '-', starting with a letter or digit (at most 100)")
        return name


@dataclass(frozen=True)
class Section:
    """A registry lookup plus its validated options (problem/init/optimizer)."""

    key: str  # "name" or "kind": how the config names the entry
    name: str
    entry: Any
    options: Options

    def resolved(self) -> dict[str, Any]:
        return {self.key: self.name, **self.options.model_dump(mode="json")}


@dataclass(frozen=True)
class Config:
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

    def resolved(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "seed": self.seed,
            "problem": self.problem.resolved(),
            "init": self.init.resolved(),
            "optimizer": self.optimizer.resolved(),
            "fix": dict(self.fix),
            "stop": self.stop.model_dump(mode="json"),
            "output": self.output.model_dump(mode="json"),
        }
        if self.expect is not None:
            data["expect"] = self.expect.model_dump(mode="json", exclude_none=True)
        if self.sweep is not None:
            data["sweep"] = self.sweep.model_dump(mode="json")
        return data


# --------------------------------------------------------------- overrides
_SECTION_KEYS = {"problem": "name", "optimizer": "name", "init": "kind"}


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
        elif isinstance(child, str) and key in _SECTION_KEYS and depth == 0:
            child = node[key] = {_SECTION_KEYS[key]: child}  # `problem: trid` shorthand
        if not isinstance(child, dict):
            where = ".".join(keys[: depth + 1])
            raise ConfigError(f"cannot set '{path}': '{where}' is {child!r}, not a mapping", source="--set")
        node = child
    node[keys[-1]] = value


# ------------------------------------------------------------------ loading
def read_config_file(path: str | Path) -> tuple[Any, str]:
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", source=source) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a YAML config file", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {getattr(exc, 'strerror', None) or exc}", source=source) from None
    data = parse_yaml(text, source)
    if data is None:
        raise ConfigError("config file is empty; it needs at least 'problem' and 'optimizer'", source=source)
    return data, source


def load_config(config: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> Config:
    """Read, override and validate a config given as a file path or a mapping.

    Relative paths in a config file are found from the file's folder, and the
    user problem folders there and above are loaded (:mod:`optrun.paths`); a
    mapping's paths are relative to the working folder."""
    from optrun.paths import PathContext

    if isinstance(config, Mapping):
        data, source, default_name = _plain(config), "", "run"
        paths = PathContext.for_config(None)
    else:
        data, source = read_config_file(config)
        default_name = Path(config).stem
        paths = PathContext.for_config(config)
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping of keys, got a {type(data).__name__}", source=source)
    try:
        for text in overrides:
            apply_override(data, text)
        return _validate(data, default_name, source, paths)
    except ConfigError as exc:
        raise exc.located(source=exc.source or source) from None


def _plain(value: Any) -> Any:
    """A deep copy of nested mappings/lists so overrides never touch the caller's."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _validate(data: dict[str, Any], default_name: str, source: str, paths: Any) -> Config:
    from optrun.initializers import INITIALIZERS
    from optrun.optimizers import OPTIMIZERS
    from optrun.plugins import load_problem_folders
    from optrun.problems import PROBLEMS

    top = validate(_TopLevel, data)
    folders, load_warnings = load_problem_folders(paths.dirs)
    paths.warnings.extend(load_warnings)
    looked = ", ".join(str(f) for f in folders) if folders else f"none found; looked in {', '.join(str(d) for d in paths.dirs)}"
    where = f"user problems are loaded from problems/ folders in the config's folder and its parents up to the project root ({looked}), from ./problems and from --problems"
    context = {"paths": paths}
    name = top.name
    if name is None:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", default_name).lstrip("._-") or "run"
    return Config(
        name=name,
        seed=top.seed,
        problem=_section(top.problem, "problem", "name", PROBLEMS, context, hint=where),
        init=_section(top.init, "init", "kind", INITIALIZERS, context),
        optimizer=_section(top.optimizer, "optimizer", "name", OPTIMIZERS, context),
        fix=top.fix,
        stop=top.stop,
        output=top.output,
        expect=top.expect,
        sweep=top.sweep,
        source=source,
        warnings=tuple(paths.warnings),
    )


def _section(raw: str | dict[str, Any], path: str, key: str, registry: Any, context: Mapping[str, Any], hint: str = "") -> Section:
    options = dict(raw) if isinstance(raw, dict) else {key: raw}
    if key not in options:
        raise ConfigError(f"needs '{key}:' naming the {registry.kind} (known: {', '.join(registry)})", path=path)
    name = options.pop(key)
    if not isinstance(name, str):
        raise ConfigError(f"must be a {registry.kind} name, got {name!r} (known: {', '.join(registry)})", path=f"{path}.{key}")
    try:
        entry = registry.get(name)
    except ConfigError as exc:
        error = ConfigError(f"{exc.message}; {hint}", path=exc.path) if hint else exc
        raise error.located(path=f"{path}.{key}") from None
    return Section(key=key, name=name, entry=entry, options=validate(entry.options, options, path, context))
