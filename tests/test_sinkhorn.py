"""Sinkhorn penalty: against POT's converged plans, minibatch safety, options.

Every distinct (shape, dtype, static option) compiles ott-jax's loops, which
takes seconds on CPU: the tests share a few configurations on purpose
(float64 pairwise, and equalized odds with vs_pooled, on 18 points; float32
value and gradient on 12 points, and its warm-started and unrolled
variants), and each test reuses one of them for several checks.
"""

import itertools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import ot
import pytest
import scipy.optimize

from fairjax._sinkhorn import (
    SinkhornConvergenceWarning,
    SinkhornDiagnostics,
    sinkhorn_penalty,
)

# ----------------------------------------------------------------------------
# An independent reference from POT's converged plans, on the boolean-indexed
# groups: OT = <P, C> + eps KL(P | a x b), S = OT(a, b) - OT(a, a)/2 -
# OT(b, b)/2. (POT's own divergence function omits the entropic term and
# clips at 0.) POT's default kernel-mode solver gives the same plans as its
# log-domain one here (costs / epsilon stay far from float64 underflow) at a
# tenth of the time.


def _ot_eps(x, y, a, b, eps):
  cost = ot.dist(x, y)  # squared Euclidean
  plan, log = ot.sinkhorn(a, b, cost, eps, stopThr=1e-9, numItermax=3000,
                          log=True, warn=False)
  # Alternating Sinkhorn converges slowly on some self terms OT(a, a)
  # (hence 3,000 iterations at most); a marginal error of 1e-5 is far inside
  # the 1e-3 tolerance of the comparisons.
  assert log["err"][-1] < 1e-5, log["err"][-1]
  ab = np.outer(a, b)
  m = plan > 0
  kl = np.sum(plan[m] * np.log(plan[m] / ab[m])) - plan.sum() + ab.sum()
  return np.sum(plan * cost) + eps * kl


def _ref_divergence(x, wx, y, wy, eps):
  a, b = wx / wx.sum(), wy / wy.sum()
  return (_ot_eps(x, y, a, b, eps) - 0.5 * _ot_eps(x, x, a, a, eps)
          - 0.5 * _ot_eps(y, y, b, b, eps))


def _ref_penalty(x, s, w, num_groups, eps, reduction):
  p = np.array([w[s == g].sum() for g in range(num_groups)]) / w.sum()
  if reduction == "vs_pooled":
    return sum(
        p[g] * _ref_divergence(x[s == g], w[s == g], x, w, eps)
        for g in range(num_groups) if p[g] > 0
    )
  pairs = {
      (g, h): _ref_divergence(x[s == g], w[s == g], x[s == h], w[s == h], eps)
      for g, h in itertools.combinations(range(num_groups), 2)
      if p[g] > 0 and p[h] > 0
  }
  if reduction == "max":
    return max(pairs.values())
  wts = {k: p[k[0]] * p[k[1]] for k in pairs}
  return sum(wts[k] * v for k, v in pairs.items()) / sum(wts.values())


# Float64 configuration for the reference checks: 18 points, three groups,
# always weighted, tight tolerance.
_F64 = dict(num_groups=3, threshold=1e-5, max_iterations=5000)


def _three_groups(rng, n=18):
  s = np.arange(n) % 3
  x = rng.normal(size=(n, 2)) + 0.6 * s[:, None]
  return x, s, rng.uniform(0.5, 2.0, n)


def test_pairwise_matches_pot_reference(enable_x64):
  x, s, w = _three_groups(np.random.default_rng(1))
  for eps in (0.1, 1.0):
    got, aux = sinkhorn_penalty(x, sensitive_features=s, sample_weight=w,
                                epsilon=eps, has_aux=True, **_F64)
    assert got.dtype == jnp.float64
    assert isinstance(aux, SinkhornDiagnostics)
    assert bool(jnp.all(aux.converged)), eps
    want = _ref_penalty(x, s, w, 3, eps, "pairwise")
    np.testing.assert_allclose(float(got), want, rtol=1e-3, err_msg=str(eps))

  # Identical groups give ~0 and a growing mean shift a growing divergence
  # (same compiled configuration: group 2 absent, 9 points in each other).
  base = np.random.default_rng(2).normal(size=(9, 2))
  two = np.repeat([0, 1], 9)

  def penalty(shift):
    z = np.concatenate([base, base + [shift, 0.0]])
    return float(sinkhorn_penalty(z, sensitive_features=two,
                                  sample_weight=np.ones(18), epsilon=0.1,
                                  **_F64))

  # Translated copies at small epsilon mix slowly: the marginal error
  # stalls while the value is already exact (shift^2), so the worst-case
  # certificate misses 1e-5 there and warns.
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", SinkhornConvergenceWarning)
    assert abs(penalty(0.0)) < 1e-6
    values = [penalty(t) for t in (0.1, 0.3, 0.6, 1.0)]
  assert np.all(np.diff(values) > 0), values


def test_equalized_odds_vs_pooled_matches_pot_reference(enable_x64):
  # Both label classes and the group-vs-class problems in one configuration:
  # the sum over the classes of the POT reference on each class.
  x, s, w = _three_groups(np.random.default_rng(4))
  y = np.arange(len(s)) // 3 % 2
  got = sinkhorn_penalty(x, sensitive_features=s, labels=y, sample_weight=w,
                         notion="equalized_odds", reduction="vs_pooled",
                         epsilon=0.5, **_F64)
  want = sum(
      _ref_penalty(x[y == k], s[y == k], w[y == k], 3, 0.5, "vs_pooled")
      for k in (0, 1)
  )
  np.testing.assert_allclose(float(got), want, rtol=1e-3)


# ----------------------------------------------------------------------------
# Float32 value and gradient on 12 points: the minibatch-safety checks.
_F32 = dict(num_groups=3, threshold=1e-3, max_iterations=5000)
_S = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2], np.int32)


# Zero potentials are ott's own cold start (-inf where a point has no
# weight): passing them always lets the warm-start test share the compiled
# function; the float64 tests above and the registry run with init=None.
_COLD = SinkhornDiagnostics(np.zeros((6, 2, 12), np.float32), None, None, None,
                            None)


def _value_and_grad(x, s=_S, epsilon=0.1, init=_COLD, **kw):
  def f(z):
    return sinkhorn_penalty(z, sensitive_features=s, epsilon=epsilon,
                            init=init, **_F32, **kw)
  return jax.value_and_grad(f, has_aux=kw.get("has_aux", False))(x)


def _check_absent_group_and_single_group():
  rng = np.random.default_rng(5)
  x = rng.normal(size=(12, 2)).astype(np.float32)
  copy_x, copy_s = x.copy(), _S.copy()
  # Group 1 absent: 0 with a finite gradient, the same as group 2 absent
  # after relabelling 2 -> 1.
  absent_1 = np.where(_S == 1, 0, _S)
  value, grad = _value_and_grad(x, absent_1)
  assert np.all(np.isfinite(grad)) and float(value) > 0
  np.testing.assert_allclose(
      value, _value_and_grad(x, np.where(absent_1 == 2, 1, absent_1))[0],
      rtol=1e-5,
  )
  # One group: exactly 0, gradient exactly 0.
  value, grad = _value_and_grad(x, np.full(12, 2, np.int32))
  assert float(value) == 0.0
  assert np.all(grad == 0)
  np.testing.assert_array_equal(x, copy_x)  # inputs are not mutated
  np.testing.assert_array_equal(_S, copy_s)


def _check_no_nan_on_duplicates_and_large_magnitudes():
  rng = np.random.default_rng(6)
  for x in (
      np.zeros((12, 2)),
      np.repeat(rng.normal(size=(6, 2)), 2, axis=0),
      1e4 * rng.normal(size=(12, 2)),
      1e4 + rng.normal(size=(12, 2)),
  ):
    # Spread 1e4 at epsilon 0.1 is beyond float32 (costs / epsilon ~ 1e9):
    # honestly not converged (it warns), but finite.
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", SinkhornConvergenceWarning)
      value, grad = _value_and_grad(x.astype(np.float32))
    assert np.isfinite(value) and np.all(np.isfinite(grad)), x[0]


def _check_small_epsilon_and_dtypes():
  rng = np.random.default_rng(7)
  x = rng.normal(size=(12, 2)) + 0.5 * _S[:, None]
  x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
  value, grad = _value_and_grad(x, epsilon=1e-3)
  assert np.isfinite(value) and np.all(np.isfinite(grad))
  # As epsilon -> 0 the divergence tends to the squared 2-Wasserstein
  # distance (exact linear program), pair by pair.
  u = np.full(4, 0.25)
  want = np.mean([
      ot.emd2(u, u, ot.dist(x[_S == g].astype(np.float64),
                            x[_S == h].astype(np.float64)))
      for g, h in ((0, 1), (0, 2), (1, 2))
  ])
  np.testing.assert_allclose(float(value), want, rtol=2e-2)
  # bfloat16 in, bfloat16 out (computed in float32); float64 is checked
  # against POT above.
  value, grad = _value_and_grad(x)
  half, half_grad = _value_and_grad(jnp.asarray(x, jnp.bfloat16))
  assert value.dtype == grad.dtype == jnp.float32
  assert half.dtype == half_grad.dtype == jnp.bfloat16
  np.testing.assert_allclose(float(half), float(value), rtol=2e-2)
  np.testing.assert_allclose(np.asarray(half_grad, np.float32), grad,
                             rtol=0.05, atol=0.05 * np.abs(grad).max())


def test_minibatch_safety():
  # One test, so that one process compiles the shared configuration.
  _check_absent_group_and_single_group()
  _check_no_nan_on_duplicates_and_large_magnitudes()
  _check_small_epsilon_and_dtypes()


def test_warm_start_reuses_potentials():
  rng = np.random.default_rng(9)
  x = (rng.normal(size=(12, 2)) + 0.8 * _S[:, None]).astype(np.float32)
  (cold, aux), grad = _value_and_grad(x, has_aux=True)
  (warm, aux2), grad2 = _value_and_grad(x, has_aux=True, init=aux)
  np.testing.assert_allclose(warm, cold, rtol=1e-3)
  np.testing.assert_allclose(grad2, grad, rtol=1e-2, atol=1e-3)
  assert int(aux2.iterations.sum()) < int(aux.iterations.sum())
  with pytest.raises(ValueError, match="`init`"):
    sinkhorn_penalty(x[:10], sensitive_features=_S[:10], epsilon=0.1,
                     init=aux, **_F32)


@pytest.mark.slow
def test_unrolled_gradient_matches_implicit():
  # The unrolled backward pass compiles slowly (tens of seconds): one
  # configuration, compared with the implicit gradient of the shared one.
  rng = np.random.default_rng(10)
  x = (rng.normal(size=(12, 2)) + 0.5 * _S[:, None]).astype(np.float32)
  _, implicit = _value_and_grad(x, epsilon=0.5)
  _, unrolled = _value_and_grad(x, epsilon=0.5, differentiation="unroll")
  # Both stop at the same iterate (marginal error 1e-3): they differ by
  # O(threshold), far less than a missing term would.
  np.testing.assert_allclose(unrolled, implicit, rtol=0,
                             atol=2e-3 * np.abs(implicit).max())


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(epsilon=0.0), ValueError, "`epsilon` must be positive"),
        (dict(epsilon="auto"), TypeError, "`epsilon`"),
        (dict(epsilon=None), TypeError, "`epsilon`"),
        (dict(max_iterations=0), ValueError, "`max_iterations`"),
        (dict(reduction="mean"), ValueError, "`reduction`"),
        (dict(differentiation="auto"), ValueError, "`differentiation`"),
        (dict(notion="equalized_odds"), ValueError, "`labels`"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
  with pytest.raises(error, match=match):
    sinkhorn_penalty(np.zeros((4, 2), np.float32),
                     sensitive_features=np.array([0, 0, 1, 1]), **kwargs)


# ----------------------------------------------------------------------------
# Honesty: a converged cost is within its certified bound of the exact
# entropic cost (POT, float64, log-domain), the divergence tends to exact OT
# (the assignment problem), the implicit gradient matches POT's plans, and a
# solve that misses the accuracy warns (eager) and is flagged.


def _pot_plan(x, y, eps):
  a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
  cost = ot.dist(x, y)
  plan = ot.sinkhorn(a, b, cost, eps, stopThr=1e-11, numItermax=50_000,
                     warn=False)
  m = plan > 0
  kl = np.sum(plan[m] * np.log(plan[m] / np.outer(a, b)[m]))
  return plan, np.sum(plan * cost) + eps * kl


def _pot_divergence_and_grad(x0, x1, eps):
  """S_eps and its gradient in the points from POT's optimal plans."""
  p01, c01 = _pot_plan(x0, x1, eps)
  p00, c00 = _pot_plan(x0, x0, eps)
  p11, c11 = _pot_plan(x1, x1, eps)
  # d<P, C>/dx_i = 2 sum_j P_ij (x_i - y_j) at the optimal plan (envelope);
  # a self term OT(a, a) moves both ends: 4 sum_j P_ij (x_i - x_j) / 2.
  g0 = 2 * (p01.sum(1)[:, None] * x0 - p01 @ x1)
  g0 -= 2 * (p00.sum(1)[:, None] * x0 - p00 @ x0)
  g1 = 2 * (p01.sum(0)[:, None] * x1 - p01.T @ x0)
  g1 -= 2 * (p11.sum(1)[:, None] * x1 - p11 @ x1)
  return c01 - 0.5 * c00 - 0.5 * c11, np.concatenate([g0, g1])


def test_converged_value_and_gradient_match_exact_ot(enable_x64):
  rng = np.random.default_rng(11)
  x = rng.normal(size=(12, 2))
  x[6:] += 0.8
  eps, thr = 0.05, 1e-4

  def penalty(z):
    return sinkhorn_penalty(z, group_sizes=(6, 6), epsilon=eps, threshold=thr,
                            max_iterations=20_000, has_aux=True)

  (value, aux), grad = jax.value_and_grad(penalty, has_aux=True)(x)
  assert bool(jnp.all(aux.converged)), aux
  want, want_grad = _pot_divergence_and_grad(x[:6], x[6:], eps)
  # Each cost is at most its certified error below the exact one.
  costs = [_pot_plan(x[:6], x[6:], eps)[1], _pot_plan(x[:6], x[:6], eps)[1],
           _pot_plan(x[6:], x[6:], eps)[1]]
  gap = np.asarray(costs) - np.asarray(aux.costs)
  errors = np.asarray(aux.errors)
  assert np.all(gap >= -1e-9) and np.all(gap <= errors + 1e-9), (gap, errors)
  scale = np.mean(ot.dist(x[:6], x[6:]))
  assert errors[0] <= thr * scale
  np.testing.assert_allclose(float(value), want, rtol=1e-4)
  np.testing.assert_allclose(grad, want_grad, rtol=0,
                             atol=2e-3 * np.abs(want_grad).max())
  # Small epsilon: the debiased divergence is close to exact OT, the
  # squared 2-Wasserstein distance (an assignment for equal uniform clouds).
  rows, cols = scipy.optimize.linear_sum_assignment(ot.dist(x[:6], x[6:]))
  w2 = ot.dist(x[:6], x[6:])[rows, cols].mean()
  np.testing.assert_allclose(float(value), w2, rtol=5e-2)


def test_split_layout_matches_masked(enable_x64):
  rng = np.random.default_rng(12)
  sizes = (5, 7, 6)
  s = np.repeat([0, 1, 2], sizes)
  x = rng.normal(size=(18, 3)) + 0.5 * s[:, None]
  w = rng.uniform(0.5, 2.0, 18)
  y = np.arange(18) % 2
  kw = dict(labels=y, notion="equalized_odds", epsilon=0.3, threshold=1e-6,
            max_iterations=5000, has_aux=True)
  masked, m_aux = sinkhorn_penalty(x, sensitive_features=s, sample_weight=w,
                                   **kw)
  split, s_aux = sinkhorn_penalty(x, group_sizes=sizes, sample_weight=w, **kw)
  np.testing.assert_allclose(float(split), float(masked), rtol=1e-5)
  # Every transport cost agrees (potentials only up to a constant shift).
  np.testing.assert_allclose(s_aux.costs, m_aux.costs, rtol=1e-5)
  w[5:12] = 0.0  # group 1 absent (padding): same compiled functions
  masked = sinkhorn_penalty(x, sensitive_features=s, sample_weight=w, **kw)[0]
  split = sinkhorn_penalty(x, group_sizes=sizes, sample_weight=w, **kw)[0]
  assert float(split) > 0
  np.testing.assert_allclose(float(split), float(masked), rtol=1e-5)
  with pytest.raises(ValueError, match="`group_sizes` must sum"):
    sinkhorn_penalty(x, group_sizes=(5, 7))
  with pytest.raises(ValueError, match="`sensitive_features` must be laid"):
    sinkhorn_penalty(x, sensitive_features=s[::-1], group_sizes=sizes)
  with pytest.raises(TypeError, match="`sensitive_features` is required"):
    sinkhorn_penalty(x)


def test_missed_accuracy_warns_eagerly_and_is_flagged():
  # eps 1e-2 at scale 10 (1e-5 of the cost range): 200 iterations are far
  # too few; the case, where the L1 marginal error alone passed.
  rng = np.random.default_rng(13)
  x = (10 * (rng.normal(size=(16, 2)) + 0.5 * (np.arange(16) >= 8)[:, None]))
  kw = dict(group_sizes=(8, 8), epsilon=1e-2, max_iterations=200,
            has_aux=True)
  assert issubclass(SinkhornConvergenceWarning, UserWarning)
  with pytest.warns(SinkhornConvergenceWarning, match="missed the requested"):
    _, aux = sinkhorn_penalty(x.astype(np.float32), **kw)
  assert not bool(aux.converged[0])
  assert float(aux.errors[0]) > 1e-2 * np.mean(ot.dist(x[:8], x[8:]))
  # Under jit: no warning (pytest turns warnings into errors), the flag.
  _, aux = jax.jit(lambda z: sinkhorn_penalty(z, **kw))(x.astype(np.float32))
  assert not bool(aux.converged[0])
