"""The exceptions optrun raises for problems a user can fix.

Every user-facing error is one line: where (file, key path) and what is wrong
and allowed. The CLI prints ``str(error)`` to stderr and exits with
``error.exit_code``; nothing else is printed, and no traceback.
"""

from __future__ import annotations


class OptrunError(Exception):
    """Base class: an error with a one-line message and a CLI exit status."""

    exit_code = 1

    def __init__(self, message: str, *, path: str = "", source: str = ""):
        super().__init__(message)
        self.message = message
        self.path = path
        self.source = source

    def located(self, *, path: str | None = None, source: str | None = None) -> "OptrunError":
        """A copy of this error with a key path prefix and/or a source file."""
        new_path = self.path
        if path:
            new_path = f"{path}.{self.path}" if self.path else path
        return type(self)(self.message, path=new_path, source=source if source is not None else self.source)

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.source, self.path) if part)
        text = f"{where}: {self.message}" if where else self.message
        return " ".join(text.splitlines())  # always one line, whatever a message quoted


class ConfigError(OptrunError):
    """A config, override or option is wrong: a usage error (exit status 2)."""

    exit_code = 2


class RunIOError(OptrunError):
    """The run could not read or write its files (exit status 1)."""

    exit_code = 1
