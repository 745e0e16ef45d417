"""Constraints: the Lagrangian, the dual step, candidates, real-data claims."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.optimize import linprog

import fairjax
from fairjax.reproductions.constraints import compas_race4


# ------------------------------------------------------------ mechanics


@pytest.mark.parametrize("kw", [{}, {"augmented": 1.0}, {"optimistic": True},
                                {"strict_dual": False}])
def test_quadratic_reaches_kkt_point(kw):
  # min |x - (2, 2)|^2 s.t. x0 + x1 <= 1: x = (0.5, 0.5), lambda = 3.
  opt = fairjax.constrained_optimizer(optax.sgd(0.05),
                                      dual_learning_rate=0.2, **kw)

  def fun(x):
    return jnp.sum((x - 2.0) ** 2), fairjax.bound_constraint(
        jnp.sum(x), bound=1.0)

  @jax.jit
  def run(x):
    def step(c, _):
      x, st = c
      x, st, info = opt.update(fun, x, st)
      return (x, st), info
    return jax.lax.scan(step, (x, opt.init(x, 1)), None, length=1500)

  (x, st), info = run(jnp.zeros(2))
  np.testing.assert_allclose(x, [0.5, 0.5], atol=2e-3)
  np.testing.assert_allclose(st.dual.multipliers, [3.0], atol=2e-2)
  assert np.all(np.asarray(info.multipliers) >= 0)
  assert info.loss.shape == (1500,) and info.strict_violation.shape == (
      1500, 1)


def test_lagrangian_forms_and_gradients():
  cons = fairjax.ConstraintValues(jnp.array([0.3, -0.5]),
                                  jnp.array([0.1, -0.2]))
  lam = jnp.array([2.0, 1.0])
  assert float(fairjax.lagrangian(1.0, cons, lam)) == pytest.approx(
      1.0 + 0.6 - 0.5)
  rho = 2.0
  ref = 1.0 + sum((max(0, l + rho * g) ** 2 - l ** 2) / (2 * rho)
                  for l, g in zip([2.0, 1.0], [0.3, -0.5], strict=True))
  assert float(fairjax.lagrangian(1.0, cons, lam, augmented=rho)) == (
      pytest.approx(ref, rel=1e-6))
  # the primal gradient is max(0, lambda + rho g): lambda at rho = 0
  grad = jax.grad(lambda g: fairjax.lagrangian(
      0.0, cons._replace(proxy=g), lam, augmented=rho))(cons.proxy)
  np.testing.assert_allclose(grad, [2.6, 0.0], rtol=1e-6)


def test_update_multipliers_projects_and_optimistic():
  st = fairjax.init_multipliers(2)
  st = fairjax.update_multipliers(st, jnp.array([1.0, -1.0]),
                                  learning_rate=0.5)
  np.testing.assert_allclose(st.multipliers, [0.5, 0.0])
  st2 = fairjax.update_multipliers(st, jnp.array([0.5, 0.0]),
                                   learning_rate=0.5, optimistic=True)
  np.testing.assert_allclose(st2.multipliers, [0.5 + 0.5 * (1.0 - 1.0), 0.5])


def test_rate_constraints_match_metric_and_vmap_over_bound():
  rng = np.random.default_rng(0)
  n, G = 300, 3
  s, y = rng.integers(0, G, n), rng.integers(0, 2, n)
  z = rng.normal(size=n).astype(np.float32)
  for notion, metric in (
      ("demographic_parity", fairjax.demographic_parity_difference),
      ("equal_opportunity", fairjax.equal_opportunity_difference),
      ("equalized_odds", fairjax.equalized_odds_difference)):
    c = fairjax.rate_constraints(y, z, sensitive_features=s, notion=notion,
                                 bound=0.05)
    hard = (z > 0).astype(int)
    np.testing.assert_allclose(
        c.strict.max() + 0.05, metric(y, hard, sensitive_features=s),
        rtol=1e-5)
    assert c.proxy.shape == (fairjax.num_rate_gaps(G, notion=notion),)
  bounds = jnp.array([0.0, 0.1, 0.2])
  f = jax.jit(jax.vmap(lambda b: fairjax.rate_constraints(
      y, z, sensitive_features=s, bound=b, num_groups=G).proxy))
  out = f(bounds)
  np.testing.assert_allclose(out[1] - out[0], -0.1, atol=1e-6)


def test_minibatch_missing_a_group_has_finite_gradients():
  rng = np.random.default_rng(1)
  s = np.zeros(20, np.int32)  # groups 1, 2 absent
  y = rng.integers(0, 2, 20)

  def f(z):
    c = fairjax.rate_constraints(y, z, sensitive_features=s, num_groups=3,
                                 notion="equalized_odds")
    return fairjax.lagrangian(jnp.sum(z ** 2), c, jnp.ones(c.proxy.shape),
                              augmented=1.0)

  g = jax.jit(jax.grad(f))(jnp.asarray(rng.normal(size=20), jnp.float32))
  assert np.all(np.isfinite(g))


def test_bad_input():
  y, z, s = np.array([0, 1, 1, 0]), np.zeros(4), np.array([0, 0, 1, 1])
  with pytest.raises(ValueError, match="bound"):
    fairjax.rate_constraints(y, z, sensitive_features=s, bound=1.5)
  with pytest.raises(ValueError, match="bound"):
    fairjax.rate_constraints(y, z, sensitive_features=s, bound=-0.1)
  with pytest.raises(ValueError, match="notion"):
    fairjax.rate_constraints(y, z, sensitive_features=s, notion="parity")
  with pytest.raises(ValueError, match="multipliers"):
    fairjax.lagrangian(0.0, fairjax.ConstraintValues(jnp.zeros(2),
                                                     jnp.zeros(2)),
                       jnp.zeros(3))
  with pytest.raises(ValueError, match="violation"):
    fairjax.update_multipliers(fairjax.init_multipliers(2), jnp.zeros(3),
                               learning_rate=0.1)
  with pytest.raises(ValueError, match="objectives"):
    fairjax.find_best_candidate_index(np.zeros((2, 2)), np.zeros(2))
  with pytest.raises(ValueError, match="violations"):
    fairjax.find_best_candidate_distribution(np.zeros(3), np.zeros((2, 2)))


# ------------------------------------------------------------ candidates


def test_best_candidate_index_rule():
  f = jnp.array([0.1, 0.05, 0.3, 0.2])
  v = jnp.array([[0.2, 0.0], [0.1, 0.3], [-0.1, 0.0], [-0.5, -0.1]])
  assert int(fairjax.find_best_candidate_index(f, v)) == 3
  none_feasible = jnp.array([[0.5], [0.2], [0.9], [0.3]])
  assert int(jax.jit(fairjax.find_best_candidate_index)(f, none_feasible)) == 1
  assert int(fairjax.find_best_candidate_index(f, v, tolerance=0.2)) == 0


@pytest.mark.parametrize("seed", range(6))
def test_best_candidate_distribution_matches_linprog(seed):
  rng = np.random.default_rng(seed)
  T, m = 12 + seed, 1 + seed % 3
  f = rng.random(T).astype(np.float32)
  g = (rng.normal(size=(T, m)) + (1.5 if seed == 5 else 0.2)).astype(
      np.float32)
  p = np.asarray(jax.jit(fairjax.find_best_candidate_distribution)(f, g))
  assert np.all(p >= 0) and abs(p.sum() - 1) < 1e-5
  assert np.sum(p > 1e-7) <= m + 1
  # reference: min z, then min f subject to the least violation z
  r1 = linprog(np.r_[np.zeros(T), 1], A_ub=np.c_[g.T, -np.ones(m)],
               b_ub=np.zeros(m), A_eq=np.r_[np.ones(T), 0][None], b_eq=[1])
  z = r1.x[-1]
  r2 = linprog(f, A_ub=g.T, b_ub=np.full(m, z + 1e-7), A_eq=np.ones((1, T)),
               b_eq=[1])
  np.testing.assert_allclose(max(0.0, (g.T @ p).max()), z, atol=3e-5)
  np.testing.assert_allclose(f @ p, r2.fun, atol=3e-5)


def test_best_candidate_distribution_vmaps():
  rng = np.random.default_rng(9)
  f = rng.random((3, 8)).astype(np.float32)
  g = rng.normal(size=(3, 8, 2)).astype(np.float32)
  out = jax.vmap(fairjax.find_best_candidate_distribution)(f, g)
  for i in range(3):
    np.testing.assert_allclose(
        out[i], fairjax.find_best_candidate_distribution(f[i], g[i]),
        atol=1e-6)


# ------------------------------------------------ real data (short runs)


@functools.cache
def _adult(stride=5):
  """Every ``stride``-th training row of Adult (6,033 rows at 5)."""
  from fairjax.datasets import load_adult
  ds = load_adult(sensitive="sex")
  rows = slice(0, None, stride)
  return (jnp.asarray(ds.X_train[rows], jnp.float32), ds.y_train[rows],
          ds.s_train[rows])


def _check_run(infos, bound, final_gap):
  strict = np.asarray(infos.strict_violation).max(1) + bound
  tail = strict[-max(len(strict) // 10, 1):]
  assert final_gap <= bound + 0.005, final_gap
  assert tail.max() <= bound + 0.005, tail.max()


def _linear_run(X, y, s, *, notion, bound, G, steps=800, lr=0.01,
                augmented=1.0, dual_scale=1.0):
  """Adam (cosine-decayed to lr / 100) on the augmented proxy-Lagrangian."""
  def fun(p):
    z = X @ p[0] + p[1]
    loss = optax.sigmoid_binary_cross_entropy(z, jnp.asarray(
        y, z.dtype)).mean()
    return loss, fairjax.rate_constraints(
        y, z, sensitive_features=s, notion=notion, bound=bound, num_groups=G)

  m = fairjax.num_rate_gaps(G, notion=notion)
  opt = fairjax.constrained_optimizer(
      optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.01)),
      dual_learning_rate=dual_scale * 10 * lr / m, augmented=augmented)

  @jax.jit
  def run(p):
    def step(c, _):
      p, st = c
      p, st, info = opt.update(fun, p, st)
      return (p, st), info
    return jax.lax.scan(step, (p, opt.init(p, m)), None, length=steps)

  p0 = (jnp.zeros(X.shape[1]), jnp.zeros(()))
  (p, st), infos = run(p0)
  return p, st, infos


@pytest.mark.parametrize("notion,bound,metric", [
    ("demographic_parity", 0.02, fairjax.demographic_parity_difference),
    ("equal_opportunity", 0.03, fairjax.equal_opportunity_difference),
])
def test_adult_logistic_regression_meets_bound(notion, bound, metric):
  X, y, s = _adult()
  p, st, infos = _linear_run(X, y, s, notion=notion, bound=bound, G=2)
  pred = np.asarray(X @ p[0] + p[1] > 0).astype(int)
  _check_run(infos, bound, float(metric(y, pred, sensitive_features=s)))
  assert float(st.dual.multipliers.max()) > 0  # the constraint was active
  assert np.mean(pred == y) > 0.8, np.mean(pred == y)


def test_compas_four_race_groups_every_pair_inside_bound():
  Xtr, ytr, s, *_ = compas_race4()
  assert len(np.unique(s)) == 4
  bound = 0.02
  p, st, infos = _linear_run(jnp.asarray(Xtr), ytr, s,
                             notion="demographic_parity", bound=bound, G=4,
                             steps=1500, augmented=2.0, dual_scale=4.0)
  pred = np.asarray(jnp.asarray(Xtr) @ p[0] + p[1] > 0).astype(int)
  rates = [pred[s == g].mean() for g in range(4)]
  _check_run(infos, bound, max(rates) - min(rates))
  assert np.asarray(infos.strict_violation).shape[1] == 12


def test_vmap_over_the_bound_is_one_program():
  X, y, s = _adult(15)
  bounds = jnp.array([0.02, 0.06])

  def final_gap(b):
    p, _, infos = _linear_run(X, y, s, notion="demographic_parity", bound=b,
                              G=2, steps=600)
    return infos.strict_violation[-1].max() + b

  gaps = jax.jit(jax.vmap(final_gap))(bounds)
  assert np.all(np.asarray(gaps) <= np.asarray(bounds) + 0.005), gaps


def test_flax_nnx_mlp_with_nnx_optimizer_meets_dp_bound():
  nnx = pytest.importorskip("flax.nnx")
  X, y, s = _adult()
  bound, lr, steps = 0.02, 0.01, 600

  class MLP(nnx.Module):
    def __init__(self, d, rngs):
      self.hidden = nnx.Linear(d, 32, rngs=rngs)
      self.out = nnx.Linear(32, 1, rngs=rngs)

    def __call__(self, x):
      return self.out(jnp.tanh(self.hidden(x)))[:, 0]

  model = MLP(X.shape[1], nnx.Rngs(0))
  schedule = optax.cosine_decay_schedule(lr, steps, alpha=0.01)
  opt = nnx.Optimizer(model, optax.adam(schedule), wrt=nnx.Param)
  m = fairjax.num_rate_gaps(2)
  dual = fairjax.init_multipliers(m)
  yf = jnp.asarray(y, jnp.float32)

  @nnx.jit
  def step(model, opt, dual):
    def objective(model):
      z = model(X)
      loss = optax.sigmoid_binary_cross_entropy(z, yf).mean()
      cons = fairjax.rate_constraints(y, z, sensitive_features=s,
                                      bound=bound, num_groups=2)
      return fairjax.lagrangian(loss, cons, dual.multipliers,
                                augmented=1.0), cons
    (_, cons), grads = nnx.value_and_grad(objective, has_aux=True)(model)
    with jax.numpy_dtype_promotion("standard"):  # optax is not strict-clean
      opt.update(model, grads)
    return fairjax.update_multipliers(dual, cons.strict,
                                      learning_rate=10 * lr / m), cons.strict

  strict = []
  for _ in range(steps):
    dual, v = step(model, opt, dual)
    strict.append(float(v.max()) + bound)
  pred = np.asarray(model(X) > 0).astype(int)
  gap = float(fairjax.demographic_parity_difference(y, pred,
                                                    sensitive_features=s))
  assert gap <= bound + 0.005, gap
  assert max(strict[-steps // 10:]) <= bound + 0.005, max(strict[-60:])
  assert np.mean(pred == y) > 0.8


def test_flax_nnx_mlp_functional_update_meets_eo_bound():
  nnx = pytest.importorskip("flax.nnx")
  X, y, s = _adult()
  bound, lr, steps = 0.03, 0.01, 600
  model = nnx.Sequential(nnx.Linear(X.shape[1], 32, rngs=nnx.Rngs(1)),
                         jnp.tanh, nnx.Linear(32, 1, rngs=nnx.Rngs(2)))
  graphdef, params = nnx.split(model)
  yf = jnp.asarray(y, jnp.float32)

  def fun(params):
    z = nnx.merge(graphdef, params)(X)[:, 0]
    return (optax.sigmoid_binary_cross_entropy(z, yf).mean(),
            fairjax.rate_constraints(y, z, sensitive_features=s,
                                     notion="equal_opportunity",
                                     bound=bound, num_groups=2))

  m = fairjax.num_rate_gaps(2, notion="equal_opportunity")
  opt = fairjax.constrained_optimizer(
      optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.01)),
      dual_learning_rate=10 * lr / m, augmented=1.0)

  @jax.jit
  def run(params):
    def body(c, _):
      p, st = c
      p, st, info = opt.update(fun, p, st)
      return (p, st), info
    return jax.lax.scan(body, (params, opt.init(params, m)), None,
                        length=steps)

  (params, st), infos = run(params)
  z = nnx.merge(graphdef, params)(X)[:, 0]
  pred = np.asarray(z > 0).astype(int)
  _check_run(infos, bound, float(fairjax.equal_opportunity_difference(
      y, pred, sensitive_features=s)))
