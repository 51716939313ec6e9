"""optrun: reproducible optimization experiments from a YAML file.

    >>> import optrun
    >>> result = optrun.run("configs/polynomial-gd.yaml", ["stop.max_iter=50"])
    >>> result.status, result.fun, result.trace["f"][:3]

The names below are the public API: running (``run``, ``minimize``, ``RunResult``, ``grad``, ``GradResult``,
``Summary``, ``read_run``), the errors, and what a problem, optimizer,
initializer or schedule file imports to register itself (``Options``,
``Problem``, ``register_problem``, ...). They are loaded on first use, so
``optrun --help`` does not import numpy, autograd or pydantic.

The layout (CONTRIBUTING.md): :mod:`optrun.core` is the pipeline (problem ->
initializer -> optimizer -> runner -> outputs), :mod:`optrun.config` the YAML
file format and user files, :mod:`optrun.commands` what each command does,
and :mod:`optrun.cli` the thin Typer shell on top.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

# public name -> the module that defines it
_PUBLIC = {
    "run": "optrun.api",
    "minimize": "optrun.api",
    "load": "optrun.api",
    "compare": "optrun.api",
    "Comparison": "optrun.api",
    "RunResult": "optrun.api",
    "grad": "optrun.api",
    "GradResult": "optrun.api",
    "Summary": "optrun.core.result",
    "read_run": "optrun.core.rundir",
    "ConfigError": "optrun.core.errors",
    "OptrunError": "optrun.core.errors",
    "Options": "optrun.core.options",
    "NoOptions": "optrun.core.options",
    "Problem": "optrun.core.problems",
    "Reference": "optrun.core.problems",
    "Fit": "optrun.core.problems",
    "register_problem": "optrun.core.problems",
    "Optimizer": "optrun.core.optimizers",
    "OptimizerFinished": "optrun.core.optimizers",
    "register_optimizer": "optrun.core.optimizers",
    "register_initializer": "optrun.core.initializers",
    "ScheduleOptions": "optrun.core.optimizers.schedules",
    "register_schedule": "optrun.core.optimizers.schedules",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'optrun' has no attribute {name!r}")


# User problem files written before the core/config/commands layout import
# from the old module paths (``from optrun.problems import register_problem``).
# Those paths stay importable: each is the same module object as its new home.
_MOVED = {
    "optrun.errors": "optrun.core.errors",
    "optrun.options": "optrun.core.options",
    "optrun.params": "optrun.core.params",
    "optrun.problems": "optrun.core.problems",
    "optrun.initializers": "optrun.core.initializers",
    "optrun.optimizers": "optrun.core.optimizers",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``optrun.problems`` (and its submodules) as ``optrun.core.problems``:
    the same module object under both names, never a second copy. It is
    consulted before the path finders, which would otherwise load a moved
    package's submodule (``optrun.optimizers.schedules``) again from its file."""

    def _new_name(self, name: str) -> str | None:
        for old, new in _MOVED.items():
            if name == old or name.startswith(old + "."):
                return new + name[len(old) :]
        return None

    def find_spec(self, fullname, path, target=None):
        return importlib.util.spec_from_loader(fullname, self) if self._new_name(fullname) else None

    def create_module(self, spec):
        module = importlib.import_module(self._new_name(spec.name))
        spec.loader_state = module.__spec__  # the import machinery sets __spec__ next: put it back in exec_module
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state  # already executed under its new name


sys.meta_path.insert(0, _MovedModules())
