"""Executes every notebook's code cells top to bottom (no kernel needed)."""

import json
import pathlib

import matplotlib
import pytest

# test_training_example.py runs representation_learning.ipynb with a reduced
# sweep and checks its results; running it again at full size adds nothing.
NOTEBOOKS = sorted(
    p for p in (pathlib.Path(__file__).parent.parent / "notebooks").glob(
        "*.ipynb")
    if p.stem != "representation_learning"
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
  matplotlib.use("Agg")
  monkeypatch.chdir(path.parent)
  cells = json.loads(path.read_text())["cells"]
  code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
  namespace = {"__name__": "__main__"}
  for i, src in enumerate(code):
    exec(compile(src, f"{path.name}[cell {i}]", "exec"), namespace)
