"""bootstrap_ci: shortcuts equal the plain row bootstrap; coverage; errors."""

import jax
import numpy as np
import pytest

import fairjax
from fairjax import _bootstrap


def _data(rng, n=2000, num_groups=3):
  s = rng.integers(0, num_groups, n)
  y = (rng.random(n) < 0.5).astype(int)
  p = (rng.random(n) < 0.3 + 0.1 * s + 0.2 * y).astype(int)
  return y, p, s


def _row_bootstrap(metric, y, p, s, key, n_boot, **kw):
  """The plain definition: resample rows with numpy-free JAX indexing."""
  keys = jax.random.split(key, n_boot)
  n = len(s)
  out = []
  for k in keys:
    c = np.bincount(np.asarray(jax.random.randint(k, (n,), 0, n)), minlength=n)
    idx = np.repeat(np.arange(n), c)
    out.append(float(metric(y[idx], p[idx], sensitive_features=s[idx],
                            num_groups=3, **kw)))
  return np.array(out)


def test_ks_shortcut_equals_row_bootstrap_exactly():
  rng = np.random.default_rng(0)
  _, _, s = _data(rng, 300)
  scores = rng.random(300).astype(np.float32) + 0.1 * s
  order = np.argsort(scores)  # the shortcut resamples the sorted rows
  scores, s = scores[order], s[order]
  key = jax.random.key(1)
  r = fairjax.bootstrap_ci(fairjax.ks_distance, scores, scores,
                           sensitive_features=s, key=key, n_boot=8)
  want = _row_bootstrap(fairjax.ks_distance, scores, scores, s, key, 8)
  np.testing.assert_allclose(r.samples, want, atol=1e-6)


def test_generic_path_equals_row_bootstrap_exactly():
  rng = np.random.default_rng(1)
  y, p, s = _data(rng, 300)
  w = np.ones(300, np.float32)  # weights force the generic row path
  key = jax.random.key(2)
  r = fairjax.bootstrap_ci(fairjax.equalized_odds_difference, y, p,
                           sensitive_features=s, key=key, n_boot=8,
                           sample_weight=w, agg="mean")
  want = _row_bootstrap(fairjax.equalized_odds_difference, y, p, s, key, 8,
                        agg="mean")
  np.testing.assert_allclose(r.samples, want, atol=1e-6)


def test_cell_shortcut_has_the_row_bootstrap_distribution():
  rng = np.random.default_rng(2)
  y, p, s = _data(rng, 1000)
  key = jax.random.key(3)
  fast = fairjax.bootstrap_ci(fairjax.demographic_parity_difference, y, p,
                              sensitive_features=s, key=key, n_boot=400)
  rows = fairjax.bootstrap_ci(fairjax.demographic_parity_difference, y, p,
                              sensitive_features=s, key=key, n_boot=400,
                              sample_weight=np.ones(len(s), np.float32))
  # Same law, independent draws: means within 4 standard errors, stds within
  # 20% (400 resamples).
  se = float(rows.std) / np.sqrt(400)
  assert abs(float(fast.samples.mean() - rows.samples.mean())) < 4 * se * 1.5
  np.testing.assert_allclose(fast.std, rows.std, rtol=0.2)
  assert fast.estimate == rows.estimate


def test_interval_covers_truth_and_shrinks_with_n():
  rng = np.random.default_rng(4)
  widths = []
  for n in [500, 8000]:
    y, p, s = _data(rng, n, 2)
    r = fairjax.bootstrap_ci(fairjax.demographic_parity_difference, y, p,
                             sensitive_features=s, key=jax.random.key(n))
    assert r.lower <= r.estimate <= r.upper
    widths.append(float(r.upper - r.lower))
  # sqrt(16) = 4 times narrower, within sampling noise
  assert 2.5 < widths[0] / widths[1] < 6


def test_level_and_n_boot_validation():
  y, p, s = _data(np.random.default_rng(5), 50)
  key = jax.random.key(0)
  with pytest.raises(ValueError, match="level"):
    fairjax.bootstrap_ci(fairjax.demographic_parity_difference, y, p,
                         sensitive_features=s, key=key, level=1.5)
  with pytest.raises(ValueError, match="n_boot"):
    fairjax.bootstrap_ci(fairjax.demographic_parity_difference, y, p,
                         sensitive_features=s, key=key, n_boot=1)
  with pytest.raises(TypeError, match="metric"):
    fairjax.bootstrap_ci("dp", y, p, sensitive_features=s, key=key)
  with pytest.raises(ValueError, match="y_pred.*binary"):
    fairjax.bootstrap_ci(fairjax.demographic_parity_difference, y, p + 1,
                         sensitive_features=s, key=key)


def test_row_multiplicities_sum_to_n():
  c = _bootstrap._row_multiplicities(jax.random.key(0), 1000, None)
  assert int(c.sum()) == 1000 and c.shape == (1000,)
