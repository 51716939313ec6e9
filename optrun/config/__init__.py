"""Loading and validating a run config (the keys are listed in the README, "Configs").

``load_config`` reads YAML with a safe loader, applies ``--set`` overrides,
validates every key and looks up the problem, initializer and optimizer in
their registries, whose entries validate their own options. The result is a
frozen :class:`Config`; :meth:`Config.resolved` is what goes to the run's
``config.yaml`` (defaults filled in, overrides applied), and loading that file
again gives the same config.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Sequence

import yaml
from pydantic import Field, field_validator

from optrun.core.errors import ConfigError, short_repr
from optrun.core.options import Options, validate

DEFAULT_TOLERANCE = 1e-6
from optrun.core.status import StatusName as Status  # noqa: E402 (the names an expect.status may take)
# a run name becomes a folder name: letters (any script) and digits, '.', '_' and '-',
# starting with a letter or digit, at most 100 characters; fullmatch, so no trailing newline
NAME_PATTERN = r"[^\W_][\w.-]{0,99}"


def is_valid_name(name: str) -> bool:
    return re.fullmatch(NAME_PATTERN, name) is not None


def name_from_stem(stem: str) -> str:
    """The default run name from a config file's stem: letters of every
    script are kept (NFC, so 'Übung' stays 'Übung'); anything else a folder
    name must not hold becomes '_'."""
    text = unicodedata.normalize("NFC", stem)
    name = re.sub(r"[^\w.-]", "_", text).lstrip("._-")[:100]
    return name if is_valid_name(name) else "run"


# --------------------------------------------------------------------- YAML
# Limits that keep reading YAML bounded in time and memory, whatever the text:
MAX_CONFIG_BYTES = 1_000_000  # a config file (or a run's config.yaml) is at most 1 MB
MAX_YAML_DEPTH = 50  # collections nested at most this deep
MAX_YAML_NODES = 1_000_000  # values in a document once its aliases are expanded ("billion laughs")
MAX_INT_DIGITS = 4300  # Python's own limit for converting text to int

try:  # libyaml's scanner and parser are ~5x faster; composing and constructing stay in Python
    from yaml._yaml import CParser as _Parser  # type: ignore[import-not-found]

    def _init_parser(loader: Any, stream: str) -> None:
        _Parser.__init__(loader, stream)
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        pass

    def _init_parser(loader: Any, stream: str) -> None:
        Reader.__init__(loader, stream)
        Scanner.__init__(loader)
        Parser.__init__(loader)

_TAG_PREFIX = "tag:yaml.org,2002:"


def _tag(node: yaml.Node) -> str:
    return "!!" + node.tag[len(_TAG_PREFIX):] if node.tag.startswith(_TAG_PREFIX) else node.tag


class _Loader(yaml.composer.Composer, _Parser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """PyYAML's safe loader (libyaml's parser when available), plus: '1e-8'
    is a float (YAML 1.1 reads it as a string), a key given twice in one
    mapping is an error, and every document is bounded: nesting depth,
    values after alias expansion, integer digits, no NUL characters, no
    recursive aliases. Every failure is a yaml.MarkedYAMLError."""

    def __init__(self, stream: str):
        _init_parser(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> values in it, aliases expanded
        self._nodes = 0

    # composing: depth and alias-expansion budgets, counted before anything is built
    def compose_node(self, parent, index):  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) and event.anchor in self.anchors:
            target = self.anchors[event.anchor]
            if id(target) not in self._sizes:
                raise yaml.composer.ComposerError(
                    None, None, f"the alias *{event.anchor} is inside its own anchor (a recursive value is not allowed)", event.start_mark
                )
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"values are nested more than {MAX_YAML_DEPTH} levels deep", event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        size = self._sizes.get(id(node))
        if size is None:
            if isinstance(node, yaml.MappingNode):
                size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                size = 1 + sum(self._sizes[id(v)] for v in node.value)
            else:
                size = 1
            self._sizes[id(node)] = size
        if isinstance(event, yaml.AliasEvent):
            self._nodes += size
            if self._nodes > MAX_YAML_NODES:
                raise yaml.composer.ComposerError(
                    None, None, f"aliases expand to more than {MAX_YAML_NODES} values (an alias bomb?)", event.start_mark
                )
        return node

    def compose_document(self):  # type: ignore[override]
        node = super().compose_document()
        if node is not None and self._sizes.get(id(node), 0) > MAX_YAML_NODES:
            raise yaml.composer.ComposerError(None, None, f"the document has more than {MAX_YAML_NODES} values", node.start_mark)
        return node

    # constructing: a value the tag cannot make is a marked error, never a crash
    def construct_object(self, node, deep=False):  # type: ignore[override]
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError, IndexError):
            value = short_repr(node.value) if isinstance(node, yaml.ScalarNode) else f"this {node.id}"
            raise yaml.constructor.ConstructorError(None, None, f"{value} is not a valid {_tag(node)}", node.start_mark) from None

    def construct_scalar(self, node):  # type: ignore[override]
        value = super().construct_scalar(node)
        if isinstance(value, str) and "\x00" in value:
            raise yaml.constructor.ConstructorError(None, None, "a NUL character (\\0) is not allowed in a value", node.start_mark)
        return value

    def construct_yaml_int(self, node):  # type: ignore[override]
        text = self.construct_scalar(node)
        if sum(c.isdigit() for c in text) > MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer has more than {MAX_INT_DIGITS} digits", node.start_mark
            )
        return super().construct_yaml_int(node)

    def construct_document(self, node):  # type: ignore[override]
        try:
            return super().construct_document(node)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError, IndexError):  # in a collection's second stage
            raise yaml.constructor.ConstructorError(None, None, "a value does not match its tag", node.start_mark) from None

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        if not isinstance(node, yaml.MappingNode):  # e.g. '!!set x': PyYAML's own error
            return super().construct_mapping(node, deep=deep)
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    None, None, f"a {type(key).__name__} cannot be a key (keys are plain values such as names)", key_node.start_mark
                )
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {short_repr(key)}", mark
                )
            seen[key] = True
        return super().construct_mapping(node, deep=deep)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
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
    """One YAML document, read safely within the limits above; any problem is
    a one-line ConfigError naming ``source`` and, when known, line and column."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader equivalent
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {_line_col(text, mark)}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        if "could not determine a constructor" in str(problem):
            problem = f"{problem} (only plain YAML is allowed: no tags such as !!python/object)"
        elif "cannot start any token" in str(problem) and mark is not None and _char_at(text, mark) == "\t":
            problem = "found a tab that cannot start any token (YAML indents with spaces)"
        raise ConfigError(f"{where}YAML error: {problem}", source=source) from None
    except yaml.YAMLError as exc:  # e.g. a control character the YAML reader refuses
        raise ConfigError(f"YAML error: {' '.join(str(exc).split())}", source=source) from None
    except RecursionError:  # not reachable within MAX_YAML_DEPTH; kept as a last guard
        raise ConfigError(f"YAML error: values are nested too deeply (at most {MAX_YAML_DEPTH} levels)", source=source) from None


def _line_col(text: str, mark: Any) -> str:
    """'line L, column C' (1-based); the end of the stream is just after the last character."""
    lines = text.splitlines() or [""]
    if mark.line >= len(lines) and not text.endswith(("\n", "\r")):
        return f"{len(lines)}, column {len(lines[-1]) + 1}"
    return f"{mark.line + 1}, column {mark.column + 1}"


def _char_at(text: str, mark: Any) -> str:
    lines = text.splitlines()
    try:
        return lines[mark.line][mark.column]
    except IndexError:
        return ""


def read_yaml_file(path: str | Path, what: str = "config file") -> Any:
    """The YAML document in a file (None if empty). Only regular files of at
    most MAX_CONFIG_BYTES are read: a FIFO or a device such as /dev/zero is
    refused without blocking, a larger file without reading it all."""
    path = Path(path)
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", source=source) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {what}: {getattr(exc, 'strerror', None) or exc}", source=source) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"is a directory, expected a YAML {what}", source=source)
        if not stat.S_ISREG(mode):
            raise ConfigError(f"is not a regular file ({_file_kind(mode)}); a {what} must be a regular file", source=source)
        data = read_at_most(fd, MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", source=source) from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{what} is larger than {MAX_CONFIG_BYTES // 1_000_000} MB (the limit for YAML configs)", source=source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read {what}: not UTF-8 text ({exc.reason} at byte {exc.start})", source=source) from None
    return parse_yaml(text, source)


def read_at_most(fd: int, limit: int) -> bytes:
    """Up to ``limit`` bytes from an open file descriptor."""
    chunks, total = [], 0
    while total < limit:
        chunk = os.read(fd, min(1 << 20, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a plain file"


# ---------------------------------------------------------------- sections
class StopConfig(Options):
    """The stop rules the runner applies (README, "Configs")."""

    max_iter: int = Field(1000, ge=1)
    grad_tol: float | None = Field(1e-8, ge=0)
    f_tol: float | None = Field(None, ge=0)
    time_limit: float | None = Field(None, gt=0)
    divergence: float = Field(1e100, gt=0, description="|f| above this counts as diverged")


class OutputConfig(Options):
    """Where a run is written and what goes into it."""

    dir: str = Field("outputs", min_length=1)
    plots: bool = True
    param_columns: int = Field(100, ge=0, description="trace has parameter columns while the count is at most this")

    @field_validator("dir")
    @classmethod
    def _path(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("a folder path cannot contain a NUL character (\\0)")
        return value


Tolerance = Annotated[float, Field(ge=0)]


class CalibrationRecord(Options):
    """What ``optrun check --calibrate`` measured (see :mod:`optrun.commands.calibrate`)."""

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
    recorded_on: str | None = None  # the machine the values were recorded on (optrun.core.machine.describe)
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
        if name is None:
            return None
        name = unicodedata.normalize("NFC", name)
        if not is_valid_name(name):
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


def load_config(config: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> Config:
    """Read, override and validate a config given as a file path or a mapping.

    Relative paths in a config file are found from the file's folder, and the
    user problem folders there and above are loaded (:mod:`optrun.core.paths`); a
    mapping's paths are relative to the working folder."""
    from optrun.core.paths import PathContext

    if isinstance(config, Mapping):
        data, source, default_name = plain_data(config), "", "run"
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


def _validate(data: dict[str, Any], default_name: str, source: str, paths: Any) -> Config:
    from optrun.core.initializers import INITIALIZERS
    from optrun.core.optimizers import OPTIMIZERS
    from optrun.config.plugins import load_problem_folders
    from optrun.core.problems import PROBLEMS

    top = validate(_TopLevel, data)
    folders, load_warnings = load_problem_folders(paths.dirs)
    paths.warnings.extend(load_warnings)
    looked = ", ".join(str(f) for f in folders) if folders else f"none found; looked in {', '.join(str(d) for d in paths.dirs)}"
    where = f"user problems are loaded from problems/ folders in the config's folder and its parents up to the project root ({looked}), from ./problems and from --problems"
    context = {"paths": paths}
    name = top.name
    if name is None:
        name = name_from_stem(default_name)
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
        raise ConfigError(f"must be a {registry.kind} name, got {short_repr(name)} (known: {', '.join(registry)})", path=f"{path}.{key}")
    try:
        entry = registry.get(name)
    except ConfigError as exc:
        error = ConfigError(f"{exc.message}; {hint}", path=exc.path) if hint else exc
        raise error.located(path=f"{path}.{key}") from None
    return Section(key=key, name=name, entry=entry, options=validate(entry.options, options, path, context))
