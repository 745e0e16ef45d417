"""The group core: validation errors, weights, conditioning, encoding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fairjax
from fairjax import _groups

Y = np.array([0, 1, 1, 0])
P = np.array([1, 1, 0, 0])
S = np.array([0, 0, 1, 1])


def _dp(y=Y, p=P, s=S, **kw):
  return fairjax.demographic_parity_difference(y, p, sensitive_features=s, **kw)


def _eo(y=Y, p=P, s=S, **kw):
  return fairjax.equal_opportunity_difference(y, p, sensitive_features=s, **kw)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: _dp(p=P[:3]), ValueError, "y_true.*length 3.*got length 4"),
    (lambda: _dp(s=S[:3]), ValueError, "sensitive_features.*length 4"),
    (lambda: _dp(y=Y[:3]), ValueError, "y_true.*length 4"),
    (lambda: _dp(p=P[:, None]), ValueError, r"y_pred.*shape \[n\].*\(4, 1\)"),
    (lambda: _dp(s=S.astype(float)), TypeError, "integer group ids.*float64"),
    (lambda: _dp(s=np.array(["a", "b", "a", "b"])), TypeError, "encode_groups"),
    (lambda: _dp(s=np.array([0, 0, 1, 3]), num_groups=2), ValueError,
     r"\[0, 2\).*\[0, 3\]"),
    (lambda: _dp(s=np.array([0, -1, 1, 1])), ValueError, "must lie in"),
    (lambda: _dp(p=np.array([0, 2, 1, 0])), ValueError, "y_pred.*binary.*2"),
    (lambda: _eo(y=np.array([0, 1, 0.5, 0])), ValueError, "y_true.*binary"),
    (lambda: _dp(sample_weight=np.array([1, -1, 1, 1.0])), ValueError,
     "sample_weight.*non-negative"),
    (lambda: _dp(sample_weight=np.ones(3)), ValueError, "sample_weight.*4"),
    (lambda: _dp(num_groups=2.0), TypeError, "num_groups.*int"),
    (lambda: _dp(num_groups=0), ValueError, "num_groups.*>= 1"),
    (lambda: _dp(method="pairwise"), ValueError, "method.*between_groups"),
    (lambda: fairjax.equalized_odds_difference(Y, P, sensitive_features=S,
                                               agg="max"), ValueError, "agg"),
    (lambda: jax.jit(lambda s: _dp(s=s))(S), ValueError,
     "num_groups.*required under jit"),
    (lambda: fairjax.mean_gap_penalty(np.ones(4), sensitive_features=S,
                                      notion="equal_opportunity"),
     ValueError, "labels"),
    (lambda: fairjax.mean_gap_penalty(np.ones(4), sensitive_features=S,
                                      notion="parity"), ValueError, "notion"),
    (lambda: fairjax.mean_gap_penalty(np.ones((4, 2, 1)), sensitive_features=S),
     ValueError, "scores"),
    (lambda: fairjax.ks_distance(Y, [0.1, 0.2], sensitive_features=S),
     ValueError, "length"),
    (lambda: _dp(p=[[0, 1], [1]]), TypeError, "array-like"),
])
def test_bad_input_raises_clear_error(call, exc, match):
  with pytest.raises(exc, match=match):
    call()


@pytest.mark.parametrize("dtype,bad", [
    (d, b) for d in (np.int16, np.int32, np.int64, np.uint64)
    for b in (256, 2**32 + 1, -255) if np.can_cast(np.min_scalar_type(b), d)
])
def test_wide_ints_are_not_wrapped_to_valid_ones(dtype, bad):
  # neither the host narrowing of 64-bit ints nor a conversion on the way to
  # XLA may turn e.g. 256 into 0 or -255 into 1
  p = np.array([0, bad, 1, 0], dtype)
  with pytest.raises(ValueError, match=f"y_pred.*{bad}"):
    _dp(p=p)
  s = np.array([0, bad, 1, 1], dtype)
  with pytest.raises(ValueError, match=f"sensitive_features.*{bad}"):
    _dp(s=s, num_groups=2)


def test_inferred_num_groups_beyond_int32_is_a_clear_error():
  with pytest.raises(ValueError, match="sensitive_features.*encode_groups"):
    _dp(s=np.array([0, 2**40, 1, 1]))


def test_inputs_are_not_mutated():
  y, p, s, w = Y.copy(), P.copy(), S.copy(), np.ones(4)
  fairjax.audit(y, p, sensitive_features=s, sample_weight=w)
  fairjax.ks_distance(y, p.astype(float), sensitive_features=s)
  for a, b in [(y, Y), (p, P), (s, S), (w, np.ones(4))]:
    np.testing.assert_array_equal(a, b)


def test_accepts_lists_bools_and_jax_arrays():
  a = _dp()
  assert _dp(y=Y.tolist(), p=P.astype(bool), s=jnp.asarray(S)) == a


def test_notion_weights_condition_on_labels():
  y = np.array([0, 1, 1, 0, 1])
  s = np.array([0, 0, 1, 1, 2])
  w = np.array([1.0, 2.0, 3.0, 4.0, 5.0], np.float32)
  dp, g = _groups.notion_weights(s, notion="demographic_parity", labels=y,
                                 sample_weight=w)
  eo, _ = _groups.notion_weights(s, notion="equal_opportunity", labels=y,
                                 sample_weight=w)
  odds, _ = _groups.notion_weights(s, notion="equalized_odds", labels=y,
                                   sample_weight=w)
  assert g == 3 and dp.shape == (1, 5, 3) and odds.shape == (2, 5, 3)
  np.testing.assert_array_equal(dp[0], np.eye(3)[s] * w[:, None])
  np.testing.assert_array_equal(eo[0], np.eye(3)[s] * (w * y)[:, None])
  np.testing.assert_array_equal(odds[0], np.eye(3)[s] * (w * (1 - y))[:, None])
  np.testing.assert_array_equal(odds[1], eo[0])


def test_group_means_equal_boolean_indexing():
  rng = np.random.default_rng(0)
  s = rng.integers(0, 3, 50)
  x = rng.normal(size=(50, 4)).astype(np.float32)
  w, _ = _groups.notion_weights(s, num_groups=4)
  means, totals = _groups.group_means(jnp.asarray(x), w)
  for g in range(3):
    np.testing.assert_allclose(means[0, g], x[s == g].mean(0), rtol=1e-5)
  assert totals[0, 3] == 0 and np.all(np.isnan(means[0, 3]))


def test_safe_divide_gradient_is_finite_at_zero():
  g = jax.grad(lambda d: _groups.safe_divide(1.0, d, 0.0))(0.0)
  assert np.isfinite(g)


def test_encode_groups_intersectional():
  sex = np.array(["F", "M", "F", "M", "F"])
  race = np.array(["b", "w", "w", "w", "b"])
  enc = fairjax.encode_groups(sex, race)
  assert enc.num_groups == 3
  assert enc.names == (("F", "b"), ("F", "w"), ("M", "w"))
  np.testing.assert_array_equal(enc.ids, [0, 2, 1, 2, 0])
  assert enc.ids.dtype == np.int32
  one = fairjax.encode_groups([3, 1, 3])
  np.testing.assert_array_equal(one.ids, [1, 0, 1])
  with pytest.raises(ValueError, match="same length"):
    fairjax.encode_groups([1, 2], [1])


@pytest.mark.parametrize("weighted", [False, True])
def test_host_arrays_counted_in_chunks(monkeypatch, weighted):
  # numpy inputs are narrowed and counted chunk by chunk; a remainder chunk,
  # weights and an invalid value in the last chunk must all come through.
  monkeypatch.setattr(_groups, "_HOST_CHUNK", 4)
  rng = np.random.default_rng(0)
  s, y, p = (rng.integers(0, k, 10) for k in (3, 2, 2))
  w = rng.random(10) if weighted else None
  want = np.zeros((3, 2, 2))
  np.add.at(want, (s, y, p), 1.0 if w is None else w)
  got = _groups.cell_counts(s, y, p, num_groups=3, sample_weight=w)
  np.testing.assert_allclose(got, want, rtol=1e-6)
  p[-1] = 2
  with pytest.raises(ValueError, match="y_pred.*2"):
    _groups.cell_counts(s, y, p, num_groups=3, sample_weight=w)
