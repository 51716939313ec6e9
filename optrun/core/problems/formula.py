"""The formula language of the ``expression`` problem: what a formula may
contain, and its compiler.

The text is parsed with :func:`ast.parse` and every node is checked against a
whitelist: numbers, the declared parameter names, ``pi`` and ``e``, the
arithmetic operators, subscripts of a declared array parameter by an integer,
calls of a fixed list of array functions (:data:`ARRAY_FUNCTIONS`), and
comparisons only as the condition of ``where(cond, a, b)``. The functions
are the array module's (``autograd.numpy`` or ``jax.numpy``, as the backend
gives it), and ``gammaln`` its backend's (autograd's or
``jax.scipy.special``'s). The checked tree is then turned into nested Python
closures (:func:`compile_expression`): the text is never passed to ``eval``
or ``exec``, and nothing outside the whitelist can be reached. Expressions
are bounded in length, node count and constant exponents.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from optrun.core.errors import ConfigError
from optrun.core.registry import suggest

MAX_LENGTH = 1000
MAX_NODES = 400
MAX_EXPONENT = 100

ARRAY_FUNCTIONS = (
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "exp",
    "expm1",
    "log",
    "log1p",
    "log10",
    "sqrt",
    "square",
    "abs",
    "sum",
    "prod",
    "mean",
    "maximum",
    "minimum",
    "where",
    "dot",
    "logaddexp",
)  # taken from the array module by name (autograd.numpy and jax.numpy have them all)


def gammaln(x: Any) -> Any:
    """log|Gamma(x)| (autograd.scipy.special.gammaln), for likelihoods with
    factorials (Poisson: k*log(lam) - lam - gammaln(k + 1)). SciPy is
    imported on the first call, not with the catalogue (list-problems stays fast)."""
    from autograd.scipy import special

    _gamma_forward_mode(special)
    return special.gammaln(x)


def _jax_gammaln() -> Callable[[Any], Any]:
    from jax.scipy.special import gammaln as jax_gammaln  # differentiable to any order (digamma, polygamma)

    return jax_gammaln


# the array module's name -> its gammaln (a function, so jax.scipy is imported only when jax is used)
GAMMALN: dict[str, Callable[[], Callable[[Any], Any]]] = {"autograd.numpy": lambda: gammaln, "jax.numpy": _jax_gammaln}
# lgamma is its name in Python's math module and in C, so users coming from either find it
GAMMA_NAMES = ("gammaln", "lgamma")


@functools.cache
def function_table(xp: Any) -> dict[str, Callable[..., Any]]:
    """Every function an expression may call, from the array module ``xp``."""
    table = {name: getattr(xp, name) for name in ARRAY_FUNCTIONS}
    for name in GAMMA_NAMES:
        table[name] = GAMMALN[xp.__name__]()
    return table


FUNCTION_NAMES = frozenset(ARRAY_FUNCTIONS + GAMMA_NAMES)
REDUCING = frozenset({"sum", "prod", "mean", "dot"})  # not elementwise: they would reduce a mesh of points too


@functools.cache
def _gamma_forward_mode(aspecial: Any) -> None:
    """autograd defines reverse mode for gammaln, digamma and polygamma but
    not forward mode, which JVPs (``optrun.core.derivatives.jvp``) need, also
    of a reverse-mode derivative (whose gammaln rule calls psi). Add the
    missing rules (d/dx gammaln = psi, d/dx psi = d/dx digamma = polygamma(1, .),
    d/dx polygamma(n, .) = polygamma(n + 1, .)); never replace existing ones."""
    from autograd.core import primitive_jvps
    from autograd.extend import defjvp, defjvp_argnum

    if aspecial.gammaln not in primitive_jvps:
        defjvp(aspecial.gammaln, lambda g, ans, x: g * aspecial.psi(x))
    for psi in (aspecial.psi, aspecial.digamma):
        if psi not in primitive_jvps:
            defjvp(psi, lambda g, ans, x: g * aspecial.polygamma(1, x))
    if aspecial.polygamma not in primitive_jvps:
        defjvp_argnum(
            aspecial.polygamma,
            lambda argnum, g, ans, args, kwargs: (
                g * aspecial.polygamma(args[0] + 1, args[1]) if argnum == 1 else _no_jvp("polygamma's order")
            ),
        )


def _no_jvp(what: str):
    # polygamma(n, x) has no derivative in its integer order n (autograd's own
    # reverse rule for it raises the same way); the rules above only ever
    # differentiate in x, and expressions cannot call polygamma themselves.
    raise NotImplementedError(f"no derivative with respect to {what}")


CONSTANTS = {"pi": math.pi, "e": math.e}  # (the doubles np.pi and np.e are)
BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}

Env = dict[str, Any]


def _reject(what: str) -> ConfigError:
    return ConfigError(f"{what} is not allowed in an expression", path="problem.expr")


class _Compiler:
    """Checks one node at a time and returns a closure ``env -> value``."""

    def __init__(self, names: set[str], shapes: dict[str, tuple[int, ...]], functions: dict[str, Callable[..., Any]]):
        self.names = names
        self.shapes = shapes
        self.functions = functions

    def compile(self, node: ast.AST, condition_ok: bool = False) -> Callable[[Env], Any]:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise _reject(f"the constant {node.value!r} (only numbers)")
            value = float(node.value)  # floats only: no unbounded integer arithmetic
            return lambda env: value
        if isinstance(node, ast.Name):
            name = node.id
            if name in self.names:
                return lambda env: env[name]
            if name in CONSTANTS:
                value = CONSTANTS[name]
                return lambda env: value
            known = sorted(self.names | set(CONSTANTS))
            raise ConfigError(
                f"unknown name '{name}'{suggest(name, known)} (parameters and constants: {', '.join(known)})",
                path="problem.expr",
            )
        if isinstance(node, ast.BinOp):
            binary = BINARY.get(type(node.op))
            if binary is None:
                if isinstance(node.op, ast.BitXor):  # x^2 as on paper: ^ is exclusive-or in Python
                    raise ConfigError(
                        "'^' (exclusive-or) is not allowed in an expression: write powers with ** (x**2)",
                        path="problem.expr",
                    )
                raise _reject(f"the operator {type(node.op).__name__}")
            if isinstance(node.op, ast.Pow):
                self._check_exponent(node.right)
            left, right = self.compile(node.left), self.compile(node.right)
            return lambda env: binary(left(env), right(env))
        if isinstance(node, ast.UnaryOp):
            unary = UNARY.get(type(node.op))
            if unary is None:
                raise _reject(f"the operator {type(node.op).__name__}")
            operand = self.compile(node.operand)
            return lambda env: unary(operand(env))
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Compare):
            if not condition_ok:
                raise _reject("a comparison outside the condition of where(cond, a, b)")
            if len(node.ops) != 1 or type(node.ops[0]) not in COMPARE:
                raise _reject("this comparison (use one of <, <=, >, >= between two terms)")
            compare = COMPARE[type(node.ops[0])]
            left, right = self.compile(node.left), self.compile(node.comparators[0])
            return lambda env: compare(left(env), right(env))
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Attribute):
            raise _reject("attribute access (.)")
        kinds = {
            ast.Lambda: "lambda",
            ast.ListComp: "a comprehension",
            ast.GeneratorExp: "a comprehension",
            ast.SetComp: "a comprehension",
            ast.DictComp: "a comprehension",
            ast.IfExp: "if/else (use where)",
            ast.BoolOp: "and/or",
            ast.NamedExpr: "assignment (:=)",
            ast.JoinedStr: "a string",
            ast.List: "a list",
            ast.Tuple: "a tuple",
            ast.Dict: "a dict",
            ast.Set: "a set",
            ast.Starred: "*",
        }
        raise _reject(kinds.get(type(node), type(node).__name__))

    def _check_exponent(self, node: ast.AST) -> None:
        uses_params = any(isinstance(n, ast.Name) and n.id in self.names for n in ast.walk(node))
        if uses_params:
            return
        literal = node.operand if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) else node
        if not (
            isinstance(literal, ast.Constant)
            and isinstance(literal.value, (int, float))
            and not isinstance(literal.value, bool)
        ):
            raise _reject("a constant exponent that is itself computed (write the number)")
        if abs(literal.value) > MAX_EXPONENT:
            raise ConfigError(
                f"the exponent {literal.value} is too large (|exponent| <= {MAX_EXPONENT})", path="problem.expr"
            )

    def _call(self, node: ast.Call) -> Callable[[Env], Any]:
        if isinstance(node.func, ast.Attribute):
            raise _reject("attribute access (.)")
        if not isinstance(node.func, ast.Name):
            raise _reject("calling anything but a listed function by name")
        name = node.func.id
        if name not in self.functions:
            known = sorted(self.functions)
            raise ConfigError(
                f"the function '{name}' is not allowed{suggest(name, known)} (allowed: {', '.join(known)})",
                path="problem.expr",
            )
        if node.keywords:
            raise _reject("a keyword argument")
        fn = self.functions[name]
        args = [self.compile(arg, condition_ok=(name == "where" and i == 0)) for i, arg in enumerate(node.args)]
        if name == "where" and len(args) != 3:
            raise ConfigError(
                "where takes three arguments: where(condition, value_if_true, value_if_false)", path="problem.expr"
            )
        return lambda env: fn(*[a(env) for a in args])

    def _subscript(self, node: ast.Subscript) -> Callable[[Env], Any]:
        if not (isinstance(node.value, ast.Name) and node.value.id in self.names):
            raise _reject("a subscript of anything but an array parameter")
        name = node.value.id
        shape = self.shapes[name]
        index = node.slice
        literal: ast.expr
        if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
            negative, literal = True, index.operand
        else:
            negative, literal = False, index
        if not (
            isinstance(literal, ast.Constant) and isinstance(literal.value, int) and not isinstance(literal.value, bool)
        ):
            raise _reject("a subscript other than an integer (x[0], x[-1])")
        i = -literal.value if negative else literal.value
        if not shape or not -shape[0] <= i < shape[0]:
            raise ConfigError(f"{name}[{i}] is out of range: {name} has shape {shape}", path="problem.expr")
        return lambda env: env[name][i]


def compile_expression(
    expr: str, params: dict[str, Any], path: str = "problem.expr", xp: Any = None
) -> Callable[[Env], Any]:
    """The checked closure ``env -> value`` for one formula, calling the
    functions of the array module ``xp`` (default ``autograd.numpy``); errors name ``path``."""
    if xp is None:
        from autograd import numpy as autograd_numpy

        xp = autograd_numpy
    try:
        return _compile(expr, params, function_table(xp))
    except ConfigError as exc:
        if path == exc.path:
            raise
        raise ConfigError(exc.message, path=path) from None


def _compile(expr: str, params: dict[str, Any], functions: dict[str, Callable[..., Any]]) -> Callable[[Env], Any]:
    if len(expr) > MAX_LENGTH:
        raise ConfigError(
            f"the expression is {len(expr)} characters long; the limit is {MAX_LENGTH}", path="problem.expr"
        )
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"syntax error at column {exc.offset}: {exc.msg}", path="problem.expr") from None
    except (ValueError, RecursionError, MemoryError):
        raise ConfigError("the expression cannot be parsed", path="problem.expr") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise ConfigError(f"the expression has {count} syntax nodes; the limit is {MAX_NODES}", path="problem.expr")
    shapes = {name: np.shape(value) for name, value in params.items()}
    try:
        body = _Compiler(set(params), shapes, functions).compile(tree.body)
    except RecursionError:
        raise ConfigError("the expression is nested too deeply", path="problem.expr") from None
    return body


def calls_reducing(expr: str) -> bool:
    """Whether the (already compiled) formula calls sum, prod, mean or dot:
    then it is not elementwise in its parameters, and a landscape evaluates it point by point."""
    tree = ast.parse(expr.strip(), mode="eval")
    calls = (n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name))
    return any(name in REDUCING for name in calls)


def names_in(expr: str) -> set[str]:
    """The names a formula mentions (parameters, functions and constants alike)."""
    return {node.id for node in ast.walk(ast.parse(expr, mode="eval")) if isinstance(node, ast.Name)}


def check_scalar(expr: str, params: dict[str, Any], path: str = "problem.expr") -> None:
    """A one-line ConfigError at ``path`` if the formula's value at ``params``
    is not one number (``x * w`` with a vector ``w``): minimizing and a
    gradient need a scalar, and nothing sums it silently. A formula that
    cannot be evaluated at the start is left to the run to report."""
    from autograd import numpy as anp

    body = compile_expression(expr, params, path=path, xp=anp)
    env = {name: np.asarray(value, dtype=float) for name, value in params.items()}  # numpy: 1/0 is inf, no raise
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            shape = np.shape(body(env))
    except Exception:
        return
    if shape != ():
        raise ConfigError(
            f"the formula {expr.strip()!r} is a vector of shape {shape}, not one number (a gradient needs a scalar "
            f"output, and nothing is summed silently): write sum({expr.strip()}) for its sum",
            path=path,
        )
