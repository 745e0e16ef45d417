r"""Linear classifiers trained with Optax: logistic regression and linear SVM.

Both trainers fit :math:`f(x) = \langle w, x \rangle + b` on labels
``y`` in ``{0, 1}`` (mapped to :math:`\pm 1` inside), full-batch (L-BFGS) or
minibatch (Adam), compiled with ``jax.jit``, and optionally under the FERM
constraint of `Donini et al. <https://arxiv.org/abs/1802.08626>`_, 2018,

.. math::
  |\langle w, u_k \rangle| \le \epsilon, \qquad k = 1, \dots, K,

with ``constraint_directions`` :math:`U = [u_1; \dots; u_K]` (e.g. from
:func:`fairjax.ferm_direction`). The constraint is handled by
*reparameterisation*, so it holds for every iterate and every optimizer:

.. math::
  w = (I - U^+ U)\, v + U^+ t, \qquad
  t = \Pi\, \epsilon \tanh(\theta) \,/\, \max(1, \|\Pi\,\epsilon
  \tanh(\theta)\|_\infty / \epsilon),

with :math:`U^+` the pseudo-inverse and :math:`\Pi = U U^+` the projector on
the range of :math:`U`, so that :math:`U w = t` and
:math:`\|U w\|_\infty \le \epsilon` exactly (up to float rounding). With
``eps=0`` this is the orthogonal projection :math:`w \perp \mathrm{span}(U)`.
The free parameters :math:`(v, b, \theta)` are optimised without constraint.

Rate constraints (``constraint="demographic_parity" | "equal_opportunity" |
"equalized_odds"``, ``bound=b``) bound the fairness metric of the hard
predictions ``f(x) > 0`` on the training data instead,

.. math::
  \max_{g \ne h} \big(r_g(f) - r_h(f)\big) \le b,

with :math:`r_g` the group's selection rate (or TPR, or TPR and FPR). They
are met with the proxy-Lagrangian of :mod:`fairjax.training` (full-batch
Adam on the Lagrangian of the sigmoid proxy rates, projected dual ascent on
the hard violations) and the best feasible iterate is returned
(:func:`fairjax.find_best_candidate_index` over every iterate, on the
training data).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from fairjax._groups import (
    NOTIONS,
    as_array,
    check_binary,
    check_choice,
    check_key,
    check_sample_weight,
    check_sensitive_features,
    float_dtype,
    is_concrete,
)

# Smoothing levels of the hinge for the full-batch SVM (continuation): each
# L-BFGS stage starts from the previous one's solution.
_HINGE_SMOOTHING = (1.0, 1e-1, 1e-2, 1e-3)


class LinearModel(NamedTuple):
  r"""A linear decision function :math:`f(x) = \\langle w, x\\rangle + b`.

  Attributes:
    weights: array of shape ``[d]``.
    bias: scalar array.
  """

  weights: jax.Array
  bias: jax.Array


def decision_function(model: LinearModel, X: ArrayLike) -> jax.Array:
  """Decision values ``X @ w + b``, shape ``[n]`` (predict 1 where > 0)."""
  X = jnp.asarray(X)
  return X @ model.weights + model.bias


# ---------------------------------------------------------------- objectives


def _signed(y: jax.Array, dtype) -> jax.Array:
  return 2 * jnp.asarray(y, dtype) - 1


def _smoothed_hinge(margin: jax.Array, smoothing) -> jax.Array:
  """Hinge ``max(0, 1 - m)``, quadratic on ``1 - smoothing < m < 1``.

  ``smoothing = 0`` gives the exact hinge (the quadratic part vanishes).
  """
  slack = 1 - margin
  safe = jnp.where(smoothing > 0, smoothing, 1)
  quad = jnp.square(jnp.clip(slack, 0, smoothing)) / (2 * safe)
  return quad + jnp.maximum(slack - smoothing, 0)


def logistic_regression_objective(
    model: LinearModel,
    X: ArrayLike,
    y: ArrayLike,
    *,
    l2: float = 1e-3,
    sample_weight: ArrayLike | None = None,
) -> jax.Array:
  r"""The regularised logistic loss, minimised by fit_logistic_regression.

  .. math::
    \frac{\sum_i s_i \log(1 + e^{-\tilde y_i f(x_i)})}{\sum_i s_i}
    + \frac{\lambda}{2} \|w\|^2, \qquad \tilde y_i = 2 y_i - 1,

  with :math:`\lambda` = ``l2`` and :math:`s` = ``sample_weight``; the bias is
  not penalised. This is scikit-learn's ``LogisticRegression(C=c)`` objective
  divided by :math:`c \sum_i s_i`, i.e. ``C = 1 / (l2 * sum(sample_weight))``.

  Args:
    model: the :class:`LinearModel` to evaluate.
    X: features, shape ``[n, d]``.
    y: binary labels in ``{0, 1}``, shape ``[n]``.
    l2: L2 strength :math:`\lambda \ge 0`.
    sample_weight: non-negative weights, shape ``[n]``; ``None`` = ones.

  Returns:
    Scalar objective value.
  """
  X, y, sw = _check_data(X, y, sample_weight)
  margin = _signed(y, X.dtype) * decision_function(model, X)
  loss = jnp.sum(sw * jax.nn.softplus(-margin)) / jnp.sum(sw)
  return loss + 0.5 * l2 * jnp.sum(jnp.square(model.weights))


def linear_svm_objective(
    model: LinearModel,
    X: ArrayLike,
    y: ArrayLike,
    *,
    C: float = 1.0,
    sample_weight: ArrayLike | None = None,
) -> jax.Array:
  r"""The soft-margin SVM objective that :func:`fit_linear_svm` minimises.

  .. math::
    \frac12 \|w\|^2 + C \sum_i s_i \max(0, 1 - \tilde y_i f(x_i)),
    \qquad \tilde y_i = 2 y_i - 1,

  scikit-learn's convention (``SVC(kernel="linear", C=C)`` and
  ``LinearSVC(loss="hinge", C=C)``, which does penalise the bias). Not
  averaged over samples: compare values at equal ``C`` and ``n``.

  Args:
    model: the :class:`LinearModel` to evaluate.
    X: features, shape ``[n, d]``.
    y: binary labels in ``{0, 1}``, shape ``[n]``.
    C: inverse regularisation strength, ``> 0``.
    sample_weight: non-negative weights, shape ``[n]``; ``None`` = ones.

  Returns:
    Scalar objective value.
  """
  X, y, sw = _check_data(X, y, sample_weight)
  margin = _signed(y, X.dtype) * decision_function(model, X)
  hinge = jnp.sum(sw * jnp.maximum(1 - margin, 0))
  return 0.5 * jnp.sum(jnp.square(model.weights)) + C * hinge


# ---------------------------------------------------------------- validation


def _check_data(X, y, sample_weight):
  X = as_array(X, "X")
  if np.ndim(X) != 2:
    raise ValueError(
        f"`X` must be a matrix of shape [n, d], got shape {np.shape(X)}."
    )
  X = jnp.asarray(X)
  if not jnp.issubdtype(X.dtype, jnp.floating):
    X = X.astype(float_dtype())
  if jnp.finfo(X.dtype).bits < 32:  # bf16/f16: fit in float32
    X = X.astype(jnp.float32)
  dtype = X.dtype
  n = X.shape[0]
  if n == 0:
    raise ValueError("`X` must have at least one row, got shape (0, d).")
  y = check_binary(y, "y", n)
  sw = check_sample_weight(sample_weight, n, dtype)
  if sample_weight is not None and is_concrete(sw) and not np.any(
      np.asarray(sw) > 0
  ):
    raise ValueError("`sample_weight` must have a positive entry, got all 0.")
  return X, y, sw


def _check_positive(value, name: str, *, allow_zero: bool = False):
  if isinstance(value, (bool, np.bool_)) or not (
      isinstance(value, (int, float, np.number))
      or (hasattr(value, "shape") and np.ndim(value) == 0)
  ):
    raise TypeError(f"`{name}` must be a scalar number, got {value!r}.")
  if is_concrete(value):
    v = float(np.asarray(value))
    ok = (v >= 0) if allow_zero else (v > 0)
    if not ok or not np.isfinite(v):
      bound = ">= 0" if allow_zero else "> 0"
      raise ValueError(f"`{name}` must be finite and {bound}, got {v}.")
  return value


def _check_int(value, name: str, *, optional: bool = False):
  if value is None and optional:
    return None
  if isinstance(value, (bool, np.bool_)) or not isinstance(
      value, (int, np.integer)
  ):
    raise TypeError(f"`{name}` must be a Python int, got {value!r}.")
  if value < 1:
    raise ValueError(f"`{name}` must be >= 1, got {value}.")
  return int(value)


def _check_directions(directions, d: int, dtype):
  if directions is None:
    return None
  U = as_array(directions, "constraint_directions")
  if np.ndim(U) == 1:
    U = U[None]
  if np.ndim(U) != 2 or U.shape[1] != d:
    raise ValueError(
        "`constraint_directions` must have shape [K, d] with d = "
        f"{d} (the number of features), got shape {np.shape(directions)}."
    )
  U = jnp.asarray(U, dtype)
  if is_concrete(U) and not np.all(np.isfinite(np.asarray(U))):
    raise ValueError("`constraint_directions` must be finite, got NaN/inf.")
  return U


# ---------------------------------------------------------- the constraint


class _Constraint(NamedTuple):
  directions: jax.Array  # [K, d]
  pinv: jax.Array  # [d, K]
  eps: jax.Array  # scalar


def _constrained_weights(v, theta, con: _Constraint):
  """Maps free parameters to weights with ``|U w| <= eps`` (module doc)."""
  w = v - con.pinv @ (con.directions @ v)
  t = con.eps * jnp.tanh(theta)
  t = con.directions @ (con.pinv @ t)  # stay in range(U) (rank deficiency)
  peak = jnp.max(jnp.abs(t))
  over = peak > con.eps
  scale = jnp.where(over, con.eps / jnp.where(over, peak, 1), 1)
  return w + con.pinv @ (t * scale)


class _Params(NamedTuple):
  v: jax.Array
  bias: jax.Array
  theta: jax.Array


def _to_model(params: _Params, con: _Constraint) -> LinearModel:
  w = _constrained_weights(params.v, params.theta, con)
  return LinearModel(w, params.bias)


# -------------------------------------------------------------- optimizers


def _lbfgs(fun, params, *, num_steps: int, tol):
  """Minimises a smooth ``fun`` with optax's L-BFGS (zoom line search)."""
  opt = optax.lbfgs()
  value_and_grad = optax.value_and_grad_from_state(fun)

  def step(carry):
    params, state, _ = carry
    value, grad = value_and_grad(params, state=state)
    updates, state = opt.update(
        grad, state, params, value=value, grad=grad, value_fn=fun
    )
    params = optax.apply_updates(params, updates)
    return params, state, optax.tree.norm(grad)

  def keep_going(carry):
    _, state, gnorm = carry
    return (optax.tree.get(state, "count") < num_steps) & (gnorm > tol)

  big = jnp.asarray(jnp.inf, jax.tree.leaves(params)[0].dtype)
  # optax's L-BFGS mixes int32 and int64 counters under x64, which strict
  # promotion rejects; our own code below is strict-clean.
  with jax.numpy_dtype_promotion("standard"):
    init = (params, opt.init(params), big)
    params, _, _ = jax.lax.while_loop(keep_going, step, init)
  return params


def _adam(batch_fun, params, key, *, n, num_steps, batch_size, learning_rate):
  """Minibatch Adam with a cosine-decayed step size; returns the last iterate.

  ``batch_fun(params, idx)`` is an unbiased estimate of the objective on the
  rows ``idx`` (sampled uniformly with replacement).
  """
  schedule = optax.cosine_decay_schedule(learning_rate, num_steps)
  opt = optax.adam(schedule)
  grad_fn = jax.grad(batch_fun)

  def step(carry, k):
    params, state = carry
    idx = jax.random.randint(k, (batch_size,), 0, n)
    updates, state = opt.update(grad_fn(params, idx), state, params)
    return (optax.apply_updates(params, updates), state), None

  keys = jax.random.split(key, num_steps)
  with jax.numpy_dtype_promotion("standard"):  # optax's int step counters
    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), keys)
  return params


# ----------------------------------------------------------------- fitting


def _data_loss(is_hinge, margin, smoothing):
  """Logistic or (smoothed) hinge loss; ``is_hinge`` is traced (one compile)."""
  return jnp.where(
      is_hinge, _smoothed_hinge(margin, smoothing), jax.nn.softplus(-margin)
  )


@functools.partial(jax.jit, static_argnames=("num_steps", "batch_size"))
def _fit(
    X, ypm, sw, reg, con, key, learning_rate, tol, max_steps, is_hinge,
    levels, *, num_steps, batch_size,
):
  """Minimises ``mean_s(loss) + reg/2 ||w||^2`` (the compiled core).

  One program serves both losses (``is_hinge`` traced) and every ``eps``
  (``con`` is always present: no constraint is ``U = 0``). Full batch:
  ``max_steps`` (traced) bounds the L-BFGS iterations, run once per entry of
  ``levels`` (the hinge smoothings; warm-started) and ``num_steps`` is
  ``None``; minibatch: ``num_steps`` (static) Adam steps on the exact loss.
  """
  d, k = X.shape[1], con.directions.shape[0]
  params = _Params(
      jnp.zeros((d,), X.dtype), jnp.zeros((), X.dtype), jnp.zeros((k,), X.dtype)
  )
  total = jnp.sum(sw)

  def objective(params, rows=None, smoothing=0.0):
    model = _to_model(params, con)
    if rows is None:
      margin = ypm * decision_function(model, X)
      loss = jnp.sum(sw * _data_loss(is_hinge, margin, smoothing)) / total
    else:  # unbiased for the weighted mean over all rows
      margin = ypm[rows] * decision_function(model, X[rows])
      loss = jnp.sum(sw[rows] * _data_loss(is_hinge, margin, smoothing))
      loss = loss * (X.shape[0] / rows.shape[0]) / total
    penalty = 0.5 * reg * jnp.sum(jnp.square(model.weights))
    # the part of v that w ignores has no curvature: keep it at 0
    idle = con.pinv @ (con.directions @ params.v)
    return loss + penalty + 0.5 * jnp.sum(jnp.square(idle))

  if batch_size is None:

    def stage(params, smoothing):
      fun = functools.partial(objective, smoothing=smoothing)
      steps = jnp.maximum(1, max_steps // levels.shape[0])
      return _lbfgs(fun, params, num_steps=steps, tol=tol), None

    params, _ = jax.lax.scan(stage, params, levels)
  else:
    params = _adam(
        lambda p, rows: objective(p, rows), params, key, n=X.shape[0],
        num_steps=num_steps, batch_size=batch_size,
        learning_rate=learning_rate,
    )
  return _to_model(params, con)


# ------------------------------------------------------ rate constraints


@functools.partial(
    jax.jit, static_argnames=("num_steps", "notion", "num_groups"))
def _fit_rate_constrained(
    X, y, ypm, s, sw, reg, is_hinge, bound, learning_rate, *, num_steps,
    notion, num_groups,
):
  """Proxy-Lagrangian GDA; returns the best feasible iterate and its info."""
  from fairjax import _rates
  from fairjax.training import _candidates, _constraints

  d, dtype = X.shape[1], X.dtype
  total = jnp.sum(sw)
  m = _rates.num_rate_gaps(num_groups, notion=notion)

  def fun(model):
    z = decision_function(model, X)
    loss = jnp.sum(sw * _data_loss(is_hinge, ypm * z, 0.0)) / total
    loss = loss + 0.5 * reg * jnp.sum(jnp.square(model.weights))
    return loss, _constraints.rate_constraints(
        y, z, sensitive_features=s, notion=notion, bound=bound,
        sample_weight=sw, num_groups=num_groups)

  schedule = optax.cosine_decay_schedule(learning_rate, num_steps, alpha=0.1)
  opt = _constraints.constrained_optimizer(
      optax.adam(schedule), dual_learning_rate=10 * learning_rate / m)
  model = LinearModel(jnp.zeros((d,), dtype), jnp.zeros((), dtype))
  big = jnp.asarray(jnp.inf, dtype)

  def step(carry, _):
    model, state, best, best_loss, best_viol = carry
    new, state, info = opt.update(fun, model, state)
    viol = jnp.max(info.strict_violation)
    pick = _candidates.find_best_candidate_index(
        jnp.stack([best_loss, info.loss]), jnp.stack([best_viol, viol]))
    keep = pick == 0
    best = jax.tree.map(lambda a, b: jnp.where(keep, a, b), best, model)
    best_loss = jnp.where(keep, best_loss, info.loss)
    best_viol = jnp.where(keep, best_viol, viol)
    return (new, state, best, best_loss, best_viol), None

  with jax.numpy_dtype_promotion("standard"):  # optax's int step counters
    init = (model, opt.init(model, m), model, big, big)
    carry, _ = jax.lax.scan(step, init, None, length=num_steps)
  return carry[2]


def _check_rate_constraint(constraint, bound, sensitive_features, num_groups,
                           n, constraint_directions, batch_size):
  """Validates ``constraint=``/``bound=``; returns ``(s, num_groups)``."""
  if constraint is None:
    return None
  check_choice(constraint, "constraint", NOTIONS)
  if sensitive_features is None:
    raise ValueError(
        f"constraint={constraint!r} needs `sensitive_features` (the group id "
        "of each row), got None.")
  if constraint_directions is not None:
    raise ValueError(
        "Pass either `constraint` (a bound on a rate difference) or "
        "`constraint_directions` (FERM's |<w, u>| <= eps), not both.")
  if batch_size is not None:
    raise ValueError(
        "`constraint=` fits full-batch (the rates are over the whole "
        f"training set): leave `batch_size` as None, got {batch_size}.")
  from fairjax.training._constraints import _check_bound
  _check_bound(bound)
  return check_sensitive_features(sensitive_features, num_groups, n,
                                  min_groups=2)


def _fit_constrained(X, y, sample_weight, reg_fn, is_hinge, constraint, bound,
                     groups, num_steps, learning_rate):
  X, y, sw = _check_data(X, y, sample_weight)
  num_steps = _check_int(num_steps, "num_steps")
  _check_positive(learning_rate, "learning_rate")
  s, num_groups = groups
  dtype = X.dtype
  return _fit_rate_constrained(
      X, y, _signed(y, dtype), s, sw, reg_fn(sw, dtype), jnp.asarray(is_hinge),
      jnp.asarray(bound, dtype), jnp.asarray(learning_rate, dtype),
      num_steps=num_steps, notion=constraint, num_groups=num_groups)


def _prepare(
    X, y, sample_weight, constraint_directions, eps, num_steps, batch_size,
    key, learning_rate, tol,
):
  X, y, sw = _check_data(X, y, sample_weight)
  dtype = X.dtype
  U = _check_directions(constraint_directions, X.shape[1], dtype)
  _check_positive(eps, "eps", allow_zero=True)
  if U is None:  # no constraint: U = 0 gives w = v (one compiled program)
    U, eps = jnp.zeros((1, X.shape[1]), dtype), 0.0
  num_steps = _check_int(num_steps, "num_steps")
  batch_size = _check_int(batch_size, "batch_size", optional=True)
  _check_positive(learning_rate, "learning_rate")
  if tol is None:
    tol = 100 * float(jnp.finfo(dtype).eps)
  _check_positive(tol, "tol", allow_zero=True)
  key = jax.random.key(0) if key is None else check_key(key)
  con = _Constraint(U, jnp.linalg.pinv(U), jnp.asarray(eps, dtype))
  args = (
      X, _signed(y, dtype), sw, con, key, jnp.asarray(learning_rate, dtype),
      jnp.asarray(tol, dtype), jnp.asarray(num_steps, jnp.int32),
  )
  static_steps = None if batch_size is None else num_steps
  return args, dict(num_steps=static_steps, batch_size=batch_size)


def fit_logistic_regression(
    X: ArrayLike,
    y: ArrayLike,
    *,
    l2: float = 1e-3,
    sample_weight: ArrayLike | None = None,
    num_steps: int = 500,
    learning_rate: float = 0.05,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    constraint_directions: ArrayLike | None = None,
    eps: float = 0.0,
    tol: float | None = None,
    constraint: str | None = None,
    bound: float = 0.02,
    sensitive_features: ArrayLike | None = None,
    num_groups: int | None = None,
) -> LinearModel:
  r"""Fits L2-regularised logistic regression with Optax.

  Minimises :func:`logistic_regression_objective`,

  .. math::
    \frac{\sum_i s_i \log(1 + e^{-\tilde y_i (\langle w, x_i\rangle + b)})}
    {\sum_i s_i} + \frac{\lambda}{2}\|w\|^2
    \quad \text{s.t.} \quad |\langle w, u_k\rangle| \le \epsilon,

  the constraint only when ``constraint_directions`` is given (see the module
  docstring: it holds exactly for the returned model). Equivalent to
  scikit-learn's ``LogisticRegression(C=1 / (l2 * sum(sample_weight)))``.

  Full batch (``batch_size=None``): L-BFGS with a zoom line search until the
  gradient norm is below ``tol`` or after ``num_steps`` iterations
  (``learning_rate`` is unused). Minibatch: ``num_steps`` Adam steps on
  ``batch_size`` rows drawn with replacement, step size ``learning_rate``
  decayed to 0 with a cosine schedule.

  Args:
    X: features, shape ``[n, d]``; its floating dtype is kept (float32
      at least: bf16/f16 input is fitted in float32).
    y: labels in ``{0, 1}``, shape ``[n]``.
    l2: L2 strength :math:`\lambda \ge 0` on ``w`` (not on the bias).
    sample_weight: non-negative weights (or a padding mask), shape ``[n]``.
    num_steps: L-BFGS iterations (at most) or Adam steps.
    learning_rate: Adam step size (minibatch only).
    batch_size: rows per Adam step; ``None`` for full-batch L-BFGS.
    key: PRNG key for the minibatches; ``None`` means ``jax.random.key(0)``.
    constraint_directions: :math:`U`, shape ``[K, d]`` or ``[d]``.
    eps: slack :math:`\epsilon \ge 0` of the constraint; ``0`` = orthogonal.
    tol: gradient-norm tolerance of L-BFGS; default ``100 * finfo.eps``.
    constraint: ``None``, or ``"demographic_parity"``,
      ``"equal_opportunity"`` or ``"equalized_odds"``: bound that metric of
      the hard predictions ``f(x) > 0`` on the training data by ``bound``
      (module docstring). ``num_steps`` full-batch Adam steps of step size
      ``learning_rate`` (cosine-decayed to a tenth), dual step size
      ``10 * learning_rate / m``; returns the best feasible iterate.
    bound: the largest allowed difference, in ``[0, 1]``.
    sensitive_features: integer group ids, shape ``[n]`` (with
      ``constraint``).
    num_groups: static number of groups (inferred when omitted).

  Returns:
    The fitted :class:`LinearModel`.

  Raises:
    ValueError: wrong shapes, non-binary ``y``, negative hyperparameters.
      A ``bound`` outside ``[0, 1]``, an unknown ``constraint``, or
      ``constraint`` without ``sensitive_features``.
    TypeError: non-integer ``num_steps``/``batch_size``.

  Examples:
    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    >>> model = fit_logistic_regression(X, np.array([0, 0, 1, 1]), l2=0.1)
    >>> (decision_function(model, X) > 0).astype(int).tolist()
    [0, 0, 1, 1]
  """
  _check_positive(l2, "l2", allow_zero=True)
  groups = _check_rate_constraint(
      constraint, bound, sensitive_features, num_groups, np.shape(X)[0],
      constraint_directions, batch_size)
  if groups is not None:
    return _fit_constrained(
        X, y, sample_weight, lambda sw, dt: jnp.asarray(l2, dt), False,
        constraint, bound, groups, num_steps, learning_rate)
  args, static = _prepare(
      X, y, sample_weight, constraint_directions, eps, num_steps, batch_size,
      key, learning_rate, tol,
  )
  X_, ypm, sw, con, key_, lr, tol_, steps = args
  reg = jnp.asarray(l2, X_.dtype)
  levels = jnp.zeros((len(_HINGE_SMOOTHING),), X_.dtype)  # unused by the loss
  return _fit(
      X_, ypm, sw, reg, con, key_, lr, tol_, steps, jnp.asarray(False),
      levels, **static,
  )


def fit_linear_svm(
    X: ArrayLike,
    y: ArrayLike,
    *,
    C: float = 1.0,
    sample_weight: ArrayLike | None = None,
    num_steps: int = 800,
    learning_rate: float = 0.05,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    constraint_directions: ArrayLike | None = None,
    eps: float = 0.0,
    tol: float | None = None,
    constraint: str | None = None,
    bound: float = 0.02,
    sensitive_features: ArrayLike | None = None,
    num_groups: int | None = None,
) -> LinearModel:
  r"""Fits a soft-margin linear SVM (hinge loss, L2) with Optax.

  Minimises :func:`linear_svm_objective`, scikit-learn's convention,

  .. math::
    \frac12\|w\|^2 + C \sum_i s_i \max(0, 1 - \tilde y_i
    (\langle w, x_i\rangle + b))
    \quad \text{s.t.} \quad |\langle w, u_k\rangle| \le \epsilon,

  the constraint only when ``constraint_directions`` is given (it holds
  exactly for the returned model; see the module docstring). Internally the
  objective is divided by :math:`C \sum_i s_i`.

  Full batch (``batch_size=None``): L-BFGS on a smoothed hinge (quadratic
  within ``delta`` of the margin), with ``delta`` decreasing through
  ``(1, 0.1, 0.01, 0.001)``, each stage warm-started and given
  ``num_steps // 4`` iterations at most. The smoothed hinge is within
  ``delta / 2`` of the hinge per example, so the last stage's minimiser is
  within ``C * sum(s) * 5e-4`` of the SVM optimum in objective (in practice
  far closer: only examples within ``delta`` of the margin differ).
  Minibatch: ``num_steps`` Adam steps on the exact hinge, ``batch_size``
  rows drawn with replacement, cosine-decayed step size ``learning_rate``.

  Args:
    X: features, shape ``[n, d]``; its floating dtype is kept (float32
      at least: bf16/f16 input is fitted in float32).
    y: labels in ``{0, 1}`` (mapped to ``-1, +1`` inside), shape ``[n]``.
    C: inverse regularisation strength, ``> 0``.
    sample_weight: non-negative weights (or a padding mask), shape ``[n]``.
    num_steps: total L-BFGS iterations (at most) or Adam steps.
    learning_rate: Adam step size (minibatch only).
    batch_size: rows per Adam step; ``None`` for full-batch L-BFGS.
    key: PRNG key for the minibatches; ``None`` means ``jax.random.key(0)``.
    constraint_directions: :math:`U`, shape ``[K, d]`` or ``[d]``.
    eps: slack :math:`\epsilon \ge 0` of the constraint; ``0`` = orthogonal.
    tol: gradient-norm tolerance of L-BFGS; default ``100 * finfo.eps``.
    constraint: ``None``, or ``"demographic_parity"``,
      ``"equal_opportunity"`` or ``"equalized_odds"``: bound that metric of
      the hard predictions ``f(x) > 0`` on the training data by ``bound``
      (module docstring). ``num_steps`` full-batch Adam steps of step size
      ``learning_rate`` (cosine-decayed to a tenth), dual step size
      ``10 * learning_rate / m``; returns the best feasible iterate.
    bound: the largest allowed difference, in ``[0, 1]``.
    sensitive_features: integer group ids, shape ``[n]`` (with
      ``constraint``).
    num_groups: static number of groups (inferred when omitted).

  Returns:
    The fitted :class:`LinearModel`.

  Raises:
    ValueError: wrong shapes, non-binary ``y``, non-positive ``C``.
      A ``bound`` outside ``[0, 1]``, an unknown ``constraint``, or
      ``constraint`` without ``sensitive_features``.
    TypeError: non-integer ``num_steps``/``batch_size``.

  References:
    Donini, Oneto, Ben-David, Shawe-Taylor and Pontil, `Empirical Risk
    Minimization under Fairness Constraints
    <https://arxiv.org/abs/1802.08626>`_, NeurIPS 2018.
  """
  _check_positive(C, "C")
  groups = _check_rate_constraint(
      constraint, bound, sensitive_features, num_groups, np.shape(X)[0],
      constraint_directions, batch_size)
  if groups is not None:
    return _fit_constrained(
        X, y, sample_weight,
        lambda sw, dt: 1 / (jnp.asarray(C, dt) * jnp.sum(sw)), True,
        constraint, bound, groups, num_steps, learning_rate)
  args, static = _prepare(
      X, y, sample_weight, constraint_directions, eps, num_steps, batch_size,
      key, learning_rate, tol,
  )
  X_, ypm, sw, con, key_, lr, tol_, steps = args
  reg = 1 / (jnp.asarray(C, X_.dtype) * jnp.sum(sw))
  levels = jnp.asarray(_HINGE_SMOOTHING, X_.dtype)
  return _fit(
      X_, ypm, sw, reg, con, key_, lr, tol_, steps, jnp.asarray(True),
      levels, **static,
  )
