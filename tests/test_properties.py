"""Property-based tests (hypothesis) of the public API: issue 12's classes.

Each property runs on hypothesis-drawn data of a fixed shape (so every
function compiles once): padding invariance (weight-0 rows holding NaN, inf
or 1e30), dtypes (bf16, f16, f32, f64), weight scaling, row permutation,
group relabelling, absent groups, penalties >= 0 up to rounding, finite
gradients.

The default budget is small (part of the default test command). A long fuzz
run: ``HYPOTHESIS_PROFILE=fuzz python -m pytest tests/test_properties.py -p
no:xdist`` (100 examples per property; ``HYPOTHESIS_MAX_EXAMPLES=k`` sets
another budget); see ``docs/reliability.md`` for a recorded run.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fairjax

_PROFILES = {"default": 4, "fuzz": 100}
_BUDGET = int(os.environ.get(
    "HYPOTHESIS_MAX_EXAMPLES",
    _PROFILES[os.environ.get("HYPOTHESIS_PROFILE", "default")]))
# No shrinking: one example costs ~0.1 s of dispatch, and shrinking a failure
# took minutes; hypothesis still prints the failing example.
SETTINGS = settings(
    max_examples=_BUDGET, deadline=None, derandomize=_BUDGET < 100,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)

N, G, PAD = 12, 3, 3  # rows, groups, padded rows: fixed shapes, one compile
RTOL, ATOL = 2e-4, 2e-5


@st.composite
def problems(draw, binary_pred=False):
  """Rows with ids, binary labels, predictions in [0, 1], positive weights.

  Ids are drawn so that groups may be absent (a minibatch that misses one).
  """
  s = draw(hnp.arrays(np.int32, N, elements=st.integers(0, G - 1)))
  y = draw(hnp.arrays(np.int32, N, elements=st.integers(0, 1)))
  if binary_pred:
    p = draw(hnp.arrays(np.int32, N, elements=st.integers(0, 1))).astype(
        np.float32)
  else:  # coarse values: ties are common
    p = draw(hnp.arrays(np.int32, N, elements=st.integers(0, 8))).astype(
        np.float32) / 8
  w = draw(hnp.arrays(np.float32, N, elements=st.floats(
      0.25, 4.0, width=32)))
  return s, y, p, w


@st.composite
def paddings(draw):
  """Padded rows: any id, any label, values from {nan, +-inf, 1e30}."""
  vals = draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf, 1e30]),
                       min_size=PAD, max_size=PAD))
  ids = draw(st.lists(st.integers(0, G - 1), min_size=PAD, max_size=PAD))
  where = draw(st.permutations(range(N + PAD)))
  return np.array(vals, np.float32), np.array(ids, np.int32), np.array(where)


def _with_padding(pad, s, y, p, w, x=None):
  """Inserts the padded rows (weight 0) at random positions.

  The rows that are not padding keep their order (a bootstrap's draws
  depend on it).
  """
  vals, ids, where = pad
  order = np.empty(N + PAD, int)
  order[np.sort(where[:N])] = np.arange(N)
  order[np.sort(where[N:])] = np.arange(N, N + PAD)
  s2 = np.concatenate([s, ids])[order]
  y2 = np.concatenate([y, np.zeros(PAD, y.dtype)])[order]
  p2 = np.concatenate([p, vals])[order]
  w2 = np.concatenate([w, np.zeros(PAD, w.dtype)])[order]
  out = [s2, y2, p2, w2]
  if x is not None:
    out.append(np.concatenate([x, np.repeat(vals[:, None], x.shape[1], 1)
                               ])[order])
  return out


def _hard(p):
  """0/1 predictions; a padded row's NaN, inf or 1e30 is kept as is."""
  p = jnp.asarray(p)
  odd = ~jnp.isfinite(p) | (jnp.abs(p) > 2)
  return jnp.where(odd, p, (p > 0.5).astype(p.dtype))


# The public functions as f(s, y, p, w, num_groups) -> array or pytree.
METRICS = {
    "dp_difference": lambda s, y, p, w, g: (
        fairjax.demographic_parity_difference(
            y, _hard(p), sensitive_features=s, sample_weight=w,
            num_groups=g)),
    "eo_difference": lambda s, y, p, w, g: fairjax.equal_opportunity_difference(
        y, _hard(p), sensitive_features=s, sample_weight=w, num_groups=g),
    "eodds_difference": lambda s, y, p, w, g: (
        fairjax.equalized_odds_difference(
            y, _hard(p), sensitive_features=s, sample_weight=w,
            num_groups=g)),
    "ks_distance": lambda s, y, p, w, g: fairjax.ks_distance(
        y, p, sensitive_features=s, sample_weight=w, num_groups=g),
    "group_statistics": lambda s, y, p, w, g: fairjax.group_statistics(
        y, p, sensitive_features=s, sample_weight=w, num_groups=g),
}
PENALTIES = {
    "mean_gap_max": lambda s, y, x, w, g: fairjax.mean_gap_penalty(
        x, sensitive_features=s, sample_weight=w, num_groups=g),
    "mean_gap_pairwise_eo": lambda s, y, x, w, g: fairjax.mean_gap_penalty(
        x, sensitive_features=s, labels=y, notion="equal_opportunity",
        reduction="pairwise", sample_weight=w, num_groups=g),
    "mmd_gaussian": lambda s, y, x, w, g: fairjax.mmd_penalty(
        x, sensitive_features=s, sample_weight=w, num_groups=g),
    "mmd_energy_eodds": lambda s, y, x, w, g: fairjax.mmd_penalty(
        x, sensitive_features=s, labels=y, notion="equalized_odds",
        kernel="energy", reduction="vs_pooled", sample_weight=w,
        num_groups=g),
    "mmd_linear_max": lambda s, y, x, w, g: fairjax.mmd_penalty(
        x, sensitive_features=s, kernel="linear", reduction="max",
        sample_weight=w, num_groups=g),
}


def _ferm(s, y, x, w, g):
  # equal opportunity with every row positive: groups are defined whenever
  # they are present
  return fairjax.ferm_direction(x, np.ones_like(y), sensitive_features=s,
                                sample_weight=w, num_groups=max(g, 2))


def _features(p):
  return np.stack([p, 1 - p * p], axis=1).astype(np.float32)


def _close(a, b, rtol=RTOL, atol=ATOL):
  for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_allclose(np.asarray(u, np.float64),
                               np.asarray(v, np.float64), rtol=rtol,
                               atol=atol)


@pytest.mark.parametrize("name", METRICS)
@SETTINGS
@given(data=problems(), pad=paddings())
def test_metrics_padding_invariance(name, data, pad):
  s, y, p, w = data
  fn = METRICS[name]
  _close(fn(*_with_padding(pad, s, y, p, w), G), fn(s, y, p, w, G))


@pytest.mark.parametrize("name", [*PENALTIES, "ferm_direction"])
@SETTINGS
@given(data=problems(), pad=paddings())
def test_penalties_padding_invariance(name, data, pad):
  s, y, p, w = data
  fn = PENALTIES.get(name, _ferm)
  x = _features(p)
  s2, y2, _, w2, x2 = _with_padding(pad, s, y, p, w, x)
  _close(fn(s2, y2, x2, w2, G), fn(s, y, x, w, G))


@SETTINGS
@given(data=problems(), pad=paddings())
def test_barycenter_and_bootstrap_padding_invariance(data, pad):
  s, y, p, w = data
  s2, y2, p2, w2 = _with_padding(pad, s, y, p, w)
  ones = np.ones_like(w)
  kw = dict(key=None, jitter=0.0, split=False, num_groups=G)
  a = fairjax.fit_barycenter(p2, sensitive_features=s2,
                             sample_weight=(w2 > 0).astype(np.float32), **kw)
  b = fairjax.fit_barycenter(p, sensitive_features=s, sample_weight=ones,
                             **kw)
  np.testing.assert_array_equal(
      fairjax.apply_barycenter(a, p, sensitive_features=s),
      fairjax.apply_barycenter(b, p, sensitive_features=s))
  key = jax.random.key(0)
  ci2 = fairjax.bootstrap_ci(fairjax.ks_distance, y2, p2,
                             sensitive_features=s2, sample_weight=w2,
                             num_groups=G, key=key, n_boot=8)
  ci = fairjax.bootstrap_ci(fairjax.ks_distance, y, p, sensitive_features=s,
                            sample_weight=w, num_groups=G, key=key, n_boot=8)
  _close(ci2.samples, ci.samples)


@pytest.mark.parametrize("name", [*METRICS, *PENALTIES])
@SETTINGS
@given(data=problems(), perm=st.permutations(range(N)),
       labels=st.permutations(range(G)),
       scale=st.floats(1e-3, 1e3))
def test_invariances(name, data, perm, labels, scale):
  """Row permutation, group relabelling, weight scaling, absent groups."""
  s, y, p, w = data
  if name in METRICS:
    fn, v = METRICS[name], p
  else:
    fn, v = PENALTIES[name], _features(p)
  base = fn(s, y, v, w, G)
  perm = np.array(perm)
  _close(fn(s[perm], y[perm], v[perm], w[perm], G), base)
  relabel = np.array(labels, np.int32)[s]
  got = fn(relabel, y, v, w, G)
  if name == "group_statistics":  # per-group: the groups move
    got = jax.tree.map(lambda a: a[np.asarray(labels)], got)
  _close(got, base)
  scaled = fn(s, y, v, (w * np.float32(scale)).astype(np.float32), G)
  if name == "group_statistics":  # counts are weight sums
    scaled = scaled._replace(count=scaled.count / np.float32(scale))
  _close(scaled, base, rtol=1e-3)
  wider = fn(s, y, v, w, G + 2)
  if name == "group_statistics":
    wider = jax.tree.map(lambda a: a[:G], wider)
  _close(wider, base)


@pytest.mark.parametrize("name", ["dp_difference", "ks_distance",
                                  "group_statistics", "mean_gap_max",
                                  "mmd_gaussian", "ferm_direction"])
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32,
                                   "float64"])
@SETTINGS
@given(data=problems())
def test_dtypes(name, dtype, data):
  """Each float dtype: the result keeps it, and is the float64 value of the
  rounded input up to the dtype's resolution (sums never stall)."""
  s, y, p, w = data
  fn = METRICS.get(name) or PENALTIES.get(name) or _ferm
  v = p if name in METRICS else _features(p)
  with jax.enable_x64(dtype == "float64"):
    dt = jnp.dtype(dtype)
    vl, wl = jnp.asarray(v, dt), jnp.asarray(w, dt)
    got = fn(s, y, vl, wl, G)
    with jax.enable_x64(True):
      want = fn(s, y, np.asarray(vl, np.float64), np.asarray(wl, np.float64),
                G)
    for leaf in jax.tree.leaves(got):
      assert leaf.dtype == dt
    eps = float(jnp.finfo(dt).eps)
    _close(got, want, rtol=max(4 * eps, 1e-5), atol=max(4 * eps, 1e-6))


@pytest.mark.parametrize("name", PENALTIES)
@SETTINGS
@given(data=problems(), pad=paddings())
def test_penalties_nonnegative_with_finite_gradients(name, data, pad):
  s, y, p, w = data
  fn = PENALTIES[name]
  s2, y2, _, w2, x2 = _with_padding(pad, s, y, p, w, _features(p))
  value, grad = jax.value_and_grad(lambda x: fn(s2, y2, x, w2, G))(
      jnp.asarray(x2))
  assert float(value) >= -1e-5
  assert np.all(np.isfinite(np.asarray(grad)))
  assert np.all(np.asarray(grad)[w2 == 0] == 0)  # padded rows get nothing
