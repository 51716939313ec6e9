"""An example user problem: the Rastrigin function.

optrun loads every *.py file in ./problems (or the folder given with
--problems) when it starts. A file registers problems with the same call the
built-ins use. These files are Python code and run as code: only put files
you trust here.
"""

import autograd.numpy as anp
import numpy as np
from pydantic import Field

from optrun import Options, Problem, Reference, register_problem


class RastriginOptions(Options):
    dim: int = Field(2, ge=1, le=10_000, description="the length of x")
    a: float = Field(10.0, gt=0, description="the amplitude of the cosine term")


@register_problem(
    "rastrigin",
    description="Rastrigin's function: a bowl covered in local minima (example user problem)",
    formula="f(x) = a d + sum (x_i^2 - a cos(2 pi x_i))",
    parameters="x (dim,)",
    options=RastriginOptions,
)
def rastrigin(options: RastriginOptions) -> Problem:
    d, a = options.dim, options.a

    def f(p):
        x = p["x"]
        return a * d + anp.sum(x**2 - a * anp.cos(2 * np.pi * x))

    return Problem(
        objective=f,
        start={"x": np.full(d, 2.5)},
        reference=Reference(fun=0.0, params=({"x": np.zeros(d)},)),
    )
