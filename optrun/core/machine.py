"""Where the numbers come from: the CPU, the BLAS library and its threads.

Floating-point results can depend on the BLAS kernels (chosen per CPU) and on
how many threads split a matrix product. So every run records the machine in
``summary.json`` (``machine``), and one setting decides the BLAS thread count
for every executor (``optrun run``, ``optrun.run``, sweep and check workers,
Dask): :func:`blas_threads`, from ``--blas-threads`` or the
``OPTRUN_BLAS_THREADS`` environment variable, default 1. It is applied with
threadpoolctl around each run, so it holds whatever was loaded before.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
from typing import Any, Iterator

from optrun.core.errors import ConfigError

BLAS_THREADS_ENV = "OPTRUN_BLAS_THREADS"
DEFAULT_BLAS_THREADS = 1  # reproducible first: the same trace whatever executes the run


def blas_threads(value: int | str | None = None) -> int:
    """The BLAS thread count to use: ``value``, else $OPTRUN_BLAS_THREADS, else 1."""
    raw = value if value is not None else os.environ.get(BLAS_THREADS_ENV)
    if raw is None or raw == "":
        return DEFAULT_BLAS_THREADS
    try:
        threads = int(raw)
    except (TypeError, ValueError):
        threads = 0
    if threads < 1 or threads > 1024:
        source = "--blas-threads" if value is not None else BLAS_THREADS_ENV
        raise ConfigError(f"the BLAS thread count must be a whole number from 1 to 1024, got {raw!r}", source=source)
    return threads


@contextlib.contextmanager
def blas_limits(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` BLAS threads in every loaded BLAS library."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        yield


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model", "Hardware") and value.strip():
                    return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def blas_info() -> list[dict[str, Any]]:
    """Each loaded BLAS library: vendor, version, kernel (core type), threads."""
    from threadpoolctl import threadpool_info

    return [
        {
            "vendor": lib.get("internal_api", "unknown"),
            "version": lib.get("version") or "unknown",
            "core": lib.get("architecture") or "unknown",
            "threads": lib.get("num_threads"),
        }
        for lib in threadpool_info()
        if lib.get("user_api") == "blas"
    ]


def machine_info() -> dict[str, Any]:
    """What summary.json records under ``machine`` (read inside the run's BLAS limits)."""
    return {"cpu": cpu_model(), "arch": platform.machine(), "blas": blas_info()}


def describe(machine: dict[str, Any] | None) -> str:
    """One line: 'AMD EPYC (x86_64); openblas 0.3.31 Haswell, 1 thread'."""
    if not machine:
        return "unknown machine"
    text = f"{machine.get('cpu', 'unknown CPU')} ({machine.get('arch', '?')})"
    blas = machine.get("blas") or []
    if blas:
        lib = blas[0]  # NumPy's: loaded first
        threads = lib.get("threads")
        text += f"; {lib.get('vendor')} {lib.get('version')} {lib.get('core')}"
        if threads is not None:
            text += f", {threads} thread{'s' if threads != 1 else ''}"
    return text


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux x86), for choosing BLAS kernels it can run."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()
