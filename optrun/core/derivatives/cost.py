"""What a derivative costs, estimated before it is computed, and the limits
``optrun grad`` keeps to (each refusal is a one-line ConfigError naming the
option and the limit).

- f, f', ..., f^(K) (``--order``): the backend's ``grad`` composed K times
  roughly triples the operations with each order (measured on a formula of 11
  operations: 11, 33, 88, 229, 615, 1723, 5021, 15109 for f .. f^(7)), so
  f^(K) of an objective of N operations costs about N * 3^K; that is held to
  :data:`MAX_ORDER_WORK`. The plot of the derivatives evaluates each at
  every grid point, so it draws the orders whose grid fits in the same limit.
- a Jacobian built from P passes over n entries (``jacobian``) costs about
  P * n; it is held to :data:`MAX_PASS_WORK` (the cheaper way always fits, as
  the matrix has at most :data:`~optrun.core.derivatives.flat.MAX_MATRIX`
  entries; the other way, the cross-check, is left out beyond it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optrun.core.backend import Backend
from optrun.core.errors import ConfigError

GROWTH = 3  # each composed grad multiplies the operations by about this
MAX_ORDER_WORK = 50_000  # operations of the costliest of f..f^(K): ~3 s on autograd (~60 us an operation)
MAX_PASS_WORK = 10_000_000  # passes x entries of one Jacobian: ~1-2 s


def operations(fn: Callable[[Any], Any], x: Any, backend: Backend) -> int:
    """The primitive operations of one evaluation of ``fn`` at ``x`` (autograd:
    the traced nodes; jax: the equations of its jaxpr), at least 1."""
    if backend.name == "jax":
        import jax

        return max(1, _equations(jax.make_jaxpr(fn)(x).jaxpr))
    from autograd.tracer import Node, trace

    count = [0]

    class Counted(Node):
        def __init__(self, value: Any, fun: Any, args: Any, kwargs: Any, parent_argnums: Any, parents: Any) -> None:
            count[0] += 1

        def initialize_root(self) -> None:
            pass

    trace(Counted.new_root(), fn, x)
    return max(1, count[0])


def _equations(jaxpr: Any) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        total += 1
        for value in eqn.params.values():
            inner = getattr(value, "jaxpr", value)  # a ClosedJaxpr's jaxpr, or a Jaxpr
            if hasattr(inner, "eqns"):
                total += _equations(inner)
    return total


def order_work(ops: int, order: int) -> int:
    """The estimated operations of f^(order) for an objective of ``ops`` operations."""
    return ops * GROWTH**order


def check_order(ops: int, order: int, path: str = "order") -> None:
    """Refuse f^(order) when its estimate is beyond :data:`MAX_ORDER_WORK`."""
    work = order_work(ops, order)
    if work > MAX_ORDER_WORK:
        fits = affordable_order(ops, order)
        raise ConfigError(
            f"f^({order}) of this objective ({ops} operations) would take about {ops} x {GROWTH}^{order} = {work} "
            f"operations; the limit is {MAX_ORDER_WORK}"
            + (f": ask for order {fits} or less" if fits else ": its derivatives are too costly to compose"),
            path=path,
        )


def affordable_order(ops: int, order: int, points: int = 1, budget: int = MAX_ORDER_WORK) -> int:
    """The highest k <= order whose f^(k), evaluated at ``points`` values, fits
    in ``budget`` operations (0: only f)."""
    k = 0
    while k < order and points * order_work(ops, k + 1) <= budget:
        k += 1
    return k


def check_passes(passes: int, n: int, what: str, path: str) -> None:
    """Refuse a Jacobian of ``passes`` passes over ``n`` entries beyond :data:`MAX_PASS_WORK`."""
    if passes * n > MAX_PASS_WORK:
        raise ConfigError(
            f"the {what} would take {passes} passes over {n} entries = {passes * n}; the limit is {MAX_PASS_WORK} "
            "(build it the other way, or use one JVP or VJP)",
            path=path,
        )
