"""Print the environment block (optrun.core.machine.environment): the
versions this CI job resolved, NumPy's SIMD level, libyaml, the BLAS kernel."""

from optrun.core.machine import environment

print("\n".join(environment()))
