"""optrun: reproducible optimization experiments from a YAML file.

    >>> import optrun
    >>> result = optrun.run("configs/polynomial-gd.yaml", ["stop.max_iter=50"])
    >>> result.status, result.fun, result.trace["f"][:3]
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["run", "RunResult", "ConfigError", "OptrunError", "__version__"]


def __getattr__(name: str):
    # Lazy, so `optrun --help` does not import numpy/autograd/pydantic.
    if name in ("run", "RunResult"):
        from optrun import api

        return getattr(api, name)
    if name in ("ConfigError", "OptrunError"):
        from optrun import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'optrun' has no attribute {name!r}")
