"""The representation-learning notebook, run small: gaps fall with strength.

Executes the code cells of ``notebooks/representation_learning.ipynb`` with a
reduced sweep (the notebook reads ``STEPS``, ``BATCH`` and ``STRENGTHS`` from
its globals when set) on the real Adult data, and checks that the
demographic-parity gaps of the representation and of the predictions fall
when the MMD penalty is switched on.
"""

import json
import pathlib

NOTEBOOK = (pathlib.Path(__file__).parent.parent / "notebooks"
            / "representation_learning.ipynb")


def test_penalty_lowers_the_gaps():
  cells = json.loads(NOTEBOOK.read_text())["cells"]
  namespace = {"__name__": "__main__", "STEPS": 120, "BATCH": 256,
               "STRENGTHS": (0.0, 10.0)}
  for i, cell in enumerate(cells):
    if cell["cell_type"] == "code":
      exec(compile("".join(cell["source"]), f"cell {i}", "exec"), namespace)
  off, on = namespace["results"][0.0], namespace["results"][10.0]
  assert off["dp_gap"] > 0.05  # Adult's income model is far from parity
  assert on["dp_gap"] < 0.5 * off["dp_gap"]
  assert on["mmd_z"] < 0.2 * off["mmd_z"]
  assert on["mean_gap_z"] < 0.5 * off["mean_gap_z"]
  assert on["accuracy"] > 0.7
