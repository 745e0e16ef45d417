"""Notebook 01 (an MMD penalty in a Flax NNX loop), quick: gaps fall.

Executes the code cells of ``notebooks/01_penalty_training_loop.ipynb`` in
quick mode (``FAIRJAX_QUICK=1``: 120 steps of 256 rows, strengths 0 and 10)
on the real Adult data, and checks that the demographic-parity gaps of the
representation and of the predictions fall when the MMD penalty is on.
"""

import jax

from test_notebooks import ROOT, run_notebook

NOTEBOOK = ROOT / "notebooks" / "01_penalty_training_loop.ipynb"


def test_penalty_lowers_the_gaps(monkeypatch, tmp_path):
  namespace = run_notebook(NOTEBOOK, monkeypatch, tmp_path)
  assert namespace["devices"] == str(jax.devices())
  assert namespace["STRENGTHS"] == (0.0, 10.0)
  off, on = namespace["results"][0.0], namespace["results"][10.0]
  assert off["dp_gap"] > 0.05  # Adult's income model is far from parity
  assert on["dp_gap"] < 0.5 * off["dp_gap"]
  assert on["mmd_z"] < 0.2 * off["mmd_z"]
  assert on["mean_gap_z"] < 0.5 * off["mean_gap_z"]
  assert on["accuracy"] > 0.7
