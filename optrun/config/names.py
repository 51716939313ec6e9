"""Run names: a run's name becomes a folder name (``outputs/<name>/<timestamp>``)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# a run name becomes a folder name: letters (any script) and digits, '.', '_' and '-',
# starting with a letter or digit, at most 100 characters; fullmatch, so no trailing newline
NAME_PATTERN = r"[^\W_][\w.-]{0,99}"


def is_valid_name(name: str) -> bool:
    return re.fullmatch(NAME_PATTERN, name) is not None


def name_from_stem(stem: str, fallback: str = "run") -> str:
    """A run name from a config file's stem (or another name): letters of
    every script are kept (NFC, so 'Übung' stays 'Übung'); anything else a
    folder name must not hold becomes '_'; ``fallback`` when nothing usable is left."""
    text = unicodedata.normalize("NFC", stem)
    name = re.sub(r"[^\w.-]", "_", text).lstrip("._-")[:100]
    return name if is_valid_name(name) else fallback


def default_name(stem: str, problem: str, function: Any = None) -> str:
    """The run name when a config has no ``name:`` (its runs go to
    ``outputs/<name>/<timestamp>``): a config file's stem; for a mapping
    (``optrun.run({...})``, ``stem`` ""), the problem's name; for a Python
    function (``optrun.minimize``), the function's ``__name__`` (a lambda's as
    ``lambda``), or ``python`` when that leaves no usable name."""
    if stem:
        return name_from_stem(stem)
    if function is not None:
        return name_from_stem(function.name, fallback="python")
    return name_from_stem(problem)
