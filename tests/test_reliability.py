"""Issue 12: every silent-wrong-value example of the core numerics, as a test.

The property-based versions (padding, dtypes, permutations, ...) are in
``tests/test_properties.py``; the policy is in ``docs/reliability.md``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fairjax

S4 = np.array([0, 1, 0, 1])
BAD_VALUES = (np.nan, np.inf, 1e30)


def _pad(x, value, rows=1):
  x = np.asarray(x)
  filler = np.full((rows,) + x.shape[1:], value, x.dtype)
  return np.concatenate([x, filler])


# 1. Weight-0 rows are true padding. -------------------------------------


@pytest.mark.parametrize("value", BAD_VALUES)
@pytest.mark.parametrize("kernel", ["gaussian", "linear", "energy"])
def test_mmd_padded_row_changes_nothing(value, kernel):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(8, 2)).astype(np.float32)
  s = np.arange(8) % 2
  w = np.ones(8, np.float32)
  want = fairjax.mmd_penalty(x, sensitive_features=s, sample_weight=w,
                             kernel=kernel)
  got = fairjax.mmd_penalty(_pad(x, value), sensitive_features=_pad(s, 1),
                            sample_weight=_pad(w, 0), kernel=kernel)
  np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("value", BAD_VALUES)
def test_sinkhorn_padded_row_changes_nothing(value):
  # the shared input path (check_penalty_inputs) masks and centres for both
  rng = np.random.default_rng(1)
  x = rng.normal(size=(8, 2)).astype(np.float32)
  s = np.arange(8) % 2
  w = np.ones(8, np.float32)
  want = fairjax.sinkhorn_penalty(x, sensitive_features=s, sample_weight=w)
  got = fairjax.sinkhorn_penalty(_pad(x, value), sensitive_features=_pad(s, 0),
                                 sample_weight=_pad(w, 0))
  assert np.isfinite(got)
  np.testing.assert_allclose(got, want, rtol=1e-4)


@pytest.mark.parametrize("value", BAD_VALUES)
def test_ferm_direction_padded_row_changes_nothing(value):
  X = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [5.0, 5.0]], np.float32)
  y = np.array([1, 1, 1, 1])
  s = np.array([0, 0, 1, 1])
  want = fairjax.ferm_direction(X, y, sensitive_features=s,
                                sample_weight=np.ones(4, np.float32))
  got = fairjax.ferm_direction(
      _pad(X, value), _pad(y, 1), sensitive_features=_pad(s, 1),
      sample_weight=_pad(np.ones(4, np.float32), 0))
  np.testing.assert_allclose(got, want, rtol=1e-6)
  state = fairjax.fit_ferm_projection(
      _pad(X, value), _pad(y, 1), sensitive_features=_pad(s, 1),
      sample_weight=_pad(np.ones(4, np.float32), 0))
  ref = fairjax.fit_ferm_projection(X, y, sensitive_features=s)
  np.testing.assert_allclose(state.basis, ref.basis, rtol=1e-5, atol=1e-6)


def test_mean_gap_penalty_nan_is_not_parity():
  scores = np.array([0.1, 0.9, 0.3, 0.4], np.float32)
  for value in (np.nan, np.inf):
    bad = scores.copy()
    bad[1] = value
    assert not np.isfinite(fairjax.mean_gap_penalty(bad, sensitive_features=S4))
    padded = fairjax.mean_gap_penalty(
        bad, sensitive_features=S4,
        sample_weight=np.array([1, 0, 1, 1], np.float32))
    want = fairjax.mean_gap_penalty(scores[[0, 2, 3]],
                                    sensitive_features=S4[[0, 2, 3]])
    np.testing.assert_allclose(padded, want, rtol=1e-6)


def test_padded_rows_in_metrics_barycenter_and_bootstrap():
  rng = np.random.default_rng(2)
  n = 30
  p = rng.random(n).astype(np.float32)
  s = rng.integers(0, 2, n)
  y = rng.integers(0, 2, n)
  w = np.ones(n, np.float32)
  pp, sp = _pad(p, np.nan, 2), _pad(s, 0, 2)
  yp, wp = _pad(y, 0, 2), _pad(w, 0, 2)
  hard, hard_p = (p > 0.5).astype(np.float32), _pad((p > 0.5).astype(
      np.float32), np.nan, 2)
  assert fairjax.demographic_parity_difference(
      yp, hard_p, sensitive_features=sp, sample_weight=wp) == (
          fairjax.demographic_parity_difference(y, hard, sensitive_features=s))
  ks = fairjax.ks_distance(y, p, sensitive_features=s)
  assert fairjax.ks_distance(yp, pp, sensitive_features=sp,
                             sample_weight=wp) == ks
  a = fairjax.group_statistics(yp, pp, sensitive_features=sp, sample_weight=wp)
  b = fairjax.group_statistics(y, p, sensitive_features=s)
  for u, v in zip(a, b, strict=True):
    np.testing.assert_allclose(u, v, rtol=1e-6)
  kw = dict(key=None, jitter=0.0, split=False)
  st_p = fairjax.fit_barycenter(pp, sensitive_features=sp, sample_weight=wp,
                                **kw)
  st = fairjax.fit_barycenter(p, sensitive_features=s, **kw)
  np.testing.assert_array_equal(
      fairjax.apply_barycenter(st_p, p, sensitive_features=s),
      fairjax.apply_barycenter(st, p, sensitive_features=s))
  key = jax.random.key(0)
  ci_p = fairjax.bootstrap_ci(fairjax.ks_distance, yp, pp,
                              sensitive_features=sp, sample_weight=wp, key=key,
                              n_boot=16)
  ci = fairjax.bootstrap_ci(fairjax.ks_distance, y, p, sensitive_features=s,
                            sample_weight=w, key=key, n_boot=16)
  np.testing.assert_array_equal(ci_p.samples, ci.samples)


# 2. Low precision accumulates in float32. ---------------------------------


@pytest.mark.parametrize("dtype,n",
                         [(jnp.bfloat16, 4000), (jnp.float16, 40000)])
def test_half_precision_weights_count_and_dp(dtype, n):
  s = np.arange(n) % 2
  p = ((np.arange(n) // 2) % 4 == 0).astype(np.int32) | (s == 1)
  w = jnp.ones(n, dtype)
  stats = fairjax.group_statistics(p, p, sensitive_features=s, sample_weight=w)
  np.testing.assert_allclose(np.asarray(stats.count, np.float32),
                             [n / 2, n / 2], rtol=1e-2)
  dp = fairjax.demographic_parity_difference(p, p, sensitive_features=s,
                                             sample_weight=w)
  assert dp.dtype == dtype
  np.testing.assert_allclose(float(dp), 0.75, atol=1e-2)
  counts = fairjax._groups.cell_counts(s, None, p, sample_weight=w)
  np.testing.assert_array_equal(counts.sum((1, 2)), [n / 2, n / 2])


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_ks_distance_half_precision_predictions(dtype):
  rng = np.random.default_rng(3)
  n = 4000
  s = np.arange(n) % 2
  p = rng.random(n).astype(np.float32)
  low = jnp.asarray(p, dtype)
  got = fairjax.ks_distance(p, low, sensitive_features=s)
  want = fairjax.ks_distance(p, np.asarray(low, np.float32),
                             sensitive_features=s)
  assert got.dtype == dtype
  assert float(got) < 0.1  # was 1.0
  np.testing.assert_allclose(float(got), float(want), rtol=1e-2)


# 3. KS with normalised weights and absent groups. ---------------------------


def test_ks_distance_normalised_weights_absent_group():
  y = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
  w = np.full(4, 0.1, np.float32)
  got = fairjax.ks_distance(y, y, sensitive_features=S4, sample_weight=w,
                            num_groups=3)
  assert float(got) == pytest.approx(0.5)  # was 0.70
  tied = fairjax.ks_distance(y, np.ones(4, np.float32), sensitive_features=S4,
                             sample_weight=w, num_groups=3)
  assert float(tied) == 0.0  # was 0.99
  ci = fairjax.bootstrap_ci(fairjax.ks_distance, y, y, sensitive_features=S4,
                            sample_weight=w, num_groups=3,
                            key=jax.random.key(0), n_boot=50)
  assert float(ci.estimate) == pytest.approx(0.5)
  assert float(jnp.max(ci.samples)) <= 1.0 + 1e-6


# 4. NaN policy. -------------------------------------------------------------


def test_nan_prediction_raises_or_propagates():
  p = np.array([0.1, np.nan, 0.3, 0.4], np.float32)
  for fn in (fairjax.ks_distance, fairjax.group_statistics):
    with pytest.raises(ValueError, match=r"y_pred.*finite.*1 rows.*row 1"):
      fn(p, p, sensitive_features=S4)
  assert np.isnan(fairjax.ks_distance(p, p, sensitive_features=S4,
                                      check_finite=False))
  jitted = jax.jit(lambda q: fairjax.ks_distance(q, q, sensitive_features=S4,
                                                 num_groups=2))
  assert np.isnan(jitted(p))
  assert np.isnan(fairjax.mean_gap_penalty(p, sensitive_features=S4))


def test_inf_in_one_group_leaves_other_groups_finite():
  p = np.array([0.1, np.inf, 0.3, 0.4], np.float32)
  stats = fairjax.group_statistics(np.array([1, 0, 1, 0]), p,
                                   sensitive_features=S4, check_finite=False)
  assert np.isfinite(stats.mean_prediction[0])
  assert stats.mean_prediction[1] == np.inf
  assert np.all(np.isfinite(stats.selection_rate))
  p[1] = np.nan
  stats = fairjax.group_statistics(np.array([1, 0, 1, 0]), p,
                                   sensitive_features=S4, check_finite=False)
  assert np.isfinite(stats.selection_rate[0])
  assert np.isnan(stats.selection_rate[1])  # never a confident rate


# 6. Estimators outside their domain. ---------------------------------------


def test_unbiased_mmd_one_member_group():
  x = np.zeros((3, 1), np.float32)  # identical points: MMD is 0, was -1
  s = np.array([0, 1, 1])
  with pytest.raises(ValueError, match="unbiased.*group 0 has one"):
    fairjax.mmd_penalty(x, sensitive_features=s, estimator="unbiased")
  with pytest.raises(ValueError, match="group 0 has one"):
    fairjax.mmd_penalty(x, sensitive_features=s, estimator="unbiased",
                        kernel="linear",
                        sample_weight=np.array([1e-3, 1e-3, 1e-3], np.float32))
  jitted = jax.jit(lambda z: fairjax.mmd_penalty(
      z, sensitive_features=s, num_groups=2, estimator="unbiased"))
  assert float(jitted(x)) == 0.0  # left out like an absent group, not -1


def test_kernel_decision_function_uses_fitted_kernel():
  rng = np.random.default_rng(4)
  X = rng.normal(size=(30, 2))
  y = (X[:, 0] > 0).astype(int)
  model = fairjax.fit_kernel_ferm(X, y, kernel="linear")
  assert int(model.kernel_id) == 1
  want = X @ (np.asarray(model.train_X).T @ np.asarray(model.dual_coef))
  np.testing.assert_allclose(fairjax.kernel_decision_function(model, X),
                             want + float(model.bias), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(jax.jit(fairjax.kernel_decision_function)(
      model, X), want + float(model.bias), rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match="differs from the kernel"):
    fairjax.kernel_decision_function(model, X, kernel="rbf")
  with pytest.raises(ValueError, match="'rbf' or 'linear', got 'Linear'"):
    fairjax.kernel_decision_function(model, X, kernel="Linear")
  with pytest.raises(ValueError, match="'rbf' or 'linear', got 'Linear'"):
    fairjax.fit_kernel_ferm(X, y, kernel="Linear")


def test_rbf_kernel_far_from_origin():
  rng = np.random.default_rng(5)
  X = (rng.normal(size=(5, 3)) + 1e4).astype(np.float32)
  Z = (rng.normal(size=(4, 3)) + 1e4).astype(np.float32)
  X64, Z64 = X.astype(np.float64), Z.astype(np.float64)
  want = np.exp(-0.5 * ((X64[:, None] - Z64[None]) ** 2).sum(-1))
  np.testing.assert_allclose(fairjax.rbf_kernel(X, Z, gamma=0.5), want,
                             rtol=1e-4, atol=1e-5)


def test_nystroem_integer_input_keeps_float_gamma():
  X = np.arange(20).reshape(10, 2)
  state = fairjax.fit_nystroem(jax.random.key(0), X, num_components=3,
                               gamma=0.1)
  assert jnp.issubdtype(state.gamma.dtype, jnp.floating)
  assert float(state.gamma) == pytest.approx(0.1)


def test_kernel_ferm_group_without_positives_raises():
  rng = np.random.default_rng(6)
  X = rng.normal(size=(20, 2))
  s = np.arange(20) % 2
  y = np.where(s == 1, 0, (X[:, 0] > 0).astype(int))
  with pytest.raises(ValueError, match="Group 1 has no positive example"):
    fairjax.fit_kernel_ferm(X, y, sensitive_features=s)


def test_kernel_ferm_padded_row():
  rng = np.random.default_rng(7)
  X = rng.normal(size=(20, 2))
  y = (X[:, 0] > 0).astype(int)
  s = np.arange(20) % 2
  kw = dict(kernel="linear", tol=1e-7, max_iter=20000)
  a = fairjax.fit_kernel_ferm(X, y, sensitive_features=s,
                              sample_weight=np.ones(20), **kw)
  b = fairjax.fit_kernel_ferm(_pad(X, np.nan), _pad(y, 1),
                              sensitive_features=_pad(s, 0),
                              sample_weight=_pad(np.ones(20), 0), **kw)
  np.testing.assert_allclose(fairjax.kernel_decision_function(b, X),
                             fairjax.kernel_decision_function(a, X),
                             rtol=1e-3, atol=1e-3)


# 7. n = 0. -----------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda z, s: fairjax.mmd_penalty(z, sensitive_features=s, num_groups=2),
    lambda z, s: fairjax.sinkhorn_penalty(z, sensitive_features=s,
                                          num_groups=2),
    lambda z, s: fairjax.mean_gap_penalty(z[:, 0], sensitive_features=s,
                                          num_groups=2),
    lambda z, s: fairjax.ks_distance(z[:, 0], z[:, 0], sensitive_features=s,
                                     num_groups=2),
])
def test_empty_batch_is_a_clear_error(call):
  with pytest.raises(ValueError, match="at least one row, got 0"):
    call(np.zeros((0, 1), np.float32), np.zeros((0,), np.int32))


# Clear errors and the input people have. ------------------------------------


@pytest.mark.parametrize("bad", [np.array(["a", "b", "a", "b"]),
                                 np.array([1, 0, 1, 0], dtype=object)])
def test_string_and_object_arrays_name_the_argument(bad):
  with pytest.raises(TypeError, match="`y_pred` must be numeric"):
    fairjax.demographic_parity_difference(S4, bad, sensitive_features=S4)
  with pytest.raises(TypeError, match="`features` must be numeric"):
    fairjax.mmd_penalty(bad, sensitive_features=S4)
  with pytest.raises(TypeError, match="`X` must be numeric"):
    fairjax.ferm_direction(bad[:, None], S4, sensitive_features=S4)


def test_pandas_input():
  pd = pytest.importorskip("pandas")
  df = pd.DataFrame({"sex": ["F", "M", "F", "M"],
                     "race": pd.Categorical(["a", "a", "b", "b"]),
                     "y": [1, 0, 1, 1], "p": [1, 1, 0, 1]})
  one = fairjax.encode_groups(df["sex"])
  assert one.names == (("F",), ("M",)) and one.ids.tolist() == [0, 1, 0, 1]
  both = fairjax.encode_groups(df[["sex", "race"]])
  ref = fairjax.encode_groups(df["sex"], df["race"].values)
  assert both.names == ref.names and both.num_groups == 4
  np.testing.assert_array_equal(both.ids, ref.ids)
  objects = np.array(["x", "y", "x"], object)
  assert fairjax.encode_groups(objects).num_groups == 2
  with pytest.raises(ValueError, match="missing values.*row 1"):
    fairjax.encode_groups(pd.Series(["F", None, "M"]))
  got = fairjax.demographic_parity_difference(
      df["y"], df["p"], sensitive_features=pd.Series(one.ids))
  assert float(got) == pytest.approx(0.5)


def test_checked_catches_out_of_range_ids_under_jit():
  f = jax.jit(lambda p, s: fairjax.demographic_parity_difference(
      p, p, sensitive_features=s, num_groups=2))
  p, s = jnp.array([1, 0, 1]), jnp.array([0, 1, 5])
  f(p, s)  # silent without the checked mode (documented)
  with pytest.raises(ValueError, match=r"sensitive_features.*\[0, 2\)"):
    fairjax.checked(f)(p, s)
  with pytest.raises(ValueError, match="y_pred.*binary"):
    fairjax.checked(f)(jnp.array([1, 0, 3]), jnp.array([0, 1, 1]))
  g = jax.jit(lambda x, w: fairjax.mmd_penalty(
      x, sensitive_features=jnp.array([0, 1, 1]), num_groups=2,
      sample_weight=w))
  with pytest.raises(ValueError, match="sample_weight.*non-negative"):
    fairjax.checked(g)(jnp.zeros((3, 1)), jnp.array([1.0, -1.0, 1.0]))
  assert float(fairjax.checked(f)(p, jnp.array([0, 1, 1]))) == 0.5


def test_messages_name_the_argument():
  X = np.ones((4, 2))
  with pytest.raises(ValueError, match="`y` must be binary"):
    fairjax.ferm_direction(X, np.array([0, 2, 1, 1]), sensitive_features=S4)
  with pytest.raises(ValueError,
                     match=r"finite and non-negative.*inf at row 2"):
    fairjax.demographic_parity_difference(
        S4, S4, sensitive_features=S4,
        sample_weight=np.array([1.0, 1.0, np.inf, 1.0]))


@pytest.mark.parametrize("call", [
    lambda k, s, y, x: fairjax.mmd_penalty(
        x, sensitive_features=s, num_groups=2, estimator="random_features",
        key=k),
    lambda k, s, y, x: fairjax.bootstrap_ci(
        fairjax.demographic_parity_difference, y, y, sensitive_features=s,
        key=k, n_boot=4),
    lambda k, s, y, x: fairjax.fit_barycenter(
        x[:, 0], sensitive_features=s, key=k),
    lambda k, s, y, x: fairjax.fit_logistic_regression(x, y, key=k,
                                                       batch_size=4),
    lambda k, s, y, x: fairjax.stratified_batches(k, s, 4),
], ids=["mmd_penalty", "bootstrap_ci", "fit_barycenter",
        "fit_logistic_regression", "stratified_batches"])
def test_a_key_that_is_not_a_prng_key_is_named(call):
  """One key check for every public function with a key (an int is not)."""
  s = jnp.array([0, 1] * 8)
  y = jnp.array([0, 0, 1, 1] * 4)
  x = jnp.linspace(0.0, 1.0, 48).reshape(16, 3)
  with pytest.raises(TypeError, match="`key` must be a PRNG key"):
    call(0, s, y, x)
  call(jax.random.PRNGKey(0), s, y, x)  # legacy key data is accepted
