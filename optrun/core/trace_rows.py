"""Rows of a run's trace as arrays (:class:`TraceRows`): what the compiled
loop hands the trace writer a chunk at a time, and what the writer keeps
until it writes them (:mod:`optrun.core.trace`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["TraceRows"]


class TraceRows(NamedTuple):
    """Consecutive rows of a run, as arrays (``x`` and ``g`` one row per
    iteration; None when the trace does not write them, ``g`` also for a
    derivative-free method, whose grad columns are nan). ``v``: each row's
    largest violation of the run's bounds and constraints (the trace's
    ``violation`` column), or None: the writer computes it from ``x``, or
    the run has no constraints."""

    k: np.ndarray
    f: np.ndarray
    grad_norm: np.ndarray
    step_size: np.ndarray
    t: np.ndarray
    nfev: np.ndarray
    njev: np.ndarray
    x: np.ndarray | None = None
    g: np.ndarray | None = None
    v: np.ndarray | None = None

    def take(self, index: Any) -> TraceRows:
        return TraceRows._make(None if column is None else column[index] for column in self)

    @staticmethod
    def join(parts: Sequence[TraceRows]) -> TraceRows:
        if len(parts) == 1:
            return parts[0]
        return TraceRows._make(None if column[0] is None else np.concatenate(column) for column in zip(*parts))
