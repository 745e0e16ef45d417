"""Sinkhorn penalty: against POT's converged plans, minibatch safety, options.

Every distinct (shape, dtype, static option) compiles ott-jax's loops, which
takes seconds on CPU; the tests share a few configurations on purpose.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import ot
import pytest

from fairjax._sinkhorn import SinkhornDiagnostics, sinkhorn_penalty

# ----------------------------------------------------------------------------
# An independent reference from POT's converged log-domain plans:
# OT = <P, C> + eps KL(P | a x b), S = OT(a, b) - OT(a, a)/2 - OT(b, b)/2.
# (POT's own divergence function omits the entropic term and clips at 0.)


def _ot_eps(x, y, a, b, eps):
  cost = ot.dist(x, y)  # squared Euclidean
  plan, log = ot.sinkhorn(a, b, cost, eps, method="sinkhorn_log", stopThr=1e-8,
                          numItermax=5000, log=True, warn=False)
  # Plain log-domain Sinkhorn stalls near 1e-8 on some self terms (float64
  # round-off); a marginal error of 1e-6 is far inside the 1e-3 tolerance.
  assert log["err"][-1] < 1e-6, log["err"][-1]
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


# Shared float64 configuration: tight tolerance for the reference checks.
_F64 = dict(threshold=1e-9, max_iterations=5000)


def _three_groups(rng, n=18):
  s = np.arange(n) % 3
  x = rng.normal(size=(n, 2)) + 0.6 * s[:, None]
  return x, s


@pytest.mark.parametrize("eps", [1.0, 0.1])
def test_two_groups_match_pot_reference(enable_x64, eps):
  rng = np.random.default_rng(0)
  x0, x1 = rng.normal(size=(9, 2)), rng.normal(size=(11, 2)) + 0.7
  x, s = np.concatenate([x0, x1]), np.repeat([0, 1], [9, 11])
  got = sinkhorn_penalty(x, sensitive_features=s, sample_weight=np.ones(20),
                         epsilon=eps, **_F64)
  want = _ref_divergence(x0, np.ones(9), x1, np.ones(11), eps)
  assert got.dtype == jnp.float64
  np.testing.assert_allclose(float(got), want, rtol=1e-3)


# "max" shares the problems of "pairwise" and the reduction code of
# fairjax._mmd (tested there); each reduction here costs a compilation.
@pytest.mark.parametrize("reduction", ["pairwise", "vs_pooled"])
def test_reductions_match_pot_reference(enable_x64, reduction):
  rng = np.random.default_rng(1)
  x, s = _three_groups(rng)
  w = rng.uniform(0.5, 2.0, len(s))
  got, aux = sinkhorn_penalty(
      x, sensitive_features=s, sample_weight=w, epsilon=0.5,
      reduction=reduction, has_aux=True, **_F64,
  )
  assert isinstance(aux, SinkhornDiagnostics)
  assert bool(jnp.all(aux.converged))
  want = _ref_penalty(x, s, w, 3, 0.5, reduction)
  np.testing.assert_allclose(float(got), want, rtol=1e-3)


def test_zero_on_identical_groups_and_increasing_with_shift(enable_x64):
  base = np.random.default_rng(2).normal(size=(9, 2))
  s = np.repeat([0, 1], [9, 11])
  extra = np.zeros((2, 2))  # keeps the shape of the reference test above

  def penalty(shift):
    x = np.concatenate([base, base + [shift, 0.0], extra + [shift, 0.0]])
    w = np.concatenate([np.ones(18), np.zeros(2)])
    return float(sinkhorn_penalty(x, sensitive_features=s, sample_weight=w,
                                  epsilon=0.1, **_F64))

  assert abs(penalty(0.0)) < 1e-6
  values = [penalty(t) for t in (0.1, 0.3, 0.6, 1.0)]
  assert np.all(np.diff(values) > 0), values


def test_equalized_odds_sums_the_label_classes(enable_x64):
  rng = np.random.default_rng(3)
  x, s = _three_groups(rng)
  y = np.arange(len(s)) // 3 % 2
  kw = dict(sensitive_features=s, epsilon=0.5, **_F64)
  eo = sinkhorn_penalty(x, labels=y, notion="equalized_odds", **kw)
  parts = [sinkhorn_penalty(x, sample_weight=(y == k) * 1.0, **kw)
           for k in (0, 1)]
  np.testing.assert_allclose(eo, sum(parts), rtol=1e-6)
  opp = sinkhorn_penalty(x, labels=y, notion="equal_opportunity", **kw)
  np.testing.assert_allclose(opp, parts[1], rtol=1e-6)


# Shared float32 configuration for the minibatch-safety checks.
_F32 = dict(epsilon=0.1, threshold=1e-3, max_iterations=5000)
_S = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2], np.int32)


def _value_and_grad(x, s=_S, **kw):
  def f(z):
    return sinkhorn_penalty(z, sensitive_features=s, num_groups=3,
                            **{**_F32, **kw})
  return jax.value_and_grad(f)(x)


def test_absent_group_contributes_nothing():
  rng = np.random.default_rng(4)
  x = rng.normal(size=(12, 2)).astype(np.float32)
  s = np.where(_S == 1, 0, _S)  # group 1 absent
  value, grad = _value_and_grad(x, s)
  assert np.all(np.isfinite(grad))
  want = sinkhorn_penalty(x, sensitive_features=np.where(s == 2, 1, s),
                          num_groups=2, **_F32)
  np.testing.assert_allclose(value, want, rtol=1e-5)


def test_one_group_gives_exactly_zero():
  x = np.random.default_rng(5).normal(size=(12, 2)).astype(np.float32)
  value, grad = _value_and_grad(x, np.full(12, 2, np.int32))
  assert float(value) == 0.0
  assert np.all(grad == 0)


def test_no_nan_on_duplicates_and_large_magnitudes():
  rng = np.random.default_rng(6)
  for x in (
      np.zeros((12, 2)),
      np.repeat(rng.normal(size=(6, 2)), 2, axis=0),
      1e4 * rng.normal(size=(12, 2)),
      1e4 + rng.normal(size=(12, 2)),
  ):
    value, grad = _value_and_grad(x.astype(np.float32))
    assert np.isfinite(value) and np.all(np.isfinite(grad)), x[0]


def test_stable_down_to_small_epsilon():
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


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float32])
def test_dtype_is_preserved(dtype, enable_x64):
  rng = np.random.default_rng(8)
  x64 = jnp.asarray(rng.normal(size=(12, 2)) + 0.5 * _S[:, None])
  x = x64.astype(dtype)
  value, grad = _value_and_grad(x)
  assert value.dtype == dtype and grad.dtype == dtype
  want, want_grad = _value_and_grad(x.astype(jnp.float64))
  assert want.dtype == jnp.float64
  np.testing.assert_allclose(float(value), float(want), rtol=1e-2)
  np.testing.assert_allclose(np.asarray(grad, np.float64), want_grad,
                             rtol=0.05, atol=0.05)


def test_warm_start_reuses_potentials():
  rng = np.random.default_rng(9)
  x = (rng.normal(size=(12, 2)) + 0.8 * _S[:, None]).astype(np.float32)
  kw = dict(sensitive_features=_S, num_groups=3, has_aux=True, **_F32)
  cold, aux = sinkhorn_penalty(x, **kw)
  warm, aux2 = sinkhorn_penalty(x, init=aux, **kw)
  np.testing.assert_allclose(warm, cold, rtol=1e-3)
  assert int(aux2.iterations.sum()) < int(aux.iterations.sum())
  with pytest.raises(ValueError, match="`init`"):
    sinkhorn_penalty(x[:10], sensitive_features=_S[:10], num_groups=3,
                     init=aux, **_F32)


@pytest.mark.slow
def test_unrolled_gradient_matches_implicit(enable_x64):
  rng = np.random.default_rng(10)
  x = rng.normal(size=(12, 2)) + 0.5 * _S[:, None]

  def grad(differentiation):
    return jax.grad(lambda z: sinkhorn_penalty(
        z, sensitive_features=_S, num_groups=3, epsilon=0.5,
        differentiation=differentiation, threshold=1e-10,
        max_iterations=2000))(x)

  np.testing.assert_allclose(grad("unroll"), grad("implicit"), rtol=1e-6,
                             atol=1e-9)


def test_input_is_not_mutated():
  x = np.random.default_rng(11).normal(size=(12, 2)).astype(np.float32)
  s, copy_x, copy_s = _S.copy(), x.copy(), _S.copy()
  sinkhorn_penalty(x, sensitive_features=s, num_groups=3, **_F32)
  np.testing.assert_array_equal(x, copy_x)
  np.testing.assert_array_equal(s, copy_s)


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
