"""The exceptions optrun raises for problems a user can fix.

Every user-facing error is one line: where (file, key path) and what is wrong
and allowed. The CLI prints ``str(error)`` to stderr and exits with
``error.exit_code``; nothing else is printed, and no traceback.
"""

from __future__ import annotations

import reprlib
from typing import Any

MAX_MESSAGE_CHARS = 2000  # a message quoting a huge value is cut, never printed whole


def short(value: Any, limit: int = 60) -> str:
    """A value shown in a message or a table: a float to 10 significant
    digits, a mapping as ``{k: v}``, anything else as ``str``; at most
    ``limit`` characters."""
    if isinstance(value, float):
        text = f"{value:.10g}"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {short(v, limit)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` for a message, at most ``limit`` characters, computed
    in time bounded by the limit (never the repr of a whole huge value)."""
    r = reprlib.Repr()
    r.maxlevel = 4
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 8
    r.maxdict = 6
    r.maxstring = r.maxother = r.maxlong = limit
    try:
        text = r.repr(value)
    except Exception:  # a user object whose repr fails
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class OptrunError(Exception):
    """Base class: an error with a one-line message and a CLI exit status."""

    exit_code = 1

    def __init__(self, message: str, *, path: str = "", source: str = ""):
        super().__init__(message)
        self.message = message
        self.path = path
        self.source = source

    def located(self, *, path: str | None = None, source: str | None = None) -> OptrunError:
        """A copy of this error with a key path prefix and/or a source file."""
        new_path = self.path
        if path:
            new_path = f"{path}.{self.path}" if self.path else path
        return type(self)(self.message, path=new_path, source=source if source is not None else self.source)

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.source, self.path) if part)
        text = f"{where}: {self.message}" if where else self.message
        text = " ".join(text.splitlines())  # always one line, whatever a message quoted
        return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


class ConfigError(OptrunError):
    """A config, override or option is wrong: a usage error (exit status 2)."""

    exit_code = 2


class RunIOError(OptrunError):
    """The run could not read or write its files (exit status 1)."""

    exit_code = 1
