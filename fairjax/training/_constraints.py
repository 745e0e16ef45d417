r"""Fairness constraints for any JAX model: a Lagrangian in Optax's shape.

The problem is

.. math::
  \min_\theta f(\theta) \quad \text{s.t.} \quad g_j(\theta) \le 0,
  \quad j = 1, \dots, m,

e.g. ``g = rate_gaps(state) - bound`` for "demographic parity difference
``<= bound``" (:func:`rate_constraints`), or any differentiable quantity of
the user's (:func:`bound_constraint`). It is solved as the min-max game of
the Lagrangian :math:`L(\theta, \lambda) = f(\theta) + \lambda^\top
g(\theta)`, :math:`\lambda \ge 0`, by simultaneous gradient descent on
:math:`\theta` (any Optax optimizer) and projected gradient ascent on
:math:`\lambda`:

.. math::
  \lambda \leftarrow \max\big(0,\; \lambda + \eta \, \tilde g(\theta)\big).

Proxy vs strict (`Cotter et al., Optimization with Non-Differentiable
Constraints with Applications to Fairness, Recall, Churn, and Other Goals
<https://arxiv.org/abs/1809.04198>`_, JMLR 2019, the proxy-Lagrangian):
a hard rate has no useful gradient, so the primal step differentiates the
*proxy* :math:`g` (rates of ``sigmoid(logit / temperature)``) while the dual
step ascends on the *strict* violation :math:`\tilde g` (rates of hard
predictions ``logit > 0``): the multipliers grow exactly while the
constraint the user cares about is violated.

Damping the oscillation of the last iterate:

* ``augmented=rho > 0``: the augmented Lagrangian
  :math:`f + \frac{1}{2\rho} \sum_j (\max(0, \lambda_j + \rho g_j)^2 -
  \lambda_j^2)`, whose primal gradient is :math:`\max(0, \lambda + \rho g)
  \nabla g` (the plain Lagrangian's at ``rho = 0``);
* ``optimistic=True``: the optimistic dual step
  :math:`\lambda \leftarrow \max(0, \lambda + \eta (2 \tilde g_t - \tilde
  g_{t-1}))` (`Daskalakis et al., Training GANs with Optimism
  <https://arxiv.org/abs/1711.00141>`_, 2018).

Defaults (the advice of `Cooper <https://github.com/cooper-org/cooper>`_,
the PyTorch library for constrained optimization): plain gradient ascent on
the dual, no momentum, a dual step size of about ``10 * primal_lr / m``.
Multipliers that keep growing mean the bound is infeasible for the model.
Pick the final model among snapshots with
:func:`fairjax.find_best_candidate_index` rather than the last iterate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from fairjax import _groups, _rates


class ConstraintValues(NamedTuple):
  """Constraint values :math:`g_j` (``<= 0`` means satisfied), shape ``[m]``.

  Attributes:
    proxy: differentiable values, used by the primal step.
    strict: the true values (e.g. of hard predictions), used by the dual
      step and for logging; carries no gradient.
  """

  proxy: jax.Array
  strict: jax.Array


def _check_bound(bound, name: str = "bound"):
  if isinstance(bound, (bool, np.bool_)) or not (
      isinstance(bound, (int, float, np.number))
      or (hasattr(bound, "shape") and np.ndim(bound) == 0)):
    raise TypeError(f"`{name}` must be a scalar number, got {bound!r}.")
  if _groups.is_concrete(bound):
    v = float(np.asarray(bound))
    if not 0 <= v <= 1:
      raise ValueError(
          f"`{name}` must lie in [0, 1] (a difference of rates), got {v}.")
  return bound


def rate_constraints(
    y_true: ArrayLike,
    logits: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    notion: str = "demographic_parity",
    bound: float = 0.02,
    method: str = "between_groups",
    sample_weight: ArrayLike | None = None,
    num_groups: int | None = None,
    temperature: float = 1.0,
) -> ConstraintValues:
  r"""Constraints "``notion`` difference ``<= bound``" of a binary classifier.

  .. math::
    g_j = \text{gap}_j - b, \qquad \max_j \text{gap}_j = \text{difference},

  with the gaps of :func:`fairjax.rate_gaps`: for
  ``method="between_groups"`` every ordered pair of groups, ``G (G - 1)``
  constraints per rate, which all hold iff the metric (e.g.
  :func:`fairjax.demographic_parity_difference`) is ``<= bound``; for
  ``"to_overall"`` each group against the pooled rate, two-sided, ``2 G``
  per rate. Equalized odds constrains both the TPR and the FPR gaps.

  The proxy uses the rates of :math:`\sigma(\text{logit} / T)`; the strict
  values those of the hard predictions ``logit > 0``.

  Args:
    y_true: binary labels, shape ``[n]`` (ignored by demographic parity).
    logits: decision values, shape ``[n]`` (predict 1 where ``> 0``).
    sensitive_features: integer group ids, shape ``[n]``.
    notion: ``"demographic_parity"``, ``"equal_opportunity"`` or
      ``"equalized_odds"``.
    bound: the largest allowed difference, in ``[0, 1]`` (may be traced:
      vmap over it for a sweep).
    method: ``"between_groups"`` or ``"to_overall"``.
    sample_weight: non-negative weights, shape ``[n]``.
    num_groups: static number of groups; required under ``jit``/``vmap``.
    temperature: :math:`T > 0` of the sigmoid proxy.

  Returns:
    :class:`ConstraintValues` of shape ``[m]``, ``m =``
    :func:`fairjax.num_rate_gaps` ``(G, notion=notion, method=method)``.
  """
  _check_bound(bound)
  logits = jnp.asarray(_groups.check_vector(logits, "logits"))
  dtype = _groups.float_dtype(logits)
  logits = logits.astype(dtype)
  if sample_weight is not None:  # padded rows are never read (nor NaN grads)
    logits = jnp.where(jnp.asarray(sample_weight) > 0, logits, 0)
  kw = dict(sensitive_features=sensitive_features, sample_weight=sample_weight,
            num_groups=num_groups)
  prob = jax.nn.sigmoid(logits / jnp.asarray(temperature, dtype))
  proxy = _rates.rate_state(y_true, prob, **kw)
  hard = _rates.rate_state(y_true, (logits > 0).astype(jnp.int32), **kw)
  gaps = dict(notion=notion, method=method)
  b = jnp.asarray(bound, proxy.weights.dtype)
  return ConstraintValues(
      proxy=_rates.rate_gaps(proxy, **gaps) - b,
      strict=jax.lax.stop_gradient(_rates.rate_gaps(hard, **gaps) - b),
  )


def bound_constraint(
    value: ArrayLike,
    *,
    bound: ArrayLike = 0.0,
    strict_value: ArrayLike | None = None,
) -> ConstraintValues:
  """A user's own constraint ``value <= bound`` (scalar or ``[m]`` values).

  Args:
    value: a differentiable quantity (e.g. a penalty), scalar or ``[m]``.
    bound: its upper bound (broadcast to ``value``).
    strict_value: the quantity the dual step should see (e.g. computed
      on hard predictions); ``value`` when ``None``.

  Returns:
    :class:`ConstraintValues` of shape ``[m]`` (``[1]`` for a scalar).
  """
  value = jnp.atleast_1d(jnp.asarray(value))
  bound = jnp.asarray(bound, value.dtype)
  strict = value if strict_value is None else jnp.atleast_1d(
      jnp.asarray(strict_value, value.dtype))
  return ConstraintValues(value - bound,
                          jax.lax.stop_gradient(strict - bound))


def concatenate_constraints(*constraints: ConstraintValues) -> ConstraintValues:
  """Stacks several :class:`ConstraintValues` into one of ``m = sum m_i``."""
  if not constraints:
    raise ValueError("concatenate_constraints needs at least one argument.")
  return ConstraintValues(*(jnp.concatenate(parts)
                            for parts in zip(*constraints, strict=True)))


def lagrangian(
    loss: ArrayLike,
    constraints: ConstraintValues,
    multipliers: ArrayLike,
    *,
    augmented: ArrayLike = 0.0,
) -> jax.Array:
  r"""The (augmented) Lagrangian that the primal step minimises.

  .. math::
    f + \frac{1}{2\rho} \sum_j \big(\max(0, \lambda_j + \rho g_j)^2
    - \lambda_j^2\big) \quad (\rho > 0), \qquad
    f + \lambda^\top g \quad (\rho = 0),

  with :math:`g` = ``constraints.proxy`` and the multipliers held fixed
  (no gradient flows into them).

  Args:
    loss: the objective :math:`f`, a scalar.
    constraints: :class:`ConstraintValues`, shape ``[m]``.
    multipliers: :math:`\lambda \ge 0`, shape ``[m]``.
    augmented: :math:`\rho \ge 0`, the quadratic term's weight.

  Returns:
    A scalar.
  """
  loss = jnp.asarray(loss)
  g = jnp.asarray(constraints.proxy)
  lam = jax.lax.stop_gradient(jnp.asarray(multipliers, g.dtype))
  if lam.shape != g.shape:
    raise ValueError(
        f"`multipliers` must have the shape of the constraints {g.shape}, got "
        f"{lam.shape}.")
  rho = jnp.asarray(augmented, g.dtype)
  on = rho > 0
  safe = jnp.where(on, rho, 1)
  quad = (jnp.square(jax.nn.relu(lam + safe * g)) - jnp.square(lam)) / (
      2 * safe)
  term = jnp.where(on, jnp.sum(quad), jnp.vdot(lam, g))
  return loss + term.astype(loss.dtype)


class MultiplierState(NamedTuple):
  """The dual variables.

  Attributes:
    multipliers: :math:`\\lambda \\ge 0`, shape ``[m]``.
    previous_violation: the violation of the last dual step (for the
      optimistic update), shape ``[m]``.
  """

  multipliers: jax.Array
  previous_violation: jax.Array


def init_multipliers(num_constraints: int,
                     dtype=jnp.float32) -> MultiplierState:
  """Zero multipliers for ``num_constraints`` constraints."""
  m = _groups.check_num_groups(num_constraints)  # a positive Python int
  zeros = jnp.zeros((m,), dtype)
  return MultiplierState(zeros, zeros)


def update_multipliers(
    state: MultiplierState,
    violation: ArrayLike,
    *,
    learning_rate: ArrayLike,
    optimistic: bool = False,
) -> MultiplierState:
  r"""One projected dual ascent step, :math:`\max(0, \lambda + \eta v)`.

  Args:
    state: the :class:`MultiplierState`.
    violation: :math:`v`, shape ``[m]`` (usually ``constraints.strict``).
    learning_rate: :math:`\eta > 0` (about ``10 * primal_lr / m``).
    optimistic: use :math:`2 v_t - v_{t-1}` instead of :math:`v_t`.

  Returns:
    The new :class:`MultiplierState`.
  """
  lam = state.multipliers
  v = jax.lax.stop_gradient(jnp.asarray(violation, lam.dtype))
  if v.shape != lam.shape:
    raise ValueError(
        f"`violation` must have shape {lam.shape} (one value per multiplier), "
        f"got {v.shape}.")
  step = 2 * v - state.previous_violation if optimistic else v
  lam = jax.nn.relu(lam + jnp.asarray(learning_rate, lam.dtype) * step)
  return MultiplierState(lam, v)


class LagrangianState(NamedTuple):
  """State of :func:`constrained_optimizer`: primal and dual.

  Attributes:
    primal: the wrapped Optax optimizer's state.
    dual: the :class:`MultiplierState`.
  """

  primal: Any
  dual: MultiplierState


class StepInfo(NamedTuple):
  """What one constrained step reports, to log.

  Attributes:
    loss: the objective :math:`f` before the step.
    lagrangian: the (augmented) Lagrangian's value.
    proxy_violation: ``constraints.proxy``, shape ``[m]``.
    strict_violation: ``constraints.strict``, shape ``[m]``.
    multipliers: the multipliers used in the step, shape ``[m]``.
  """

  loss: jax.Array
  lagrangian: jax.Array
  proxy_violation: jax.Array
  strict_violation: jax.Array
  multipliers: jax.Array


class ConstrainedOptimizer(NamedTuple):
  """An ``(init, update)`` pair over (params, multipliers), as in Optax.

  Attributes:
    init: ``init(params, num_constraints) -> LagrangianState``.
    update: ``update(fun, params, state, *args) -> (params, state,
      StepInfo)``, with ``fun(params, *args) -> (loss, ConstraintValues)``.
  """

  init: Callable[..., LagrangianState]
  update: Callable[..., tuple[Any, LagrangianState, StepInfo]]


def constrained_optimizer(
    optimizer: optax.GradientTransformation,
    *,
    dual_learning_rate: ArrayLike,
    augmented: ArrayLike = 0.0,
    optimistic: bool = False,
    strict_dual: bool = True,
) -> ConstrainedOptimizer:
  r"""Wraps any Optax optimizer into a constrained (Lagrangian) optimizer.

  Each ``update`` computes the loss and constraints with ``fun``, takes one
  ``optimizer`` step on the Lagrangian's gradient in the params and one
  projected ascent step on the multipliers (see the module docstring), and
  returns a :class:`StepInfo`. Pure and jittable; hyperparameters may be
  traced (vmap a bound or a rate).

  Args:
    optimizer: any ``optax.GradientTransformation`` (the primal step).
    dual_learning_rate: :math:`\eta`; about ``10 * primal_lr / m``.
    augmented: :math:`\rho \ge 0` of the augmented Lagrangian (0: plain).
    optimistic: optimistic dual step.
    strict_dual: the dual ascends on ``constraints.strict`` (the
      proxy-Lagrangian); ``False`` uses ``constraints.proxy``.

  Returns:
    A :class:`ConstrainedOptimizer`.

  Examples:
    >>> import jax.numpy as jnp, optax
    >>> from fairjax import bound_constraint, constrained_optimizer
    >>> opt = constrained_optimizer(optax.sgd(0.1), dual_learning_rate=0.5)
    >>> fun = lambda x: (jnp.sum((x - 2.0) ** 2), bound_constraint(
    ...     x[0], bound=1.0))
    >>> x = jnp.zeros(2); state = opt.init(x, 1)
    >>> for _ in range(300):
    ...   x, state, info = opt.update(fun, x, state)
    >>> jnp.round(x, 2).tolist(), round(float(info.multipliers[0]), 1)
    ([1.0, 2.0], 2.0)
  """
  optimistic = bool(optimistic)
  strict_dual = bool(strict_dual)

  def init(params, num_constraints: int) -> LagrangianState:
    leaves = [x for x in jax.tree.leaves(params)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
    dtype = jnp.result_type(*leaves) if leaves else jnp.float32
    if jnp.finfo(dtype).bits < 32:
      dtype = jnp.float32
    with jax.numpy_dtype_promotion("standard"):  # optax is not strict-clean
      primal = optimizer.init(params)
    return LagrangianState(primal, init_multipliers(num_constraints, dtype))

  def update(fun, params, state: LagrangianState, *args, **kwargs):
    lam = state.dual.multipliers

    def objective(p):
      loss, cons = fun(p, *args, **kwargs)
      return lagrangian(loss, cons, lam, augmented=augmented), (loss, cons)

    (value, (loss, cons)), grads = jax.value_and_grad(
        objective, has_aux=True)(params)
    with jax.numpy_dtype_promotion("standard"):  # optax's int counters
      updates, primal = optimizer.update(grads, state.primal, params)
      params = optax.apply_updates(params, updates)
    seen = cons.strict if strict_dual else jax.lax.stop_gradient(cons.proxy)
    dual = update_multipliers(state.dual, seen, learning_rate=jnp.asarray(
        dual_learning_rate, lam.dtype), optimistic=optimistic)
    info = StepInfo(loss, value, jax.lax.stop_gradient(cons.proxy),
                    cons.strict, lam)
    return params, LagrangianState(primal, dual), info

  return ConstrainedOptimizer(init, update)


__all__ = (
    "ConstrainedOptimizer",
    "ConstraintValues",
    "LagrangianState",
    "MultiplierState",
    "StepInfo",
    "bound_constraint",
    "concatenate_constraints",
    "constrained_optimizer",
    "init_multipliers",
    "lagrangian",
    "rate_constraints",
    "update_multipliers",
)
