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
from yaml.parser import Parser as _PyParser
from yaml.reader import Reader as _PyReader
from yaml.scanner import Scanner as _PyScanner

from optrun.core.errors import ConfigError, short_repr

try:  # libyaml's scanner and parser are ~5x faster; composing and constructing stay in Python
    from yaml._yaml import CParser as _CParser

    _HAVE_LIBYAML = True
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _HAVE_LIBYAML = False

# Limits that keep reading YAML bounded in time and memory, whatever the text:
MAX_CONFIG_BYTES = 1_000_000  # a config file (or a run's config.yaml) is at most 1 MB
MAX_YAML_DEPTH = 50  # collections nested at most this deep
MAX_YAML_NODES = 1_000_000  # values in a document once its aliases are expanded ("billion laughs")
MAX_INT_DIGITS = 4300  # Python's own limit for converting text to int

_TAG_PREFIX = "tag:yaml.org,2002:"


def _tag(node: yaml.Node) -> str:
    return "!!" + node.tag[len(_TAG_PREFIX) :] if node.tag.startswith(_TAG_PREFIX) else node.tag


class _Bounded(yaml.composer.Composer, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """PyYAML's safe composer and constructor, plus: '1e-8' is a float (YAML
    1.1 reads it as a string), a key given twice in one mapping is an error,
    and every document is bounded: nesting depth, values after alias
    expansion, integer digits, no NUL characters, no recursive aliases.
    Every failure is a yaml.MarkedYAMLError. The events come from one of the
    two parsers below."""

    def _init_bounded(self) -> None:
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> values in it, aliases expanded
        self._nodes = 0

    # The overrides below are unannotated, as PyYAML's methods are: its type stubs type each mixin
    # alone (a Composer has no peek_event; that comes from the parser), so mypy leaves their bodies alone.

    # composing: depth and alias-expansion budgets, counted before anything is built
    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) and event.anchor in self.anchors:
            target = self.anchors[event.anchor]
            if id(target) not in self._sizes:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"the alias *{event.anchor} is inside its own anchor (a recursive value is not allowed)",
                    event.start_mark,
                )
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"values are nested more than {MAX_YAML_DEPTH} levels deep", event.start_mark
            )
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
                    None,
                    None,
                    f"aliases expand to more than {MAX_YAML_NODES} values (an alias bomb?)",
                    event.start_mark,
                )
        return node

    def compose_document(self):
        node = super().compose_document()
        if node is not None and self._sizes.get(id(node), 0) > MAX_YAML_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"the document has more than {MAX_YAML_NODES} values", node.start_mark
            )
        return node

    # constructing: a value the tag cannot make is a marked error, never a crash
    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError, IndexError):
            value = short_repr(node.value) if isinstance(node, yaml.ScalarNode) else f"this {node.id}"
            raise yaml.constructor.ConstructorError(
                None, None, f"{value} is not a valid {_tag(node)}", node.start_mark
            ) from None

    def construct_scalar(self, node):
        value = super().construct_scalar(node)
        if isinstance(value, str) and "\x00" in value:
            raise yaml.constructor.ConstructorError(
                None, None, "a NUL character (\\0) is not allowed in a value", node.start_mark
            )
        return value

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        if sum(c.isdigit() for c in text) > MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer has more than {MAX_INT_DIGITS} digits", node.start_mark
            )
        return super().construct_yaml_int(node)

    def construct_document(self, node):
        try:
            return super().construct_document(node)
        except yaml.YAMLError:
            raise
        except (
            ValueError,
            TypeError,
            AttributeError,
            KeyError,
            OverflowError,
            IndexError,
        ):  # in a collection's second stage
            raise yaml.constructor.ConstructorError(
                None, None, "a value does not match its tag", node.start_mark
            ) from None

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):  # e.g. '!!set x': PyYAML's own error
            return super().construct_mapping(node, deep=deep)
        seen = set()  # the keys of this mapping so far
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"a {type(key).__name__} cannot be a key (keys are plain values such as names)",
                    key_node.start_mark,
                )
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {short_repr(key)}", mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _ExactLoader(_Bounded, _PyReader, _PyScanner, _PyParser):
    """The loader on PyYAML's own Python parser: the reference. Its grammar,
    error positions and limits are the same whatever libyaml is installed
    (libyaml 0.2.6 refuses nesting past 1000 levels in its scanner, before
    the composer could count the 51st)."""

    def __init__(self, stream: str):
        _PyReader.__init__(self, stream)
        _PyScanner.__init__(self)
        _PyParser.__init__(self)
        self._init_bounded()


if _HAVE_LIBYAML:

    class _FastLoader(_Bounded, _CParser):
        """The same loader on libyaml's parser (about 5x faster): used for
        text that parses; any text it refuses is read again by _ExactLoader,
        whose error (or value) is the answer."""

        def __init__(self, stream: str):
            _CParser.__init__(self, stream)
            self._init_bounded()

    _LOADERS: tuple[type, ...] = (_FastLoader, _ExactLoader)
else:  # pragma: no cover
    _LOADERS = (_ExactLoader,)

# errors that come from a parser itself (libyaml's wording and positions differ from PyYAML's)
_PARSER_ERRORS = (yaml.scanner.ScannerError, yaml.parser.ParserError, yaml.reader.ReaderError)

# (yaml.add_constructor is Loader.add_constructor; its type stub, unlike the method's, allows any constructor class)
yaml.add_constructor("tag:yaml.org,2002:int", _Bounded.construct_yaml_int, Loader=_Bounded)
_Bounded.add_implicit_resolver(
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
    a one-line ConfigError naming ``source`` and, when known, line and column,
    in optrun's words (never libyaml's, whose wording and positions change
    between versions)."""
    for loader in _LOADERS:
        try:
            return yaml.load(text, Loader=loader)
        except _PARSER_ERRORS as exc:
            if loader is not _LOADERS[-1]:
                continue  # libyaml refused the text: PyYAML's own parser says why (or reads it)
            raise ConfigError(_describe(text, exc), source=source) from None
        except yaml.YAMLError as exc:  # optrun's own limits and the constructor: the same on both parsers
            raise ConfigError(_describe(text, exc), source=source) from None
        except RecursionError:  # not reachable within MAX_YAML_DEPTH; kept as a last guard
            raise ConfigError(
                f"YAML error: values are nested too deeply (at most {MAX_YAML_DEPTH} levels)", source=source
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


# PyYAML's descriptions of a syntax error (its Python parser's, which do not depend on libyaml), in optrun's words:
# (pattern on "context: problem", what optrun says). The first match wins; anything else is "not valid YAML (...)".
_SYNTAX: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.S), words)
    for pattern, words in (
        (
            r"found character '\\t' that cannot start any token",
            "found a tab that cannot start any token (YAML indents with spaces)",
        ),
        (r"found character '(.)' that cannot start any token", "a value cannot start with '{0}' (quote it)"),
        (r"while parsing a flow sequence.*expected ',' or '\]'", "a [ list is not closed with ] (or a ',' is missing)"),
        (
            r"while parsing a flow mapping.*expected ',' or '\}'",
            "a { mapping is not closed with } (or a ',' is missing)",
        ),
        (
            r"mapping values are not allowed here",
            "a ':' here is not allowed (quote a value that contains ': ', or check the indentation)",
        ),
        (r"could not find expected ':'", "a key without ':' (or a value indented less than its key)"),
        (r"found undefined alias '?([^']*)'?", "the alias *{0} names no anchor (&{0}) above it"),
        (r"found duplicate anchor '([^']*)'", "the anchor &{0} is defined twice"),
        (r"while scanning a quoted scalar.*found unexpected end of stream", "a quoted string is not closed"),
        (r"expected a single document", "more than one YAML document (a config is one document)"),
        (r"expected <block end>, but found", "the indentation does not match the lines above"),
        (r"expected the node content, but found ','", "an empty entry between two commas"),
        (
            r"expected the node content, but found '<stream end>'",
            "the text ends where a value was expected (an open [ or {?)",
        ),
        (
            r"expected '<document start>', but found",
            "text after the end of the document (an unmatched closing bracket?)",
        ),
    )
)


def _describe(text: str, exc: yaml.YAMLError) -> str:
    """'line L, column C: YAML error: <what is wrong>' for a YAML error, in optrun's words."""
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow (a control character)
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return (
            f"line {line}, column {column}: YAML error: "
            f"the control character U+{exc.character:04X} is not allowed in YAML text"
        )
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"YAML error: {' '.join(str(exc).split())}"
    mark = exc.problem_mark or exc.context_mark
    where = f"line {_line_col(text, mark)}: " if mark else ""
    problem = str(exc.problem or exc.context or "invalid YAML")
    said = f"{exc.context or ''}: {problem}"
    worded = next(
        (
            words.replace("{0}", found.group(1)) if found.groups() else words
            for pattern, words in _SYNTAX
            for found in [pattern.search(said)]
            if found
        ),
        None,
    )
    if worded is not None:
        problem = worded
    elif isinstance(exc, _PARSER_ERRORS):
        problem = f"not valid YAML ({' '.join(said.strip(': ').split())})"
    elif "could not determine a constructor" in problem:
        problem = f"the tag {_tag_named(problem)} is not allowed (only plain YAML: no tags such as !!python/object)"
    return f"{where}YAML error: {problem}"


def _tag_named(problem: str) -> str:
    found = re.search(r"'([^']*)'", problem)
    tag = found.group(1) if found else "?"
    return "!!" + tag[len(_TAG_PREFIX) :] if tag.startswith(_TAG_PREFIX) else tag


def _line_col(text: str, mark: Any) -> str:
    """'line L, column C' (1-based); the end of the stream is just after the last character."""
    lines = text.splitlines() or [""]
    if mark.line >= len(lines) and not text.endswith(("\n", "\r")):
        return f"{len(lines)}, column {len(lines[-1]) + 1}"
    return f"{mark.line + 1}, column {mark.column + 1}"


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
            raise ConfigError(
                f"is not a regular file ({_file_kind(mode)}); a {what} must be a regular file", source=source
            )
        data = read_at_most(fd, MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", source=source) from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{what} is larger than {MAX_CONFIG_BYTES // 1_000_000} MB (the limit for YAML configs)", source=source
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read {what}: not UTF-8 text ({exc.reason} at byte {exc.start})", source=source
        ) from None
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
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a plain file"
