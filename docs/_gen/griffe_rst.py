"""A griffe extension for the Python API page (mkdocstrings): optrun's
docstrings are written for Python readers, with Sphinx roles
(:class:`~optrun.core.errors.ConfigError`, :mod:`optrun.core.paths`) that
Markdown would show as written. Each role becomes a code span of the name
it shows (the last component after a ``~``)."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):`(?P<tilde>~?)(?P<target>[^`]+)`")


def plain(text: str) -> str:
    """``text`` with every Sphinx role written as a code span."""

    def shown(match: re.Match) -> str:
        target = match["target"]
        return f"`{target.rsplit('.', 1)[-1] if match['tilde'] else target}`"

    return ROLE.sub(shown, text)


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
