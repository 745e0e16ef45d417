"""Wasserstein-barycenter post-processing: fit, apply, save, load."""

import functools
import os
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from fairjax._barycenter import (
    BarycenterState,
    apply_barycenter,
    fit_barycenter,
)
from fairjax._group_sort import ceil_mul_div
from fairjax._state_io import load_state, save_state

STRATEGIES = ("host", "device")


# ----------------------------------------------------------------------------
# An independent reference: per-group numpy sorts, Python-int indices, and a
# per-query loop; it draws the same jitter and split keys from the same key.


def _reference_fit(y, s, num_groups, key=None, jitter=0.0, split=False,
                   group_weights=None):
  y = np.asarray(y)
  n = y.size
  if key is None:
    v, r = y.astype(np.float64), np.zeros(n)
  else:
    bits = np.asarray(jax.random.bits(key, (2, n), jnp.uint32))
    # jitter: the top 23 bits as a uniform on [-1, 1)
    noise = 2 * (bits[0] >> 9).astype(np.float64) / 2**23 - 1
    v = y.astype(np.float64) + jitter * noise
    r = bits[1]
  cdf, qnt = [], []
  for g in range(num_groups):
    idx = np.flatnonzero(s == g)
    if split and idx.size >= 2:
      order = idx[np.lexsort((idx, r[idx]))]  # by key, ties by position
      h = (idx.size + 1) // 2
      cdf.append(np.sort(v[order[:h]]))
      qnt.append(np.sort(v[order[h:]]))
    else:
      cdf.append(np.sort(v[idx]))
      qnt.append(np.sort(v[idx]))
  counts = np.bincount(s, minlength=num_groups).astype(np.float64)
  w = counts if group_weights is None else np.asarray(group_weights, float)
  w = np.where(counts > 0, w, 0)
  return cdf, qnt, w / w.sum()


def _reference_apply(ref, x, s):
  cdf, qnt, p = ref
  out = []
  for xi, si in zip(np.asarray(x, np.float64), s, strict=True):
    n_s = cdf[si].size
    k = int(np.sum(cdf[si] <= xi))
    val = 0.0
    for j, q in enumerate(qnt):
      if q.size:
        i = min(max(-(-k * q.size // n_s) - 1, 0), q.size - 1)
        val += p[j] * q[i]
    out.append(val)
  return np.array(out)


N, G = 120, 4  # most tests share these shapes: one compilation each


def _groups_data(rng, sizes, loc=None, scale=None):
  """Normal predictions, ``sizes[g]`` of group ``g``, shuffled."""
  s = np.repeat(np.arange(len(sizes)), sizes).astype(np.int32)
  loc = np.arange(len(sizes)) if loc is None else np.asarray(loc)
  scale = np.ones(len(sizes)) if scale is None else np.asarray(scale)
  y = rng.normal(loc[s], scale[s]).astype(np.float32)
  perm = rng.permutation(s.size)
  return y[perm], s[perm]


def _segments(values, counts):
  ends = np.cumsum(counts)
  values = np.asarray(values)
  return [values[e - c:e] for c, e in zip(counts, ends, strict=True)]


# ----------------------------------------------------------------------------
# Correctness against the reference.


# The device strategy is checked against the host one, bit for bit, below.
@pytest.mark.parametrize("strategy", ["host"])
@pytest.mark.parametrize("split", [False, True])
def test_matches_reference(rng, strategy, split):
  y, s = _groups_data(rng, [60, 1, 0, 59])
  key = jax.random.key(3)
  state = fit_barycenter(y, sensitive_features=s, num_groups=G, key=key,
                         jitter=1e-3, split=split, sort_strategy=strategy)
  ref = _reference_fit(y, s, G, key, 1e-3, split)
  for got, want in ((state.cdf_values, ref[0]), (state.quantile_values,
                                                  ref[1])):
    counts = [w.size for w in want]
    for a, b in zip(_segments(got, counts), want, strict=True):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  np.testing.assert_array_equal(state.cdf_counts, [w.size for w in ref[0]])
  np.testing.assert_allclose(state.group_weights, ref[2], rtol=1e-6)
  x, sx = _groups_data(rng, [50, 10, 0, 60], loc=[0.5, 1, 0, 3.5])
  x[:2], sx[:2] = (-9.0, 9.0), (0, 3)  # off the ends of the samples
  out = apply_barycenter(state, x, sensitive_features=sx,
                         sort_strategy=strategy)
  np.testing.assert_allclose(out, _reference_apply(ref, x, sx), rtol=1e-5,
                             atol=1e-6)


@pytest.mark.parametrize("split", [False, True])
def test_host_and_device_strategies_agree_bitwise(rng, split):
  y, s = _groups_data(rng, [70, 1, 0, 49])
  mask = (rng.uniform(size=y.size) > 0.1).astype(np.float32)
  kw = dict(sensitive_features=s, num_groups=G, key=jax.random.key(0),
            split=split, sample_weight=mask)
  a = fit_barycenter(y, sort_strategy="host", **kw)
  b = fit_barycenter(y, sort_strategy="device", **kw)
  for name, x, z in zip(a._fields, a, b, strict=True):
    np.testing.assert_array_equal(x, z, err_msg=name)
  q = np.where(s == 2, 0, s).astype(np.int32)  # no query of the empty group
  for key in (None, jax.random.key(1)):
    outs = [apply_barycenter(a, y + 0.01, sensitive_features=q, key=key,
                             sort_strategy=st) for st in STRATEGIES]
    np.testing.assert_array_equal(*outs)


def test_float64_matches_reference(rng, enable_x64):
  y, s = _groups_data(rng, [50, 30, 0, 40])
  y = y.astype(np.float64) + 1e-12 * rng.normal(size=y.size)
  ref = _reference_fit(y, s, G)
  for strategy in ("host",):
    state = fit_barycenter(y, sensitive_features=s, num_groups=G, key=None,
                           jitter=0.0, split=False, sort_strategy=strategy)
    assert state.table.dtype == jnp.float64
    out = apply_barycenter(state, y[::-1], sensitive_features=s[::-1],
                           sort_strategy=strategy)
    np.testing.assert_allclose(out, _reference_apply(ref, y[::-1], s[::-1]),
                               rtol=1e-12)


def test_ceil_mul_div_is_exact_where_floats_are_not(rng):
  n = rng.integers(1, 2**26 + 1, 200_000)
  m = rng.integers(1, 2**26 + 1, 200_000)
  k = (rng.uniform(size=n.size) * (n + 1)).astype(np.int64)
  small = np.arange(1, 40)  # tiny divisors, m near 2**26, every k
  n = np.concatenate([n, np.repeat(small, small + 1)])
  k = np.concatenate([k] + [np.arange(d + 1) for d in small])
  m = np.concatenate([m, np.full(n.size - m.size, 2**26 - 2)])
  want = -(-(k * m) // n)
  got = ceil_mul_div(*(jnp.asarray(a, jnp.int32) for a in (k, m, n)))
  np.testing.assert_array_equal(got, want)
  # The float formula the issue warns about: ceil(level * M), level = k / N.
  level = k.astype(np.float32) / n.astype(np.float32)
  wrong = np.ceil(level * m.astype(np.float32)).astype(np.int64) != want
  assert wrong.mean() > 0.01


# ----------------------------------------------------------------------------
# Properties of the fitted map.


def _ks_between_groups(x, s):
  return scipy.stats.ks_2samp(x[s == 0], x[s == 1]).statistic


def test_groups_coincide_and_ks_shrinks_like_root_n(rng):
  # One padded shape for every size (the mask selects the sample), so this
  # compiles once.
  sizes, top = (1_000, 10_000, 100_000), 100_000
  ks = []
  for n in sizes:
    vals = []
    for seed in range(2):
      y, s = _groups_data(rng, [top, top], loc=[0.0, 1.0], scale=[1.0, 2.0])
      mask = np.zeros(2 * top, np.float32)
      mask[np.flatnonzero(s == 0)[:n]] = mask[np.flatnonzero(s == 1)[:n]] = 1
      state = fit_barycenter(y, sensitive_features=s, sample_weight=mask,
                             key=jax.random.key(seed))
      x, sx = _groups_data(rng, [top, top], loc=[0.0, 1.0], scale=[1.0, 2.0])
      out = np.asarray(apply_barycenter(state, x, sensitive_features=sx))
      vals.append(_ks_between_groups(out, sx))
    ks.append(np.mean(vals))
  # KS(test sample of 2 x 1e5) ~ 0.004 adds to the estimation error ~ n^-1/2.
  slope = np.polyfit(np.log(sizes[:2]), np.log(ks[:2]), 1)[0]
  assert -0.75 < slope < -0.3, (ks, slope)
  assert ks[0] > 2.5 * ks[1] > 2.5 * ks[2] * 0.9, ks


def test_ks_below_one_percent_with_a_million_per_group(rng):
  n = 1_000_000
  y, s = _groups_data(rng, [n, n], loc=[0.0, 1.0], scale=[1.0, 2.0])
  before = _ks_between_groups(y, s)
  state = fit_barycenter(y, sensitive_features=s, key=jax.random.key(0))
  x, sx = _groups_data(rng, [n, n], loc=[0.0, 1.0], scale=[1.0, 2.0])
  out = np.asarray(apply_barycenter(state, x, sensitive_features=sx))
  assert before > 0.2
  assert _ks_between_groups(out, sx) <= 0.01


def test_gaussian_groups_match_the_analytic_map(rng):
  mu, sigma, sizes = np.array([0.0, 2.0, -1.0]), np.array([1.0, 0.5, 3.0]), (
      60_000, 30_000, 10_000)
  y, s = _groups_data(rng, sizes, loc=mu, scale=sigma)
  state = fit_barycenter(y, sensitive_features=s, key=jax.random.key(0))
  p = np.array(sizes) / sum(sizes)
  probs = np.linspace(0.02, 0.98, 49)
  for g in range(3):
    x = (mu[g] + sigma[g] * scipy.stats.norm.ppf(probs)).astype(np.float32)
    out = apply_barycenter(state, x, sensitive_features=np.full(x.size, g))
    want = p @ mu + (p @ sigma) * (x - mu[g]) / sigma[g]
    # Sampling error of quantiles of ~5,000-30,000 points: a few hundredths
    # of the barycenter's scale (p @ sigma = 1.05).
    np.testing.assert_allclose(out, want, atol=0.08)


@pytest.mark.parametrize("interpolation", ["linear", "relative_improvement"])
def test_alpha_zero_returns_the_input(rng, interpolation):
  y, s = _groups_data(rng, [40, 30, 0, 50])
  state = fit_barycenter(y, sensitive_features=s, num_groups=G,
                         key=jax.random.key(0))
  fn = jax.jit(functools.partial(apply_barycenter, alpha=0.0,
                                 interpolation=interpolation))
  out = fn(state, y, sensitive_features=s, key=jax.random.key(1))
  np.testing.assert_array_equal(out, y)


def test_interpolations_and_vmap_over_alpha(rng):
  y, s = _groups_data(rng, [40, 30, 0, 50])
  state = fit_barycenter(y, sensitive_features=s, num_groups=G,
                         key=jax.random.key(0))
  g = np.asarray(apply_barycenter(state, y, sensitive_features=s), np.float64)
  alphas = jnp.linspace(0, 1, 5)
  for interp, w in (("linear", alphas),
                    ("relative_improvement", 1 - jnp.sqrt(1 - alphas))):
    curve = jax.vmap(lambda a, i=interp: apply_barycenter(
        state, y, sensitive_features=s, alpha=a, interpolation=i))(alphas)
    w = np.asarray(w, np.float64)[:, None]
    np.testing.assert_allclose(curve, (1 - w) * y + w * g, rtol=1e-5,
                               atol=1e-6)
  # relative improvement: the squared distance to the barycenter map (hence
  # the squared W2 unfairness) is (1 - alpha) times that of f.
  rel = jax.vmap(lambda a: apply_barycenter(
      state, y, sensitive_features=s, alpha=a,
      interpolation="relative_improvement"))(alphas)
  dist = np.mean((np.asarray(rel, np.float64) - g) ** 2, axis=1)
  np.testing.assert_allclose(dist, dist[0] * (1 - alphas), rtol=1e-4)


def test_monotone_within_group_and_depends_only_on_ranks(rng):
  y, s = _groups_data(rng, [50, 40, 30, 0])
  state = fit_barycenter(y, sensitive_features=s, num_groups=G,
                         key=jax.random.key(0))
  grid = np.linspace(-4, 6, N).astype(np.float32)
  for g in range(3):
    out = np.asarray(apply_barycenter(
        state, grid, sensitive_features=np.full(grid.size, g)))
    assert np.all(np.diff(out) >= 0)
    # Replace every query by the largest CDF point at or below it (or a
    # value below the sample): the ranks, hence the outputs, do not change.
    cdf = _segments(state.cdf_values, state.cdf_counts)[g]
    k = np.searchsorted(cdf, grid, side="right")
    same_rank = np.where(k > 0, cdf[np.maximum(k - 1, 0)], cdf[0] - 1.0)
    out2 = apply_barycenter(state, same_rank.astype(np.float32),
                            sensitive_features=np.full(grid.size, g))
    np.testing.assert_array_equal(out, out2)


def test_in_sample_own_group_term_is_identity_without_split(rng):
  # One group: the barycenter is the group's own law, so g(x) = x exactly.
  y, s = _groups_data(rng, [N, 0, 0, 0])
  state = fit_barycenter(y, sensitive_features=s, num_groups=G, key=None,
                         jitter=0.0, split=False)
  np.testing.assert_array_equal(
      apply_barycenter(state, y, sensitive_features=s), y)


# ----------------------------------------------------------------------------
# Defined behaviour at the edges.


@pytest.mark.parametrize("strategy", ["host"])
def test_ties_single_member_and_all_equal(rng, strategy):
  y = np.full(N, 0.25, np.float32)
  s = np.repeat(np.arange(G), [60, 59, 1, 0]).astype(np.int32)
  state = fit_barycenter(y, sensitive_features=s, num_groups=G, key=None,
                         jitter=0.0, split=False, sort_strategy=strategy)
  out = apply_barycenter(state, y, sensitive_features=s,
                         sort_strategy=strategy)
  np.testing.assert_array_equal(out, y)  # all equal: nothing to move
  state = fit_barycenter(y, sensitive_features=s, num_groups=G,
                         key=jax.random.key(0),
                         sort_strategy=strategy)  # jitter 1e-5, split
  out = apply_barycenter(state, y, sensitive_features=s,
                         key=jax.random.key(1), sort_strategy=strategy)
  assert np.all(np.isfinite(out))
  np.testing.assert_allclose(out, 0.25, atol=2e-5)
  assert state.cdf_counts[2] == state.quantile_counts[2] == 1


def test_unseen_group_raises_when_concrete_and_passes_through_under_jit(rng):
  y, s = _groups_data(rng, [60, 0, 40, 20])
  state = fit_barycenter(y, sensitive_features=s, num_groups=G,
                         key=jax.random.key(0))
  x = y + 0.5
  sx = np.where(np.arange(N) == 1, 1, s).astype(np.int32)
  with pytest.raises(ValueError, match=r"group ids \[1\]"):
    apply_barycenter(state, x, sensitive_features=sx)
  out = jax.jit(lambda st, x, s: apply_barycenter(
      st, x, sensitive_features=s))(state, x, sx)
  assert out[1] == x[1]
  assert np.all(np.isfinite(out))
  with pytest.raises(ValueError, match="sensitive_features"):
    apply_barycenter(state, x, sensitive_features=np.where(sx == 1, 4, sx))


def test_mask_equals_dropping_rows(rng):
  y, s = _groups_data(rng, [50, 40, 30, 0])
  mask = rng.uniform(size=y.size) > 0.3
  state = fit_barycenter(y, sensitive_features=s, num_groups=G, key=None,
                         jitter=0.0, split=False,
                         sample_weight=mask.astype(int))
  ref = _reference_fit(y[mask], s[mask], G)
  q = np.linspace(-2, 3, N).astype(np.float32)
  sq = (np.arange(N) % 3).astype(np.int32)
  np.testing.assert_allclose(apply_barycenter(state, q, sensitive_features=sq),
                             _reference_apply(ref, q, sq), rtol=1e-6)


def test_group_weights(rng):
  y, s = _groups_data(rng, [50, 40, 30, 0])
  w = np.array([0.2, 0.0, 0.6, 0.5])  # group 3 is empty: its weight drops
  state = fit_barycenter(y, sensitive_features=s, num_groups=G, key=None,
                         jitter=0.0, split=False, group_weights=w)
  np.testing.assert_allclose(state.group_weights, [0.25, 0, 0.75, 0],
                             rtol=1e-6)
  ref = _reference_fit(y, s, G, group_weights=w)
  np.testing.assert_allclose(
      apply_barycenter(state, y, sensitive_features=s),
      _reference_apply(ref, y, s), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32])
def test_dtype_is_preserved(rng, dtype):
  y, s = _groups_data(rng, [60, 60, 0, 0])
  y = jnp.asarray(y, dtype)
  for strategy in ("host",):  # the device path: bitwise-equal test below
    state = fit_barycenter(y, sensitive_features=s, num_groups=G,
                           key=jax.random.key(0), jitter=1e-2,
                           sort_strategy=strategy)
    assert all(getattr(state, f).dtype == dtype for f in (
        "cdf_values", "quantile_values", "group_weights", "table", "jitter"))
    out = apply_barycenter(state, y, sensitive_features=s,
                           sort_strategy=strategy)
    assert out.dtype == dtype and bool(jnp.all(jnp.isfinite(out)))


def test_classification_scores_reach_demographic_parity(rng):
  n = 20_000
  s = rng.integers(0, 3, n).astype(np.int32)
  scores = scipy.special.expit(rng.normal(size=n) + np.array([-1, 0, 1])[s])
  scores = scores.astype(np.float32)
  state = fit_barycenter(scores[: n // 2], sensitive_features=s[: n // 2],
                         key=jax.random.key(0))
  out = np.asarray(apply_barycenter(state, scores[n // 2:],
                                    sensitive_features=s[n // 2:]))
  assert out.min() >= 0 and out.max() <= 1
  st = s[n // 2:]
  for t in (0.3, 0.5, 0.7):
    before = [np.mean(scores[n // 2:][st == g] > t) for g in range(3)]
    after = [np.mean(out[st == g] > t) for g in range(3)]
    assert max(before) - min(before) > 0.2
    assert max(after) - min(after) < 0.05


def test_gradient_is_the_identity_part(rng):
  y, s = _groups_data(rng, [40, 30, 0, 50])
  state = fit_barycenter(y, sensitive_features=s, num_groups=G,
                         key=jax.random.key(0))
  grad = jax.grad(lambda x: apply_barycenter(
      state, x, sensitive_features=s, alpha=0.3).sum())(jnp.asarray(y))
  np.testing.assert_allclose(grad, 0.7, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(y_pred=np.ones((3, 2))), ValueError, "y_pred"),
        (dict(y_pred=np.array([1.0, np.nan, 2.0])), ValueError, "finite"),
        (dict(y_pred=np.array(["a", "b", "c"])), TypeError, "y_pred"),
        (dict(sensitive_features=np.array([0.0, 1.0, 0.0])), TypeError,
         "sensitive_features"),
        (dict(sensitive_features=np.array([0, 1])), ValueError, "length 3"),
        (dict(sensitive_features=np.array([0, 5, 1]), num_groups=2),
         ValueError, r"\[0, 2\)"),
        (dict(key=None), ValueError, "key"),
        (dict(jitter=-1.0), ValueError, "jitter"),
        (dict(split="yes"), TypeError, "split"),
        (dict(sample_weight=np.array([1.0, 0.5, 1.0])), ValueError, "{0, 1}"),
        (dict(sample_weight=np.zeros(3)), ValueError, "no sample"),
        (dict(group_weights=np.array([1.0])), ValueError, "group_weights"),
        (dict(group_weights=np.array([1.0, -1.0])), ValueError,
         "group_weights"),
        (dict(sort_strategy="gpu"), ValueError, "sort_strategy"),
        (dict(y_pred=np.zeros(0), sensitive_features=np.zeros(0, int)),
         ValueError, "at least one"),
    ],
)
def test_fit_rejects_bad_input(kwargs, error, match):
  args = dict(y_pred=np.array([0.1, 0.5, 0.3]),
              sensitive_features=np.array([0, 1, 0]), key=jax.random.key(0))
  args.update(kwargs)
  y = args.pop("y_pred")
  with pytest.raises(error, match=match):
    fit_barycenter(y, **args)


def test_apply_rejects_bad_input(rng):
  y, s = _groups_data(rng, [40, 30, 0, 50])
  state = fit_barycenter(y, sensitive_features=s, num_groups=G,
                         key=jax.random.key(0))
  ok = dict(sensitive_features=s)
  with pytest.raises(ValueError, match="alpha"):
    apply_barycenter(state, y, alpha=1.5, **ok)
  with pytest.raises(ValueError, match="alpha"):
    apply_barycenter(state, y, alpha=np.ones(2), **ok)
  with pytest.raises(ValueError, match="interpolation"):
    apply_barycenter(state, y, interpolation="sqrt", **ok)
  with pytest.raises(TypeError, match="BarycenterState"):
    apply_barycenter(tuple(state), y, **ok)
  with pytest.raises(ValueError, match="table"):
    apply_barycenter(state._replace(table=state.table[:-1]), y, **ok)
  with pytest.raises(ValueError, match="length"):
    apply_barycenter(state, y[:5], **ok)
  s_copy, y_copy = s.copy(), y.copy()
  apply_barycenter(state, y, **ok)
  np.testing.assert_array_equal(s, s_copy)  # inputs are not mutated
  np.testing.assert_array_equal(y, y_copy)


# ----------------------------------------------------------------------------
# Saving and loading.


@pytest.fixture
def state(rng):
  y, s = _groups_data(rng, [70, 1, 0, 49])
  return fit_barycenter(y, sensitive_features=s, num_groups=G,
                        key=jax.random.key(0))


def _assert_same(a, b):
  for name, x, y in zip(BarycenterState._fields, a, b, strict=True):
    assert x.dtype == y.dtype and x.shape == y.shape, name
    assert np.asarray(x).tobytes() == np.asarray(y).tobytes(), name


def test_save_load_round_trip_is_bit_exact(tmp_path, state, rng):
  path = tmp_path / "state"  # no suffix: none is added
  save_state(path, state)
  assert os.listdir(tmp_path) == ["state"]
  _assert_same(load_state(path), state)
  y, s = _groups_data(rng, [60, 60, 0, 0])
  bf16 = fit_barycenter(jnp.asarray(y, jnp.bfloat16), sensitive_features=s,
                        num_groups=G, key=jax.random.key(0), jitter=1e-2)
  save_state(tmp_path / "bf16.npz", bf16)
  _assert_same(load_state(tmp_path / "bf16.npz"), bf16)


def test_save_load_float64(tmp_path, rng, enable_x64):
  y, s = _groups_data(rng, [50, 30, 0, 40])
  state = fit_barycenter(y.astype(np.float64), sensitive_features=s,
                         num_groups=G, key=jax.random.key(0))
  save_state(tmp_path / "f64.npz", state)
  _assert_same(load_state(tmp_path / "f64.npz"), state)


def test_load_rejects_truncated_files(tmp_path, state):
  path = tmp_path / "state.npz"
  save_state(path, state)
  raw = path.read_bytes()
  for cut in (0, 10, len(raw) // 3, len(raw) // 2, len(raw) - 1):
    bad = tmp_path / f"cut{cut}.npz"
    bad.write_bytes(raw[:cut])
    with pytest.raises(ValueError, match="not a valid fairjax state file"):
      load_state(bad)


def test_load_never_returns_garbage_after_byte_flips(tmp_path, state):
  path = tmp_path / "state.npz"
  save_state(path, state)
  raw = path.read_bytes()
  bad = tmp_path / "flip.npz"
  raised = 0
  for pos in range(0, len(raw), 11):
    flipped = bytearray(raw)
    flipped[pos] ^= 0x5A
    bad.write_bytes(bytes(flipped))
    try:
      loaded = load_state(bad)
    except ValueError:
      raised += 1
    else:  # a flip in zip metadata that does not touch the data
      _assert_same(loaded, state)
  assert raised > 0.8 * len(range(0, len(raw), 11))


def _rewrite(path, out, edit):
  """Copies a state file, passing its members through ``edit``."""
  with np.load(path) as f:
    members = {k: f[k] for k in f.files}
  edit(members)
  with open(out, "wb") as fh:
    np.savez(fh, **members)


def _header(members):
  import json
  return json.loads(members["header"].tobytes())


def _set_header(members, header):
  import json
  members["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m: m.pop("header"), "no header"),
        (lambda m: _set_header(m, {**_header(m), "format": "other"}),
         "format tag"),
        (lambda m: _set_header(m, {**_header(m), "version": 99}),
         "newer fairjax"),
        (lambda m: _set_header(m, {**_header(m), "fields": []}), "fields"),
        (lambda m: m.update(table=m["table"][:-1]), "table"),
        (lambda m: m.update(table=m["table"] + 1), "checksum"),
    ],
)
def test_load_rejects_incompatible_files(tmp_path, state, edit, match):
  path = tmp_path / "state.npz"
  save_state(path, state)
  _rewrite(path, tmp_path / "bad.npz", edit)
  with pytest.raises(ValueError, match=match):
    load_state(tmp_path / "bad.npz")


def test_load_checks_invariants_beyond_the_checksum(tmp_path, state):
  """A self-consistent file (valid digest) of an impossible state."""
  from fairjax import _state_io
  path = tmp_path / "state.npz"
  table = np.asarray(state.table).copy()
  table[0] += 1.0
  save_state(path, state._replace(table=jnp.asarray(table)))
  with pytest.raises(ValueError, match="table does not match"):
    load_state(path)
  unsorted = np.asarray(state.cdf_values).copy()
  unsorted[:2] = unsorted[1::-1]
  save_state(path, state._replace(cdf_values=jnp.asarray(unsorted)))
  with pytest.raises(ValueError, match="not sorted"):
    load_state(path)
  assert _state_io.VERSION == 1


def test_load_rejects_other_files(tmp_path):
  np.save(tmp_path / "plain.npy", np.arange(3))
  with pytest.raises(ValueError, match="not a valid"):
    load_state(tmp_path / "plain.npy")
  with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
    pass
  with pytest.raises(ValueError, match="no header"):
    load_state(tmp_path / "empty.npz")
  np.savez(tmp_path / "obj.npz", header=np.array([{"a": 1}], dtype=object))
  with pytest.raises(ValueError, match="not a valid"):
    load_state(tmp_path / "obj.npz")
  with pytest.raises(FileNotFoundError):
    load_state(tmp_path / "missing.npz")
