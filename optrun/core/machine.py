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
import importlib
import os
import platform
from collections.abc import Iterator
from typing import Any

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
            "core": kernel_name(lib.get("architecture") or "unknown", lib.get("internal_api")),
            "threads": lib.get("num_threads"),
        }
        for lib in threadpool_info()
        if lib.get("user_api") == "blas"
    ]


def kernel_name(reported: str, vendor: str | None, arch: str | None = None) -> str:
    """The OpenBLAS kernel really in use. OpenBLAS builds with a DYNAMIC_LIST
    of kernels (NumPy's and SciPy's wheels) define each x86 kernel they leave
    out (Katmai, Coppermine, Northwood, Banias, Athlon, and Core2 where it is
    not listed) as Prescott's, and ``openblas_get_corename`` answers the first
    of those names in its table: "Katmai", a 32-bit Pentium III kernel no
    x86_64 build has. So on x86_64 "Katmai" means Prescott's kernels (the
    generic SSE3 ones): what ``OPENBLAS_CORETYPE=Prescott`` really runs."""
    if vendor == "openblas" and reported == "Katmai" and (arch or platform.machine()) in ("x86_64", "AMD64"):
        return "Prescott"
    return reported


@functools.lru_cache(maxsize=1)
def numpy_simd() -> dict[str, list[str]]:
    """NumPy's SIMD level, as ``numpy.show_runtime()`` reports it: the
    baseline its build assumes, and the dispatched extensions found on this
    CPU and not disabled (``NPY_DISABLE_CPU_FEATURES``). NumPy's own loops
    (exp, log, sums) round differently at different levels."""
    # imported by name: a private module, which NumPy's type stubs do not declare
    try:
        umath = importlib.import_module("numpy._core._multiarray_umath")  # NumPy 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        umath = importlib.import_module("numpy.core._multiarray_umath")
    features = getattr(umath, "__cpu_features__", {})
    return {
        "baseline": list(getattr(umath, "__cpu_baseline__", [])),
        "found": [name for name in getattr(umath, "__cpu_dispatch__", []) if features.get(name)],
    }


KERNEL_SETTINGS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def machine_kernel_setting() -> str:
    """The OpenBLAS kernel settings of this environment ('OPENBLAS_CORETYPE=Haswell
    ...'), or ''. On some processors the machine sets them because older
    OpenBLAS builds crash or compute wrong results there (or a user pins the
    kernel on purpose): optrun's calibration, its tests and CI then leave the
    kernel exactly as it is."""
    return " ".join(f"{name}={os.environ[name]}" for name in KERNEL_SETTINGS if os.environ.get(name))


def lower_simd_levels() -> list[str]:
    """The NumPy SIMD levels below this process's, highest first, each as the
    value of ``NPY_DISABLE_CPU_FEATURES`` that runs NumPy at it (down to the
    baseline its build assumes; extensions already disabled stay disabled).
    A machine can drop to a lower level, never rise to one it lacks; CI and
    ``tests/tolerances.py`` run the numerical tests at each."""
    already = os.environ.get("NPY_DISABLE_CPU_FEATURES", "").replace(",", " ").split()
    found = numpy_simd()["found"]
    # disabling a level disables every level above it too (a higher level implies the lower ones)
    return [" ".join(already + found[i:]) for i in reversed(range(len(found)))]


def machine_info() -> dict[str, Any]:
    """What summary.json records under ``machine`` (read inside the run's BLAS limits)."""
    return {"cpu": cpu_model(), "arch": platform.machine(), "blas": blas_info(), "numpy_simd": numpy_simd()}


def describe(machine: dict[str, Any] | None) -> str:
    """One line: 'AMD EPYC (x86_64); openblas 0.3.31 Haswell, 1 thread; NumPy SIMD X86_V3'."""
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
    simd = machine.get("numpy_simd")
    if simd is not None:  # the highest level found (summaries written before it was recorded have none)
        text += f"; NumPy SIMD {(simd.get('found') or simd.get('baseline') or ['none'])[-1]}"
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


# What a report of a failure needs: the versions of what computes the numbers and of what tests them.
ENVIRONMENT_PACKAGES = (
    "numpy",
    "scipy",
    "autograd",
    "pyyaml",
    "typer",
    "rich",
    "pydantic",
    "matplotlib",
    "ruamel.yaml",
    "threadpoolctl",
    "pytest",
    "pytest-xdist",
    "hypothesis",
    "jax",
    "jaxlib",
    "optax",
    "dask",
    "pandas",
)


def environment() -> list[str]:
    """The environment block (the test suite's header, CI's logs): Python and
    package versions, NumPy's SIMD level, whether PyYAML has libyaml, and the
    machine line summary.json records, with OPENBLAS_*/NPY_* settings."""
    from importlib import metadata

    import numpy.linalg  # noqa: F401  (loads NumPy's BLAS, so threadpoolctl sees it)

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "-"

    try:
        import yaml

        libyaml = "yes" if yaml.__with_libyaml__ else "no"
    except ImportError:  # pragma: no cover
        libyaml = "-"
    simd = numpy_simd()
    settings = " ".join(
        f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith(("OPENBLAS_", "NPY_", "OPTRUN_"))
    )
    return [
        f"optrun {version('optrun')}, Python {platform.python_version()} ({platform.system()} {platform.machine()})",
        " ".join(f"{name} {version(name)}" for name in ENVIRONMENT_PACKAGES),
        f"NumPy SIMD: baseline {' '.join(simd['baseline']) or '-'}; "
        f"found and enabled {' '.join(simd['found']) or 'none'}; PyYAML with libyaml: {libyaml}",
        f"machine: {describe(machine_info())}" + (f"; {settings}" if settings else ""),
    ]
