"""Print the NumPy SIMD levels below this CPU's, one per line, each as the
value of NPY_DISABLE_CPU_FEATURES that makes NumPy run at that level
(optrun.core.machine.lower_simd_levels). Nothing is printed on a CPU that
runs NumPy at its baseline. CI runs the numerical tests once per line."""

from optrun.core.machine import lower_simd_levels

for level in lower_simd_levels():
    print(level)
