"""``optrun report PATH... [--out report.html]``: one self-contained HTML
page to share runs, sweeps and bench directories.

Every run directory found under the paths (a folder with ``config.yaml`` and
``trace.csv``) is read with :func:`optrun.core.rundir.read_run`. The page has,
for many runs, a comparison table sortable by any column (a few lines of
inline JavaScript); for each run (the first :data:`MAX_DETAILED`), its
summary, its resolved config and its plots; and the PNGs and SVGs a sweep or
bench folder drew for the whole study. Figures are embedded as data URIs and
nothing is loaded from the network, so the file opens anywhere, offline. A
browser shows PNG and SVG in a page, not PDF: a run whose plots are PDF files
(output.plot_format: pdf) gets its loss plot drawn for the report.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optrun.commands.common import say
from optrun.core.errors import ConfigError
from optrun.core.paths import files_under
from optrun.core.result import gap_text
from optrun.core.rundir import RunFiles, read_run
from optrun.core.trace import TRACE_FILES, has_trace

MAX_DETAILED = 50  # runs shown in full (summary, config, plots); all are in the table
PLOT_ORDER = ("loss", "landscape", "params", "fit")
SHOWN = {".png": "image/png", ".svg": "image/svg+xml"}  # the plot files a page can show, and their media types
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # a figure larger than this is left out with a warning (optrun's are < 1 MB)
MAX_CONFIG_BYTES = 1024 * 1024  # config.yaml's own limit

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th.sortable { cursor: pointer; background: #f3f3f3; } th.sortable:hover { background: #e6e6e6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.converged { color: #137333; } .max_iter, .max_fev, .time_limit, .evaluated { color: #9a6700; }
.diverged, .failed, .error { color: #c5221f; } .interrupted { color: #8430ce; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.3em 0; }
"""

# Sort the comparison table by a clicked column (numbers as numbers, '-' last);
# marks the table data-sortable="ready" so a test can see the script ran.
SCRIPT = """
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("table.runs").forEach(function (table) {
    var body = table.tBodies[0];
    table.querySelectorAll("th").forEach(function (th, column) {
      th.classList.add("sortable");
      th.addEventListener("click", function () {
        var ascending = th.dataset.order !== "asc";
        th.dataset.order = ascending ? "asc" : "desc";
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
          var nx = parseFloat(x), ny = parseFloat(y);
          var cmp = (isNaN(nx) || isNaN(ny)) ? (isNaN(nx) - isNaN(ny)) || x.localeCompare(y) : nx - ny;
          return ascending ? cmp : -cmp;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
    table.dataset.sortable = "ready";
  });
});
"""

COLUMNS = ("run", "name", "problem", "optimizer", "status", "f", "gap", "nit", "nfev", "time (s)")


def find_runs(paths: Sequence[Path]) -> list[Path]:
    """Run directories at or under ``paths``, in a stable order; a path that
    does not exist or holds no run is a ConfigError naming it."""
    runs: list[Path] = []
    for path in paths:
        if not path.exists():
            raise ConfigError("not found", source=str(path))
        if _is_run(path):
            found = [path]
        else:
            traces = files_under(path, lambda name: name in TRACE_FILES, hidden=True)  # (as rglob: hidden folders too)
            found = sorted({trace.parent for trace in traces if _is_run(trace.parent)})
        if not found:
            raise ConfigError(
                "holds no run directory (a folder with config.yaml and trace.csv or trace.parquet)", source=str(path)
            )
        runs.extend(r for r in found if r not in runs)
    return runs


def _is_run(path: Path) -> bool:
    return path.is_dir() and (path / "config.yaml").is_file() and has_trace(path)


def build_report(paths: Sequence[Path], title: str | None = None) -> tuple[str, list[str]]:
    """The report page for ``paths`` and the warnings (runs that could not be
    read, figures and configs left out)."""
    runs, warnings = [], []
    for path in find_runs(paths):
        outside = _links_out(path)
        if outside:  # a page meant for sharing never shows what a link out of the run points at
            warnings.append(f"{path}: left out: {outside} is a symbolic link out of the run directory")
            continue
        try:
            runs.append(read_run(path))
        except Exception as exc:  # one unreadable run is a warning, not the end of the report
            warnings.append(f"{path}: left out: {exc}")
    if not runs:
        raise ConfigError("no run could be read: " + "; ".join(warnings), source=str(paths[0]))
    title = title or ("optrun report: " + ", ".join(p.name or str(p) for p in paths))
    parts = [
        f"<h1>{_e(title)}</h1>",
        f"<p>{len(runs)} run{'s' if len(runs) != 1 else ''}"
        + (f"; {len(warnings)} left out (unreadable)" if warnings else "")  # (before the figures' warnings)
        + ".</p>",
    ]
    if len(runs) > 1:
        parts.append("<h2>Runs</h2><p>Click a column to sort.</p>" + _runs_table(runs))
    for path in paths:
        study = (
            sorted(p for p in path.glob("*") if p.suffix in SHOWN)  # each is checked as it is read
            if path.is_dir() and not _is_run(path)
            else []
        )
        if study:
            parts.append(f"<h2>{_e(path.name)}: the whole study</h2>" + "".join(_img(p, path, warnings) for p in study))
    for run in runs[:MAX_DETAILED]:
        parts.append(_run_section(run, warnings))
    if len(runs) > MAX_DETAILED:
        parts.append(f"<p>{len(runs) - MAX_DETAILED} more runs are in the table only.</p>")
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{STYLE}</style><script>{SCRIPT}</script></head>"
        f"<body>{''.join(parts)}</body></html>"
    )
    return page, warnings


def _links_out(run_dir: Path) -> str:
    """The first of a run's files (config.yaml, summary.json, the trace) that
    resolves outside the run directory, or ''."""
    inside = run_dir.resolve()
    for name in ("config.yaml", "summary.json", *TRACE_FILES):
        file = run_dir / name
        if file.is_symlink() and inside not in file.resolve().parents:
            return name
    return ""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(value: Any, digits: str = ".10g") -> tuple[str, str]:
    """(shown text, sort key) of a number that may be None."""
    if value is None:
        return "-", ""
    return format(value, digits), repr(float(value))


def _fstar(summary: Any) -> float | None:
    """The known minimum f* of a run's summary, if it has one."""
    return None if summary.reference is None else summary.reference.fun


def _runs_table(runs: list[RunFiles]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in COLUMNS)
    rows = []
    for i, run in enumerate(runs, start=1):
        s = run.summary
        status = str(s.status) if s is not None else "incomplete"
        cells = [
            (str(i), str(i)),
            (run.name, run.name),
            (run.problem, run.problem),
            (run.optimizer, run.optimizer),
            (status, status),
        ]
        if s is not None:
            cells += [
                _num(s.fun),
                (gap_text(s.gap, _fstar(s)), _num(s.gap)[1]),
                (str(s.nit), str(s.nit)),
                (str(s.nfev), str(s.nfev)),
                _num(s.wall_time_s, ".3f"),
            ]
        else:
            cells += [("-", "")] * 5
        row = "".join(
            f"<td data-value='{_e(key)}'"
            + (
                " class='num'"
                if c in ("run", "f", "gap", "nit", "nfev", "time (s)")
                else f" class='{_e(text)}'"
                if c == "status"
                else ""
            )
            + f">{_e(text)}</td>"
            for c, (text, key) in zip(COLUMNS, cells)
        )
        rows.append(f"<tr>{row}</tr>")
    return f"<table class='runs'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _run_section(run: RunFiles, warnings: list[str]) -> str:
    from optrun.commands.common import problem_about
    from optrun.commands.terminal import params_text

    s = run.summary
    title = f"{run.name}: {run.problem} / {run.optimizer}"
    rows: list[tuple[str, str]] = [("problem", problem_about(run.problem)), ("run directory", str(run.path))]
    if s is None:
        rows.insert(0, ("status", "incomplete: no summary.json (the run was killed); its trace is below"))
    else:
        rows[:0] = [
            ("status", f"{s.status}: {s.message}"),
            ("f", _num(s.fun)[0]),
            ("gap f - f*", gap_text(s.gap, _fstar(s))),
            ("params", params_text(s.params, limit=12)),
            ("iterations", f"{s.nit} ({s.nfev} evaluations, {s.njev} gradients)"),
            ("time", f"{s.wall_time_s:.3f} s"),
        ]
    table = "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"
    config_bytes = _read_inside(run.path / "config.yaml", run.path, MAX_CONFIG_BYTES, warnings)
    config = "(not shown)" if config_bytes is None else config_bytes.decode("utf-8", errors="replace")
    from optrun.plots.figures import plot_file

    plots = [p for p in (plot_file(run, name) for name in PLOT_ORDER) if p is not None and p.suffix in SHOWN]
    figures = "".join(_img(p, run.path, warnings) for p in plots) or _drawn_loss(run)  # none (or none usable)
    return (
        f"<h2>{_e(title)}</h2>{table}<details><summary>config.yaml</summary><pre>{_e(config)}</pre></details>{figures}"
    )


def _img(path: Path, folder: Path, warnings: list[str]) -> str:
    """``path`` as an embedded figure, if it is a real image inside ``folder``
    (else "" and a warning: see :func:`_read_inside`, :func:`_is_image`)."""
    data = _read_inside(path, folder, MAX_IMAGE_BYTES, warnings)
    if data is None:
        return ""
    if not _is_image(data, path.suffix):
        warnings.append(f"{path}: left out: not a {path.suffix[1:].upper()} image")
        return ""
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f"<figure><img alt='{_e(path.name)}' src='data:{SHOWN[path.suffix]};base64,{encoded}'>"
        f"<figcaption>{_e(path.name)}</figcaption></figure>"
    )


def _read_inside(path: Path, folder: Path, limit: int, warnings: list[str]) -> bytes | None:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes that
    is inside ``folder`` (a symbolic link is followed only if it stays in it);
    else None and a warning. The page is meant to be shared: a file of the
    folder must never bring in one from elsewhere (a plot linked to
    /etc/shadow), and a FIFO or a device is never opened for reading."""
    import os
    import stat

    try:
        real = path.resolve(strict=True)
        if not real.is_relative_to(folder.resolve(strict=True)):
            warnings.append(f"{path}: left out: a symbolic link to a file outside {folder}")
            return None
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                warnings.append(f"{path}: left out: not a regular file")
                return None
            data = handle.read(limit + 1)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop
        warnings.append(f"{path}: left out: cannot read: {getattr(exc, 'strerror', None) or exc}")
        return None
    if len(data) > limit:
        warnings.append(f"{path}: left out: larger than {limit // (1024 * 1024)} MB")
        return None
    return data


def _is_image(data: bytes, suffix: str) -> bool:
    """Whether ``data`` is what its suffix says: a PNG by its signature, an
    SVG by an <svg element near its start (after an XML declaration, a
    doctype or comments)."""
    if suffix == ".png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith((b"<?xml", b"<svg", b"<!--", b"<!DOCTYPE svg")) and b"<svg" in head


def _drawn_loss(run: RunFiles) -> str:
    """A run drawn without plots a page can show (output.plots: false, or PDF
    plots): its loss plot, made here."""
    from optrun.plots.figures import png_bytes, subplots
    from optrun.plots.runs import plot_loss

    fig, ax = subplots(figsize=(8, 4))
    plot_loss(run, None, ax)
    data = base64.b64encode(png_bytes(fig)).decode("ascii")
    return (
        f"<figure><img alt='loss' src='data:image/png;base64,{data}'>"
        "<figcaption>loss (drawn for the report)</figcaption></figure>"
    )


def report_command(paths: Sequence[Path], out: Path, quiet: bool = False, problems: Path | None = None) -> int:
    """``optrun report``: write the page atomically and print its path (not
    with ``quiet``); ``problems``: the user problem files whose descriptions
    the page shows."""
    from optrun.commands.common import load_problems, shown, visible, warn
    from optrun.core.outputs import write_bytes_atomic

    load_problems(problems)
    page, warnings = build_report(list(paths))
    for warning in warnings:
        warn(warning)
    write_bytes_atomic(out, page.encode("utf-8"))
    if not quiet:
        say(visible(f"wrote {shown(out.resolve())} ({len(page) // 1024} KiB)"))
    return 0
