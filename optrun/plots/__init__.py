"""Plots: matplotlib figures of run directories, sweeps, benches and gradients.

:mod:`.figures` sets matplotlib up and saves figures; :mod:`.runs` draws
a run's loss, params, landscape and fit plots; :mod:`.grad`, :mod:`.bench`
and :mod:`.profiles` serve the commands of those names.
"""
