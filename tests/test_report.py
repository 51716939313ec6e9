"""optrun report (optrun/commands/report.py): one self-contained HTML page for
runs, sweeps and bench directories, checked as HTML and in a real headless
Chromium (the Debian package; CI installs it)."""

import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

import optrun
from optrun.cli import app

runner = CliRunner()


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.srcs, self.cells = [], [], []
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag in ("img", "script", "link") and (attrs.get("src") or attrs.get("href")):
            self.srcs.append(attrs.get("src") or attrs.get("href"))
        if tag == "td":
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None


@pytest.fixture
def runs(workdir):
    a = optrun.run(
        {
            "name": "gold",
            "problem": "goldfield",
            "optimizer": {"name": "gd", "step_size": 0.01},
            "stop": {"max_iter": 50},
        }
    )
    b = optrun.run(
        {"name": "trid", "problem": "trid", "optimizer": {"name": "gd", "step_size": 0.1}, "output": {"plots": False}}
    )

    def hostile(x):
        if x < 0.5:
            raise ValueError("<script>alert('x')</script>")
        return (x - 1.0) ** 2

    c = optrun.minimize(hostile, 2.0, "gd", name="hostile", step_size=1.0, output={"plots": False})
    return a, b, c


@pytest.mark.slow
def test_the_page_is_self_contained_and_holds_every_run(workdir, runs):
    result = runner.invoke(app, ["report", "outputs", "--out", "r.html"])
    assert result.exit_code == 0, result.output
    html = (workdir / "r.html").read_text()
    page = Page()
    page.feed(html)
    assert all(src.startswith("data:image/png;base64,") for src in page.srcs) and len(page.srcs) >= 4
    assert "http://" not in html and "https://" not in html  # nothing from the network
    assert {"gold", "trid", "hostile", "converged", "max_iter", "failed"} <= set(page.cells)
    assert (
        "<script>alert" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    )  # user text is text
    assert html.count("<h2>") == 1 + 3  # the table, then one section per run


def test_bad_paths_are_one_line_exit_2(workdir):
    (workdir / "empty").mkdir()
    for args, message in ((["missing"], "missing: not found"), (["empty"], "empty: holds no run directory")):
        result = runner.invoke(app, ["report", *args])
        assert result.exit_code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (workdir / "report.html").exists()


@pytest.mark.slow
def test_a_sweep_folder_brings_its_study_plots(workdir):
    (workdir / "c.yaml").write_text("problem: trid\noptimizer: gd\nstop: {max_iter: 20}\noutput: {plots: false}\n")
    result = runner.invoke(app, ["sweep", "c.yaml", "--grid", "optimizer.step_size=0.05,0.1", "--workers", "1"])
    assert result.exit_code == 0, result.output
    sweep_dir = next(p for p in (workdir / "outputs" / "c").iterdir() if p.name.startswith("sweep-"))
    html, warnings = __import__("optrun.commands.report", fromlist=["build_report"]).build_report([sweep_dir])
    assert not warnings and html.count("data-value='converged'") + html.count("data-value='max_iter'") == 2
    for png in sweep_dir.glob("*.png"):
        assert png.name in html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None, reason="needs the Chromium browser (Debian: apt-get install chromium); CI installs it"
)
def test_chromium_loads_the_page_with_no_console_error(workdir, runs):
    assert runner.invoke(app, ["report", "outputs", "--out", "r.html"]).exit_code == 0
    url = (workdir / "r.html").as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-sortable="ready"' in dom.stdout  # the sorting script ran
    assert len(re.findall(r"<img[^>]+src=\"data:image/png;base64,", dom.stdout)) >= 4
    assert not re.search(r"Uncaught|CONSOLE\(\d+\).*[Ee]rror", dom.stderr), dom.stderr[-2000:]
    shot = workdir / "shot.png"
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,1400", url], capture_output=True, timeout=120
    )
    assert shot.stat().st_size > 20_000  # the table and figures were drawn


SECRET = b"root:$6$very-secret-hash:19000:0:99999:7:::\n"


@pytest.fixture
def shared(workdir):
    """A run folder someone sent: the run, and a secret file outside it."""
    run = optrun.run(
        {"name": "sent", "problem": "trid", "optimizer": {"name": "gd", "step_size": 0.1}, "stop": {"max_iter": 20}}
    )
    secret = workdir / "shadow"
    secret.write_bytes(SECRET)
    return run.run_dir, secret


def _report(path, workdir):
    result = runner.invoke(app, ["report", str(path), "--out", "r.html"])
    assert result.exit_code == 0, result.output
    return (workdir / "r.html").read_text(), result.stderr


@pytest.mark.slow
def test_a_plot_linked_to_a_file_outside_the_folder_is_not_embedded(workdir, shared):
    """Issue 28, point 11: loss.png -> /etc/shadow ended up base64 in the page."""
    import base64

    run_dir, secret = shared
    (run_dir / "loss.png").unlink()
    (run_dir / "loss.png").symlink_to(secret)
    html, stderr = _report(run_dir, workdir)
    assert base64.b64encode(SECRET).decode() not in html and "very-secret" not in html
    assert "loss.png: left out: a symbolic link to a file outside" in " ".join(stderr.split())
    assert "params.png" in html  # the run's own plots are still there


@pytest.mark.slow
def test_a_run_linked_outside_is_left_out_and_study_images_are_checked(workdir, shared):
    """A run whose config.yaml links outside is left out; a sweep folder's study image
    that links outside, is not an image, or is a FIFO, is left out with a warning."""
    import base64
    import os

    run_dir, secret = shared
    outside = workdir / "elsewhere.yaml"  # YAML, so the run is still read
    outside.write_text((run_dir / "config.yaml").read_text() + "# very-secret note\n")
    (run_dir / "config.yaml").unlink()
    (run_dir / "config.yaml").symlink_to(outside)
    study = run_dir.parent
    optrun.run(  # a second run of the study, whose files are its own
        {"name": "sent", "problem": "trid", "optimizer": {"name": "gd", "step_size": 0.2}, "stop": {"max_iter": 20}}
    )
    (study / "secret.png").symlink_to(secret)
    (study / "fake.png").write_bytes(SECRET)
    (study / "drawing.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    os.mkfifo(study / "pipe.png")
    html, stderr = _report(study, workdir)
    stderr = " ".join(stderr.split())
    assert base64.b64encode(SECRET).decode() not in html and "very-secret" not in html
    assert "secret.png: left out: a symbolic link to a file outside" in stderr
    assert "fake.png: left out: not a PNG image" in stderr
    assert "pipe.png: left out: not a regular file" in stderr
    # the run whose config.yaml links out is left out whole: none of its values reach the page
    assert f"{run_dir}: left out: config.yaml is a symbolic link out of the run directory" in stderr
    assert "drawing.svg" in html and "data:image/svg+xml;base64," in html


@pytest.mark.slow
def test_an_oversized_image_is_left_out(workdir, shared, monkeypatch):
    from optrun.commands import report

    run_dir, _ = shared
    monkeypatch.setattr(report, "MAX_IMAGE_BYTES", 1000)
    html, warnings = report.build_report([run_dir])
    assert any("loss.png: left out: larger than" in w for w in warnings)
    assert "alt='loss.png'" not in html


@pytest.mark.slow
@pytest.mark.parametrize("name", ["summary.json", "trace.csv"])
def test_a_run_whose_results_link_outside_is_left_out(workdir, shared, name):
    """Values read through a link out of the run (a summary or trace someone
    else's) never reach the shared page."""
    run_dir, _ = shared
    elsewhere = workdir / f"elsewhere-{name}"
    elsewhere.write_bytes((run_dir / name).read_bytes().replace(b"sent", b"very-secret"))
    (run_dir / name).unlink()
    (run_dir / name).symlink_to(elsewhere)
    other = optrun.run({"name": "kept", "problem": "trid", "optimizer": "gd", "stop": {"max_iter": 5}})
    from optrun.commands.report import build_report

    html, warnings = build_report([run_dir, other.run_dir])
    assert f"{run_dir}: left out: {name} is a symbolic link out of the run directory" in warnings
    assert "very-secret" not in html and "kept" in html
