"""Tests of the Optax-trained linear classifiers (fairjax._linear)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from fairjax._ferm import ferm_direction
from fairjax._linear import (
    LinearModel,
    decision_function,
    fit_linear_svm,
    fit_logistic_regression,
    linear_svm_objective,
    logistic_regression_objective,
)

N, D = 60, 4  # one shape everywhere: the compiled trainers are reused


def _data(seed=0):
  rng = np.random.default_rng(seed)
  X = rng.normal(size=(N, D))
  X[:, 1] *= 3.0
  y = (X[:, 0] + 0.3 * X[:, 1] + 0.7 * rng.normal(size=N) > 0).astype(np.int32)
  return X, y, rng


def _logistic_np(p, X, y, l2, sw):
  w, b = p[:-1], p[-1]
  m = (2 * y - 1) * (X @ w + b)
  return np.sum(sw * np.logaddexp(0, -m)) / sw.sum() + 0.5 * l2 * w @ w


def _slab_constraints(U, eps):
  cons = []
  for k in range(U.shape[0]):
    cons.append({"type": "ineq", "fun": lambda p, k=k: eps - U[k] @ p[:-1]})
    cons.append({"type": "ineq", "fun": lambda p, k=k: eps + U[k] @ p[:-1]})
  return cons


@pytest.mark.parametrize("weighted", [False, True])
def test_logistic_matches_sklearn(enable_x64, weighted):
  X, y, rng = _data()
  sw = rng.uniform(0.2, 2.0, N) if weighted else np.ones(N)
  l2 = 0.02
  model = fit_logistic_regression(
      X, y, l2=l2, sample_weight=sw if weighted else None
  )
  ref = LogisticRegression(C=1 / (l2 * sw.sum()), tol=1e-12, max_iter=10_000)
  ref.fit(X, y, sample_weight=sw)
  np.testing.assert_allclose(model.weights, ref.coef_.ravel(), atol=1e-6)
  np.testing.assert_allclose(model.bias, ref.intercept_[0], atol=1e-6)
  ours = logistic_regression_objective(
      model, X, y, l2=l2, sample_weight=sw if weighted else None
  )
  p = np.r_[ref.coef_.ravel(), ref.intercept_]
  np.testing.assert_allclose(ours, _logistic_np(p, X, y, l2, sw), rtol=1e-9)


def test_svm_matches_sklearn_objective(enable_x64):
  X, y, _ = _data()
  for C in (0.05, 1.0):
    model = fit_linear_svm(X, y, C=C)
    ref = SVC(kernel="linear", C=C, tol=1e-8).fit(X, y)
    ref_model = LinearModel(jnp.asarray(ref.coef_.ravel()),
                            jnp.asarray(ref.intercept_[0]))
    ours = float(linear_svm_objective(model, X, y, C=C))
    theirs = float(linear_svm_objective(ref_model, X, y, C=C))
    # smoothed-hinge continuation: within C * n * 5e-4 by construction
    assert ours <= theirs * (1 + 1e-4) + 1e-9, (C, ours, theirs)
    np.testing.assert_allclose(model.weights, ref.coef_.ravel(), atol=2e-2)
    agree = np.mean((decision_function(model, X) > 0)
                    == (ref.decision_function(X) > 0))
    assert agree >= 0.98


def test_svm_weights_equal_repeated_rows(enable_x64):
  X, y, rng = _data()
  counts = rng.integers(1, 3, N)
  model = fit_linear_svm(X, y, C=0.3, sample_weight=counts.astype(float))
  ref = SVC(kernel="linear", C=0.3, tol=1e-8).fit(
      np.repeat(X, counts, 0), np.repeat(y, counts))
  ref_model = LinearModel(jnp.asarray(ref.coef_.ravel()),
                          jnp.asarray(ref.intercept_[0]))
  ours = float(linear_svm_objective(model, X, y, C=0.3, sample_weight=counts))
  theirs = float(linear_svm_objective(ref_model, X, y, C=0.3,
                                      sample_weight=counts))
  assert ours <= theirs * (1 + 1e-4)


def test_zero_weight_rows_are_padding(enable_x64):
  X, y, _ = _data()
  mask = np.ones(N, np.float32)
  mask[-10:] = 0
  Xp = X.copy()
  Xp[-10:] = 100.0  # garbage in padded rows
  a = fit_logistic_regression(Xp, y, l2=0.05, sample_weight=mask)
  # compare on the same shape: duplicate-free reference with the rows removed
  b = LogisticRegression(C=1 / (0.05 * 50), tol=1e-10, max_iter=10_000)
  b.fit(X[:-10], y[:-10])
  np.testing.assert_allclose(a.weights, b.coef_.ravel(), atol=1e-6)


def test_minibatch_close_to_full_batch(enable_x64):
  X, y, _ = _data()
  full = fit_logistic_regression(X, y, l2=0.02)
  mb = fit_logistic_regression(
      X, y, l2=0.02, batch_size=16, num_steps=1500, learning_rate=0.05,
      key=jax.random.key(1),
  )
  f_full = logistic_regression_objective(full, X, y, l2=0.02)
  f_mb = logistic_regression_objective(mb, X, y, l2=0.02)
  assert f_mb <= f_full * 1.01
  svm_full = fit_linear_svm(X, y, C=0.5)
  svm_mb = fit_linear_svm(X, y, C=0.5, batch_size=16, num_steps=1500)
  assert (linear_svm_objective(svm_mb, X, y, C=0.5)
          <= linear_svm_objective(svm_full, X, y, C=0.5) * 1.03)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.4])
def test_logistic_slab_constraint_matches_slsqp(enable_x64, eps):
  X, y, rng = _data()
  U = rng.normal(size=(2, D))
  l2 = 0.05
  model = fit_logistic_regression(
      X, y, l2=l2, constraint_directions=U, eps=eps, num_steps=2000
  )  # num_steps is traced in full batch: no recompilation
  Uw = U @ np.asarray(model.weights)
  assert np.all(np.abs(Uw) <= eps + 1e-12)
  sw = np.ones(N)
  ref = minimize(
      _logistic_np, np.zeros(D + 1), args=(X, y, l2, sw), method="SLSQP",
      constraints=_slab_constraints(U, eps),
      options=dict(ftol=1e-15, maxiter=1000),
  )
  ours = _logistic_np(np.r_[model.weights, model.bias], X, y, l2, sw)
  np.testing.assert_allclose(ours, ref.fun, rtol=1e-7)
  unconstrained = fit_logistic_regression(X, y, l2=l2)
  if eps < 0.3:  # the constraint binds: the unconstrained model violates it
    assert np.max(np.abs(U @ np.asarray(unconstrained.weights))) > eps


def test_orthogonal_constraint_equals_projected_features(enable_x64):
  X, y, rng = _data()
  U = rng.normal(size=(2, D))
  P = np.eye(D) - np.linalg.pinv(U) @ U
  model = fit_logistic_regression(X, y, l2=0.02, constraint_directions=U)
  ref = LogisticRegression(C=1 / (0.02 * N), tol=1e-12, max_iter=10_000)
  ref.fit(X @ P, y)  # the L2 penalty keeps ref's weights in range(P)
  np.testing.assert_allclose(model.weights, ref.coef_.ravel(), atol=1e-6)
  np.testing.assert_allclose(U @ np.asarray(model.weights), 0, atol=1e-12)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_svm_slab_constraint(enable_x64, eps):
  cvxopt = pytest.importorskip("cvxopt")
  X, y, rng = _data()
  U = rng.normal(size=(2, D))
  C = 0.5
  model = fit_linear_svm(X, y, C=C, constraint_directions=U, eps=eps)
  assert np.all(np.abs(U @ np.asarray(model.weights)) <= eps + 1e-12)
  # primal QP in (w, b, xi) solved by cvxopt, the slab as 2K inequalities
  m = D + 1 + N
  P = np.zeros((m, m))
  P[:D, :D] = np.eye(D)
  q = np.r_[np.zeros(D + 1), C * np.ones(N)]
  ys = 2 * y - 1
  G = np.r_[
      -np.c_[ys[:, None] * X, ys[:, None], np.eye(N)],
      np.c_[np.zeros((N, D + 1)), -np.eye(N)],
      np.c_[U, np.zeros((2, 1 + N))],
      -np.c_[U, np.zeros((2, 1 + N))],
  ]
  h = np.r_[-np.ones(N), np.zeros(N), eps * np.ones(4)]
  cvxopt.solvers.options["show_progress"] = False
  sol = cvxopt.solvers.qp(*(cvxopt.matrix(a) for a in (P, q, G, h)))
  x = np.asarray(sol["x"]).ravel()
  ref = LinearModel(jnp.asarray(x[:D]), jnp.asarray(x[D]))
  ours = float(linear_svm_objective(model, X, y, C=C))
  theirs = float(linear_svm_objective(ref, X, y, C=C))
  # eps = 0: exact reparameterisation; eps > 0: tanh-saturated slab (notes)
  assert theirs - 1e-6 <= ours <= theirs * (1.0005 if eps == 0 else 1.005)


def test_dtype_is_preserved(enable_x64):
  X, y, _ = _data()
  m64 = fit_logistic_regression(X, y)
  assert m64.weights.dtype == jnp.float64
  # float32 through the minibatch trainer (the float32 L-BFGS program is
  # compiled by the reproduction smoke test; each compilation costs seconds)
  m32 = fit_linear_svm(X.astype(np.float32), y, C=0.5, batch_size=16,
                       num_steps=1500)
  assert m32.weights.dtype == jnp.float32 and m32.bias.dtype == jnp.float32
  m64 = fit_linear_svm(X, y, C=0.5, batch_size=16, num_steps=1500)
  np.testing.assert_allclose(m32.weights, m64.weights, atol=1e-3)


def test_vmap_and_jit_match_eager(enable_x64):
  problems = [_data(seed) for seed in range(3)]
  Xs = np.stack([p[0] for p in problems])
  ys = np.stack([p[1] for p in problems])
  Cs = np.array([0.1, 0.5, 2.0])  # a vmapped sweep over C: one program
  batched = jax.jit(jax.vmap(lambda X, y, C: fit_linear_svm(X, y, C=C)))(
      Xs, ys, Cs)
  for i in range(3):
    one = fit_linear_svm(Xs[i], ys[i], C=float(Cs[i]))
    np.testing.assert_allclose(batched.weights[i], one.weights, atol=1e-6)
    np.testing.assert_allclose(batched.bias[i], one.bias, atol=1e-6)


def _ferm_problem(seed, absent):
  """tests/cases_ferm.py's problem: 2 groups, both labels in each."""
  rng = np.random.default_rng(seed)
  s = np.arange(N) % 2
  y = (np.arange(N) // 2) % 2
  if absent:  # group 1 has no member: a zero direction
    s = np.zeros_like(s)
  X = (rng.normal(size=(N, D)) + 0.3 * s[:, None]).astype(np.float32)
  return X, y.astype(np.int32), s.astype(np.int32)


def _ferm_svm_minibatch(X, y, s):
  U = ferm_direction(X, y, sensitive_features=s, num_groups=2)
  return fit_linear_svm(X, y, C=1.0, constraint_directions=U, batch_size=16,
                        num_steps=1500)


def _assert_models_close(a, b):
  for x, z in zip(a, b, strict=True):
    np.testing.assert_allclose(np.asarray(x, np.float64),
                               np.asarray(z, np.float64),
                               rtol=1e-3, atol=1e-4)


def test_ferm_minibatch_jit_vmap_no_retrace(enable_x64):
  # test_registry.py's checks (jit and vmap equal eager, no retrace) for the
  # minibatch FERM trainer. Eagerly it reuses test_dtype_is_preserved's
  # float32 program (same shapes and statics); jit(vmap(.)) checks jit and
  # vmap in one compilation (the eager calls already run the core under
  # jit; tracing the wrapper is what jit adds, and vmap traces it too).
  traces = []

  @jax.jit
  @jax.vmap
  def batched(X, y, s):
    traces.append(1)
    return _ferm_svm_minibatch(X, y, s)

  for seeds in ((0, 1, 2), (3, 4, 5)):  # the middle one lacks a group
    problems = [_ferm_problem(i, k == 1) for k, i in enumerate(seeds)]
    out = batched(*(np.stack(a) for a in zip(*problems, strict=True)))
    assert out.weights.dtype == jnp.float32
    for i, p in enumerate(problems):
      _assert_models_close(jax.tree.map(lambda x, i=i: x[i], out),
                           _ferm_svm_minibatch(*p))
  assert len(traces) == 1  # no retrace for new data of the same shape
  # the absent group gives a zero direction: no constraint, w unconstrained
  assert not np.any(np.asarray(ferm_direction(*problems[1][:2],
                    sensitive_features=problems[1][2], num_groups=2)))


def test_input_not_mutated(enable_x64):
  X, y, rng = _data()
  U = rng.normal(size=(2, D))
  X0, y0, U0 = X.copy(), y.copy(), U.copy()
  fit_linear_svm(X, y, C=0.5, constraint_directions=U, eps=0.1)
  np.testing.assert_array_equal(U, U0)
  np.testing.assert_array_equal(X, X0)
  np.testing.assert_array_equal(y, y0)


def test_bad_input():
  X, y, _ = _data()
  X = X.astype(np.float32)
  with pytest.raises(ValueError, match="`X` must be a matrix"):
    fit_linear_svm(X[:, 0], y)
  with pytest.raises(ValueError, match="`y` must be binary"):
    fit_linear_svm(X, 2 * y - 1)
  with pytest.raises(ValueError, match="`y` must have length"):
    fit_logistic_regression(X, y[:-1])
  with pytest.raises(ValueError, match="`C` must be finite and > 0"):
    fit_linear_svm(X, y, C=0.0)
  with pytest.raises(ValueError, match="`eps` must be finite and >= 0"):
    fit_linear_svm(X, y, eps=-1.0, constraint_directions=np.ones(D))
  with pytest.raises(TypeError, match="`num_steps` must be a Python int"):
    fit_logistic_regression(X, y, num_steps=10.5)
  with pytest.raises(ValueError, match="`batch_size` must be >= 1"):
    fit_logistic_regression(X, y, batch_size=0)
  with pytest.raises(ValueError, match="`constraint_directions` must have"):
    fit_logistic_regression(X, y, constraint_directions=np.ones((2, D + 1)))
  with pytest.raises(ValueError, match="`sample_weight` must be finite"):
    fit_logistic_regression(X, y, sample_weight=-np.ones(N))


# ------------------------------------------------ rate constraints (issue 9)


def _adult_rows(stride=6):
  from fairjax.datasets import load_adult
  ds = load_adult(sensitive="sex")
  rows = slice(0, None, stride)
  return (np.asarray(ds.X_train[rows], np.float32), ds.y_train[rows],
          ds.s_train[rows])


@pytest.mark.parametrize("fit,constraint,bound", [
    (fit_logistic_regression, "demographic_parity", 0.02),
    (fit_logistic_regression, "equal_opportunity", 0.03),
    (fit_linear_svm, "demographic_parity", 0.02),
])
def test_rate_constraint_met_on_adult_training_data(fit, constraint, bound):
  import fairjax
  X, y, s = _adult_rows()
  metric = {"demographic_parity": fairjax.demographic_parity_difference,
            "equal_opportunity": fairjax.equal_opportunity_difference}[
                constraint]
  free = fit(X, y, num_steps=100)
  pred0 = np.asarray(decision_function(free, X) > 0).astype(int)
  model = fit(X, y, constraint=constraint, bound=bound,
              sensitive_features=s)
  pred = np.asarray(decision_function(model, X) > 0).astype(int)
  gap = float(metric(y, pred, sensitive_features=s))
  assert gap <= bound + 1e-6, gap  # the best feasible iterate
  assert float(metric(y, pred0, sensitive_features=s)) > bound
  assert np.mean(pred == y) > np.mean(pred0 == y) - 0.04


def test_rate_constraint_equalized_odds_and_vmap_over_bound():
  import fairjax
  X, y, s = _adult_rows(20)
  bounds = jnp.array([0.03, 0.08])
  fit = jax.vmap(lambda b: fit_logistic_regression(
      X, y, constraint="equalized_odds", bound=b, sensitive_features=s,
      num_groups=2, num_steps=300))
  models = fit(bounds)
  for i, b in enumerate(np.asarray(bounds)):
    m = jax.tree.map(lambda a, i=i: a[i], models)
    pred = np.asarray(decision_function(m, X) > 0).astype(int)
    gap = float(fairjax.equalized_odds_difference(y, pred,
                                                  sensitive_features=s))
    assert gap <= b + 1e-6, (b, gap)


def test_bfloat16_features_fit_in_float32():
  X, y, _ = _data()
  m = fit_logistic_regression(jnp.asarray(X, jnp.bfloat16), y, num_steps=50)
  assert m.weights.dtype == jnp.float32
  ref = fit_logistic_regression(
      np.asarray(jnp.asarray(X, jnp.bfloat16).astype(jnp.float32)), y,
      num_steps=50)
  np.testing.assert_allclose(m.weights, ref.weights, rtol=1e-5, atol=1e-6)


def test_rate_constraint_bad_input():
  X, y, _ = _data()
  X = X.astype(np.float32)
  s = (np.arange(N) % 2).astype(np.int32)
  with pytest.raises(ValueError, match="`bound` must lie in"):
    fit_logistic_regression(X, y, constraint="demographic_parity", bound=1.5,
                            sensitive_features=s)
  with pytest.raises(ValueError, match="`bound` must lie in"):
    fit_linear_svm(X, y, constraint="demographic_parity", bound=-0.01,
                   sensitive_features=s)
  with pytest.raises(ValueError, match="`constraint` must be one of"):
    fit_logistic_regression(X, y, constraint="parity", sensitive_features=s)
  with pytest.raises(ValueError, match="needs `sensitive_features`"):
    fit_logistic_regression(X, y, constraint="equal_opportunity")
  with pytest.raises(ValueError, match="not both"):
    fit_linear_svm(X, y, constraint="demographic_parity",
                   sensitive_features=s, constraint_directions=np.ones(D))
  with pytest.raises(ValueError, match="batch_size"):
    fit_logistic_regression(X, y, constraint="demographic_parity",
                            sensitive_features=s, batch_size=8)
