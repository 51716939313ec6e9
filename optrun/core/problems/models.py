"""Model-fitting problems: linear and logistic regression, a small MLP and a
Gaussian maximum likelihood, on synthetic data (the notebooks' recipes) or
a user's CSV file; each gives fit.png its data through ``Problem.fit``."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from optrun.core.errors import ConfigError
from optrun.core.options import Options
from optrun.core.problems import Fit, Problem, Reference, register_problem
from optrun.core.problems.data import ColumnData, TableData, load_column, load_table
from optrun.core.problems.functions import BOTH

# ---------------------------------------------------------- linear_regression
SIGMA_WITH_DATA = 1.0  # the noise scale when a CSV is given and sigma is not
SIGMA_TEXT = "sigma defaults to 0.1 (the synthetic noise), with data: to 1 (half the sum of squares)"
# the meaning of sigma, for describe: what it does, then its two defaults
SIGMA_MEANING = (
    "the noise's standard deviation: synthetic y gets sigma * N(0, 1) noise, the loss is scaled by 0.5/sigma^2; "
)
SEED_TEXT = "seed of the random numbers that draw the synthetic data"
N_TEXT = "the number of synthetic data points"


class DataOrSynthetic(Options):
    """Options of a model fitted to a CSV (``data``) or to synthetic data drawn
    from the options in ``SYNTHETIC_ONLY``: giving both is an error, and a
    run's config.yaml records only the kind used (so it loads again)."""

    SYNTHETIC_ONLY: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _data_or_synthetic(self):
        if getattr(self, "data", None) is not None:
            given = [k for k in self.SYNTHETIC_ONLY if k in self.model_fields_set]
            if given:
                raise ValueError(f"'{given[0]}' only applies to synthetic data; remove it or 'data'")
        return self

    @model_validator(mode="before")
    @classmethod
    def _sigma_for_data(cls, values: Any) -> Any:
        """With ``data`` and no ``sigma``, sigma is 1 (the loss is half the sum
        of squared residuals): the synthetic data's noise 0.1 would scale a
        user's loss by 50 and make ordinary step sizes diverge."""
        if (
            "sigma" in cls.model_fields
            and isinstance(values, dict)
            and values.get("data") is not None
            and "sigma" not in values
        ):
            return {**values, "sigma": SIGMA_WITH_DATA}
        return values

    def resolved(self) -> dict[str, Any]:
        data = super().resolved()
        if getattr(self, "data", None) is not None:
            for key in self.SYNTHETIC_ONLY:
                data.pop(key, None)
        return data


class LinearRegressionOptions(DataOrSynthetic):
    SYNTHETIC_ONLY: ClassVar[tuple[str, ...]] = ("n", "dim", "true_w", "true_b", "data_seed")
    n: int = Field(300, ge=1, le=10_000_000, description=N_TEXT + ", the rows of X")
    dim: int = Field(
        2, ge=1, le=100_000, description="the number of synthetic features: the columns of X, the length of w"
    )
    true_w: list[float] = Field(
        default_factory=lambda: [4.2, -4.2],
        min_length=1,
        description="the weights synthetic y is drawn with, dim entries: y = X true_w + true_b + noise",
    )
    true_b: float = Field(0.1, description="the intercept synthetic y is drawn with")
    sigma: float = Field(0.1, gt=0, description=SIGMA_MEANING + SIGMA_TEXT)
    bias: bool = Field(True, description="fit an intercept b besides w (false: the model is X w)")
    data_seed: int = Field(0, ge=0, le=2**32 - 1, description=SEED_TEXT + ": X uniform on [-5, 5], the noise")
    data: TableData | None = Field(
        None, description="a CSV file to fit; null: synthetic data from n, dim, true_w, true_b, sigma and data_seed"
    )

    @model_validator(mode="after")
    def _consistent(self):
        if self.data is None and len(self.true_w) != self.dim:
            raise ValueError(
                f"true_w has {len(self.true_w)} entries but dim is {self.dim}; give true_w with {self.dim} entries"
            )
        return self


def linear_regression_data(options: LinearRegressionOptions) -> tuple[np.ndarray, np.ndarray]:
    """The "Intro to neural net training with autograd" notebook's recipe, or the user's CSV."""
    if options.data is not None:
        X, y, _ = load_table(options.data)
        return X, y
    rs = np.random.RandomState(options.data_seed)
    X = rs.uniform(-5, 5, size=(options.n, options.dim))
    y = X @ np.asarray(options.true_w) + options.true_b + options.sigma * rs.randn(options.n)
    return X, y


@register_problem(
    "linear_regression",
    description="Least squares as a Gaussian negative log-likelihood "
    "(as in “Intro to neural net training with autograd”)",
    formula="f(w, b) = 0.5/sigma^2 * sum_n (y_n - (X_n . w + b))^2; " + SIGMA_TEXT,
    parameters="w (dim,), b (with bias)",
    options=LinearRegressionOptions,
    backends=BOTH,
)
def linear_regression(options: LinearRegressionOptions, xp) -> Problem:
    X, y = linear_regression_data(options)
    scale = 0.5 / options.sigma**2
    d = X.shape[1]

    if options.bias:

        def loss(p, xp):
            return scale * xp.sum((y - (xp.dot(X, p["w"]) + p["b"])) ** 2)

        design = np.hstack([X, np.ones((X.shape[0], 1))])
        solution = np.linalg.lstsq(design, y, rcond=None)[0]
        minimizer = {"w": solution[:d], "b": float(solution[d])}
        start = {"w": np.zeros(d), "b": 0.0}
    else:

        def loss(p, xp):
            return scale * xp.sum((y - xp.dot(X, p["w"])) ** 2)

        minimizer = {"w": np.linalg.lstsq(X, y, rcond=None)[0]}
        start = {"w": np.zeros(d)}
    reference = Reference(fun=float(loss(minimizer, np)), params=(minimizer,))  # f* by NumPy: the same on every backend

    def f(p):
        return loss(p, xp)

    def fit(p) -> Fit:
        return Fit(
            "predictions", observed=y, predicted=X @ np.asarray(p["w"]) + (p["b"] if options.bias else 0.0), label="y"
        )

    return Problem(objective=f, start=start, reference=reference, fit=fit)


# -------------------------------------------------------- logistic_regression
TOY_INPUTS = [[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]]
TOY_TARGETS = [1.0, 1.0, 0.0, 1.0]


class LogisticRegressionOptions(Options):
    bias: bool = Field(False, description="fit an intercept b besides w (false: p = sigmoid(X w))")
    l2: float = Field(
        0.0,
        ge=0,
        description="the coefficient of the penalty 0.5 * l2 * |w|^2 (b is not penalised); "
        "with 0, separable data have no finite minimum",
    )
    data: TableData | None = Field(
        None,
        description="a CSV file to fit, its target column 0/1 labels; "
        "null: the “Automatic Differentiation” notebook's toy set (4 points, 3 features)",
    )


def logistic_minimum(X: np.ndarray, t: np.ndarray, bias: bool, l2: float) -> np.ndarray | None:
    """The minimizer by Newton's method on the convex loss, or None when the
    iterates run off to infinity (separable data with l2 = 0)."""
    A = np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X
    penalty = np.full(A.shape[1], l2)
    if bias:
        penalty[-1] = 0.0  # the bias is not penalised
    theta = np.zeros(A.shape[1])
    for _ in range(200):
        p = 1.0 / (1.0 + np.exp(-(A @ theta)))
        g = A.T @ (p - t) + penalty * theta
        H = (A * (p * (1 - p))[:, None]).T @ A + np.diag(penalty)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            return None
        theta = theta - step
        if not np.all(np.isfinite(theta)) or np.linalg.norm(theta) > 1e6:
            return None
        if np.linalg.norm(step) <= 1e-13 * max(1.0, float(np.linalg.norm(theta))):
            return theta
    return None


@register_problem(
    "logistic_regression",
    description="Logistic regression by maximum likelihood "
    "(the “Automatic Differentiation” notebook's toy set by default)",
    formula="p = sigmoid(X w + b); f = -sum log(p t + (1-p)(1-t)) + 0.5 * l2 * |w|^2",
    parameters="w (D,), b (with bias)",
    options=LogisticRegressionOptions,
    backends=BOTH,
)
def logistic_regression(options: LogisticRegressionOptions, xp) -> Problem:
    if options.data is not None:
        X, t, _ = load_table(options.data)
        if not np.all((t == 0) | (t == 1)):
            raise ConfigError(
                f"the target column '{options.data.target}' must hold 0/1 labels", path="problem.data.target"
            )
    else:
        X, t = np.array(TOY_INPUTS), np.array(TOY_TARGETS)
    sign = 2.0 * t - 1.0  # log(p t + (1-p)(1-t)) = log sigmoid(sign * z), computed stably
    l2, d = options.l2, X.shape[1]

    def loss(p, xp):
        z = xp.dot(X, p["w"]) + (p["b"] if options.bias else 0.0)
        return xp.sum(xp.logaddexp(0.0, -sign * z)) + 0.5 * l2 * xp.sum(p["w"] ** 2)

    def f(p):
        return loss(p, xp)

    start = {"w": np.zeros(d), "b": 0.0} if options.bias else {"w": np.zeros(d)}

    def fit(p) -> Fit:
        z = X @ np.asarray(p["w"]) + (p["b"] if options.bias else 0.0)
        return Fit("predictions", observed=t, predicted=1.0 / (1.0 + np.exp(-z)), label="P(t = 1)")

    theta = logistic_minimum(X, t, options.bias, l2)
    if theta is None:
        return Problem(
            objective=f, start=start, note="no finite minimum: the data are linearly separable (use l2 > 0)", fit=fit
        )
    minimizer = {"w": theta[:d], "b": float(theta[d])} if options.bias else {"w": theta}
    return Problem(
        objective=f, start=start, reference=Reference(fun=float(loss(minimizer, np)), params=(minimizer,)), fit=fit
    )


# ------------------------------------------------------------- mlp_regression
# name -> activation(a, xp), xp the array module
ACTIVATIONS = {
    "tanh": lambda a, xp: xp.tanh(a),
    "relu": lambda a, xp: xp.maximum(a, 0.0),
    "sigmoid": lambda a, xp: 0.5 * (xp.tanh(0.5 * a) + 1.0),
    "softplus": lambda a, xp: xp.logaddexp(0.0, a),
}


class MLPOptions(DataOrSynthetic):
    SYNTHETIC_ONLY: ClassVar[tuple[str, ...]] = ("n", "data_seed")

    hidden: list[int] = Field(
        default_factory=lambda: [10],
        max_length=20,
        description="the units of each hidden layer, from the input side; [] is a linear model",
    )
    activation: Literal["tanh", "relu", "sigmoid", "softplus"] = Field(
        "tanh", description="applied between layers; the output layer is linear"
    )
    n: int = Field(300, ge=1, le=10_000_000, description=N_TEXT)
    sigma: float = Field(0.1, gt=0, description=SIGMA_MEANING + SIGMA_TEXT)
    data_seed: int = Field(0, ge=0, le=2**32 - 1, description=SEED_TEXT + ": X uniform on [-5, 5]^2, the noise")
    data: TableData | None = Field(
        None,
        description="a CSV file to fit; null: n synthetic points, y = -2 x1^2 + 2 x2^2 + 4.2 x1 - 4.2 x2 + noise",
    )

    @field_validator("hidden")
    @classmethod
    def _positive(cls, hidden: list[int]) -> list[int]:
        if any(h < 1 for h in hidden):
            raise ValueError(f"every hidden layer needs at least 1 unit, got {hidden}")
        return hidden


def mlp_data(options: MLPOptions) -> tuple[np.ndarray, np.ndarray]:
    if options.data is not None:
        X, y, _ = load_table(options.data)
        return X, y
    rs = np.random.RandomState(options.data_seed)
    X = rs.uniform(-5, 5, (options.n, 2))
    y = X**2 @ np.array([-2.0, 2.0]) + X @ np.array([4.2, -4.2]) + options.sigma * rs.randn(options.n)
    return X, y


def mlp_predict(layers, X, activation, xp=np):
    """The feed-forward net of “Intro to neural net training with autograd”: activation between layers, linear output;
    ``xp`` is the array module (NumPy to evaluate, the backend's to differentiate)."""
    out = X
    for i, layer in enumerate(layers):
        if i > 0:
            out = activation(out)
        out = xp.dot(out, layer["w"]) + layer["b"]
    return out[:, 0]


@register_problem(
    "mlp_regression",
    description="A small tanh MLP for regression, parameters as a list of layers "
    "(the list of dicts of “Intro to neural net training with autograd”)",
    formula="yhat = MLP(X); f = 0.5/sigma^2 * sum_n (y_n - yhat_n)^2; " + SIGMA_TEXT,
    parameters="layers: [{w (n_in, n_out), b (n_out,)}, ...]",
    options=MLPOptions,
    backends=BOTH,
)
def mlp_regression(options: MLPOptions, xp) -> Problem:
    X, y = mlp_data(options)
    act = ACTIVATIONS[options.activation]
    activation = lambda a: act(a, xp)  # noqa: E731
    scale = 0.5 / options.sigma**2
    sizes = [X.shape[1], *options.hidden, 1]

    def f(p):
        return scale * xp.sum((y - mlp_predict(p["layers"], X, activation, xp)) ** 2)

    def start(rng: np.random.Generator):
        return {
            "layers": [{"w": 0.1 * rng.standard_normal((a, b)), "b": np.zeros(b)} for a, b in itertools.pairwise(sizes)]
        }

    note = (
        f"non-convex: no known minimum; the noise floor is about n/2 = {X.shape[0] / 2:g}"
        if options.data is None
        else "non-convex: no known minimum"
    )

    def fit(p) -> Fit:
        return Fit("predictions", observed=y, predicted=mlp_predict(p["layers"], X, lambda a: act(a, np)), label="y")

    return Problem(objective=f, start=start, note=note, fit=fit)


# --------------------------------------------------------------- gaussian_mle
class GaussianMLEOptions(DataOrSynthetic):
    SYNTHETIC_ONLY: ClassVar[tuple[str, ...]] = ("n", "true_mu", "true_sigma", "data_seed")

    n: int = Field(1000, ge=1, le=10_000_000, description="the number of synthetic samples")
    true_mu: float = Field(-3.0, description="the mean of the normal distribution the synthetic samples are drawn from")
    true_sigma: float = Field(2.0, gt=0, description="the standard deviation of that distribution")
    data_seed: int = Field(0, ge=0, le=2**32 - 1, description=SEED_TEXT)
    data: ColumnData | None = Field(
        None, description="a CSV column of samples; null: n synthetic samples from Normal(true_mu, true_sigma)"
    )


@register_problem(
    "gaussian_mle",
    description="Maximum likelihood for a Gaussian's mean and log standard deviation (as in “Optimized Learning”)",
    formula="f(mu, log_sigma) = -sum_n log Normal(x_n; mu, exp(log_sigma))",
    parameters="mu, log_sigma",
    options=GaussianMLEOptions,
    backends=BOTH,
)
def gaussian_mle(options: GaussianMLEOptions, xp) -> Problem:
    if options.data is not None:
        x = load_column(options.data)
    else:
        x = np.random.default_rng(options.data_seed).normal(options.true_mu, options.true_sigma, options.n)
    half_log_2pi = 0.5 * np.log(2 * np.pi)

    def loss(p, xp):
        mu, log_sigma = p["mu"], p["log_sigma"]
        z = (x - mu) / xp.exp(log_sigma)
        return xp.sum(half_log_2pi + log_sigma + 0.5 * z**2)

    def f(p):
        return loss(p, xp)

    minimizer = {"mu": float(np.mean(x)), "log_sigma": float(np.log(np.std(x)))}
    note = "" if np.std(x) > 0 else "the data have zero spread: no finite minimum"
    reference = Reference(fun=float(loss(minimizer, np)), params=(minimizer,)) if not note else None

    def fit(p) -> Fit:
        mu, sigma = float(p["mu"]), float(np.exp(p["log_sigma"]))
        return Fit(
            "density",
            observed=x,
            density=lambda v: np.exp(-0.5 * ((v - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi)),
            label=f"Normal(mu={mu:.4g}, sigma={sigma:.4g})",
        )

    return Problem(
        objective=f, start={"mu": -6.0, "log_sigma": float(np.log(2.0))}, reference=reference, note=note, fit=fit
    )
