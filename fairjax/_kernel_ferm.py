r"""Kernel FERM: the SVM dual with the fairness equality, and explicit features.

**Exact** (`Donini et al. <https://arxiv.org/abs/1802.08626>`_, 2018, and the
reference code `fair_ERM <https://github.com/jmikko/fair_ERM>`_): the
soft-margin SVM dual with one more linear constraint per group,

.. math::
  \min_{\alpha} \tfrac12 \alpha^\top (y y^\top \circ K) \alpha - 1^\top\alpha
  \quad \text{s.t.} \quad 0 \le \alpha_i \le C s_i,\;
  \sum_i \alpha_i y_i = 0,\;
  \Big|\sum_i \alpha_i y_i \tau^{(g)}_i\Big| \le \epsilon,

with :math:`y_i = \pm 1`, :math:`s` the sample weights and
:math:`\tau^{(g)}_i = \langle u_g, \phi(x_i)\rangle` = mean of
:math:`K(x_j, x_i)` over the conditioned examples of group :math:`g` minus
the same over group 0, so that :math:`w = \sum_i \alpha_i y_i \phi(x_i)`
satisfies :math:`|\langle w, u_g\rangle| \le \epsilon` (``eps=0``: an
equality). The QP is solved in JAX by an OSQP-style ADMM (`Stellato et al.
<https://arxiv.org/abs/1711.08013>`_, 2020): one Cholesky factorisation of
:math:`Q + (\sigma + \rho) I + A^\top R A`, re-factorised when the step
:math:`\rho` adapts, over-relaxation 1.6, stopped when the primal and dual
residuals (max-norm, as OSQP) fall below ``tol``. Memory is
:math:`O(n^2)`: meant for :math:`n` up to a few thousand.

**Scalable**: random Fourier features (`Rahimi and Recht
<https://papers.nips.cc/paper/3182-random-features-for-large-scale-kernel-machines>`_,
2007) or Nystroem features (`Williams and Seeger
<https://papers.nips.cc/paper/1866-using-the-nystrom-method-to-speed-up-kernel-machines>`_,
2001) approximate :math:`\phi`; then the exact linear projection
(:func:`fairjax.fit_ferm_projection`) and a linear SVM apply, for any
:math:`n`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from fairjax._groups import (
    as_array,
    check_binary,
    check_notion,
    check_sample_weight,
    check_sensitive_features,
    float_dtype,
    host_live,
    is_concrete,
    mask_padding,
    notion_weights,
    safe_divide,
)
from fairjax._ferm import _check_no_empty_group


KERNELS = ("rbf", "linear")


def _float_matrix(X, name: str) -> jax.Array:
  X = as_array(X, name)
  if np.ndim(X) != 2:
    raise ValueError(
        f"`{name}` must be a matrix of shape [n, d], got shape {np.shape(X)}."
    )
  X = jnp.asarray(X)
  if not jnp.issubdtype(X.dtype, jnp.floating):
    X = X.astype(float_dtype())
  return X


def rbf_kernel(X: ArrayLike, Z: ArrayLike, *, gamma: float) -> jax.Array:
  r"""Gaussian kernel :math:`e^{-\gamma \|x_i - z_j\|^2}`, shape ``[n, m]``.

  Both inputs are first centred on their common mean (the kernel is
  translation invariant), so that the expansion
  :math:`\|x\|^2 + \|z\|^2 - 2 x^	op z` does not cancel for inputs far from
  the origin (an offset of 1e4 would otherwise leave no correct digit in
  float32). Integer inputs are computed in the default float dtype.
  """
  X, Z = _float_matrix(X, "X"), _float_matrix(Z, "Z")
  if X.shape[1] != Z.shape[1]:
    raise ValueError(
        f"`X` and `Z` must have the same number of columns, got {X.shape} "
        f"and {Z.shape}."
    )
  dtype = jnp.result_type(X.dtype, Z.dtype)
  X, Z = X.astype(dtype), Z.astype(dtype)
  rows = X.shape[0] + Z.shape[0]
  center = (X.sum(0) + Z.sum(0)) / max(rows, 1)
  X, Z = X - center[None, :], Z - center[None, :]
  sq = (
      jnp.sum(jnp.square(X), 1)[:, None]
      + jnp.sum(jnp.square(Z), 1)[None, :]
      - 2 * X @ Z.T
  )
  gamma = jnp.asarray(gamma, dtype)
  return jnp.exp(-gamma * jnp.maximum(sq, 0))


def _kernel(kind: str, X, Z, gamma):
  if kind == "linear":
    return X @ Z.T
  return rbf_kernel(X, Z, gamma=gamma)


def _check_kernel(kernel) -> str:
  """Kernel names are case-sensitive: ``'Linear'`` is an error, not RBF."""
  if not isinstance(kernel, str) or kernel not in KERNELS:
    raise ValueError(f"`kernel` must be 'rbf' or 'linear', got {kernel!r}.")
  return kernel


class KernelSVM(NamedTuple):
  r"""A fitted kernel SVM: :math:`f(x) = \sum_i c_i K(x_i, x) + b`.

  Attributes:
    dual_coef: :math:`c_i = \alpha_i y_i`, shape ``[n]`` (zero off the
      support vectors).
    train_X: the training inputs :math:`x_i`, shape ``[n, d]``.
    bias: :math:`b`, scalar.
    gamma: RBF width (unused for the linear kernel), scalar.
    fairness_gap: :math:`\langle w, u_g\rangle` on the training data, shape
      ``[K]`` (``[0]`` without a fairness constraint).
    primal_residual: final max-norm primal residual of the QP (OSQP's).
    dual_residual: final max-norm dual residual of the QP (OSQP's).
    iterations: ADMM iterations run.
    kernel_id: int32 scalar, the kernel the model was fitted with: index
      into ``("rbf", "linear")``; :func:`kernel_decision_function` uses it.
  """

  dual_coef: jax.Array
  train_X: jax.Array
  bias: jax.Array
  gamma: jax.Array
  fairness_gap: jax.Array
  primal_residual: jax.Array
  dual_residual: jax.Array
  iterations: jax.Array
  kernel_id: jax.Array


class _QPResult(NamedTuple):
  x: jax.Array
  y_box: jax.Array
  y_rows: jax.Array
  primal_residual: jax.Array
  dual_residual: jax.Array
  iterations: jax.Array


def solve_box_qp(
    Q: jax.Array,
    q: jax.Array,
    upper: jax.Array,
    A: jax.Array,
    lower_rows: jax.Array,
    upper_rows: jax.Array,
    *,
    max_iter: int = 10_000,
    tol: float = 1e-5,
    rho: float = 0.1,
    sigma: float = 1e-6,
    check_every: int = 25,
) -> _QPResult:
  r"""ADMM (OSQP's iteration) for a box QP with a few linear rows.

  .. math::
    \min_x \tfrac12 x^\top Q x + q^\top x \quad \text{s.t.} \quad
    0 \le x \le \mathrm{upper},\; l \le A x \le u.

  Rows with :math:`l = u` are equalities (step ``1e3 * rho``). Stops when
  the primal residual :math:`\max(\|x - z\|_\infty, \|Ax - z_A\|_\infty)
  \le \mathrm{tol} \cdot \max(1, \|x\|_\infty)` and the dual residual
  :math:`\|Qx + q + y\|_\infty \le \mathrm{tol} \cdot \max(1,
  \|Qx\|_\infty)` (OSQP's criteria with equal absolute and relative
  tolerance), checked every ``check_every`` iterations, or after
  ``max_iter``. The returned :math:`x` lies in the box exactly.
  """
  n, m = Q.shape[0], A.shape[0]
  dtype = Q.dtype
  eye = jnp.eye(n, dtype=dtype)
  is_eq = lower_rows == upper_rows
  alpha = 1.6

  def factor(rho):
    rho_rows = jnp.where(is_eq, 1e3 * rho, rho)
    M = Q + (sigma + rho) * eye + A.T @ (rho_rows[:, None] * A)
    return jax.scipy.linalg.cho_factor(M, lower=True)[0], rho_rows

  def solve(chol, M_apply, rhs):
    x = jax.scipy.linalg.cho_solve((chol, True), rhs)
    return x + jax.scipy.linalg.cho_solve((chol, True), rhs - M_apply(x))

  def iterate(carry, _):
    x, zb, za, yb, ya, rho, chol, rho_rows = carry

    def M_apply(v):
      return Q @ v + (sigma + rho) * v + A.T @ (rho_rows * (A @ v))

    rhs = sigma * x - q + rho * zb - yb + A.T @ (rho_rows * za - ya)
    xt = solve(chol, M_apply, rhs)
    zt_a = A @ xt
    x = alpha * xt + (1 - alpha) * x
    zb_relax = alpha * xt + (1 - alpha) * zb
    za_relax = alpha * zt_a + (1 - alpha) * za
    zb_new = jnp.clip(zb_relax + yb / rho, 0, upper)
    za_new = jnp.clip(za_relax + ya / rho_rows, lower_rows, upper_rows)
    yb = yb + rho * (zb_relax - zb_new)
    ya = ya + rho_rows * (za_relax - za_new)
    return (x, zb_new, za_new, yb, ya, rho, chol, rho_rows), None

  def residuals(x, zb, za, yb, ya):
    r_prim = jnp.maximum(
        jnp.max(jnp.abs(x - zb)),
        jnp.max(jnp.abs(A @ x - za), initial=0),
    )
    r_dual = jnp.max(jnp.abs(Q @ x + q + yb + A.T @ ya))
    return r_prim, r_dual

  def chunk(state):
    carry, it, _, _ = state
    carry, _ = jax.lax.scan(iterate, carry, None, length=check_every)
    x, zb, za, yb, ya, rho, chol, rho_rows = carry
    r_prim, r_dual = residuals(x, zb, za, yb, ya)
    # OSQP's step adaptation, relative residuals; re-factorise on big moves
    scale_p = r_prim / jnp.maximum(
        jnp.maximum(jnp.max(jnp.abs(x)), jnp.max(jnp.abs(zb))), 1e-12)
    scale_d = r_dual / jnp.maximum(
        jnp.maximum(jnp.max(jnp.abs(Q @ x)), jnp.max(jnp.abs(q))), 1e-12)
    new_rho = jnp.clip(
        rho * jnp.sqrt(scale_p / jnp.maximum(scale_d, 1e-30)), 1e-6, 1e6
    )
    change = (new_rho > 5 * rho) | (new_rho < rho / 5)
    rho, chol, rho_rows = jax.lax.cond(
        change,
        lambda: (new_rho, *factor(new_rho)),
        lambda: (rho, chol, rho_rows),
    )
    carry = (x, zb, za, yb, ya, rho, chol, rho_rows)
    return carry, it + check_every, r_prim, r_dual

  def keep_going(state):
    carry, it, r_prim, r_dual = state
    x = carry[0]
    tol_p = tol * jnp.maximum(1, jnp.max(jnp.abs(x)))
    tol_d = tol * jnp.maximum(1, jnp.max(jnp.abs(Q @ x)))
    return (it < max_iter) & ((r_prim > tol_p) | (r_dual > tol_d))

  rho0 = jnp.asarray(rho, dtype)
  chol, rho_rows = factor(rho0)
  zeros_n, zeros_m = jnp.zeros((n,), dtype), jnp.zeros((m,), dtype)
  carry = (zeros_n, zeros_n, zeros_m, zeros_n, zeros_m, rho0, chol, rho_rows)
  big = jnp.asarray(jnp.inf, dtype)
  carry, it, r_prim, r_dual = jax.lax.while_loop(
      keep_going, chunk, (carry, jnp.asarray(0, jnp.int32), big, big)
  )
  x, zb, za, yb, ya = carry[:5]
  return _QPResult(zb, yb, ya, r_prim, r_dual, it)


def _fairness_rows(Kmat, y, s, sw, num_groups, notion):
  """``tau`` of shape ``[K, n]``: conditioned group-mean kernel rows."""
  weights, _ = notion_weights(
      s, num_groups=num_groups, notion=notion, labels=y, sample_weight=sw,
      dtype=Kmat.dtype,
  )  # [C, n, G]
  mass = weights.sum(axis=1)  # [C, G]
  coef = safe_divide(weights, mass[:, None, :], 0)  # [C, n, G]
  diff = coef[:, :, 1:] - coef[:, :, :1]  # [C, n, G-1]
  present = (mass[:, 1:] > 0) & (mass[:, :1] > 0)
  diff = jnp.where(present[:, None, :], diff, 0)
  diff = jnp.moveaxis(diff, 1, 2).reshape(-1, Kmat.shape[0])  # [K, n]
  return diff @ Kmat


@functools.partial(
    jax.jit,
    static_argnames=("num_groups", "notion", "kernel", "max_iter"),
)
def _fit_core(X, ypm, y01, s, sw, C, gamma, eps, tol, *, num_groups, notion,
              kernel, max_iter):
  Kmat = _kernel(kernel, X, X, gamma)
  Q = (ypm[:, None] * ypm[None, :]) * Kmat
  n = X.shape[0]
  rows = [ypm / jnp.sqrt(jnp.asarray(n, X.dtype))]
  lo, hi = [jnp.zeros((1,), X.dtype)], [jnp.zeros((1,), X.dtype)]
  if num_groups:
    tau = _fairness_rows(Kmat, y01, s, sw, num_groups, notion)
    g = tau * ypm[None, :]
    norm = jnp.sqrt(jnp.sum(jnp.square(g), axis=1))
    scale = jnp.where(norm > 0, 1 / jnp.where(norm > 0, norm, 1), 0)
    rows.append(g * scale[:, None])
    lo.append(-eps * scale)
    hi.append(eps * scale)
  else:
    tau = jnp.zeros((0, n), X.dtype)
  A = jnp.concatenate([r.reshape(-1, n) for r in rows])
  res = solve_box_qp(
      Q, -jnp.ones((n,), X.dtype), C * sw, A, jnp.concatenate(lo),
      jnp.concatenate(hi), max_iter=max_iter, tol=tol,
  )
  alpha = res.x
  coef = alpha * ypm
  f0 = Kmat @ coef
  # bias: mean of y_i - f0(x_i) over the free support vectors (libsvm's
  # rule); the middle of the feasible interval if there is none
  upper = C * sw
  margin_tol = 1e-6 * jnp.maximum(upper, 1)
  free = (alpha > margin_tol) & (alpha < upper - margin_tol)
  nfree = jnp.sum(free)
  resid = ypm - f0
  b_free = safe_divide(jnp.sum(jnp.where(free, resid, 0)),
                       nfree.astype(X.dtype), 0)
  real = upper > 0  # padded rows (weight 0) bound nothing
  lo_b = jnp.max(jnp.where(_lower_active(alpha, ypm, upper) & real, resid,
                           -jnp.inf))
  hi_b = jnp.min(jnp.where(_upper_active(alpha, ypm, upper) & real, resid,
                           jnp.inf))
  mid = jnp.where(jnp.isfinite(lo_b) & jnp.isfinite(hi_b), (lo_b + hi_b) / 2,
                  jnp.where(jnp.isfinite(lo_b), lo_b, hi_b))
  mid = jnp.where(jnp.isfinite(mid), mid, 0)
  bias = jnp.where(nfree > 0, b_free, mid)
  return KernelSVM(
      coef, X, bias, gamma, tau @ coef, res.primal_residual,
      res.dual_residual, res.iterations,
      jnp.asarray(KERNELS.index(kernel), jnp.int32),
  )


def _lower_active(alpha, ypm, upper):
  # KKT: y f(x) >= 1 where alpha = 0, <= 1 where alpha = C; these bound b
  at0, atC = alpha <= 0, alpha >= upper
  return (at0 & (ypm > 0)) | (atC & (ypm < 0))


def _upper_active(alpha, ypm, upper):
  at0, atC = alpha <= 0, alpha >= upper
  return (at0 & (ypm < 0)) | (atC & (ypm > 0))


def fit_kernel_ferm(
    X: ArrayLike,
    y: ArrayLike,
    *,
    sensitive_features: ArrayLike | None = None,
    num_groups: int | None = None,
    notion: str = "equal_opportunity",
    sample_weight: ArrayLike | None = None,
    C: float = 1.0,
    gamma: float = 0.1,
    kernel: str = "rbf",
    eps: float = 0.0,
    max_iter: int = 10_000,
    tol: float | None = None,
) -> KernelSVM:
  r"""Kernel FERM by the exact dual QP (the SVM when no groups are given).

  Solves the QP of the module docstring (the reference code's formulation:
  the SVM dual plus :math:`|\sum_i \alpha_i y_i \tau^{(g)}_i| \le \epsilon`
  for :math:`g = 1..G-1`, two label classes' worth for equalized odds).
  With ``sensitive_features=None`` it is the plain soft-margin SVM dual
  (scikit-learn's ``SVC``). The bias is libsvm's: the mean of
  :math:`y_i - \sum_j c_j K_{ij}` over the free support vectors.

  Args:
    X: inputs, shape ``[n, d]``.
    y: labels in ``{0, 1}``, shape ``[n]``.
    sensitive_features: group ids, shape ``[n]``; ``None`` for no constraint.
    num_groups: static number of groups (required under ``jit``).
    notion: ``"equal_opportunity"`` (the paper's), ``"demographic_parity"``
      or ``"equalized_odds"``.
    sample_weight: per-example box scaling :math:`\alpha_i \le C s_i`.
    C: box constraint, ``> 0``.
    gamma: RBF width :math:`\gamma` in :math:`e^{-\gamma\|x - x'\|^2}`.
    kernel: ``"rbf"`` or ``"linear"``.
    eps: fairness slack :math:`\epsilon \ge 0`.
    max_iter: ADMM iteration cap (static).
    tol: relative max-norm tolerance on the primal and dual residuals
      (:func:`solve_box_qp`); default ``1e-5`` in float64, ``3e-3`` in
      float32 (float32 ADMM plateaus near ``1e-3`` for large ``C``: prefer
      float64 for tight solutions).

  Returns:
    A :class:`KernelSVM` with the QP's final residuals (check them against
    ``tol``: ``iterations == max_iter`` means it stopped early).

  References:
    Donini, Oneto, Ben-David, Shawe-Taylor and Pontil, `Empirical Risk
    Minimization under Fairness Constraints
    <https://arxiv.org/abs/1802.08626>`_, NeurIPS 2018.
  """
  X = _float_matrix(X, "X")
  n = X.shape[0]
  sw = check_sample_weight(sample_weight, n, X.dtype)
  live = host_live(None if sample_weight is None else sw)
  y = check_binary(y, "y", n, live=live)
  # Padded rows (weight 0) are never read: their box is [0, 0].
  X = mask_padding(X, None if sample_weight is None else sw)
  y = jnp.where(sw > 0, y, 0)
  _check_kernel(kernel)
  for name, value in (("C", C), ("gamma", gamma)):
    if not np.isfinite(value) or value <= 0:
      raise ValueError(f"`{name}` must be finite and > 0, got {value}.")
  if not np.isfinite(eps) or eps < 0:
    raise ValueError(f"`eps` must be finite and >= 0, got {eps}.")
  check_notion(notion)
  if sensitive_features is None:
    s, G = jnp.zeros((n,), jnp.int32), 0
  else:
    s, G = check_sensitive_features(sensitive_features, num_groups, n)
    if G < 2:
      raise ValueError(f"FERM needs at least two groups, got num_groups={G}.")
    _check_conditioned_groups(s, y, sw, G, notion)
  if tol is None:
    tol = 1e-5 if X.dtype == jnp.float64 else 3e-3
  dt = X.dtype
  return _fit_core(
      X, 2 * jnp.asarray(y, dt) - 1, jnp.asarray(y, jnp.int32), s, sw,
      jnp.asarray(C, dt), jnp.asarray(gamma, dt), jnp.asarray(eps, dt),
      jnp.asarray(tol, dt), num_groups=G, notion=notion, kernel=kernel,
      max_iter=int(max_iter),
  )


def _check_conditioned_groups(s, y, sw, num_groups, notion):
  """Concrete input: every group needs a conditioned example (or raise).

  Without one (e.g. no positive under equal opportunity) the group's
  constraint row is undefined and would be dropped silently; this raises
  like :func:`fairjax.fit_ferm_projection`. Under ``jit`` it is dropped.
  """
  if not all(is_concrete(v) for v in (s, y, sw)):
    return
  weights, _ = notion_weights(s, num_groups=num_groups, notion=notion,
                              labels=y, sample_weight=sw)
  _check_no_empty_group(weights.sum(axis=1), notion)


def kernel_decision_function(
    model: KernelSVM, X: ArrayLike, *, kernel: str | None = None,
    batch_size: int = 4096,
) -> jax.Array:
  r"""Decision values :math:`\sum_i c_i K(x_i, x) + b`, shape ``[m]``.

  Uses the kernel the model was fitted with (``model.kernel_id``).
  Evaluated in row blocks of ``batch_size`` to bound memory.

  Args:
    model: a :class:`KernelSVM` from :func:`fit_kernel_ferm`.
    X: inputs, shape ``[m, d]``.
    kernel: optional, ``"rbf"`` or ``"linear"`` (case-sensitive); it must
      match the fitted kernel (a check, for code written before the kernel
      was stored).
    batch_size: rows per block.

  Raises:
    ValueError: an unknown kernel name, or one that differs from the
      fitted kernel.
  """
  if not isinstance(model, KernelSVM):
    raise TypeError(
        f"`model` must be a KernelSVM, got {type(model).__name__}.")
  X = jnp.asarray(_float_matrix(X, "X"), model.train_X.dtype)
  kid = model.kernel_id
  if kernel is not None:
    _check_kernel(kernel)
    if is_concrete(kid) and KERNELS[int(kid)] != kernel:
      raise ValueError(
          f"`kernel={kernel!r}` differs from the kernel the model was "
          f"fitted with ({KERNELS[int(kid)]!r}); omit `kernel`."
      )
  if is_concrete(kid):
    def kfun(A, B):
      return _kernel(KERNELS[int(kid)], A, B, model.gamma)
  else:
    def kfun(A, B):
      return jax.lax.switch(kid, [
          functools.partial(_kernel, k, A, B, model.gamma) for k in KERNELS])
  outs = []
  for start in range(0, X.shape[0], batch_size):
    block = kfun(X[start:start + batch_size], model.train_X)
    outs.append(block @ model.dual_coef + model.bias)
  return jnp.concatenate(outs) if outs else jnp.zeros((0,), X.dtype)


# ------------------------------------------------------ explicit feature maps


class RandomFourierFeatures(NamedTuple):
  r"""Random Fourier features :math:`\sqrt{2/D}\cos(x^\top W + c)`.

  Attributes:
    frequencies: :math:`W \sim N(0, 2\gamma)`, shape ``[d, D]``.
    phases: :math:`c \sim U[0, 2\pi)`, shape ``[D]``.
  """

  frequencies: jax.Array
  phases: jax.Array


def fit_random_fourier_features(
    key: jax.Array, num_inputs: int, *, num_features: int, gamma: float,
    dtype=None,
) -> RandomFourierFeatures:
  r"""Draws features whose inner products approximate the RBF kernel.

  :math:`\mathbb{E}[\phi(x)^\top\phi(x')] = e^{-\gamma\|x - x'\|^2}`,
  with error :math:`O(1/\sqrt{D})` (Rahimi and Recht, 2007).
  """
  dtype = dtype or float_dtype()
  k1, k2 = jax.random.split(key)
  W = jax.random.normal(k1, (num_inputs, num_features), dtype)
  W = W * jnp.sqrt(jnp.asarray(2 * gamma, dtype))
  c = jax.random.uniform(k2, (num_features,), dtype, 0, 2 * jnp.pi)
  return RandomFourierFeatures(W, c)


@jax.jit
def apply_random_fourier_features(
    state: RandomFourierFeatures, X: ArrayLike
) -> jax.Array:
  """Maps ``[n, d]`` inputs to ``[n, D]`` random Fourier features."""
  X = jnp.asarray(X, state.frequencies.dtype)
  D = state.phases.shape[0]
  scale = jnp.sqrt(jnp.asarray(2 / D, X.dtype))
  return scale * jnp.cos(X @ state.frequencies + state.phases[None, :])


class NystroemFeatures(NamedTuple):
  r"""Nystroem features :math:`K(x, L)\, K_{LL}^{-1/2}`.

  Attributes:
    landmarks: :math:`L`, shape ``[m, d]``.
    transform: :math:`K_{LL}^{-1/2}` (pseudo-inverse square root),
      shape ``[m, m]``.
    gamma: RBF width, scalar.
  """

  landmarks: jax.Array
  transform: jax.Array
  gamma: jax.Array


def fit_nystroem(
    key: jax.Array, X: ArrayLike, *, num_components: int, gamma: float
) -> NystroemFeatures:
  r"""Nystroem RBF features on ``num_components`` landmarks drawn from ``X``.

  :math:`\phi(x)^\top\phi(x') = K(x, L) K_{LL}^{+} K(L, x')`, exact on the
  landmarks; eigenvalues below ``1e-7`` (relative) are dropped, as in
  scikit-learn's ``Nystroem``.
  """
  X = _float_matrix(X, "X")  # integer X: gamma must stay a float
  if num_components > X.shape[0]:
    raise ValueError(
        f"`num_components` must be <= the rows of X ({X.shape[0]}), got "
        f"{num_components}."
    )
  idx = jax.random.choice(key, X.shape[0], (num_components,), replace=False)
  L = X[idx]
  g = jnp.asarray(gamma, X.dtype)
  evals, evecs = jnp.linalg.eigh(rbf_kernel(L, L, gamma=g))
  ok = evals > 1e-7 * jnp.max(evals)
  inv_sqrt = jnp.where(ok, 1 / jnp.sqrt(jnp.where(ok, evals, 1)), 0)
  return NystroemFeatures(L, (evecs * inv_sqrt[None, :]) @ evecs.T, g)


@jax.jit
def apply_nystroem(state: NystroemFeatures, X: ArrayLike) -> jax.Array:
  """Maps ``[n, d]`` inputs to ``[n, m]`` Nystroem features."""
  X = jnp.asarray(X, state.landmarks.dtype)
  return rbf_kernel(X, state.landmarks, gamma=state.gamma) @ state.transform
