"""Registry cases for the distribution-matching risks (MMD, Sinkhorn)."""

import jax
import numpy as np
from registry import Case

from fairjax._mmd import mmd_penalty
from fairjax._sinkhorn import sinkhorn_penalty


def _groups(rng, n, num_groups, absent):
  """Group ids with every group present, or group 1 absent."""
  s = np.arange(n) % num_groups
  rng.shuffle(s)
  if absent:
    s = np.where(s == 1, 0, s)
  return s.astype(np.int32)


def _labels(rng, n):
  y = (np.arange(n) % 2).astype(np.int32)
  rng.shuffle(y)
  return y


def _points(rng, n, d, s):
  x = rng.normal(size=(n, d)) + 0.7 * s[:, None]
  return x.astype(np.float32)


def _make(n, d, num_groups, *, labels=False, scores=False, **static):
  def make(rng, absent):
    s = _groups(rng, n, num_groups, absent)
    x = _points(rng, n, d, s)
    if scores:
      x = x[:, 0]
    arrays = (x, s, _labels(rng, n)) if labels else (x, s)
    return arrays, dict(num_groups=num_groups, **static)

  return make


def _mmd_with_labels(x, s, y, **kw):
  return mmd_penalty(x, sensitive_features=s, labels=y, **kw)


def _mmd(x, s, **kw):
  return mmd_penalty(x, sensitive_features=s, **kw)


def _mmd_random_features(x, s, key, **kw):
  return mmd_penalty(
      x, sensitive_features=s, estimator="random_features", key=key, **kw
  )


def _make_random_features(rng, absent):
  (x, s), static = _make(16, 3, 2)(rng, absent)
  key = np.asarray(jax.random.key_data(jax.random.key(rng.integers(1000))))
  return (x, s, key), dict(static, num_features=64, bandwidth=(1.0, 2.0))


def _sinkhorn_with_labels(x, s, y, **kw):
  return sinkhorn_penalty(x, sensitive_features=s, labels=y, **kw)


# Tight tolerance and few points: the implicit (envelope) gradient matches
# finite differences only at convergence (threshold: certified accuracy
# relative to the cost scale, within float32 rounding).
_SK = dict(epsilon=0.5, threshold=1e-5, max_iterations=2000)


def _sinkhorn_split(x, w, **kw):
  return sinkhorn_penalty(x, sample_weight=w, **kw)


def _make_split(rng, absent):
  # Fixed composition, rows group by group; an absent group is a block of
  # padding (weight 0), as a fixed-composition batch would hold it.
  sizes = (4, 4, 4)
  s = np.repeat(np.arange(3), sizes)
  x = _points(rng, 12, 2, s)
  w = np.ones(12, np.float32)
  if absent:
    w[4:8] = 0.0
  return (x, w), dict(group_sizes=sizes, **_SK)

CASES = [
    Case("mmd_gaussian_biased_pairwise", _mmd, _make(12, 3, 3), (0,)),
    Case(
        "mmd_unbiased_equal_opportunity", _mmd_with_labels,
        _make(16, 2, 2, labels=True, notion="equal_opportunity",
              estimator="unbiased", bandwidth=(0.5, 2.0)),
        (0,),
    ),
    Case(
        "mmd_laplace_vs_pooled_equalized_odds", _mmd_with_labels,
        _make(18, 2, 3, labels=True, notion="equalized_odds",
              kernel="laplace", reduction="vs_pooled"),
        (0,),
    ),
    Case(
        "mmd_energy_max_scores", _mmd,
        _make(12, 1, 3, scores=True, kernel="energy", reduction="max"), (0,),
    ),
    Case(
        "mmd_linear_unbiased", _mmd,
        _make(12, 4, 2, kernel="linear", estimator="unbiased"), (0,),
    ),
    Case(
        "mmd_gaussian_median", _mmd, _make(12, 2, 2, bandwidth="median"), (0,),
        check_grads=False,  # the median bandwidth is gradient-stopped
    ),
    Case("mmd_random_features", _mmd_random_features, _make_random_features,
         (0,)),
    # One Sinkhorn case (each configuration compiles ott's loops, seconds):
    # three groups, both label classes, one group absent in a batch.
    Case(
        "sinkhorn_pairwise_equalized_odds", _sinkhorn_with_labels,
        _make(12, 2, 3, labels=True, notion="equalized_odds", **_SK),
        (0,), rtol=1e-4, atol=1e-5,
    ),
    # The split layout (fixed-composition batches, static group sizes).
    Case("sinkhorn_split_pairwise", _sinkhorn_split, _make_split, (0,),
         rtol=1e-4, atol=1e-5),
]
