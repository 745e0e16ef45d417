"""Tests of kernel FERM: the dual QP and the explicit feature maps."""

import jax
import numpy as np
import pytest
from sklearn.metrics.pairwise import rbf_kernel as sk_rbf
from sklearn.svm import SVC

from fairjax._ferm import apply_ferm_projection, fit_ferm_projection
from fairjax._kernel_ferm import (
    RandomFourierFeatures,
    apply_nystroem,
    apply_random_fourier_features,
    fit_kernel_ferm,
    fit_nystroem,
    fit_random_fourier_features,
    kernel_decision_function,
    rbf_kernel,
)
from fairjax._linear import decision_function, fit_linear_svm

N, D = 60, 4  # the shapes of test_linear.py: compiled trainers are reused
# Every QP program compiles in seconds: the fairness tests share one static
# configuration (3 groups, float64), the plain SVM and float32 one each.
RFF_DIM = 3000  # one draw; its first m columns are an m-feature draw


@pytest.fixture(scope="module")
def rff_state():
  with jax.enable_x64(True):
    return fit_random_fourier_features(jax.random.key(0), D,
                                       num_features=RFF_DIM, gamma=0.2,
                                       dtype=np.float64)


def _first_features(state, m):
  return RandomFourierFeatures(state.frequencies[:, :m], state.phases[:m])


def _data(G=2, seed=0):
  rng = np.random.default_rng(seed)
  s = np.arange(N) % G
  X = rng.normal(size=(N, D)) + 0.6 * s[:, None] * np.array([1, 0.5, 0, 0])
  y = (X[:, 0] + 0.5 * rng.normal(size=N) > 0.3).astype(np.int32)
  y[:2 * G] = np.repeat([0, 1], G)
  return X, y, s


def _cvxopt_dual(K, y, tau_rows, C, eps):
  cvxopt = pytest.importorskip("cvxopt")
  ys = (2 * y - 1).astype(float)
  P, q = np.outer(ys, ys) * K, -np.ones(len(y))
  G = np.r_[-np.eye(len(y)), np.eye(len(y))]
  h = np.r_[np.zeros(len(y)), C * np.ones(len(y))]
  rows = np.array([ys * t for t in tau_rows])
  if eps == 0:
    A, b = np.r_[ys[None], rows], np.zeros(1 + len(rows))
  else:
    A, b = ys[None], np.zeros(1)
    G, h = np.r_[G, rows, -rows], np.r_[h, eps * np.ones(2 * len(rows))]
  opts = cvxopt.solvers.options
  opts.update(show_progress=False, abstol=1e-10, reltol=1e-10)
  sol = cvxopt.solvers.qp(*(cvxopt.matrix(a) for a in (P, q, G, h, A, b)))
  alpha = np.ravel(sol["x"])
  return alpha, 0.5 * alpha @ P @ alpha - alpha.sum()


def _tau_rows(K, y, s, G):
  pos = y == 1
  return [K[pos & (s == g)].mean(0) - K[pos & (s == 0)].mean(0)
          for g in range(1, G)]


def test_rbf_kernel_matches_sklearn(enable_x64):
  X, _, _ = _data()
  np.testing.assert_allclose(rbf_kernel(X, X[:7], gamma=0.3),
                             sk_rbf(X, X[:7], gamma=0.3), atol=1e-12)


def test_plain_svm_matches_sklearn_svc(enable_x64):
  X, y, _ = _data()
  model = fit_kernel_ferm(X, y, C=1.0, gamma=0.2)
  ref = SVC(C=1.0, gamma=0.2, tol=1e-8).fit(X, y)
  assert int(model.iterations) < 10_000
  np.testing.assert_allclose(kernel_decision_function(model, X),
                             ref.decision_function(X), atol=1e-4)


@pytest.mark.parametrize("eps", [0.0, 0.05])
def test_ferm_dual_matches_cvxopt(enable_x64, eps):
  X, y, s = _data(G=3)  # two fairness rows (one compiled program with below)
  C, gamma = 1.0, 0.2
  model = fit_kernel_ferm(X, y, sensitive_features=s, C=C, gamma=gamma,
                          eps=eps)
  K = sk_rbf(X, X, gamma=gamma)
  alpha_ref, obj_ref = _cvxopt_dual(K, y, _tau_rows(K, y, s, 3), C, eps)
  ys = 2 * y - 1
  alpha = np.asarray(model.dual_coef) * ys
  obj = 0.5 * alpha @ (np.outer(ys, ys) * K) @ alpha - alpha.sum()
  # KKT tolerance reached (relative max-norm residuals, float64 default)
  assert float(model.primal_residual) < 1e-5 * C
  assert float(model.dual_residual) < 1e-5 * max(1.0, np.abs(K).sum())
  np.testing.assert_allclose(obj, obj_ref, rtol=1e-6)
  np.testing.assert_allclose(alpha, alpha_ref, atol=1e-3)
  assert np.all((alpha >= 0) & (alpha <= C))
  gap = np.asarray(model.fairness_gap)
  assert gap.shape == (2,) and np.all(np.abs(gap) <= eps + 1e-5)


def test_three_groups(enable_x64):
  X, y, s = _data(G=3)
  model = fit_kernel_ferm(X, y, sensitive_features=s, C=1.0, gamma=0.2)
  assert int(model.iterations) < 10_000
  K = sk_rbf(X, X, gamma=0.2)
  coef = np.asarray(model.dual_coef)
  gaps = [t @ coef for t in _tau_rows(K, y, s, 3)]  # <w, u_g>, numpy
  np.testing.assert_allclose(gaps, model.fairness_gap, atol=1e-8)
  np.testing.assert_allclose(gaps, 0, atol=1e-4)


def test_float32_runs_and_reports_residuals():
  X, y, s = _data()
  model = fit_kernel_ferm(X.astype(np.float32), y, sensitive_features=s,
                          C=1.0, gamma=0.2)
  assert model.dual_coef.dtype == np.float32
  assert np.isfinite(float(model.primal_residual))
  dec = kernel_decision_function(model, X.astype(np.float32))
  assert dec.dtype == np.float32 and np.all(np.isfinite(np.asarray(dec)))


def test_random_fourier_features_approximate_rbf(enable_x64, rff_state):
  X, _, _ = _data()
  K = sk_rbf(X, X, gamma=0.2)
  errs = []
  for dim in (100, RFF_DIM):
    st = _first_features(rff_state, dim)
    assert st.frequencies.shape == (D, dim) and st.phases.shape == (dim,)
    Z = np.asarray(apply_random_fourier_features(st, X))
    errs.append(np.abs(Z @ Z.T - K).mean())
  assert errs[1] < 0.05 and errs[1] < errs[0] / 3  # O(1/sqrt(D))


def test_random_fourier_features_jit_matches_eager(enable_x64, rff_state):
  fit = jax.jit(fit_random_fourier_features, static_argnums=1,
                static_argnames=("num_features", "gamma", "dtype"))
  st = fit(jax.random.key(0), D, num_features=RFF_DIM, gamma=0.2,
           dtype=np.float64)
  for a, b in zip(st, rff_state, strict=True):
    assert a.dtype == np.float64
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_nystroem_on_all_points_is_exact(enable_x64):
  X, _, _ = _data()
  st = fit_nystroem(jax.random.key(0), X, num_components=N, gamma=0.2)
  Z = np.asarray(apply_nystroem(st, X))
  np.testing.assert_allclose(Z @ Z.T, sk_rbf(X, X, gamma=0.2), atol=1e-5)
  with pytest.raises(ValueError, match="num_components"):
    fit_nystroem(jax.random.key(0), X, num_components=N + 1, gamma=0.2)


def test_scalable_path_satisfies_constraint_in_feature_space(
    enable_x64, rff_state):
  X, y, s = _data()
  st = _first_features(rff_state, D)  # D features: test_linear's shapes
  Z = apply_random_fourier_features(st, X)
  proj = fit_ferm_projection(Z, y, sensitive_features=s)
  Zt = apply_ferm_projection(proj, Z)
  model = fit_linear_svm(Zt, y, C=1.0)
  f = np.asarray(decision_function(model, Zt))
  pos = y == 1
  np.testing.assert_allclose(f[pos & (s == 0)].mean(),
                             f[pos & (s == 1)].mean(), atol=1e-10)


def test_bad_input():
  X, y, s = _data()
  with pytest.raises(ValueError, match="`kernel` must be"):
    fit_kernel_ferm(X, y, kernel="poly")
  with pytest.raises(ValueError, match="`C` must be finite and > 0"):
    fit_kernel_ferm(X, y, C=0.0)
  with pytest.raises(ValueError, match="`eps` must be finite and >= 0"):
    fit_kernel_ferm(X, y, eps=-0.1)
  with pytest.raises(ValueError, match="at least two groups"):
    fit_kernel_ferm(X, y, sensitive_features=np.zeros(N, int))
  with pytest.raises(ValueError, match="`y` must be binary"):
    fit_kernel_ferm(X, y + 1)
