"""``optrun grad``: parse the point and options, compute the derivatives
(:mod:`optrun.engine.grad`), print them as tables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optrun.commands.grad_tables import MAX_ROWS, first_note, matrix_table, titled
from optrun.config import load_config, parse_yaml
from optrun.core import derivatives as d
from optrun.core.errors import ConfigError, OptrunError
from optrun.engine.grad import GradResult, grad


def parse_assignments(texts: Sequence[str], option: str) -> dict[str, Any]:
    """``NAME=VALUE`` options (``--at``, ``--jvp``), values read as YAML like ``--set``."""
    values: dict[str, Any] = {}
    for text in texts:
        name, sep, raw = text.partition("=")
        name = name.strip()
        if not sep or not name or not raw.strip():
            raise ConfigError(f"{text!r} must look like NAME=VALUE (e.g. x=3 or 'w=[0, 0]')", source=option)
        if name in values:
            raise ConfigError(f"'{name}' is given twice", source=option)
        values[name] = parse_yaml(raw, source=f"{option} {name}")
    return values


def parse_points(texts: Sequence[str]) -> list[dict[str, Any]]:
    """``--at`` options as points: a name given k times gives k points (its
    k-th value in the k-th point); a name given once is in every point."""
    values: dict[str, list[Any]] = {}
    for text in texts:
        name, sep, raw = text.partition("=")
        name = name.strip()
        if not sep or not name or not raw.strip():
            raise ConfigError(f"{text!r} must look like NAME=VALUE (e.g. x=3 or 'w=[0, 0]')", source="--at")
        values.setdefault(name, []).append(parse_yaml(raw, source=f"--at {name}"))
    counts = {len(v) for v in values.values() if len(v) > 1}
    if len(counts) > 1:
        given = ", ".join(f"{n} {len(v)} times" for n, v in values.items() if len(v) > 1)
        raise ConfigError(
            f"names repeated for several points must be repeated equally often, got {given}", source="--at"
        )
    count = max(counts, default=1)
    return [{n: v[k] if len(v) > 1 else v[0] for n, v in values.items()} for k in range(count)] if values else []


def parse_steps(text: str | None) -> tuple[float, ...] | None:
    """``--fd-steps LOW,HIGH,COUNT``: COUNT steps from HIGH down to LOW, evenly in log h."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        low, high = float(parts[0]), float(parts[1])
        count = int(parts[2])
        if len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise ConfigError(
            f"{text!r} must be LOW,HIGH,COUNT (e.g. 1e-10,10,100: 100 steps from 10 down to 1e-10)",
            source="--fd-steps",
        ) from None
    try:
        return d.log_steps(low, high, count)
    except ConfigError as exc:
        raise ConfigError(f"{text!r}: {exc.message}", source="--fd-steps") from None


def parse_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"{text!r} must be two numbers a,b (e.g. -3,3)", source="--range") from None
    if not low < high:
        raise ConfigError(f"{text!r}: the first number must be below the second", source="--range")
    return low, high


def grad_command(
    config_path: Path,
    overrides: Sequence[str],
    at: Sequence[str],
    hessian: bool,
    order: int | None,
    fd: bool,
    jvp: Sequence[str],
    vjp: str | None,
    range_text: str | None,
    json_out: bool,
    problems: Path | None,
    quiet: bool = False,
    plots: bool | None = None,
    fd_steps: str | None = None,
    timing: bool = False,
    timing_sizes: str | None = None,
) -> int:
    """``optrun grad``: compute, print (tables, or one JSON object; nothing
    with ``quiet``) and record; ``plots`` (``--plots/--no-plots``) overrides
    output.plots when given.
    A signal stops it within a moment: before grad.json is written nothing is
    left (StoppedBySignal, 128 + the signal); during the plots grad.json is
    written without them and the exit status is 128 + the signal.
    ``timing`` (``--timing``, implied by ``timing_sizes``): forward against
    reverse mode timed as the input grows (:mod:`optrun.engine.grad_timing`),
    measured before anything is recorded, then timing.json and timing.png."""
    import dataclasses
    import json

    from rich.table import Table

    from optrun.commands.common import err, load_problems, out, plots_override, shown, warn
    from optrun.commands.tables import fitted
    from optrun.core.outputs import json_safe
    from optrun.engine.signals import signal_name, stoppable

    with stoppable() as flag:
        load_problems(problems)
        cfg = load_config(config_path, [*overrides, *plots_override(plots)])
        try:
            cotangent = None
            if vjp is not None:
                cotangent = parse_yaml(vjp, source="--vjp")
                if not isinstance(cotangent, list):
                    raise ConfigError(
                        f"must be a list of numbers, one per output (e.g. '[1, 0]'), got {vjp!r}", source="--vjp"
                    )
            steps = parse_steps(fd_steps)
            points = parse_points(at)
            timed = None
            if timing or timing_sizes is not None:
                from optrun.engine import grad_timing

                timed = grad_timing.measure_stopping(cfg, grad_timing.parse_sizes(timing_sizes), flag)
            if len(points) > 1 and not (fd or steps):
                raise ConfigError(
                    f"{len(points)} points given (a name repeated); several points are compared by --fd only: add --fd",
                    source="--at",
                )
            result = grad(
                cfg,
                at=points[0] if points else None,
                hessian=hessian,
                order=order,
                fd=fd,
                fd_steps=steps,
                fd_at=points[1:],
                jvp=parse_assignments(jvp, "--jvp") or None,
                vjp=cotangent,
                plot_range=parse_range(range_text),
                flag=flag,
            )
        except OptrunError as exc:
            raise exc.located(source=exc.source or cfg.source) from None
        run_dir = result.run_dir
        assert run_dir is not None  # grad() records the run by default (write=True)
        timing_json: dict[str, Any] = {}
        if timed is not None:
            drawn, failed = grad_timing.record(timed, run_dir, cfg.name, cfg.output.plots, cfg.output.plot_format)
            warnings = (*result.warnings, *timed.notes, *failed)
            result = dataclasses.replace(result, plots=(*result.plots, *drawn), warnings=warnings)
            timing_json = grad_timing.to_json(timed)
        for warning in result.warnings:
            warn(f"{cfg.name}: {warning}")
        if json_out:
            print(
                json.dumps(json_safe({**result.to_json(), **timing_json, "run_dir": shown(run_dir)}), indent=2),
                flush=True,
            )
        elif not quiet:
            console = out()
            for table in tables(result) + (timing_tables(timed) if timed is not None else []):
                console.print(fitted(table, console) if isinstance(table, Table) else table)
            console.print(
                f"recorded in {shown(run_dir)}" + "".join(f"\n  {shown(p)}" for p in result.plots),
                markup=False,
                highlight=False,
            )
        if flag is not None and flag.signum is not None:
            err.print(f"interrupted by {signal_name(flag.signum)}; recorded in {shown(run_dir)}", markup=False)
            return 128 + flag.signum
        return 0


def tables(result: GradResult) -> list[Any]:
    """The result as rich tables: the point and f, the gradient, and each part asked for."""
    from rich.table import Table
    from rich.text import Text

    def number(v: float) -> str:
        return f"{v:.10g}"

    shown: list[Any] = [Text(f"{result.name}: derivatives at a point", style="bold")]
    head = Table(show_header=False)
    head.add_column(style="bold")
    head.add_column()
    from autograd.misc.flatten import flatten

    from optrun.core.params import leaf_names

    def assigned(tree: Any) -> Text:
        flat, _ = flatten(tree)
        names = leaf_names(tree)
        return Text(", ".join(f"{n}={number(v)}" for n, v in zip(names[:MAX_ROWS], flat)) + _more(len(names)))

    head.add_row("at", assigned(result.at))
    if result.fixed:
        head.add_row("fixed", assigned(result.fixed))
    value = result.value
    if isinstance(value, float):
        head.add_row("f", number(value))
    else:
        head.add_row("f", Text("[" + ", ".join(map(number, value[:MAX_ROWS])) + _more(len(value)) + "]"))
    shown.append(head)
    if result.gradient is not None:
        table = titled("gradient (signed)" + first_note(len(result.gradient.labels)))
        table.add_column("entry")
        table.add_column("df/d entry", justify="right")
        for label, g in zip(result.gradient.labels[:MAX_ROWS], result.gradient.flat):
            table.add_row(Text(label), number(g))
        shown.append(table)
    if result.hessian is not None:
        shown.append(matrix_table("Hessian", result.hessian.labels, result.hessian.labels, result.hessian.matrix))
    if result.derivatives is not None:
        ds = result.derivatives
        table = titled(f"derivatives in {ds.name} at {number(ds.at)}")
        table.add_column("order", justify="right")
        table.add_column("value", justify="right")
        for k, v in enumerate(ds.values):
            table.add_row("f" + "'" * k if k <= 3 else f"f^({k})", number(v))
        shown.append(table)
    checks = result.fd_points or ((result.fd,) if result.fd is not None else ())
    for check in checks:
        where = (
            "" if len(checks) < 2 else " at " + ", ".join(f"{n}={number(v)}" for n, v in zip(check.labels, check.at))
        )
        shown.extend(_fd_tables(check, where))
    if result.jacobian is not None:
        j, other = result.jacobian, result.jacobian_other
        title = f"Jacobian ({len(j.rows)} x {len(j.columns)}): {j.passes} {j.by.upper()} passes"
        if other is not None:
            same = (
                "equal" if other.matrix == j.matrix else f"max difference {float(abs(other.array - j.array).max()):.3g}"
            )
            title += f"; built from {other.passes} {other.by.upper()}s instead: {same}"
        shown.append(matrix_table(title, j.rows, j.columns, j.matrix))
    for product, what in ((result.jvp, "JVP: J v"), (result.vjp, "VJP: u^T J")):
        if product is not None:
            mode = "forward" if product.mode == "jvp" else "reverse"
            table = titled(f"{what} (one {mode} pass)" + first_note(len(product.labels)))
            table.add_column("entry")
            table.add_column("value", justify="right")
            for label, v in zip(product.labels[:MAX_ROWS], product.result):
                table.add_row(Text(label), number(v))
            shown.append(table)
    if result.constraints is not None:  # the run's bounds and constraints at the point
        from optrun.commands.grad_constraints import constraint_tables

        shown.extend(constraint_tables(result.constraints))
    return [getattr(item, "group", item) for item in shown]


def timing_tables(timing: Any) -> list[Any]:
    """``--timing``: per size, each mode's passes and seconds (on jax also its compile time) and the ratio."""
    from rich.table import Table
    from rich.text import Text

    from optrun.commands.tables import add_columns

    compiled = bool(timing.rows) and timing.rows[0].forward.compile_seconds is not None
    table = Table()
    compile_headers = ("JVP compile s", "VJP compile s") if compiled else ()
    headers = ("n", "JVPs", "VJPs", "forward s", "reverse s", *compile_headers, "ratio")
    add_columns(table, headers, numeric=headers)
    for row in timing.rows:
        compile_cells = [f"{m.compile_seconds:.3g}" for m in (row.forward, row.reverse)] if compiled else []
        seconds = [f"{m.seconds:.3g}" for m in (row.forward, row.reverse)]
        table.add_row(
            str(row.inputs),
            str(row.forward.passes),
            str(row.reverse.passes),
            *seconds,
            *compile_cells,
            f"{row.ratio:.3g}",
        )
    run = "compiled runs after the first call" if compiled else "best of repeats"
    title = (
        f"forward (JVPs, one per input) vs reverse mode (VJPs), the full derivative as {timing.option} grows "
        f"({timing.backend}; seconds: {run}; ratio: forward / reverse)"
    )
    return [Text(title, style="italic"), table]


def _more(count: int) -> str:
    return f", ... ({count} in all; see grad.json)" if count > MAX_ROWS else ""


def _fd_tables(fd: d.FDCheck, where: str) -> list[Any]:
    """The finite-difference check at one point: the errors per step (at most
    MAX_STEP_ROWS of them, evenly picked), and each entry's estimate at its
    scheme's best h (the gradient's, then the second difference's)."""
    from rich.text import Text

    along = "each entry (largest error)" if fd.mode == "entries" else "a random direction"
    rows = _picked(len(fd.steps))
    cut = f" ({len(rows)} of {len(fd.steps)} steps; all in grad.json)" if len(rows) < len(fd.steps) else ""
    table = titled(f"finite differences against autodiff{where}, along {along}{cut}")
    table.add_column("h", justify="right")
    for column in ("forward abs", "rel", "central abs", "rel"):
        table.add_column(column, justify="right")
    if fd.second is not None:
        table.add_column("f'' rel", justify="right")
    for i in rows:
        cells = [f"{s.errors[i]:.2g}|{s.relative_errors[i]:.2g}" for s in (fd.forward, fd.central)]
        second = [] if fd.second is None else [f"{fd.second.relative_errors[i]:.2g}"]
        table.add_row(f"{fd.steps[i]:.2g}", *"|".join(cells).split("|"), *second)
    table.caption = (
        f"f evaluations per step: forward {fd.forward.evaluations}, central {fd.central.evaluations}; "
        f"autodiff: {fd.reverse_passes} reverse pass for the whole gradient ({len(fd.labels)} entries). "
        f"Directional check: relative error {fd.directional.relative_error:.3g}"
        + (
            f". Hessian by central differences of the gradient ({2 * len(fd.labels)} gradients): "
            f"largest error {fd.hessian_errors[0]:.3g}, relative {fd.hessian_errors[1]:.3g}"
            if fd.hessian_fd is not None
            else ""
        )
    )
    shown = [table]
    labels = fd.labels if fd.mode == "entries" else ("along v",)
    exact = fd.autodiff if fd.mode == "entries" else (fd.directional.autodiff,)
    pairs: list[tuple[d.FDScheme, d.FDScheme | None, Sequence[float], str]] = [
        (fd.forward, fd.central, exact, "df/d entry")
    ]
    if fd.second is not None:
        pairs.append((fd.second, None, fd.second_autodiff or (), "d2f/d entry2"))
    for first, other, values, what in pairs:
        entries = titled(f"{what}: each entry's estimate at the best h{where}" + first_note(len(labels)))
        entries.add_column("entry")
        entries.add_column("autodiff", justify="right")
        schemes = [s for s in (first, other) if s is not None]
        for scheme in schemes:
            entries.add_column(f"{scheme.name} (h={scheme.best_step:.2g})", justify="right")
            entries.add_column("rel error", justify="right")
        for i, label in enumerate(labels[:MAX_ROWS]):
            cells = [f"{values[i]:.10g}"]
            for scheme in schemes:
                cells += [f"{scheme.estimates[i]:.10g}", f"{scheme.entry_relative_errors[i]:.2g}"]
            entries.add_row(Text(label), *cells)
        shown.append(entries)
    return shown


MAX_STEP_ROWS = 13  # steps printed per point; grad.json has them all


def _picked(count: int) -> list[int]:
    """At most MAX_STEP_ROWS indices out of ``count``, evenly spread, the first and last included."""
    if count <= MAX_STEP_ROWS:
        return list(range(count))
    return sorted({round(k * (count - 1) / (MAX_STEP_ROWS - 1)) for k in range(MAX_STEP_ROWS)})
