"""Rate states: hard metrics, streaming, sharding, proxies and gradients."""

import os
import pathlib
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fairjax
from fairjax import _rates

G = 3


def _data(rng, n=500, groups=G):
  s = rng.integers(0, groups, n)
  y = rng.integers(0, 2, n)
  p = rng.integers(0, 2, n)
  return s, y, p


def _same(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_hard_state_is_the_cell_table_and_audit():
  s, y, p = _data(np.random.default_rng(0))
  st = fairjax.rate_state(y, p, sensitive_features=s)
  cells = fairjax._groups.cell_counts(s, y, p)
  np.testing.assert_array_equal(_rates.state_to_cells(st), cells)
  _same(fairjax.audit_from_state(st), fairjax.audit(y, p, sensitive_features=s))


@pytest.mark.parametrize("notion,metric", [
    ("demographic_parity", fairjax.demographic_parity_difference),
    ("equal_opportunity", fairjax.equal_opportunity_difference),
    ("equalized_odds", fairjax.equalized_odds_difference),
])
@pytest.mark.parametrize("method", ["between_groups", "to_overall"])
def test_difference_and_gaps_match_metrics(notion, metric, method):
  s, y, p = _data(np.random.default_rng(1))
  w = np.random.default_rng(2).random(s.shape[0]).astype(np.float32)
  st = fairjax.rate_state(y, p, sensitive_features=s, sample_weight=w)
  ref = metric(y, p, sensitive_features=s, sample_weight=w, method=method)
  np.testing.assert_allclose(
      fairjax.difference_from_state(st, notion=notion, method=method), ref,
      rtol=1e-5)
  gaps = fairjax.rate_gaps(st, notion=notion, method=method)
  assert gaps.shape == (fairjax.num_rate_gaps(G, notion=notion,
                                              method=method),)
  np.testing.assert_allclose(gaps.max(), ref, rtol=1e-5)


def test_group_rates_match_numpy_and_fairlearn():
  from fairlearn.metrics import (MetricFrame, false_positive_rate,
                                 selection_rate, true_positive_rate)
  s, y, _ = _data(np.random.default_rng(3))
  prob = np.random.default_rng(4).random(s.shape[0]).astype(np.float32)
  r = fairjax.group_rates(fairjax.rate_state(y, prob, sensitive_features=s))
  for g in range(G):
    m = s == g
    np.testing.assert_allclose(r.selection_rate[g], prob[m].mean(), rtol=1e-5)
    np.testing.assert_allclose(r.true_positive_rate[g],
                               prob[m & (y == 1)].mean(), rtol=1e-5)
    np.testing.assert_allclose(r.false_positive_rate[g],
                               prob[m & (y == 0)].mean(), rtol=1e-5)
  np.testing.assert_allclose(r.pooled_selection_rate, prob.mean(), rtol=1e-5)
  hard = (prob > 0.5).astype(int)
  rh = fairjax.group_rates(fairjax.rate_state(y, hard, sensitive_features=s))
  mf = MetricFrame(metrics={"sr": selection_rate, "tpr": true_positive_rate,
                            "fpr": false_positive_rate},
                   y_true=y, y_pred=hard, sensitive_features=s)
  np.testing.assert_allclose(rh.selection_rate, mf.by_group["sr"], rtol=1e-6)
  np.testing.assert_allclose(rh.true_positive_rate, mf.by_group["tpr"],
                             rtol=1e-6)
  np.testing.assert_allclose(rh.false_positive_rate, mf.by_group["fpr"],
                             rtol=1e-6)


def test_streaming_100_minibatches_is_exact():
  s, y, p = _data(np.random.default_rng(5), n=5000)
  step = jax.jit(lambda st, y, p, s: st + fairjax.rate_state(
      y, p, sensitive_features=s, num_groups=G))
  st = fairjax.rate_state(y[:0], p[:0], sensitive_features=s[:0],
                          num_groups=G)
  for b in np.array_split(np.arange(5000), 100):
    st = step(st, y[b], p[b], s[b])
  whole = fairjax.rate_state(y, p, sensitive_features=s)
  _same(st, whole)
  _same(fairjax.audit_from_state(st), fairjax.audit(y, p, sensitive_features=s))
  parts = [fairjax.rate_state(y[b], p[b], sensitive_features=s[b],
                              num_groups=G)
           for b in np.array_split(np.arange(5000), 7)]
  _same(fairjax.combine_rate_states(*parts), whole)
  _same(jax.tree.map(jnp.add, parts[0], parts[1]), parts[0] + parts[1])


def test_streaming_weighted_probabilities_close():
  rng = np.random.default_rng(6)
  s, y, _ = _data(rng, n=2000)
  prob = rng.random(2000).astype(np.float32)
  w = rng.random(2000).astype(np.float32)
  parts = [fairjax.rate_state(y[b], prob[b], sensitive_features=s[b],
                              sample_weight=w[b], num_groups=G)
           for b in np.array_split(np.arange(2000), 100)]
  whole = fairjax.rate_state(y, prob, sensitive_features=s, sample_weight=w)
  tot = fairjax.combine_rate_states(*parts)
  for a, b in zip(tot, whole, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_absent_group_grad_finite_and_jit_vmap():
  rng = np.random.default_rng(7)
  s = np.minimum(rng.integers(0, G, 50), 1)  # group 2 absent
  y = rng.integers(0, 2, 50)
  logits = rng.normal(size=50).astype(np.float32)

  def f(z, bound):
    st = fairjax.rate_state(y, jax.nn.sigmoid(z), sensitive_features=s,
                            num_groups=G)
    return jnp.sum(jax.nn.relu(fairjax.rate_gaps(
        st, notion="equalized_odds") - bound))

  g = jax.jit(jax.grad(f))(logits, 0.0)
  assert np.all(np.isfinite(g)) and np.any(g != 0)
  bounds = jnp.linspace(0.0, 0.1, 4)
  out = jax.vmap(f, (None, 0))(logits, bounds)
  np.testing.assert_allclose(out, [f(logits, b) for b in bounds], rtol=1e-6)


def test_bfloat16_probabilities_accumulate_in_float32():
  s, y, _ = _data(np.random.default_rng(8))
  prob = jnp.asarray(np.random.default_rng(9).random(s.shape[0]),
                     jnp.bfloat16)
  st = fairjax.rate_state(y, prob, sensitive_features=s)
  assert st.weights.dtype == jnp.float32
  ref = fairjax.rate_state(y, prob.astype(jnp.float32), sensitive_features=s)
  np.testing.assert_allclose(st.weighted_predictions,
                             ref.weighted_predictions, rtol=1e-6)


def test_bad_input():
  s, y, p = _data(np.random.default_rng(10), n=20)
  with pytest.raises(ValueError, match="y_pred"):
    fairjax.rate_state(y, p + 2, sensitive_features=s)
  with pytest.raises(ValueError, match="y_true"):
    fairjax.rate_state(y[:5], p, sensitive_features=s)
  with pytest.raises(ValueError, match="num_groups"):
    jax.jit(lambda s: fairjax.rate_state(None, p, sensitive_features=s))(s)
  with pytest.raises(TypeError, match="RateState"):
    fairjax.audit_from_state((1, 2))
  with pytest.raises(ValueError, match="notion"):
    fairjax.rate_gaps(fairjax.rate_state(y, p, sensitive_features=s),
                      notion="parity")
  with pytest.raises(ValueError, match="at least one"):
    fairjax.combine_rate_states()


_SHARDED = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import fairjax
    assert jax.device_count() == 8, jax.devices()
    rng = np.random.default_rng(0)
    n, G = 8 * 1000, 4
    s = rng.integers(0, G, n).astype(np.int32)
    y = rng.integers(0, 2, n).astype(np.int32)
    p = rng.integers(0, 2, n).astype(np.int32)
    logit = rng.normal(size=n).astype(np.float32)
    mesh = Mesh(np.array(jax.devices()), ("data",))
    put = lambda x: jax.device_put(x, NamedSharding(mesh, P("data")))

    @jax.jit
    def everything(y, p, s, logit):
      hard = fairjax.rate_state(y, p, sensitive_features=s, num_groups=G)
      proxy = fairjax.rate_state(y, jax.nn.sigmoid(logit),
                                 sensitive_features=s, num_groups=G)
      out = dict(hard=hard, proxy=proxy,
                 audit=fairjax.audit_from_state(hard))
      for notion in ("demographic_parity", "equal_opportunity",
                     "equalized_odds"):
        for method in ("between_groups", "to_overall"):
          out[notion + method] = (
              fairjax.difference_from_state(hard, notion=notion,
                                            method=method),
              fairjax.rate_gaps(proxy, notion=notion, method=method))
      out["mean_gap"] = fairjax.mean_gap_penalty(
          jax.nn.sigmoid(logit), sensitive_features=s, labels=y,
          notion="equalized_odds", num_groups=G)
      out["grad"] = jax.grad(lambda z: jnp.sum(jax.nn.relu(fairjax.rate_gaps(
          fairjax.rate_state(y, jax.nn.sigmoid(z), sensitive_features=s,
                             num_groups=G)))))(logit)
      return out

    ref = everything(y, p, s, logit)
    sharded_in = [put(a) for a in (y, p, s, logit)]
    assert len(sharded_in[0].sharding.device_set) == 8
    got = everything(*sharded_in)
    for a, b, path in zip(jax.tree.leaves(ref), jax.tree.leaves(got),
                          jax.tree_util.tree_flatten_with_path(ref)[0]):
      a, b = np.asarray(a), np.asarray(b)
      if a.dtype.kind == "f" and "hard" not in str(path[0]):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6,
                                   err_msg=str(path[0]))
      else:
        np.testing.assert_array_equal(a, b, err_msg=str(path[0]))
    np.testing.assert_array_equal(ref["audit"].demographic_parity_difference,
                                  fairjax.audit(y, p, sensitive_features=s)
                                  .demographic_parity_difference)
    print("OK", len(jax.tree.leaves(ref)))
""")


def test_sharded_over_8_devices_equals_unsharded():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu")
  r = subprocess.run([sys.executable, "-c", _SHARDED], env=env,
                     capture_output=True, text=True, timeout=300,
                     cwd=pathlib.Path(__file__).parent)
  assert r.returncode == 0, r.stderr[-3000:]
  assert r.stdout.startswith("OK")


def test_padded_rows_are_never_read():
  s, y, _ = _data(np.random.default_rng(11), n=40)
  prob = np.random.default_rng(12).random(40).astype(np.float32)
  w = np.ones(40, np.float32)
  w[::4] = 0
  bad = prob.copy()
  bad[::4] = np.nan
  a = fairjax.rate_state(y, prob, sensitive_features=s, sample_weight=w)
  b = fairjax.rate_state(y, bad, sensitive_features=s, sample_weight=w)
  _same(a, b)
  g = jax.grad(lambda z: jnp.sum(fairjax.rate_constraints(
      y, z, sensitive_features=s, sample_weight=w).proxy))(jnp.asarray(bad))
  assert np.all(np.isfinite(g)) and np.all(np.asarray(g)[::4] == 0)
