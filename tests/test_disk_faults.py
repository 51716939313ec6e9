"""Real I/O faults on real filesystems: a tiny tmpfs that fills up, one that
runs out of inodes, and read-only mounts. Every command that hits one exits 1
with exactly one line on stderr and no traceback; trace.csv only ever holds
complete rows; and no half-written directory is left behind (a run folder is
either gone, or readable by show/plot/compare like a failed or killed run).
"""

import csv
import json
import os
import subprocess

import pytest
from helpers import run_cli

pytestmark = pytest.mark.slow

# ~85-byte rows (no parameter columns): the first flush (at most 2000 rows)
# fits in 200k, the second does not.
LONG = (
    "problem: {name: trid, dim: 2}\noptimizer: {name: gd, step_size: 1.0e-9}\n"
    "stop: {max_iter: 100000000, grad_tol: null}\noutput: {plots: false, param_columns: 0, dir: disk}\n"
)
SHORT = (
    "problem: {name: trid, dim: 2}\noptimizer: {name: gd, step_size: 1.0e-9}\n"
    "stop: {max_iter: 3000, grad_tol: null}\noutput: {plots: false, param_columns: 0, dir: disk}\n"
)


@pytest.fixture
def tmpfs(workdir):
    """mount(options, name='disk') mounts a fresh tmpfs under the test folder;
    every mount is lazily unmounted at teardown, whatever the test did."""
    mounted = []

    def mount(options: str, name: str = "disk"):
        path = workdir / name
        path.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def fill(folder):
    """Write a filler file until the disk is full; returns it (delete it to free the space)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def one_error(result, *texts):
    """Exit 1, exactly one stderr line 'error: ...' holding every text; returns the line."""
    assert result.returncode == 1, (result.returncode, result.stdout[-2000:], result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for text in texts:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def complete_rows(trace):
    """trace.csv ends at a row boundary and every row has the header's fields; returns the rows."""
    data = trace.read_bytes()
    assert data.endswith(b"\n"), data[-200:]
    rows = list(csv.reader(data.decode().splitlines()))
    assert rows and rows[0][:2] == ["iter", "f"]
    assert all(len(r) == len(rows[0]) for r in rows[1:])
    assert [int(r[0]) for r in rows[1:]] == list(range(len(rows) - 1))
    return rows[1:]


def run_folders(root, name="c"):
    parent = root / name
    return sorted(p for p in parent.iterdir() if p.is_dir()) if parent.exists() else []


def no_temp_files(root):
    assert [p for p in root.rglob("*.tmp")] == []


def test_a_disk_filled_by_another_process_still_takes_the_summary(workdir, tmpfs):
    """Another process takes every free byte while a run writes its trace: the trace's next write fails with
    nothing to cut back that would free a page, and summary.json still fits, in the room the trace writer held for
    it (trace.SUMMARY_ROOM, given back when the trace fails). Without that room the run was left like a killed one."""
    import sys
    import time

    from helpers import REPO

    disk = tmpfs("size=400k")
    (workdir / "c.yaml").write_text(LONG)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "optrun", "run", "c.yaml", "-q"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    def rows_written() -> bool:  # the header and a first flush of rows: the run is past setting up
        return any(p.read_bytes().count(b"\n") > 1 for p in disk.glob("c/*/trace.csv"))

    while not rows_written() and time.monotonic() < deadline:
        time.sleep(0.02)
    fill(disk)  # the disk is full to its last page; the trace's next flush (within half a second) fails
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in stderr, stderr
    assert "and the run is recorded as failed in summary.json" in stderr, stderr
    [run] = run_folders(disk)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["io_error"] == "cannot write the trace: No space left on device"
    assert summary["nit"] >= len(complete_rows(run / "trace.csv"))  # only complete rows; the run went on past them
    no_temp_files(disk)


def test_disk_fills_mid_run_trace_cut_back_summary_failed_and_readable(workdir, tmpfs):
    disk = tmpfs("size=200k")
    (workdir / "c.yaml").write_text(LONG)
    line = one_error(
        run_cli("run", "c.yaml", "-q", cwd=workdir),
        "trace.csv: cannot write the trace: No space left on device; trace.csv keeps its",
        "and the run is recorded as failed in summary.json",
    )
    [run] = run_folders(disk)
    rows = complete_rows(run / "trace.csv")
    assert f"keeps its {len(rows)} complete rows" in line and len(rows) > 100
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["io_error"] == "cannot write the trace: No space left on device"
    assert summary["nit"] >= len(rows) and "at iteration" in summary["message"]
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "summary.json", "trace.csv"]
    no_temp_files(disk)

    # readable afterwards, even with the disk still full
    filler = fill(disk)
    shown = run_cli("show", run, cwd=workdir)
    assert shown.returncode == 0 and "failed" in shown.stdout and shown.stderr == "", shown.stderr
    compared = run_cli("compare", run, "--out", workdir / "cmp.png", cwd=workdir)
    assert compared.returncode == 0 and (workdir / "cmp.png").stat().st_size > 0, compared.stderr
    assert "failed" in (workdir / "cmp.csv").read_text()
    # plot (and compare) into the full disk: one line, no half-written PNG
    one_error(run_cli("plot", run, cwd=workdir), "loss.png: cannot write: No space left on device")
    one_error(run_cli("compare", run, "--out", disk / "cmp.png", cwd=workdir), "cannot write: No space left on device")
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "summary.json", "trace.csv"]
    assert not (disk / "cmp.png").exists() and not (disk / "cmp.csv").exists()
    no_temp_files(disk)
    filler.unlink()
    remount(disk, "size=10m")  # space freed: the plots can be drawn
    plotted = run_cli("plot", run, cwd=workdir)
    assert plotted.returncode == 0, plotted.stderr
    assert "loss.png" in {p.name for p in run.iterdir()}


def test_disk_and_inodes_full_leaves_a_killed_like_run(workdir, tmpfs):
    # 5 inodes: the root, c/, the run folder, config.yaml, trace.csv: none left for summary.json
    disk = tmpfs("size=200k,nr_inodes=5")
    (workdir / "c.yaml").write_text(LONG)
    one_error(
        run_cli("run", "c.yaml", "-q", cwd=workdir),
        "cannot write the trace: No space left on device",
        "summary.json could not be written either",
        "left like a killed run",
    )
    [run] = run_folders(disk)
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "trace.csv"]
    rows = complete_rows(run / "trace.csv")
    shown = run_cli("show", run, cwd=workdir)
    assert shown.returncode == 0 and "no summary.json" in shown.stdout, shown.stderr
    if rows:
        assert f"last trace row: iteration {len(rows) - 1}" in shown.stdout
    compared = run_cli("compare", run, "--out", workdir / "cmp.png", cwd=workdir)
    assert compared.returncode == 0 and "incomplete" in (workdir / "cmp.csv").read_text(), compared.stderr


def test_no_inode_for_the_summary_of_a_finished_run(workdir, tmpfs):
    # 5 inodes: the root, c/, the run folder, config.yaml, trace.csv; the trace fits, summary.json does not
    disk = tmpfs("size=10m,nr_inodes=5")
    (workdir / "c.yaml").write_text(SHORT)
    one_error(
        run_cli("run", "c.yaml", "-q", cwd=workdir),
        "summary.json: cannot write: No space left on device; the run ended (max_iter) but has no summary",
        "like a killed run",
    )
    [run] = run_folders(disk)
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "trace.csv"]
    assert len(complete_rows(run / "trace.csv")) == 3001
    shown = run_cli("show", run, cwd=workdir)
    assert shown.returncode == 0 and "last trace row: iteration 3000" in shown.stdout, shown.stderr


@pytest.mark.parametrize(
    "options, text",
    [
        ("size=200k,nr_inodes=2", "cannot create the run directory: No space left on device"),
        (
            "size=200k,nr_inodes=3",
            "config.yaml: cannot write: No space left on device; nothing was recorded (the run directory was removed)",
        ),
        ("size=200k,nr_inodes=4", "trace.csv: cannot create the trace: No space left on device; nothing was recorded"),
        ("size=4k", "trace.csv: cannot write the trace: No space left on device; nothing was recorded"),
    ],
    ids=["no-inode-for-the-folder", "no-inode-for-config", "no-inode-for-trace", "no-space-for-the-header"],
)
def test_run_that_cannot_be_set_up_leaves_no_directory(workdir, tmpfs, options, text):
    disk = tmpfs(options)
    (workdir / "c.yaml").write_text(LONG)
    one_error(run_cli("run", "c.yaml", "-q", cwd=workdir), text)
    assert run_folders(disk) == []
    no_temp_files(disk)


@pytest.mark.long
def test_sweep_on_a_full_disk_then_resumed_after_freeing_space(workdir, tmpfs):
    disk = tmpfs("size=200k")
    (workdir / "c.yaml").write_text(SHORT)
    result = run_cli("sweep", "c.yaml", "--seeds", "2", "--set", "init.kind=normal", "-w", "1", cwd=workdir)
    line = one_error(result)
    # sweep.csv could not be written (the usual case), or it was and lists the runs the disk stopped
    assert (
        "sweep.csv: cannot write: No space left on device (the runs are kept: finish with optrun sweep --resume" in line
        or line == "error: 2 runs could not run; see the message column of sweep.csv"
    ), line
    [sweep] = run_folders(disk)
    assert (sweep / "sweep.json").is_file()
    for run in sweep.glob("run-*"):  # each run folder is gone or readable, with complete rows
        complete_rows(run / "trace.csv")
        assert run_cli("show", run, cwd=workdir).returncode == 0
    assert not (sweep / "sweep.png").exists() or (sweep / "sweep.png").stat().st_size > 0
    no_temp_files(disk)

    remount(disk, "size=10m")  # space freed: --resume redoes the runs the disk stopped
    resumed = run_cli("sweep", "--resume", sweep, "-w", "1", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    rows = list(csv.DictReader(open(sweep / "sweep.csv")))
    assert [r["status"] for r in rows] == ["max_iter", "max_iter"]
    for run in sorted(sweep.glob("run-*")):
        assert len(complete_rows(run / "trace.csv")) == 3001
        assert "io_error" not in json.loads((run / "summary.json").read_text())
    compared = run_cli("compare", sweep, "--out", workdir / "cmp.png", cwd=workdir)
    assert compared.returncode == 0, compared.stderr


def test_sweep_without_an_inode_for_sweep_json_leaves_nothing(workdir, tmpfs):
    disk = tmpfs("nr_inodes=3")  # the root, c/, the sweep folder
    (workdir / "c.yaml").write_text(SHORT)
    one_error(
        run_cli("sweep", "c.yaml", "--seeds", "2", "--set", "init.kind=normal", "-w", "1", cwd=workdir),
        "sweep.json: cannot write: No space left on device; nothing was recorded",
    )
    assert run_folders(disk) == []


@pytest.mark.parametrize("unfinished", [False, True], ids=["all-finished", "one-unfinished"])
def test_sweep_resume_on_a_read_only_folder(workdir, tmpfs, unfinished):
    disk = tmpfs("size=10m")
    (workdir / "c.yaml").write_text(SHORT)
    assert (
        run_cli("sweep", "c.yaml", "--seeds", "2", "--set", "init.kind=normal", "-w", "1", cwd=workdir).returncode == 0
    )
    [sweep] = run_folders(disk)
    if unfinished:
        (sweep / "run-0002" / "summary.json").unlink()  # like a killed run
    before = sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in sweep.rglob("*"))
    remount(disk, "ro")
    one_error(
        run_cli("sweep", "--resume", sweep, "-w", "1", cwd=workdir),
        "cannot write in the sweep folder: Read-only file system",
    )
    remount(disk, "rw")
    assert sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in sweep.rglob("*")) == before


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_check_junit_report_that_cannot_be_written(workdir, tmpfs, fault):
    disk = tmpfs("size=200k")
    (workdir / "ok.yaml").write_text(
        "problem: trid\noptimizer: {name: gd, step_size: 0.1}\nexpect: {status: converged}\n"
    )
    if fault == "full":
        fill(disk)
    else:
        remount(disk, "ro")
    result = run_cli("check", "ok.yaml", "--junit", disk / "report.xml", cwd=workdir)
    one_error(
        result,
        "report.xml: cannot write the JUnit report:",
        "No space left on device" if fault == "full" else "Read-only file system",
    )
    assert not (disk / "report.xml").exists()
    assert [p.name for p in disk.iterdir()] == (["filler"] if fault == "full" else [])


def test_plot_in_a_read_only_run_folder(workdir, tmpfs):
    disk = tmpfs("size=10m")
    (workdir / "c.yaml").write_text(SHORT)
    assert run_cli("run", "c.yaml", "-q", cwd=workdir).returncode == 0
    [run] = run_folders(disk)
    remount(disk, "ro")
    one_error(run_cli("plot", run, cwd=workdir), "loss.png: cannot write: Read-only file system")
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "summary.json", "trace.csv"]
    assert run_cli("show", run, cwd=workdir).returncode == 0


def test_run_whose_plots_do_not_fit_is_recorded_with_one_warning(workdir, tmpfs):
    """The run's own files fit but its plots do not: the run is recorded (exit
    status of the run), one warning names the failure, and no PNG is half-written."""
    disk = tmpfs("size=64k")
    (workdir / "c.yaml").write_text(
        "problem: {name: trid, dim: 2}\noptimizer: {name: gd, step_size: 0.1}\noutput: {dir: disk}\n"
    )
    result = run_cli("run", "c.yaml", "-q", cwd=workdir)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("warning: ")
        and "cannot write: No space left on device; plots not drawn" in lines[0]
    )
    [run] = run_folders(disk)
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "summary.json", "trace.csv"]
    assert json.loads((run / "summary.json").read_text())["status"] == "converged"
    complete_rows(run / "trace.csv")
    no_temp_files(disk)


def test_check_update_on_a_full_disk_leaves_the_config_as_it_was(workdir, tmpfs):
    """`check --update` rewrites the user's own config: on a full disk the rewrite fails in one line and the file
    is byte for byte what it was (written beside and renamed, never truncated first)."""
    disk = tmpfs("size=64k")
    config = disk / "u.yaml"
    text = (
        "# Trid 2-D; minimum (2, 2), f* = -2\nproblem: trid\noptimizer: {name: gd, step_size: 0.1}\n"
        "stop: {max_iter: 1000, grad_tol: 1.0e-10}\noutput: {dir: " + str(workdir / "out") + "}\n"
        "expect:\n  fun: -1.5      # was measured by hand\n  params: {x: [2.0, 2.5]}\n  status: converged\n"
    )
    # one 4096-byte page to within a few bytes: the rewrite (x's 17-digit values) needs a second page, which the
    # full disk does not have, so writing it in place would cut the file off mid-way
    config.write_text(text + "#" * (4090 - len(text) - 1) + "\n")
    before = config.read_bytes()
    filler = fill(disk)
    result = run_cli("check", config, "--update", "--workers", "1", cwd=workdir)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert "No space left on device" in result.stdout + result.stderr
    assert config.read_bytes() == before
    no_temp_files(disk)
    filler.unlink()  # with room, the same command rewrites it
    assert run_cli("check", config, "--update", "--workers", "1", cwd=workdir).returncode == 0
    assert "fun: -2" in config.read_text() and "# was measured by hand" in config.read_text()
    assert "params: {x: [1.9" in config.read_text()


def test_parquet_trace_on_a_full_disk_is_removed_and_the_run_recorded_failed(workdir, tmpfs, monkeypatch):
    """trace.parquet fills the disk mid-run: a row group half written cannot
    be cut back as a CSV row can, so the file goes (when the footer, tried in
    the room the writer held, does not give a file that reads back whole) and
    summary.json records the failure; nothing half-written is left."""
    from typer.testing import CliRunner

    import optrun.core.trace_files as files
    from optrun.cli import app

    monkeypatch.setattr(files, "ROW_GROUP_BYTES", 8 * 8 * 2000)  # 2000 rows of 8 columns a row group
    disk = tmpfs("size=300k")
    (workdir / "c.yaml").write_text(LONG.replace("dir: disk}", "dir: disk, trace_format: parquet}"))
    result = CliRunner().invoke(app, ["run", "c.yaml", "-q"])
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "trace.parquet: cannot write the trace: No space left on device;" in result.stderr
    assert result.stderr.strip().endswith("and the run is recorded as failed in summary.json"), result.stderr
    [run] = run_folders(disk)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["io_error"] == "cannot write the trace: No space left on device"
    if (run / "trace.parquet").exists():  # the footer fitted: what it holds reads back whole
        from optrun.core.trace import read_trace

        kept = int(result.stderr.split("keeps its ")[1].split()[0])
        assert kept >= 2000 and read_trace(run)["iter"].tolist() == list(range(kept))
    else:
        assert "trace.parquet was removed" in result.stderr
    assert {p.name for p in run.iterdir()} <= {"config.yaml", "summary.json", "trace.parquet"}
    no_temp_files(disk)
