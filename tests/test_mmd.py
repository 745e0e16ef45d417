"""MMD penalty: against a plain-numpy reference, minibatch safety, options."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from fairjax import _kernels
from fairjax._mmd import mmd_penalty

_median = jax.jit(_kernels.weighted_median_distance)

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


def test_callable_kernel_matches_reference(enable_x64):
  x, s, y, _ = _data(np.random.default_rng(3))

  def gaussian(a, b):
    return jnp.exp(-jnp.sum((a - b) ** 2) / (2 * 0.7**2))

  for estimator in ("biased", "unbiased"):
    want = _ref_penalty(x, s, y, None, num_groups=3,
                        notion="demographic_parity", kernel="gaussian",
                        bandwidth=0.7, estimator=estimator,
                        reduction="pairwise")
    got = mmd_penalty(x, sensitive_features=s, kernel=gaussian,
                      estimator=estimator)
    np.testing.assert_allclose(float(got), want, rtol=1e-10)


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
  scales = jnp.asarray([0.8, 1.6])
  # Laplace sums coordinates directly at d = 2 and uses the matrix-product
  # form at d = 12, as the Gaussian kernel does at every d.
  for d, kernel in ((2, "gaussian"), (2, "laplace"), (12, "laplace"),
                    (12, "energy")):
    x = jnp.asarray(rng.normal(size=(23, d)))
    cols = jnp.asarray(rng.uniform(size=(23, 4)))
    k = _ref_kernel(np.asarray(x), np.asarray(x), kernel, (0.8, 1.6))
    want = np.asarray(cols).T @ k @ np.asarray(cols)
    for tile in (_kernels._TILE, 5):  # whole matrix; 5 tiles, one padded
      monkeypatch.setattr(_kernels, "_TILE", tile)
      # A fresh jit per tile size: the tile size is read while tracing.
      got = jax.jit(lambda x, c, k=kernel: _kernels.kernel_gram(
          x, c, k, scales))(x, cols)
      np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12,
                                 err_msg=f"{kernel}, tile {tile}")


def test_gaussian_gram_derivatives_match_the_generic_path(enable_x64):
  """The matrix-form JVP: reverse, forward and second order, every input."""
  rng = np.random.default_rng(6)
  x = jnp.asarray(rng.normal(size=(31, 3)))
  cols = jnp.asarray(rng.uniform(size=(31, 2)))
  for scales in (jnp.asarray([1.3]), jnp.asarray([0.6, 1.5])):
    def generic(x, c, sc):
      k = _kernels.kernel_matrix(x, x, "gaussian", sc, same=True)
      return c.T @ k @ c

    def fast(x, c, sc):
      return _kernels.kernel_gram(x, c, "gaussian", sc)

    args = (x, cols, scales)
    np.testing.assert_allclose(fast(*args), generic(*args), rtol=1e-12)
    for i in range(3):
      want = jax.jacrev(generic, i)(*args)
      for jac in (jax.jacrev, jax.jacfwd):
        np.testing.assert_allclose(jac(fast, i)(*args), want, rtol=1e-9,
                                   atol=1e-11, err_msg=f"{jac.__name__} {i}")
    h = jax.hessian(lambda x: fast(x, cols, scales)[0, 1])(x)
    h_want = jax.hessian(lambda x: generic(x, cols, scales)[0, 1])(x)
    np.testing.assert_allclose(h, h_want, rtol=1e-9, atol=1e-11)


def test_random_features_approximate_the_exact_value():
  rng = np.random.default_rng(6)
  n = 400
  s = np.repeat([0, 1], n // 2)
  x = (rng.normal(size=(n, 4)) + 0.6 * s[:, None]).astype(np.float32)
  kw = dict(sensitive_features=s, bandwidth=2.0)
  for kernel in ("gaussian", "laplace"):
    exact = float(mmd_penalty(x, kernel=kernel, **kw))

    def approx(key, kernel=kernel):
      return float(mmd_penalty(x, kernel=kernel, estimator="random_features",
                               key=key, num_features=4096, **kw))

    # The estimate averaged over keys (each within a few percent).
    values = [approx(jax.random.key(i)) for i in range(4)]
    np.testing.assert_allclose(np.mean(values), exact, rtol=0.03,
                               err_msg=kernel)
    np.testing.assert_allclose(values, exact, rtol=0.1, err_msg=kernel)
    # The same key gives the same value; different keys differ.
    assert approx(jax.random.key(0)) == values[0]
    assert len(set(values)) == len(values)


def test_median_bandwidth_is_the_weighted_median_distance(enable_x64):
  x, s, _, _ = _data(np.random.default_rng(7), n=15)
  d = cdist(x, x)[np.triu_indices(15, k=1)]
  srt = np.sort(d)
  want = srt[np.searchsorted(np.arange(1, len(d) + 1), 0.5 * len(d))]
  got = _median(jnp.asarray(x), jnp.ones(15))
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
  copies = [a.copy() for a in (pad_x, pad_s, pad_w)]
  for estimator in ("biased", "unbiased"):
    kw = dict(estimator=estimator, kernel="laplace", bandwidth=1.0)
    got = mmd_penalty(pad_x, sensitive_features=pad_s, sample_weight=pad_w,
                      **kw)
    want = _ref_penalty(x, s, y, w, num_groups=3, notion="demographic_parity",
                        reduction="pairwise", **kw)
    np.testing.assert_allclose(float(got), want, rtol=1e-9)
  for a, b in zip((pad_x, pad_s, pad_w), copies, strict=True):
    np.testing.assert_array_equal(a, b)  # the inputs are not mutated


# Minibatch edge cases, one compiled value-and-gradient per configuration:
# every kernel and estimator, every reduction, four groups of which one is
# always absent, the median bandwidth (gradient stopped).
@pytest.mark.parametrize(
    "kernel,estimator,reduction",
    [("gaussian", "biased", "pairwise"), ("laplace", "unbiased", "vs_pooled"),
     ("energy", "biased", "max"), ("linear", "unbiased", "pairwise"),
     ("gaussian", "random_features", "max")],
)
def test_minibatch_edge_cases(kernel, estimator, reduction):
  rng = np.random.default_rng(11)
  s = np.array([0, 0, 0, 1, 1, 1, 2, 2])  # group 3 absent
  kw = dict(kernel=kernel, estimator=estimator, reduction=reduction)

  def f(z, s=s):
    return mmd_penalty(z, sensitive_features=s, num_groups=4,
                       bandwidth="median", key=jax.random.key(0), **kw)

  value_and_grad = jax.value_and_grad(f)
  near = rng.normal(size=(8, 3))
  value, grad = value_and_grad(near.astype(np.float32))
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)
  if estimator != "random_features":
    # The absent group contributes nothing: the three present groups.
    centred = jnp.asarray(near - near.mean(0), jnp.float32)
    bandwidth = float(_median(centred, jnp.ones(8, jnp.float32)))
    want = _ref_penalty(near, s, None, None, num_groups=3,
                        notion="demographic_parity", bandwidth=bandwidth,
                        **kw)
    np.testing.assert_allclose(float(value), want, rtol=1e-4, atol=1e-6)

  for x in (
      np.zeros((8, 3)),  # every distance zero
      np.repeat(rng.normal(size=(4, 3)), 2, axis=0),  # duplicated points
      1e4 * rng.normal(size=(8, 3)),  # magnitudes 1e4
      near + 1e4,  # far from the origin
  ):
    far, grad = value_and_grad(x.astype(np.float32))
    assert np.isfinite(far) and np.all(np.isfinite(grad)), x[0]
  if not (kernel == "linear" and estimator == "unbiased"):
    # Translation invariant: float32 keeps the value far from the origin.
    np.testing.assert_allclose(float(far), float(value), rtol=1e-2)

  # One group present: exactly 0, with a zero gradient.
  value, grad = value_and_grad(near.astype(np.float32), np.full(8, 1))
  assert float(value) == 0.0
  assert np.all(grad == 0)


def test_dtype_is_preserved():
  x, s, _, _ = _data(np.random.default_rng(13))
  want = mmd_penalty(x.astype(np.float32), sensitive_features=s)
  # bfloat16 is computed in float32 (same compiled function) and cast back;
  # float64 is checked against the reference above.
  for dtype in (jnp.bfloat16, jnp.float32):
    z = jnp.asarray(x, dtype)
    value, grad = jax.value_and_grad(
        lambda z: mmd_penalty(z, sensitive_features=s, num_groups=3))(z)
    assert value.dtype == grad.dtype == dtype
    np.testing.assert_allclose(
        np.float32(value), want, rtol=2e-2 if dtype == jnp.bfloat16 else 1e-6,
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
