"""``optrun grad``: derivatives of a config's objective at a point, and its
many options (one thin command, like the others in :mod:`optrun.cli`, which
imports this module where the command stands in ``optrun --help``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optrun.cli_app import Flag, Json, Plots, Problems, Quiet, Set, app, ends


@app.command()
@ends
def grad(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="The YAML config file.", show_default=False)],
    at: Annotated[
        list[str] | None,
        typer.Option(
            "--at",
            metavar="NAME=VALUE",
            help="Evaluate at NAME=VALUE instead of the config's start (YAML value, e.g. x=3 or 'w=[0, 0]'); "
            "a name repeated gives more points for --fd (--at x=5 --at x=2: overlaid; the rest is at the first).",
        ),
    ] = None,
    hessian: Annotated[bool, Flag("--hessian", help="Also the Hessian, labelled by parameter entry.")] = False,
    order: Annotated[
        int | None,
        typer.Option(
            "--order",
            metavar="K",
            help="Derivatives f, f', ..., up to order K in the one free scalar parameter.",
            show_default=False,
        ),
    ] = None,
    fd: Annotated[
        bool,
        Flag(
            "--fd",
            help="Check the gradient against forward and central finite differences (h = 1e-1 ... 1e-12), "
            "absolute and relative errors, each entry's estimate, the second difference against the Hessian, "
            "the evaluations against one reverse pass; fd_error.png, and FD dots on derivatives.png.",
        ),
    ] = False,
    fd_steps: Annotated[
        str | None,
        typer.Option(
            "--fd-steps",
            metavar="LOW,HIGH,COUNT",
            help="Steps for --fd (implied): COUNT from HIGH to LOW, even in log h (1e-10,10,100: logspace(-10,1,100))",
            show_default=False,
        ),
    ] = None,
    timing: Annotated[
        bool,
        Flag("--timing", help="Forward (n JVPs) vs reverse (VJPs) seconds as dim or n grows; on jax compile vs run"),
    ] = False,
    timing_sizes: Annotated[
        str | None, typer.Option("--timing-sizes", metavar="N1,N2,...", help="--timing's sizes (10,100,1000).")
    ] = None,
    jvp: Annotated[
        list[str] | None,
        typer.Option(
            "--jvp",
            metavar="NAME=VALUE",
            help="One forward-mode product J v, v given as NAME=VALUE (repeatable; names left out are 0).",
        ),
    ] = None,
    vjp: Annotated[
        str | None,
        typer.Option(
            "--vjp",
            metavar="[U1, U2, ...]",
            help="One reverse-mode product u^T J, u a YAML list with one number per output.",
            show_default=False,
        ),
    ] = None,
    range_: Annotated[
        str | None,
        typer.Option(
            "--range",
            metavar="A,B",
            help="a,b: the interval derivatives.png (and contour.png) span (default: around the point).",
            show_default=False,
        ),
    ] = None,
    set_: Set = None,
    quiet: Quiet = False,
    json_out: Annotated[
        bool, Json("one object (f, grad, hessian, derivatives, fd, jacobian, jvp, vjp, constraints, timing, run_dir)")
    ] = False,
    plots: Annotated[bool | None, Plots("default: output.plots, which is on")] = None,
    problems: Problems = None,
) -> int:
    """Derivatives of the config's objective at a point: f, the signed gradient, and more on request.

    When the run has bounds or constraints (the problem's or the config's), also
    each constraint's value, type and violation, the bounds, and the constraints'
    Jacobian (--fd checks it against finite differences as it checks the gradient)."""
    from optrun.commands.grad import grad_command

    options = (hessian, order, fd, jvp or [], vjp, range_, json_out, problems, quiet, plots, fd_steps)
    return grad_command(config, set_ or [], at or [], *options, timing, timing_sizes)
