"""Print what this environment resolved: the versions of optrun's direct
dependencies and of the test tools, NumPy's SIMD level, whether PyYAML has
libyaml, and the BLAS library with the kernel it runs (as summary.json
records them), so a CI log says exactly what each job tested."""

from importlib import metadata

NAMES = ("numpy", "scipy", "autograd", "pyyaml", "typer", "click", "rich", "pydantic", "matplotlib", "ruamel.yaml",
         "threadpoolctl", "pytest", "pytest-xdist", "hypothesis", "jax", "jaxlib", "optax", "dask", "pandas")


def version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


print(" ".join(f"{name}=={version(name)}" for name in NAMES))

import numpy.linalg  # noqa: E402,F401  (loads NumPy's BLAS, so threadpoolctl sees it)
import yaml  # noqa: E402

from optrun.core import machine  # noqa: E402

simd = machine.numpy_simd()
print(f"NumPy SIMD: baseline {' '.join(simd['baseline']) or '-'}; found and enabled: {' '.join(simd['found']) or 'none'}")
print(f"PyYAML with libyaml: {yaml.__with_libyaml__}")
print(f"machine: {machine.describe(machine.machine_info())}")
