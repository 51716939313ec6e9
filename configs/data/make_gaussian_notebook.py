"""Writes gaussian_notebook.csv: the 1000 draws of the "Maximum likelihood
estimation" cell of the notebook "Optimized Learning" (autograd to JAX),
exactly as the notebook made them:

    key = random.PRNGKey(44)
    data = random.normal(key, shape=(1000,)) * np.exp(np.log(2.0)) + -3.0

JAX's generator is its own (threefry), so no NumPy seed gives these numbers:
they are shipped as data. JAX's default float32 values are written exactly
(repr of the float64 they convert to), with the partitionable threefry off
as it was when the notebook ran (jax_threefry_partitionable=False).

Run with JAX installed: python configs/data/make_gaussian_notebook.py
"""

from pathlib import Path

import jax

jax.config.update("jax_threefry_partitionable", False)

import jax.numpy as jnp  # noqa: E402
from jax import random  # noqa: E402

key = random.PRNGKey(44)
real_mu, real_log_sigma = -3.0, jnp.log(2.0)
data = random.normal(key, shape=(1000,)) * jnp.exp(real_log_sigma) + real_mu

out = Path(__file__).with_name("gaussian_notebook.csv")
out.write_text("x\n" + "".join(f"{float(v)!r}\n" for v in data.tolist()))
print(f"wrote {out}: {data.shape[0]} draws, mean {float(data.mean()):.6f}, jax {jax.__version__}")
