"""Evaluating user code on a plot's mesh without its printing or warnings."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator

import numpy as np


class _Sink(io.TextIOBase):
    """Where the objective's printing goes while a mesh is evaluated: nowhere
    (not kept in memory: a function may print megabytes)."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


@contextlib.contextmanager
def contained() -> Iterator[None]:
    """The objective's printing (stdout, stderr: a user function that logs
    each call would print thousands of lines), its warnings and NumPy's
    floating-point warnings are not shown while a mesh is evaluated."""
    with contextlib.redirect_stdout(_Sink()), contextlib.redirect_stderr(_Sink()):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
