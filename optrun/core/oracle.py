"""The objective as the loops see it: f and its derivatives at a flat vector, counted.

:class:`Oracle` wraps the flat objective (a function of one float vector)
with the derivatives its backend gives (:mod:`optrun.core.backend`), counts
every evaluation a method asks for (``nfev``, ``njev``, ``nhev``, as SciPy
counts them) and, for methods that evaluate each iterate themselves, keeps
the last few points so that nothing is computed twice.

Each method's counts, and where they differ from SciPy's: README, "How evaluations are counted".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np

from optrun.core.backend import Backend, get_backend


class Oracle:
    """The objective over the flat vector, counting evaluations.

    The counts are what the method asked for, as SciPy counts them: ``value``
    counts one f (``nfev``), ``grad`` one gradient (``njev``),
    ``value_and_grad`` one of each, ``hessian`` and ``hvp`` one ``nhev``.
    Every derivative comes from the ``backend`` (:mod:`optrun.core.backend`;
    autograd by default, or jax, whose derivatives are compiled with
    ``jax.jit``); ``fun`` is the flat objective, which on jax is traceable
    (and compiled: ``backend.jit``). ``iterate`` is the runner's own
    evaluation of each iterate (see there). An exception raised by the
    objective (or its derivatives) is kept in ``error``, so the runner
    blames the objective even when it reaches the runner through an
    optimizer (a line search, SciPy's worker).

    ``remember_last`` is for methods that evaluate each iterate themselves
    (an optimizer entry's ``remember_last`` capability: SciPy's): the oracle
    keeps the last few points it evaluated (:data:`MEMO_SIZE`), so a point
    asked for again is not computed again (it is still counted when the
    method asks: SciPy counts it too), and the runner's look at an iterate
    costs nothing and counts nothing. Off by default, as it costs a compare
    and a copy on every call.
    """

    MEMO_SIZE = 4  # points kept with remember_last: a trust region's rejected trial leaves the iterate two points back

    def __init__(
        self,
        fun: Callable[[np.ndarray], Any],
        remember_last: bool = False,
        backend: Backend | None = None,
        feasible: Any = None,
    ):
        self.backend = backend if backend is not None else get_backend()
        # the run's bounds and constraints (an optrun.core.feasible.Feasible), or None: methods that take
        # them read them here (SciPy's, a projected line search), and the runner keeps the best feasible point
        self.feasible = feasible
        self.objective = fun  # the flat objective itself: the compiled loop builds (and keeps) its chunks from it
        self.fun = self.backend.jit(fun)
        self._value_and_grad = self.backend.value_and_grad(fun)
        self._hessian: Callable[[np.ndarray], Any] | None = None
        self._hvp: Callable[[np.ndarray, np.ndarray], Any] | None = None
        self.nfev = 0
        self.njev = 0
        self.nhev = 0  # Hessians and Hessian-vector products
        self.remember_last = remember_last  # see the class docstring
        self._memo: list[list[Any]] = []  # [x, f, g or None], the most recent first (remember_last only)
        self.error: BaseException | None = None  # the last exception the objective raised

    # -- what the methods ask for (counted)
    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """f and the gradient: one f and one gradient evaluation."""
        self.nfev += 1
        self.njev += 1
        f, g = self._compute(x, True)
        return f, cast(np.ndarray, g)  # _compute with a gradient returns one

    def value(self, x: np.ndarray, with_grad: bool = False) -> float:
        """f: one function evaluation. ``with_grad`` (a method that will ask
        for the gradient at the same point, with ``remember_last``) computes
        the gradient in the same autograd pass and keeps it for that
        request, which counts it; SciPy's ``jac=True`` does the same."""
        self.nfev += 1
        return self._compute(x, with_grad)[0]

    def grad(self, x: np.ndarray) -> np.ndarray:
        """The gradient: one gradient evaluation (f comes with it, uncounted, as in SciPy's count)."""
        self.njev += 1
        return cast(np.ndarray, self._compute(x, True)[1])  # _compute with a gradient returns one

    # -- the runner's look at an iterate
    def iterate(self, x: np.ndarray, gradient: bool = True) -> tuple[float, np.ndarray | None]:
        """f and (when ``gradient``) the gradient at the runner's iterate.

        For a method that takes its steps from the runner this is the
        method's evaluation, counted like ``value_and_grad`` (or ``value``).
        With ``remember_last`` the method evaluated the iterate itself and
        counted what it asked for, so nothing is counted here: the point
        comes from what the oracle remembers, and whatever is missing (a
        trust-region method asks for the gradient at a new iterate only after
        its callback) is computed and kept for the method's own request,
        which then costs nothing and is counted."""
        if not self.remember_last:
            if gradient:
                return self.value_and_grad(x)
            return self.value(x), None
        return self._compute(x, gradient)

    def remember(self, x: np.ndarray, f: float) -> None:
        """Keep f at x, as the method computed it through this oracle (SciPy's
        callback hands the iterate's f: Nelder-Mead's best vertex may be many
        evaluations old). Nothing is counted; ignored without ``remember_last``."""
        if self.remember_last and self._find(x) is None:
            self._keep(x, float(f), None)

    # -- the computation, shared by all of the above
    def _find(self, x: np.ndarray) -> list[Any] | None:
        for entry in self._memo:
            if np.array_equal(entry[0], x):
                return entry
        return None

    def _keep(self, x: np.ndarray, f: float, g: np.ndarray | None) -> list[Any]:
        entry = [np.array(x, dtype=float), f, g]
        self._memo.insert(0, entry)
        del self._memo[self.MEMO_SIZE :]
        return entry

    def _compute(self, x: np.ndarray, gradient: bool) -> tuple[float, np.ndarray | None]:
        entry = self._find(x) if self.remember_last else None
        if entry is not None and (entry[2] is not None or not gradient):
            return entry[1], entry[2]
        try:
            if gradient:
                f, g = self._value_and_grad(x)
                f, g = float(f), _writable(g)
            else:
                f, g = float(self.fun(x)), None
        except BaseException as exc:  # sys.exit() in the objective too: the runner blames the objective
            self.error = exc
            raise
        if self.remember_last:
            if entry is not None:
                entry[2] = g  # the gradient at a point whose f was known: the f stays the one already seen
                return entry[1], g
            self._keep(x, f, g)
        return f, g

    def hessian(self, x: np.ndarray) -> np.ndarray:
        if self._hessian is None:
            self._hessian = self.backend.hessian(self.fun)
        self.nhev += 1
        try:
            return _writable(self._hessian(x)).reshape(x.size, x.size)
        except BaseException as exc:  # sys.exit() in the objective too: the runner blames the objective
            self.error = exc
            raise

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Hessian times v without forming the Hessian."""
        if self._hvp is None:
            self._hvp = self.backend.hvp(self.fun)
        self.nhev += 1
        try:  # as floats: trust-constr hands some products an integer vector, which jax's jvp refuses
            return _writable(self._hvp(x, np.asarray(v, dtype=float)))
        except BaseException as exc:  # sys.exit() in the objective too: the runner blames the objective
            self.error = exc
            raise


def _writable(array: Any) -> np.ndarray:
    """A float NumPy array the caller may change in place: jax hands out
    read-only views of its buffers, which are copied; autograd's arrays are not."""
    result = np.asarray(array, dtype=float)
    return result if result.flags.writeable else result.copy()
