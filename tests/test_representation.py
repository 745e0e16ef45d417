"""The transferable-representation reproduction: its pieces and a quick run."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fairjax
from fairjax import cli
from fairjax.reproductions import representation as rep

KEYS = {"dataset", "task", "held_out", "penalty", "strength", "accuracy",
        "demographic_parity_difference", "equal_opportunity_difference",
        "accuracy_std", "demographic_parity_difference_std",
        "equal_opportunity_difference_std"}


def test_fit_head_matches_fit_logistic_regression():
  rng = np.random.default_rng(0)
  z = np.tanh(rng.normal(size=(2_000, 8))).astype(np.float32)
  y = (z @ rng.normal(size=8) + 0.5 * rng.normal(size=2_000) > 0.2)
  y = y.astype(np.int32)
  theta = np.asarray(jax.jit(rep.fit_head)(jnp.asarray(z), jnp.asarray(y)))
  ref = fairjax.fit_logistic_regression(z, y, l2=rep.HEAD_L2)
  np.testing.assert_allclose(theta[:-1], ref.weights, rtol=2e-3, atol=2e-3)
  np.testing.assert_allclose(theta[-1], ref.bias, atol=2e-3)
  agree = np.mean((z @ theta[:-1] + theta[-1] > 0)
                  == np.asarray(fairjax.decision_function(ref, z) > 0))
  assert agree > 0.998


def _res(val_none, val_mmd):
  return {"none": {"val_accuracy": np.array([[val_none]])},
          "mmd": {"val_accuracy": np.array([val_mmd]),
                  "strengths": (1.0, 2.0, 4.0)}}


@pytest.mark.parametrize("val_mmd,expected", [
    ([0.80, 0.795, 0.70], 1),   # largest strength within 1 point
    ([0.80, 0.70, 0.795], 2),   # not monotone: still the largest that holds
    ([0.70, 0.60, 0.50], 0),    # none holds: the smallest strength
])
def test_selection_rule(val_mmd, expected):
  assert rep.choose_strength(_res(0.80, val_mmd), "mmd") == expected


def test_goal_check():
  def row(task, penalty, acc, ddp):
    return dict(dataset="d", task=task, held_out=True, penalty=penalty,
                accuracy=acc, demographic_parity_difference=ddp)
  rows = [row("a", "none", 0.80, 0.20), row("a", "mmd", 0.79, 0.09),
          row("a", "sinkhorn", 0.77, 0.05), row("b", "none", 0.9, 0.001),
          row("b", "mmd", 0.9, 0.0)]
  checks = {(c["task"], c["penalty"]): c for c in rep.goal_check(rows)}
  assert checks["a", "mmd"]["meets_goal"] is True
  assert checks["a", "sinkhorn"]["meets_goal"] is False  # 3 points lost
  assert checks["b", "mmd"]["meets_goal"] is None  # nothing to halve
  assert checks["a", "mmd"]["ddp_ratio"] == pytest.approx(0.45)


def test_penalties_are_finite_with_an_absent_group():
  z = jnp.tanh(jax.random.normal(jax.random.key(0), (16, rep.D_REP)))
  s = jnp.zeros((16,), jnp.int32)  # group 1 absent from the batch
  Y = jnp.ones((16, 2), jnp.int32)
  for name, notion in (("mmd", "demographic_parity"),
                       ("mmd", "equal_opportunity"),
                       ("sinkhorn", "demographic_parity")):
    fn = rep.penalty_fn(name, notion)
    value, grad = jax.value_and_grad(lambda z, fn=fn: fn(z, s, Y))(z)
    assert float(value) == 0.0 and bool(jnp.all(jnp.isfinite(grad)))


def test_quick_run(tmp_path):
  """``fairjax reproduce representation --quick``: the documented output."""
  assert cli.main(["reproduce", "representation", "--quick", "--out",
                   str(tmp_path)]) == 0
  rows = json.loads((tmp_path / "results.json").read_text())
  assert isinstance(rows, list) and rows
  assert {r["penalty"] for r in rows} == {"none", "mmd", "sinkhorn"}
  assert {r["held_out"] for r in rows} == {True, False}
  train_tasks, held_tasks = rep.SETUPS["compas"][2:]
  for r in rows:
    assert KEYS <= set(r)
    assert isinstance(r["held_out"], bool)
    assert r["held_out"] == (r["task"] in held_tasks)
    assert r["task"] in train_tasks + held_tasks
    assert (r["strength"] == 0) == (r["penalty"] == "none")
    for key in KEYS - {"dataset", "task", "held_out", "penalty", "strength"}:
      assert 0.0 <= r[key] <= 1.0, (key, r)
    assert r["accuracy"] > 0.5  # better than chance on every task
  curves = json.loads((tmp_path / "curves.json").read_text())
  assert {c["task"] for c in curves} == set(held_tasks)
  assert (tmp_path / "laftr_curve.png").stat().st_size > 1_000
  meta = json.loads((tmp_path / "run.json").read_text())
  assert "Largest strength" in meta["selection_rule"]
  assert len(meta["goal"]) == 2 * len(held_tasks)
  assert "| compas |" in (tmp_path / "results.md").read_text()


def test_listed():
  assert "representation" in cli._reproductions()
