"""The unconstrained test set of Moré, Garbow & Hillstrom, "Testing
Unconstrained Optimization Software", ACM TOMS 7(1), 17-41 (1981).

Each problem is the paper's sum of squares f(x) = sum_i r_i(x)^2: only its
residual function r, its standard starting point and the minimum the paper
reports are written here;
:func:`~optrun.core.problems.mgh.sum_of_squares.least_squares` makes the
Problem. The paper's numbering is given with each (``MGH 1`` ... ``MGH 30``).
Rosenbrock (MGH 1) and Beale (MGH 5) are the existing ``rosenbrock`` and
``beale`` in classic.py.

The problems are registered by family, one module each:

- :mod:`~optrun.core.problems.mgh.small`: fixed size, no data (MGH 2, 3, 4, 7, 13, 14);
- :mod:`~optrun.core.problems.mgh.data_fitting`: a model fitted at data
  points (MGH 6, 8, 9, 10, 12, 15, 16, 17, 18, 20), with the minimizers
  polished here where the paper gives only f*;
- :mod:`~optrun.core.problems.mgh.variable_size`: size n set by an option
  (MGH 21, 22, 23, 25, 26, 30).

The suite ``mgh`` (see :func:`optrun.core.problems.suite_members`), registered
here, lists them all.
"""

from optrun.core.problems import register_suite

# Importing the family modules registers their problems (the suite below names them).
from optrun.core.problems.mgh import data_fitting, small, variable_size  # noqa: F401

# ------------------------------------------------------------------ the suite
register_suite(
    "mgh",
    [
        "rosenbrock",
        "freudenstein_roth",
        "powell_badly_scaled",
        "brown_badly_scaled",
        "beale",
        "jennrich_sampson",
        "helical_valley",
        "bard",
        "gaussian",
        "meyer",
        "box_3d",
        "powell_singular",
        "wood",
        "kowalik_osborne",
        "brown_dennis",
        "osborne1",
        "biggs_exp6",
        "watson",
        "extended_rosenbrock",
        "extended_powell",
        "penalty1",
        "variably_dimensioned",
        "trigonometric",
        "broyden_tridiagonal",
    ],
    description="Moré, Garbow & Hillstrom (ACM TOMS 1981): the 18 fixed-size problems and 6 of variable size, "
    "standard starts",
)
