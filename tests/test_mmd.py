"""MMD penalty: against a plain-numpy reference, minibatch safety, options."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from fairjax import _kernels
from fairjax._mmd import mmd_penalty

# ----------------------------------------------------------------------------
# An independent reference: boolean indexing, explicit pairs, float64 numpy.


def _ref_kernel(x, y, kernel, bandwidth):
  d = cdist(x, y)
  if kernel == "linear":
    return x @ y.T
  if kernel == "energy":
    return -d
  scales = np.atleast_1d(bandwidth)
  if kernel == "gaussian":
    return sum(np.exp(-d**2 / (2 * s**2)) for s in scales)
  return sum(np.exp(-d / s) for s in scales)


def _ref_term(x, wx, y, wy, kernel, bandwidth, unbiased, same):
  """Weighted mean of k over pairs (distinct pairs for a U-statistic)."""
  k = _ref_kernel(x, y, kernel, bandwidth)
  w = np.outer(wx, wy)
  if unbiased and same:
    np.fill_diagonal(w, 0)
  return np.sum(w * k) / np.sum(w) if np.sum(w) > 0 else 0.0


def _ref_mmd2(x, wx, y, wy, kernel, bandwidth, unbiased):
  def t(a, wa, b, wb, same):
    return _ref_term(a, wa, b, wb, kernel, bandwidth, unbiased, same)
  return (t(x, wx, x, wx, True) + t(y, wy, y, wy, True)
          - 2 * t(x, wx, y, wy, False))


def _ref_penalty(x, s, y, w, *, num_groups, notion, kernel, bandwidth,
                 estimator, reduction):
  if x.ndim == 1:
    x = x[:, None]
  w = np.ones(len(s)) if w is None else w
  if notion == "demographic_parity":
    classes = [np.ones(len(s), bool)]
  elif notion == "equal_opportunity":
    classes = [y == 1]
  else:
    classes = [y == 0, y == 1]
  unbiased = estimator == "unbiased"
  total = 0.0
  for c in classes:
    mass = np.array([w[c & (s == g)].sum() for g in range(num_groups)])
    if mass.sum() == 0:
      continue
    p = mass / mass.sum()
    present = [g for g in range(num_groups) if mass[g] > 0]
    if reduction == "vs_pooled":
      for g in present:
        m = c & (s == g)
        total += p[g] * _ref_mmd2(x[m], w[m], x[c], w[c], kernel, bandwidth,
                                  False) if not unbiased else p[g] * (
            _ref_unbiased_vs_pooled(x, w, m, c, kernel, bandwidth))
      continue
    pairs = {}
    for g, h in itertools.combinations(present, 2):
      mg, mh = c & (s == g), c & (s == h)
      pairs[g, h] = _ref_mmd2(x[mg], w[mg], x[mh], w[mh], kernel, bandwidth,
                              unbiased)
    if not pairs:
      continue
    if reduction == "max":
      total += max(pairs.values())
    else:
      wts = {k: p[k[0]] * p[k[1]] for k in pairs}
      total += sum(wts[k] * v for k, v in pairs.items()) / sum(wts.values())
  return total


def _ref_unbiased_vs_pooled(x, w, mg, mc, kernel, bandwidth):
  """U-statistic between a group and its pooled class (shared points)."""
  k = _ref_kernel(x, x, kernel, bandwidth)

  def u(ma, mb):
    ww = np.outer(w * ma, w * mb)
    np.fill_diagonal(ww, 0)  # pairs of distinct points only
    return np.sum(ww * k) / np.sum(ww)

  return u(mg, mg) + u(mc, mc) - 2 * u(mg, mc)


def _data(rng, n=24, d=3, num_groups=3, weights=True):
  s = np.arange(n) % num_groups
  rng.shuffle(s)
  x = rng.normal(size=(n, d)) + 0.5 * s[:, None]
  y = rng.integers(0, 2, n)
  y[:4] = [0, 0, 1, 1]
  w = rng.uniform(0.5, 2.0, n) if weights else None
  return x, s, y, w


_COMBOS = [  # every kernel and estimator, every notion and reduction
    ("gaussian", 1.3, "biased", "demographic_parity", "pairwise"),
    ("gaussian", (0.5, 2.0), "unbiased", "equal_opportunity", "max"),
    ("gaussian", 0.9, "unbiased", "equalized_odds", "vs_pooled"),
    ("laplace", 0.8, "biased", "equalized_odds", "vs_pooled"),
    ("laplace", (0.4, 1.5), "unbiased", "demographic_parity", "pairwise"),
    ("linear", 1.0, "biased", "equal_opportunity", "max"),
    ("linear", 1.0, "unbiased", "equalized_odds", "pairwise"),
    ("energy", 1.0, "biased", "demographic_parity", "max"),
    ("energy", 1.0, "unbiased", "equalized_odds", "vs_pooled"),
]


@pytest.mark.parametrize(
    "kernel,bandwidth,estimator,notion,reduction", _COMBOS
)
def test_matches_numpy_reference(enable_x64, kernel, bandwidth, estimator,
                                 notion, reduction):
  x, s, y, w = _data(np.random.default_rng(0))
  kw = dict(num_groups=3, notion=notion, kernel=kernel, bandwidth=bandwidth,
            estimator=estimator, reduction=reduction)
  got = mmd_penalty(x, sensitive_features=s, labels=y, sample_weight=w, **kw)
  want = _ref_penalty(x, s, y, w, **kw)
  assert got.dtype == jnp.float64
  np.testing.assert_allclose(float(got), want, rtol=1e-5, atol=1e-12)


def test_two_groups_is_mmd_between_the_groups(enable_x64):
  rng = np.random.default_rng(1)
  x0, x1 = rng.normal(size=(7, 2)), rng.normal(size=(9, 2)) + 1.0
  x = np.concatenate([x0, x1])
  s = np.repeat([0, 1], [7, 9])
  want = _ref_mmd2(x0, np.ones(7), x1, np.ones(9), "gaussian", 1.0, False)
  got = mmd_penalty(x, sensitive_features=s)
  np.testing.assert_allclose(float(got), want, rtol=1e-12)
  # Weighted quadratic form (a - b)^T K (a - b) on the full batch.
  a = np.where(s == 0, 1 / 7, 0.0) - np.where(s == 1, 1 / 9, 0.0)
  k = _ref_kernel(x, x, "gaussian", 1.0)
  np.testing.assert_allclose(float(got), a @ k @ a, rtol=1e-12)
  # vs_pooled weighs the pair by p0 p1.
  pooled = mmd_penalty(x, sensitive_features=s, reduction="vs_pooled")
  np.testing.assert_allclose(float(pooled), 7 * 9 / 16**2 * want, rtol=1e-12)


def test_scores_are_one_dimensional_points(enable_x64):
  x, s, _, _ = _data(np.random.default_rng(2), d=1, num_groups=2)
  np.testing.assert_allclose(
      mmd_penalty(x[:, 0], sensitive_features=s, kernel="energy"),
      mmd_penalty(x, sensitive_features=s, kernel="energy"), rtol=1e-12,
  )


def test_callable_kernel_matches_builtin(enable_x64):
  x, s, _, _ = _data(np.random.default_rng(3))

  def gaussian(a, b):
    return jnp.exp(-jnp.sum((a - b) ** 2) / (2 * 0.7**2))

  for estimator in ("biased", "unbiased"):
    np.testing.assert_allclose(
        mmd_penalty(x, sensitive_features=s, kernel=gaussian,
                    estimator=estimator),
        mmd_penalty(x, sensitive_features=s, bandwidth=0.7,
                    estimator=estimator),
        rtol=1e-10,
    )


def test_zero_on_identical_groups_and_increasing_with_shift(enable_x64):
  base = np.random.default_rng(4).normal(size=(20, 2))
  s = np.repeat([0, 1], 20)
  for kernel in ("gaussian", "laplace", "energy", "linear"):
    same = mmd_penalty(np.concatenate([base, base]), sensitive_features=s,
                       kernel=kernel)
    assert abs(float(same)) < 1e-12
    values = [
        float(mmd_penalty(np.concatenate([base, base + [t, 0.0]]),
                          sensitive_features=s, kernel=kernel))
        for t in (0.1, 0.3, 0.6, 1.0, 1.5)
    ]
    assert np.all(np.diff(values) > 0), (kernel, values)


def test_tiled_gram_matches_full_matrix(enable_x64, monkeypatch):
  rng = np.random.default_rng(5)
  for d in (2, 12):  # direct distances, then the matrix-product form
    x = jnp.asarray(rng.normal(size=(23, d)))
    cols = jnp.asarray(rng.uniform(size=(23, 4)))
    scales = jnp.asarray([0.8, 1.6])
    for kernel in ("gaussian", "laplace", "energy"):
      full = _kernels.kernel_gram(x, cols, kernel, scales)
      monkeypatch.setattr(_kernels, "_TILE", 5)  # 5 tiles, the last one padded
      tiled = _kernels.kernel_gram(x, cols, kernel, scales)
      monkeypatch.undo()
      k = _ref_kernel(np.asarray(x), np.asarray(x), kernel, (0.8, 1.6))
      want = np.asarray(cols).T @ k @ np.asarray(cols)
      np.testing.assert_allclose(full, want, rtol=1e-10, atol=1e-12)
      np.testing.assert_allclose(tiled, want, rtol=1e-10, atol=1e-12)


def test_random_features_approximate_the_exact_value():
  rng = np.random.default_rng(6)
  n = 600
  s = np.repeat([0, 1], n // 2)
  x = (rng.normal(size=(n, 4)) + 0.6 * s[:, None]).astype(np.float32)
  key = jax.random.key(0)
  for kernel in ("gaussian", "laplace"):
    exact = mmd_penalty(x, sensitive_features=s, kernel=kernel, bandwidth=2.0)
    approx = mmd_penalty(x, sensitive_features=s, kernel=kernel, bandwidth=2.0,
                         estimator="random_features", key=key,
                         num_features=4096)
    np.testing.assert_allclose(approx, exact, rtol=0.05)
  again = mmd_penalty(x, sensitive_features=s, estimator="random_features",
                      key=key)
  other = mmd_penalty(x, sensitive_features=s, estimator="random_features",
                      key=jax.random.key(1))
  assert float(again) == float(
      mmd_penalty(x, sensitive_features=s, estimator="random_features",
                  key=key))
  assert float(again) != float(other)


def test_median_bandwidth_is_the_weighted_median_distance(enable_x64):
  x, s, _, _ = _data(np.random.default_rng(7), n=15)
  d = cdist(x, x)[np.triu_indices(15, k=1)]
  srt = np.sort(d)
  want = srt[np.searchsorted(np.arange(1, len(d) + 1), 0.5 * len(d))]
  got = _kernels.weighted_median_distance(jnp.asarray(x), jnp.ones(15))
  np.testing.assert_allclose(float(got), want, rtol=1e-12)
  np.testing.assert_allclose(
      mmd_penalty(x, sensitive_features=s, bandwidth="median"),
      mmd_penalty(x, sensitive_features=s, bandwidth=want), rtol=1e-10,
  )


def test_sample_weight_zero_rows_are_padding(enable_x64):
  x, s, y, w = _data(np.random.default_rng(8))
  pad_x = np.concatenate([x, 1e3 * np.ones((5, 3))])
  pad_s = np.concatenate([s, [0, 1, 2, 0, 1]])
  pad_w = np.concatenate([w, np.zeros(5)])
  for estimator in ("biased", "unbiased"):
    np.testing.assert_allclose(
        mmd_penalty(pad_x, sensitive_features=pad_s, sample_weight=pad_w,
                    estimator=estimator, kernel="laplace"),
        mmd_penalty(x, sensitive_features=s, sample_weight=w,
                    estimator=estimator, kernel="laplace"),
        rtol=1e-9,
    )


@pytest.mark.parametrize("reduction", ["pairwise", "vs_pooled", "max"])
def test_absent_group_contributes_nothing(reduction):
  x, s, _, _ = _data(np.random.default_rng(9), num_groups=2)
  x = x.astype(np.float32)
  kw = dict(reduction=reduction, estimator="unbiased")
  with_absent = mmd_penalty(x, sensitive_features=s, num_groups=4, **kw)
  np.testing.assert_allclose(
      with_absent, mmd_penalty(x, sensitive_features=s, num_groups=2, **kw),
      rtol=1e-5, atol=1e-7,
  )
  grad = jax.grad(lambda z: mmd_penalty(z, sensitive_features=s, num_groups=4,
                                        **kw))(x)
  assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("estimator", ["biased", "unbiased", "random_features"])
def test_one_group_gives_exactly_zero(estimator):
  x = np.random.default_rng(10).normal(size=(8, 2)).astype(np.float32)
  s = np.ones(8, np.int32)

  def f(z):
    return mmd_penalty(z, sensitive_features=s, num_groups=3,
                       estimator=estimator, key=jax.random.key(0))

  value, grad = jax.value_and_grad(f)(x)
  assert float(value) == 0.0
  assert np.all(grad == 0)


@pytest.mark.parametrize(
    "kernel,estimator",
    [("gaussian", "biased"), ("laplace", "unbiased"), ("energy", "biased"),
     ("linear", "unbiased"), ("gaussian", "random_features")],
)
def test_no_nan_on_duplicates_and_large_magnitudes(kernel, estimator):
  rng = np.random.default_rng(11)
  s = np.array([0, 0, 0, 1, 1, 1, 2, 2])
  cases = [
      np.zeros((8, 3)),  # every distance zero
      np.repeat(rng.normal(size=(4, 3)), 2, axis=0),  # duplicated points
      1e4 * rng.normal(size=(8, 3)),  # magnitudes 1e4
      1e4 + rng.normal(size=(8, 3)),  # far from the origin
  ]
  for x in cases:
    x = x.astype(np.float32)

    def f(z):
      return mmd_penalty(z, sensitive_features=s, kernel=kernel,
                         estimator=estimator, bandwidth="median",
                         key=jax.random.key(0))

    value, grad = jax.value_and_grad(f)(x)
    assert np.isfinite(value) and np.all(np.isfinite(grad)), (kernel, x[0])


def test_far_from_origin_keeps_accuracy():
  rng = np.random.default_rng(12)
  x = rng.normal(size=(16, 3))
  s = np.arange(16) % 2
  near = mmd_penalty(x.astype(np.float32), sensitive_features=s)
  far = mmd_penalty((x + 1e4).astype(np.float32), sensitive_features=s)
  np.testing.assert_allclose(far, near, rtol=1e-2)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float32, jnp.float64])
def test_dtype_is_preserved(dtype, enable_x64):
  x, s, _, _ = _data(np.random.default_rng(13))
  z = jnp.asarray(x, dtype)
  value = mmd_penalty(z, sensitive_features=s)
  assert value.dtype == dtype
  grad = jax.grad(lambda z: mmd_penalty(z, sensitive_features=s,
                                        num_groups=3))(z)
  assert grad.dtype == dtype
  np.testing.assert_allclose(
      np.float64(value), float(mmd_penalty(x, sensitive_features=s)),
      rtol=2e-2 if dtype == jnp.bfloat16 else 1e-5,
  )


def test_equal_opportunity_ignores_negatives(enable_x64):
  x, s, y, _ = _data(np.random.default_rng(14))
  moved = np.where((y == 0)[:, None], x + 5.0, x)
  kw = dict(labels=y, notion="equal_opportunity")
  np.testing.assert_allclose(
      mmd_penalty(moved, sensitive_features=s, **kw),
      mmd_penalty(x, sensitive_features=s, **kw), rtol=1e-12,
  )
  # Equalized odds is the sum over the two label classes.
  eo = mmd_penalty(x, sensitive_features=s, labels=y, notion="equalized_odds")
  parts = [mmd_penalty(x, sensitive_features=s, sample_weight=(y == k) * 1.0)
           for k in (0, 1)]
  np.testing.assert_allclose(eo, sum(parts), rtol=1e-12)


def test_input_is_not_mutated():
  x, s, _, w = _data(np.random.default_rng(15))
  copies = [a.copy() for a in (x, s, w)]
  mmd_penalty(x, sensitive_features=s, sample_weight=w, bandwidth="median")
  for a, b in zip((x, s, w), copies, strict=True):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(kernel="rbf"), ValueError, "`kernel`"),
        (dict(estimator="u"), ValueError, "`estimator`"),
        (dict(reduction="mean"), ValueError, "`reduction`"),
        (dict(bandwidth=-1.0), ValueError, "`bandwidth` must be positive"),
        (dict(bandwidth="mean"), ValueError, "'median'"),
        (dict(bandwidth=()), ValueError, "empty"),
        (dict(estimator="random_features"), ValueError, "`key="),
        (dict(estimator="random_features", kernel="energy",
              key=jax.random.key(0)), ValueError, "spectral density"),
        (dict(estimator="random_features", num_features=7,
              key=jax.random.key(0)), ValueError, "`num_features`"),
        (dict(notion="parity"), ValueError, "`notion`"),
        (dict(notion="equal_opportunity"), ValueError, "`labels`"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
  x = np.zeros((4, 2), np.float32)
  with pytest.raises(error, match=match):
    mmd_penalty(x, sensitive_features=np.array([0, 0, 1, 1]), **kwargs)


def test_bad_shapes_are_named():
  with pytest.raises(ValueError, match="`features`"):
    mmd_penalty(np.zeros((2, 2, 2)), sensitive_features=np.array([0, 1]))
  with pytest.raises(ValueError, match="`sensitive_features`"):
    mmd_penalty(np.zeros((3, 2)), sensitive_features=np.array([0, 1]))
  with pytest.raises(ValueError, match="`sample_weight`"):
    mmd_penalty(np.zeros((2, 2)), sensitive_features=np.array([0, 1]),
                sample_weight=np.array([1.0, -1.0]))
