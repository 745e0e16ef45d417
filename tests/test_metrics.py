"""Audit metrics against fairlearn 0.15, scipy and plain numpy."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import fairjax

fm = pytest.importorskip("fairlearn.metrics")

RATE_METRICS = [
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
]


def _problem(rng, n, num_groups):
  s = rng.integers(0, num_groups, n)
  y = (rng.random(n) < 0.3 + 0.4 * s / num_groups).astype(int)
  p = (rng.random(n) < 0.2 + 0.3 * y + 0.2 * s / num_groups).astype(int)
  return s, y, p


def _fairlearn(name, y, p, s, **kw):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    return getattr(fm, name)(y, p, sensitive_features=s, **kw)


@pytest.mark.parametrize("num_groups", [2, 3, 5, 8])
@pytest.mark.parametrize("weighted", [False, True])
def test_rate_metrics_match_fairlearn(num_groups, weighted, enable_x64):
  rng = np.random.default_rng(num_groups + 10 * weighted)
  s, y, p = _problem(rng, 400, num_groups)
  w = rng.random(400) if weighted else None
  for name in RATE_METRICS:
    eodds = name == "equalized_odds_difference"
    aggs = ["worst_case", "mean"] if eodds else [None]
    for method in ["between_groups", "to_overall"]:
      for agg in aggs:
        kw = dict(method=method, sample_weight=w)
        if agg:
          kw["agg"] = agg
        got = getattr(fairjax, name)(y, p, sensitive_features=s, **kw)
        want = _fairlearn(name, y, p, s, **kw)
        np.testing.assert_allclose(float(got), want, rtol=1e-6, atol=1e-6,
                                   err_msg=f"{name} {kw}")


def test_float32_matches_fairlearn_to_1e6():
  rng = np.random.default_rng(3)
  s, y, p = _problem(rng, 5000, 4)
  w = rng.random(5000).astype(np.float32)
  for name in RATE_METRICS:
    got = getattr(fairjax, name)(y, p, sensitive_features=s, sample_weight=w)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(float(got), _fairlearn(name, y, p, s,
                                                      sample_weight=w),
                               atol=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
def test_group_statistics_match_metricframe(weighted, enable_x64):
  rng = np.random.default_rng(1)
  s, y, p = _problem(rng, 500, 4)
  w = rng.random(500) if weighted else None
  stats = fairjax.group_statistics(y, p, sensitive_features=s, sample_weight=w)
  mf = fm.MetricFrame(
      metrics={"count": fm.count, "selection_rate": fm.selection_rate,
               "true_positive_rate": fm.true_positive_rate,
               "false_positive_rate": fm.false_positive_rate},
      y_true=y, y_pred=p, sensitive_features=s,
      sample_params={k: {"sample_weight": w} for k in
                     ["selection_rate", "true_positive_rate",
                      "false_positive_rate"]} if weighted else None)
  for field in ["selection_rate", "true_positive_rate", "false_positive_rate"]:
    np.testing.assert_allclose(getattr(stats, field), mf.by_group[field],
                               rtol=1e-6)
  want_count = np.bincount(s, weights=w, minlength=4)
  np.testing.assert_allclose(stats.count, want_count, rtol=1e-6)
  np.testing.assert_allclose(stats.mean_prediction, stats.selection_rate,
                             rtol=1e-6)


def test_group_statistics_on_scores_threshold():
  rng = np.random.default_rng(2)
  s, y, _ = _problem(rng, 300, 3)
  scores = rng.random(300).astype(np.float32)
  stats = fairjax.group_statistics(y, scores, sensitive_features=s,
                                   threshold=0.7)
  hard = fairjax.group_statistics(y, (scores >= 0.7).astype(int),
                                  sensitive_features=s)
  np.testing.assert_allclose(stats.selection_rate, hard.selection_rate)
  want = [scores[s == g].mean() for g in range(3)]
  np.testing.assert_allclose(stats.mean_prediction, want, rtol=1e-6)


def test_audit_equals_individual_metrics():
  rng = np.random.default_rng(4)
  s, y, p = _problem(rng, 600, 5)
  w = rng.random(600).astype(np.float32)
  r = fairjax.audit(y, p, sensitive_features=s, sample_weight=w)
  for name in RATE_METRICS:
    want = getattr(fairjax, name)(y, p, sensitive_features=s, sample_weight=w)
    np.testing.assert_allclose(getattr(r, name), want, rtol=1e-6)
  stats = fairjax.group_statistics(y, p, sensitive_features=s, sample_weight=w)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6),
               r.groups, stats)


# ---------------------------------------------------------------------------
# Empty groups and undefined rates.


def test_absent_group_is_ignored_as_in_fairlearn():
  rng = np.random.default_rng(5)
  s, y, p = _problem(rng, 300, 3)
  s = np.where(s == 1, 2, s)  # group 1 has no member
  stats = fairjax.group_statistics(y, p, sensitive_features=s, num_groups=3)
  assert stats.count[1] == 0
  assert np.isnan(stats.selection_rate[1])
  assert np.isnan(stats.true_positive_rate[1])
  for name in RATE_METRICS:
    got = getattr(fairjax, name)(y, p, sensitive_features=s, num_groups=3)
    np.testing.assert_allclose(float(got), _fairlearn(name, y, p, s),
                               atol=1e-6)


def test_group_without_positives_is_skipped_not_zero():
  # Group 1 has no positive label: its TPR is undefined. fairlearn uses 0
  # (scikit-learn's zero_division) and reports a gap of 0.5; fairjax skips it.
  y = np.array([1, 1, 0, 0, 0, 0])
  p = np.array([1, 0, 0, 1, 0, 0])
  s = np.array([0, 0, 0, 1, 1, 1])
  assert _fairlearn("equal_opportunity_difference", y, p, s) == 0.5
  stats = fairjax.group_statistics(y, p, sensitive_features=s)
  assert np.isnan(stats.true_positive_rate[1])
  assert fairjax.equal_opportunity_difference(y, p, sensitive_features=s) == 0
  # The FPR gap is defined for both groups (0 vs 1/3).
  np.testing.assert_allclose(
      fairjax.equalized_odds_difference(y, p, sensitive_features=s), 1 / 3,
      rtol=1e-6)


def test_single_group_gives_zero_difference_and_unit_ratio():
  y = np.array([1, 0, 1, 0])
  p = np.array([1, 1, 0, 0])
  s = np.zeros(4, int)
  for name, want in [("demographic_parity_difference", 0.0),
                     ("demographic_parity_ratio", 1.0),
                     ("equal_opportunity_difference", 0.0),
                     ("equalized_odds_difference", 0.0)]:
    got = getattr(fairjax, name)(y, p, sensitive_features=s, num_groups=3)
    assert float(got) == want == _fairlearn(name, y, p, s)


def test_ratio_is_nan_when_nobody_is_selected():
  s = np.array([0, 0, 1, 1])
  zeros = np.zeros(4, int)
  assert np.isnan(fairjax.demographic_parity_ratio(zeros, zeros,
                                                   sensitive_features=s))
  assert np.isnan(_fairlearn("demographic_parity_ratio", zeros, zeros, s))


def test_padding_rows_with_zero_weight_do_not_count():
  rng = np.random.default_rng(6)
  s, y, p = _problem(rng, 200, 3)
  pad = 56
  sp = np.concatenate([s, np.zeros(pad, int)])
  yp = np.concatenate([y, np.ones(pad, int)])
  pp = np.concatenate([p, np.ones(pad, int)])
  w = np.concatenate([np.ones(200), np.zeros(pad)]).astype(np.float32)
  for name in RATE_METRICS:
    a = getattr(fairjax, name)(y, p, sensitive_features=s)
    b = getattr(fairjax, name)(yp, pp, sensitive_features=sp, sample_weight=w)
    np.testing.assert_allclose(a, b, rtol=1e-6)


# ---------------------------------------------------------------------------
# KS distance.


def _ks_reference(scores, s, w=None):
  """Weighted ECDFs evaluated at every sample point, all pairs (numpy)."""
  w = np.ones_like(scores) if w is None else w
  groups = [g for g in np.unique(s) if w[s == g].sum() > 0]
  pts = np.unique(scores)
  cdfs = [np.array([w[(s == g) & (scores <= t)].sum() for t in pts])
          / w[s == g].sum() for g in groups]
  return max((np.abs(a - b).max() for i, a in enumerate(cdfs)
              for b in cdfs[i + 1:]), default=0.0)


@pytest.mark.parametrize("num_groups", [2, 3, 6])
def test_ks_matches_scipy(num_groups, enable_x64):
  rng = np.random.default_rng(num_groups)
  s = rng.integers(0, num_groups, 500)
  scores = rng.normal(size=500) + 0.3 * s
  scores[::7] = np.round(scores[::7], 1)  # some ties
  want = max(
      scipy.stats.ks_2samp(scores[s == a], scores[s == b]).statistic
      for a in range(num_groups) for b in range(a + 1, num_groups))
  got = fairjax.ks_distance(scores, scores, sensitive_features=s)
  np.testing.assert_allclose(got, want, rtol=1e-12)


def test_ks_weighted_and_ties_match_numpy(enable_x64):
  rng = np.random.default_rng(8)
  s = rng.integers(0, 3, 200)
  scores = np.round(rng.random(200), 1)  # heavy ties
  w = rng.random(200)
  got = fairjax.ks_distance(scores, scores, sensitive_features=s,
                            sample_weight=w)
  np.testing.assert_allclose(got, _ks_reference(scores, s, w), rtol=1e-12)


def test_ks_absent_group_and_single_group():
  rng = np.random.default_rng(9)
  scores = rng.random(100).astype(np.float32)
  s = rng.integers(0, 2, 100) * 2  # group 1 absent
  got = fairjax.ks_distance(scores, scores, sensitive_features=s, num_groups=3)
  np.testing.assert_allclose(got, _ks_reference(scores, s), atol=1e-6)
  assert fairjax.ks_distance(scores, scores, sensitive_features=np.zeros(
      100, int), num_groups=3) == 0


def test_ks_identical_groups_is_zero_and_shift_is_one():
  x = np.linspace(0, 1, 50, dtype=np.float32)
  both = np.concatenate([x, x])
  s = np.repeat([0, 1], 50)
  assert fairjax.ks_distance(both, both, sensitive_features=s) == 0
  shifted = np.concatenate([x, x + 2])
  assert fairjax.ks_distance(shifted, shifted, sensitive_features=s) == 1


# ---------------------------------------------------------------------------
# Differentiable mean-gap penalty.


@pytest.mark.parametrize("notion,metric", [
    ("demographic_parity", "demographic_parity_difference"),
    ("equal_opportunity", "equal_opportunity_difference"),
])
def test_mean_gap_on_hard_predictions_equals_metric(notion, metric):
  rng = np.random.default_rng(10)
  s, y, p = _problem(rng, 300, 4)
  w = rng.random(300).astype(np.float32)
  gap = fairjax.mean_gap_penalty(p.astype(np.float32), sensitive_features=s,
                                 labels=y, notion=notion, sample_weight=w)
  want = getattr(fairjax, metric)(y, p, sensitive_features=s, sample_weight=w)
  np.testing.assert_allclose(gap, want, rtol=1e-5)


def test_mean_gap_reductions_match_numpy(enable_x64):
  rng = np.random.default_rng(11)
  s = rng.integers(0, 4, 200)
  y = rng.integers(0, 2, 200)
  z = rng.random((200, 3))
  w = rng.random(200)

  def ref(reduction, mask):
    ww = w * mask
    p = np.array([ww[s == g].sum() for g in range(4)]) / ww.sum()
    m = np.array([(z[s == g] * ww[s == g, None]).sum(0) / ww[s == g].sum()
                  for g in range(4)])
    if reduction == "vs_pooled":
      pooled = (z * ww[:, None]).sum(0) / ww.sum()
      return sum(p[g] * np.linalg.norm(m[g] - pooled) for g in range(4))
    pairs = [(g, h) for g in range(4) for h in range(g + 1, 4)]
    d = {gh: np.linalg.norm(m[gh[0]] - m[gh[1]]) for gh in pairs}
    if reduction == "max":
      return max(d.values())
    return sum(p[g] * p[h] * d[g, h] for g, h in pairs) / sum(
        p[g] * p[h] for g, h in pairs)

  for reduction in ["max", "pairwise", "vs_pooled"]:
    got = fairjax.mean_gap_penalty(z, sensitive_features=s, labels=y,
                                   sample_weight=w, reduction=reduction,
                                   notion="equalized_odds")
    want = ref(reduction, y == 0) + ref(reduction, y == 1)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_mean_gap_empty_group_zero_and_finite_gradient():
  scores = jnp.linspace(0.1, 0.9, 8)
  s = jnp.array([0, 0, 0, 0, 0, 0, 0, 0])
  for reduction in ["max", "pairwise", "vs_pooled"]:
    f = jax.jit(lambda x, r=reduction: fairjax.mean_gap_penalty(
        x, sensitive_features=s, num_groups=3, reduction=r))
    assert f(scores) == 0
    assert np.all(np.isfinite(jax.jit(jax.grad(f))(scores)))
  z = jnp.ones((8, 2))  # identical groups: norm at 0
  s2 = jnp.array([0, 1] * 4)
  g = jax.jit(jax.grad(lambda x: fairjax.mean_gap_penalty(
      x, sensitive_features=s2, num_groups=2, reduction="pairwise")))(z)
  assert np.all(np.isfinite(g))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float32])
def test_mean_gap_preserves_dtype(dtype):
  scores = jnp.linspace(0, 1, 10, dtype=dtype)
  s = jnp.array([0, 1] * 5)
  assert fairjax.mean_gap_penalty(scores, sensitive_features=s).dtype == dtype


def test_mean_gap_float64(enable_x64):
  scores = jnp.linspace(0, 1, 10, dtype=jnp.float64)
  s = np.array([0, 1] * 5)
  out = fairjax.mean_gap_penalty(scores, sensitive_features=s)
  assert out.dtype == jnp.float64


def test_metric_dtype_follows_weights(enable_x64):
  y = p = np.array([0, 1, 1, 0])
  s = np.array([0, 0, 1, 1])
  w = np.ones(4, np.float64)
  out = fairjax.demographic_parity_difference(y, p, sensitive_features=s,
                                              sample_weight=w)
  assert out.dtype == jnp.float64
