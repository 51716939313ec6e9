"""One generic registry, used for problems, initializers and optimizers.

A registry is a plain dict filled by explicit ``register`` calls. Names are
unique (a duplicate is refused), and a failed lookup names the key and lists
close matches, so a typo in a config says what was meant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from optrun.core.errors import ConfigError

T = TypeVar("T")


def suggest(name: str, choices: list[str]) -> str:
    """' did you mean 'x'?' for the closest choice, or '' if none is close."""
    import difflib  # only when there is an error to explain

    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class DuplicateName(ValueError):
    """A name registered twice (e.g. a user file reusing a built-in name)."""

    def __init__(self, kind: str, name: str):
        super().__init__(f"{kind} '{name}' is already registered")
        self.kind, self.name = kind, name


class Registry(Generic[T]):
    """Entries by name: ``register`` refuses a duplicate, ``get`` explains a miss."""

    def __init__(self, kind: str, hidden: Callable[[T], bool] | None = None):
        """``hidden(entry)``: an entry a config cannot name (the ``python``
        problem): left out of :meth:`listed` and of an unknown name's message."""
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._hidden = hidden or (lambda entry: False)

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name``: a name that is not a non-empty string
        (a plugin's ``register_problem(123, ...)``) is refused, nothing is
        registered (it would break every sorted listing and every
        unknown-name message), and so is a duplicate."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.kind} name must be a non-empty string, got {type(name).__name__} {name!r:.40}")
        if name in self._entries:
            raise DuplicateName(self.kind, name)
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            known = self.listed()
            raise ConfigError(
                f"unknown {self.kind} '{name}'{suggest(str(name), known)} (known: {', '.join(known)})"
            ) from None

    def listed(self) -> list[str]:
        """The sorted names a config can use (the hidden ones left out)."""
        return [name for name, entry in sorted(self._entries.items()) if not self._hidden(entry)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._entries.items())

    def unregister(self, name: str) -> None:
        """Remove an entry (used by tests and by user-problem reloading)."""
        self._entries.pop(name, None)
