r"""Group rates as sufficient statistics: one state for metrics and constraints.

Every rate metric of a binary classifier is a ratio of two sums per group
``g`` and true-label class ``y``,

.. math::
  N_{g,y} = \sum_i w_i \, \hat p_i \, 1[s_i = g, y_i = y], \qquad
  D_{g,y} = \sum_i w_i \, 1[s_i = g, y_i = y],

with :math:`\hat p_i` a prediction. The selection rate of ``g`` is
:math:`\sum_y N_{g,y} / \sum_y D_{g,y}`, its true positive rate
:math:`N_{g,1} / D_{g,1}`, its false positive rate :math:`N_{g,0} / D_{g,0}`.
A :class:`RateState` holds ``N`` and ``D`` (shape ``[G, 2]``):

* on 0/1 predictions it is the cell table of :func:`fairjax.audit`
  (``N = cells[..., 1]``, ``D = cells.sum(-1)``), so the hard metrics follow;
* on probabilities (e.g. ``sigmoid(logit / temperature)``) it gives the
  differentiable proxy rates that constraints and penalties use;
* states add: ``state_a + state_b`` is the state of the concatenated data.
  A whole epoch or test set is audited one minibatch at a time, and a sum
  over devices is a sum of states (XLA inserts it for sharded arrays under
  ``jit``; use ``jax.lax.psum`` under ``shard_map``).

Undefined rates (a group, or a group's label class, without mass) are NaN in
:func:`group_rates` and skipped by the differences, as in
:mod:`fairjax._metrics`. The constraint gaps of :func:`rate_gaps` treat them
as satisfied (gap 0) with finite gradients.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from fairjax import _groups, _metrics

_METHODS = ("between_groups", "to_overall")
_AGGS = ("worst_case", "mean")
_RATES = ("selection", "true_positive", "false_positive")
_NOTION_RATES = {
    "demographic_parity": ("selection",),
    "equal_opportunity": ("true_positive",),
    "equalized_odds": ("true_positive", "false_positive"),
}
_CELL_KIND = {"selection": "selection", "true_positive": "tpr",
              "false_positive": "fpr"}


class RateState(NamedTuple):
  r"""Weighted prediction sums and weights per (group, true label).

  ``a + b`` adds two states element-wise (the state of the concatenated
  data), unlike a plain tuple's concatenation; ``jax.tree.map(jnp.add, a,
  b)`` and ``jax.lax.psum(state, axis)`` do the same.

  Attributes:
    weighted_predictions: :math:`N_{g,y} = \sum_i w_i \hat p_i 1[s_i = g,
      y_i = y]`, shape ``[G, 2]``.
    weights: :math:`D_{g,y} = \sum_i w_i 1[s_i = g, y_i = y]`, shape
      ``[G, 2]``.
  """

  weighted_predictions: jax.Array
  weights: jax.Array

  def __add__(self, other):
    if not isinstance(other, RateState):
      return NotImplemented
    return RateState(self.weighted_predictions + other.weighted_predictions,
                     self.weights + other.weights)


def rate_state(
    y_true: ArrayLike | None,
    y_pred: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    sample_weight: ArrayLike | None = None,
    num_groups: int | None = None,
) -> RateState:
  r"""The :class:`RateState` of one batch (a single pass, a segment sum).

  Args:
    y_true: binary labels, shape ``[n]``; ``None`` counts every example in
      class 0 (enough for the selection rate and demographic parity).
    y_pred: predictions, shape ``[n]``: 0/1 (bool or int) for the hard
      rates, or probabilities in ``[0, 1]`` for differentiable proxies.
    sensitive_features: integer group ids in ``[0, num_groups)``, shape
      ``[n]``.
    sample_weight: non-negative weights, shape ``[n]``; 0 masks a padded row.
    num_groups: static number of groups; required under ``jit``/``vmap``.

  Returns:
    A :class:`RateState` of ``[G, 2]`` arrays in the floating dtype of
    ``y_pred``/``sample_weight``, at least float32 (low-precision input is
    accumulated in float32). Sums of 0/1 predictions are exact integers.

  Examples:
    >>> import numpy as np
    >>> from fairjax import rate_state, audit_from_state
    >>> s = np.array([0, 0, 1, 1])
    >>> st = rate_state(np.array([1, 0, 1, 1]), np.array([1, 0, 0, 1]),
    ...                 sensitive_features=s)
    >>> st.weights.tolist()
    [[1.0, 1.0], [0.0, 2.0]]
    >>> audit_from_state(st).equal_opportunity_difference.item()
    0.5
  """
  y_pred = _groups.check_vector(y_pred, "y_pred")
  n = y_pred.shape[0]
  s, num_groups = _groups.check_sensitive_features(
      sensitive_features, num_groups, n)
  if y_true is None:
    y = jnp.zeros((n,), jnp.int32)
  else:
    y = _groups.check_binary(y_true, "y_true", n).astype(jnp.int32)
  dtype = _groups.float_dtype(y_pred, sample_weight)
  if jnp.finfo(dtype).bits < 32:  # accumulate low precision in float32
    dtype = jnp.dtype(jnp.float32)
  p = jnp.asarray(y_pred)
  if _groups.is_concrete(p) and p.size and not jnp.issubdtype(
      p.dtype, jnp.floating):
    _groups.check_binary(p, "y_pred", n)
  p = p.astype(dtype)
  w = _groups.check_sample_weight(sample_weight, n, dtype)
  p = jnp.where(w > 0, p, 0)  # a padded row (weight 0) is never read
  cell = s * 2 + y
  sums = jax.ops.segment_sum(jnp.stack([w * p, w], -1), cell,
                             num_segments=2 * num_groups)
  sums = sums.reshape(num_groups, 2, 2)
  return RateState(sums[..., 0], sums[..., 1])


def combine_rate_states(*states: RateState) -> RateState:
  """The sum of several states (e.g. one per minibatch or per device)."""
  if not states:
    raise ValueError("combine_rate_states needs at least one RateState.")
  for i, st in enumerate(states):
    _check_state(st, f"states[{i}]")
  return functools.reduce(lambda a, b: a + b, states)


def _check_state(state, name: str = "state") -> RateState:
  if not isinstance(state, RateState):
    raise TypeError(
        f"`{name}` must be a RateState (from fairjax.rate_state), got "
        f"{type(state).__name__}.")
  shapes = (np.shape(state.weighted_predictions), np.shape(state.weights))
  if (len(shapes[0]) != 2 or shapes[0][1] != 2 or shapes[0] != shapes[1]):
    raise ValueError(
        f"`{name}` must hold two arrays of shape [G, 2], got shapes "
        f"{shapes[0]} and {shapes[1]}.")
  return state


def state_to_cells(state: RateState) -> jax.Array:
  """The ``[G, 2, 2]`` (group, true label, prediction) table of a state."""
  state = _check_state(state)
  wp = jnp.asarray(state.weighted_predictions)
  return jnp.stack([jnp.asarray(state.weights) - wp, wp], -1)


class GroupRates(NamedTuple):
  """Per-group rates (shape ``[G]``, NaN where undefined) and pooled rates.

  Attributes:
    selection_rate: weighted mean prediction of the group.
    true_positive_rate: weighted mean prediction among the group's positives.
    false_positive_rate: weighted mean prediction among its negatives.
    pooled_selection_rate: the same over all groups (scalar).
    pooled_true_positive_rate: scalar.
    pooled_false_positive_rate: scalar.
  """

  selection_rate: jax.Array
  true_positive_rate: jax.Array
  false_positive_rate: jax.Array
  pooled_selection_rate: jax.Array
  pooled_true_positive_rate: jax.Array
  pooled_false_positive_rate: jax.Array


def _rate(cells: jax.Array, rate: str) -> tuple[jax.Array, jax.Array]:
  return _metrics._rates(cells, _CELL_KIND[rate])


def group_rates(state: RateState) -> GroupRates:
  """Selection rate, TPR and FPR of every group, and pooled, from a state.

  On the state of 0/1 predictions these equal the rates of
  :func:`fairjax.group_statistics`; on probabilities they are the proxies.
  """
  cells = state_to_cells(state)
  (sr, psr), (tpr, ptpr), (fpr, pfpr) = (
      _rate(cells, r) for r in _RATES)
  return GroupRates(sr, tpr, fpr, psr, ptpr, pfpr)


def audit_from_state(state: RateState) -> _metrics.AuditResult:
  """Every rate metric of :func:`fairjax.audit`, from a :class:`RateState`.

  Equal to ``audit(y_true, y_pred, ...)`` on the data the state summarises
  (bit for bit on the state of 0/1 predictions, which holds exact counts).
  ``groups.mean_prediction`` is the selection rate.
  """
  return _metrics._audit_cells(state_to_cells(state))


@functools.partial(jax.jit, static_argnames=("notion", "method", "agg"))
def _state_difference(cells, notion, method, agg):
  if notion == "demographic_parity":
    return _metrics._dp_difference_cells(cells, method)
  if notion == "equal_opportunity":
    return _metrics._eo_difference_cells(cells, method)
  return _metrics._eodds_difference_cells(cells, method, agg)


def difference_from_state(
    state: RateState,
    *,
    notion: str = "demographic_parity",
    method: str = "between_groups",
    agg: str = "worst_case",
) -> jax.Array:
  """A rate metric's difference from a state, as the metric functions.

  ``notion="demographic_parity"`` is
  :func:`fairjax.demographic_parity_difference`, ``"equal_opportunity"``
  :func:`fairjax.equal_opportunity_difference`, ``"equalized_odds"``
  :func:`fairjax.equalized_odds_difference` (with ``agg``); ``method`` as
  there. On a state of probabilities this is the (subdifferentiable) proxy.
  """
  _groups.check_notion(notion)
  _groups.check_choice(method, "method", _METHODS)
  _groups.check_choice(agg, "agg", _AGGS)
  return _state_difference(state_to_cells(state), notion, method, agg)


def _pairs(num_groups: int) -> tuple[np.ndarray, np.ndarray]:
  g, h = np.nonzero(~np.eye(num_groups, dtype=bool))
  return g, h


def rate_gaps(
    state: RateState,
    *,
    notion: str = "demographic_parity",
    method: str = "between_groups",
) -> jax.Array:
  r"""Signed gaps whose maximum is the notion's difference; for constraints.

  ``method="between_groups"``: :math:`r_g - r_h` for every ordered pair
  :math:`g \ne h`, ``G (G - 1)`` gaps per rate, so that

  .. math::
    \max_j \text{gap}_j \le b \iff \max_g r_g - \min_g r_g \le b.

  ``method="to_overall"``: :math:`r_g - r` and :math:`r - r_g` against the
  pooled rate :math:`r`, ``2 G`` gaps per rate (two-sided), bounding the
  ``to_overall`` difference. Equalized odds concatenates the TPR gaps and
  the FPR gaps (its worst case). A gap that involves an undefined rate is 0
  (the constraint holds trivially), with a finite gradient.

  Args:
    state: a :class:`RateState` (proxy or hard).
    notion: ``"demographic_parity"``, ``"equal_opportunity"`` or
      ``"equalized_odds"``.
    method: ``"between_groups"`` or ``"to_overall"``.

  Returns:
    The gaps, shape ``[m]`` with ``m = K G (G - 1)`` or ``m = 2 K G``
    (``K = 2`` for equalized odds, else 1).
  """
  _groups.check_notion(notion)
  _groups.check_choice(method, "method", _METHODS)
  cells = state_to_cells(state)
  out = []
  for rate in _NOTION_RATES[notion]:
    kind = _CELL_KIND[rate]
    if kind == "selection":
      num, den = cells[:, :, 1].sum(-1), cells.sum((-2, -1))
    elif kind == "tpr":
      num, den = cells[:, 1, 1], cells[:, 1, :].sum(-1)
    else:
      num, den = cells[:, 0, 1], cells[:, 0, :].sum(-1)
    r = _groups.safe_divide(num, den, 0.0)
    ok = den > 0
    if method == "between_groups":
      g, h = _pairs(cells.shape[0])
      out.append(jnp.where(ok[g] & ok[h], r[g] - r[h], 0))
    else:
      pooled = _groups.safe_divide(num.sum(), den.sum(), 0.0)
      gap = jnp.where(ok, r - pooled, 0)
      out.append(jnp.concatenate([gap, -gap]))
  return jnp.concatenate(out)


def num_rate_gaps(num_groups: int, *, notion: str = "demographic_parity",
                  method: str = "between_groups") -> int:
  """The length ``m`` of :func:`rate_gaps` (a static Python int)."""
  num_groups = _groups.check_num_groups(num_groups)
  _groups.check_notion(notion)
  _groups.check_choice(method, "method", _METHODS)
  per = (num_groups * (num_groups - 1) if method == "between_groups"
         else 2 * num_groups)
  return per * len(_NOTION_RATES[notion])


__all__ = (
    "GroupRates",
    "RateState",
    "audit_from_state",
    "combine_rate_states",
    "difference_from_state",
    "group_rates",
    "num_rate_gaps",
    "rate_gaps",
    "rate_state",
    "state_to_cells",
)
