"""Array backends: the array module problems are written with and the
derivatives taken of them.

A :class:`Backend` bundles what the pipeline needs from an autodiff library:
the NumPy-like module a problem's objective is written with (``np``), the
derivative transformations the :class:`~optrun.core.oracle.Oracle` uses, and
``ravel``, which flattens a parameter tree into one float vector. Two are
built in, chosen by the config's top-level ``backend:`` key:

- ``autograd`` (the default): ``autograd.numpy`` and autograd's derivatives;
- ``jax`` (``pip install -e ".[jax]"``): ``jax.numpy``, with every derivative
  compiled by ``jax.jit`` and 64-bit floats switched on, so both backends
  compute in float64 and give the same numbers to rounding.

Backends are registered like problems and optimizers (a plain registry,
duplicates refused); an entry's ``load`` imports its library on first use
only, so ``optrun --help`` and ``list-problems`` never import jax::

    backend = get_backend("jax")
    f_and_g = backend.value_and_grad(lambda x: backend.np.sum(x ** 2))
    f, g = f_and_g(numpy.ones(3))

Both ``ravel`` functions flatten the same way (dict keys sorted, lists in
order, arrays in C order), so a run's flat vector and its trace columns are
the same on either backend (``tests/test_backend.py`` checks it).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optrun.core.errors import ConfigError
from optrun.core.registry import Registry

DEFAULT = "autograd"


def _identity(f: Callable[..., Any]) -> Callable[..., Any]:
    return f


@dataclass(frozen=True)
class Backend:
    """What the pipeline needs from an autodiff library."""

    name: str  # "autograd" | "jax"
    np: Any  # the array module problems are written with: autograd.numpy or jax.numpy
    value_and_grad: Callable  # f -> (x -> (f, g)); jitted on jax
    hessian: Callable  # f -> (x -> H); jitted on jax
    hvp: Callable  # f -> ((x, v) -> H v); jitted on jax
    ravel: Callable  # params (nested dicts/lists/arrays) -> (flat, unflatten)
    # for optrun grad (optrun.core.derivatives), uncompiled: each is used once or a few times
    grad: Callable  # f -> (x -> g)
    jvp: Callable  # f -> (x -> (v -> (f(x), J v))), autograd's make_jvp
    vjp: Callable  # f -> (x -> (u -> u^T J, f(x))), autograd's make_vjp
    jit: Callable = _identity  # f -> f compiled (jax.jit), or f itself (autograd)
    # (unflatten, size) -> an unflatten as cheap to differentiate as possible:
    # autograd's own unflatten is a VJP, costly in the hot path (see params.sliced_unflatten)
    fast_unflatten: Callable = lambda unflatten, size: unflatten


@dataclass(frozen=True)
class BackendEntry:
    """A registered backend: ``load()`` imports the library and builds the
    :class:`Backend` (called once, on first use); ``requires`` are the modules
    it imports, installed by the package extra ``extra``."""

    name: str
    load: Callable[[], Backend]
    description: str
    requires: tuple[str, ...] = ()
    extra: str = ""

    def check_installed(self) -> None:
        """A one-line ConfigError at ``backend`` if a required module is missing
        (without importing it: a config can be checked without loading jax)."""
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                raise ConfigError(
                    f"the '{self.name}' backend needs {module}, which is not installed: "
                    f'pip install -e ".[{self.extra}]" (or pip install "optrun[{self.extra}]")',
                    path="backend",
                )


BACKENDS: Registry[BackendEntry] = Registry("backend")


def register_backend(
    name: str, load: Callable[[], Backend], *, description: str, requires: tuple[str, ...] = (), extra: str = ""
) -> BackendEntry:
    """Register a backend under ``name``; ``load`` is called on first use."""
    return BACKENDS.register(
        name, BackendEntry(name=name, load=load, description=description, requires=requires, extra=extra)
    )


def check_backend(name: str) -> BackendEntry:
    """The entry of a known, installed backend; a one-line ConfigError at
    ``backend`` otherwise (an unknown name lists close matches)."""
    try:
        entry = BACKENDS.get(name)
    except ConfigError as exc:
        raise exc.located(path="backend") from None
    entry.check_installed()
    return entry


@functools.cache
def get_backend(name: str = DEFAULT) -> Backend:
    """The backend ``name``, its library imported on the first call (a
    library that is installed but fails to import: a one-line ConfigError)."""
    entry = check_backend(name)
    try:
        return entry.load()
    except ImportError as exc:
        raise ConfigError(
            f"the '{name}' backend's library is installed but cannot be imported: {exc}", path="backend"
        ) from None


# ------------------------------------------------------------------ autograd
def _autograd() -> Backend:
    import autograd
    import autograd.numpy as anp
    from autograd.misc.flatten import flatten

    from optrun.core.params import sliced_unflatten

    return Backend(
        name="autograd",
        np=anp,
        value_and_grad=autograd.value_and_grad,
        hessian=autograd.hessian,
        hvp=autograd.hessian_vector_product,
        ravel=flatten,
        grad=autograd.grad,
        jvp=autograd.make_jvp,
        vjp=autograd.make_vjp,
        fast_unflatten=sliced_unflatten,
    )


# ----------------------------------------------------------------------- jax
def _jax() -> Backend:
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 like NumPy and autograd (jax's default is float32)
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    def hvp(f: Callable) -> Callable:
        # forward-over-reverse: one JVP of the gradient, never the whole Hessian
        return jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])

    def make_jvp(f: Callable) -> Callable:
        return lambda x: lambda v: jax.jvp(f, (x,), (v,))

    def make_vjp(f: Callable) -> Callable:
        def at(x):
            value, pull = jax.vjp(f, x)
            return (lambda u: pull(u)[0]), value

        return at

    return Backend(
        name="jax",
        np=jnp,
        value_and_grad=lambda f: jax.jit(jax.value_and_grad(f)),
        hessian=lambda f: jax.jit(jax.hessian(f)),
        hvp=hvp,
        ravel=ravel_pytree,
        grad=jax.grad,
        jvp=make_jvp,
        vjp=make_vjp,
        jit=jax.jit,
    )


register_backend(
    "autograd",
    _autograd,
    description="autograd.numpy and autograd's reverse mode (the default)",
    requires=("autograd",),
)
register_backend(
    "jax",
    _jax,
    description="jax.numpy, every derivative compiled with jax.jit, float64",
    requires=("jax", "jaxlib"),
    extra="jax",
)
