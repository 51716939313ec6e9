"""Reading YAML safely and within bounds, whatever the text: configs, a run's
config.yaml, ``--set`` values.

A safe loader (plain data only: no Python objects, no ``!!python`` tags),
with limits on size (a file is at most 1 MB and must be a regular file),
nesting depth, expanded aliases ("billion laughs") and integer digits, and
errors that give the line and column. ``read_at_most`` is the bounded read
data files use too.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from optrun.core.errors import ConfigError, short_repr

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


