"""Registry cases for the group core's public helpers and the metrics."""

import functools

import jax
import numpy as np
from registry import Case

import fairjax

N, G = 40, 3


def _binary_problem(rng, absent):
  s = rng.integers(0, G, N)
  if absent:
    s = np.where(s == G - 1, 0, s)
  y = rng.integers(0, 2, N)
  p = rng.integers(0, 2, N)
  w = rng.random(N).astype(np.float32)
  return s, y, p, w


def _metric_case(metric, **kw):
  def make(rng, absent):
    s, y, p, w = _binary_problem(rng, absent)
    return (y, p, s, w), dict(num_groups=G, **kw)

  def fn(y, p, s, w, **static):
    return metric(y, p, sensitive_features=s, sample_weight=w, **static)

  return Case(f"{metric.__name__}{''.join('_' + v for v in kw.values())}",
              fn, make)


def _ks_make(rng, absent):
  s, y, _, w = _binary_problem(rng, absent)
  scores = np.round(rng.random(N), 1).astype(np.float32)  # with ties
  return (y, scores, s, w), dict(num_groups=G)


def _ks(y, scores, s, w, **static):
  return fairjax.ks_distance(y, scores, sensitive_features=s,
                             sample_weight=w, **static)


def _gap_make(notion, reduction, dim):
  def make(rng, absent):
    s, y, _, w = _binary_problem(rng, absent)
    shape = (N,) if dim is None else (N, dim)
    scores = rng.random(shape).astype(np.float32)
    return (scores, s, y, w), dict(num_groups=G, notion=notion,
                                   reduction=reduction)
  return make


def _gap(scores, s, y, w, **static):
  return fairjax.mean_gap_penalty(scores, sensitive_features=s, labels=y,
                                  sample_weight=w, **static)


def _bootstrap_make(metric):
  def make(rng, absent):
    s, y, p, _ = _binary_problem(rng, absent)
    s = np.minimum(s, 1)  # two groups: a smaller multinomial to compile
    pred = p if metric is not fairjax.ks_distance else rng.random(N)
    key = np.asarray(jax.random.key_data(jax.random.key(rng.integers(99))))
    return (y, pred.astype(np.float32), s, key), dict(num_groups=2)
  return make


def _bootstrap(metric, y, pred, s, key, **static):
  r = fairjax.bootstrap_ci(metric, y, pred, sensitive_features=s,
                           key=jax.random.wrap_key_data(key), n_boot=8,
                           **static)
  return r._replace(samples=r.samples[:4])


CASES = [
    _metric_case(fairjax.demographic_parity_difference),
    _metric_case(fairjax.demographic_parity_difference, method="to_overall"),
    _metric_case(fairjax.demographic_parity_ratio),
    _metric_case(fairjax.equal_opportunity_difference),
    _metric_case(fairjax.equalized_odds_difference),
    _metric_case(fairjax.equalized_odds_difference, agg="mean"),
    _metric_case(fairjax.group_statistics),
    _metric_case(fairjax.audit),
    Case("ks_distance", _ks, _ks_make),
    Case("bootstrap_ci_dp",
         functools.partial(_bootstrap, fairjax.demographic_parity_difference),
         _bootstrap_make(fairjax.demographic_parity_difference)),
    Case("bootstrap_ci_ks", functools.partial(_bootstrap, fairjax.ks_distance),
         _bootstrap_make(fairjax.ks_distance)),
] + [
    Case(f"mean_gap_penalty_{notion}_{reduction}_{dim}", _gap,
         _gap_make(notion, reduction, dim), grad_argnums=(0,))
    for notion, reduction, dim in [
        ("demographic_parity", "max", None),
        ("demographic_parity", "pairwise", None),
        ("demographic_parity", "vs_pooled", 2),
        ("equal_opportunity", "max", None),
        ("equalized_odds", "pairwise", 2),
    ]
]
