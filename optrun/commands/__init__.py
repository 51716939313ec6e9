"""What the CLI does, one module per command, on top of :mod:`optrun.core`
and :mod:`optrun.config`: run, check (and calibrate, expect), sweep,
compare, plots, catalogue; terminal (tables, progress) and pool (worker
processes) are what they share."""
