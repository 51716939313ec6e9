"""examples/tour.ipynb runs top to bottom in a real Jupyter kernel (nbclient,
a test extra); any cell error fails the test."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_tour_notebook_runs(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")  # installed by pip install -e ".[test]"
    import nbformat

    notebook = nbformat.read(REPO / "examples" / "tour.ipynb", as_version=4)
    monkeypatch.chdir(REPO)  # the notebook finds configs/ from the repository (or examples/)
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    (tmp_path / "configs").symlink_to(REPO / "configs")
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [o for o in outputs if "text/html" in o.get("data", {})]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert html and "max_iter" in html[0]["data"]["text/html"]  # the descent's summary table
    assert len(images) >= 3  # loss, fit, the comparison
