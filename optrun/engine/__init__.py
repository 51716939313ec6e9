"""The engine: prepare a run, execute it, record it, and run many.

A config becomes a :class:`~optrun.engine.prepare.Prepared` run (everything
that can fail on bad input, before any file is written); :mod:`.record`
executes it and writes its run directory; :mod:`.executors` runs many
calls (runs, checks, calibration samples) through one
:class:`~optrun.engine.executors.Executor` interface (in this process, a
local pool, Dask, or one vectorised computation); :mod:`.signals` is how
SIGINT/SIGTERM stop all of it. Commands sit on top and only render.
"""
