"""What the CLI does, one module per command, on top of :mod:`optrun.core`
and :mod:`optrun.config`: run, check (and calibrate, expect), sweep,
compare, plots, show, catalogue. What they share: common (the consoles,
warnings, user problem files), exits (how a command ends: the one table from
errors to exit statuses, and its signal handling), progress (the bar of a
many-item command), terminal (tables, a run's progress bar) and pool (worker
processes)."""
