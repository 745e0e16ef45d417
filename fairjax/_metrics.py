r"""Audit metrics with fairlearn's names, and a differentiable mean-gap penalty.

The rate metrics (demographic parity, equal opportunity, equalized odds) are
functions of one ``[G, 2, 2]`` table of weighted counts per (group, true
label, predicted label) cell, computed in a single pass. This makes them fast,
jit- and vmap-able with a static ``num_groups``, and lets :func:`bootstrap_ci`
resample rows exactly by drawing multinomial cell counts.

Groups and undefined rates. A group with no members (possible with a fixed
``num_groups``) or with no member in the conditioning class (e.g. no
positives, for a true positive rate) has an undefined rate: NaN in
:func:`group_statistics`. Differences and ratios skip undefined rates, so a
group that is absent from the data is treated exactly as fairlearn treats it
(fairlearn only knows the groups present). When fewer than two rates are
defined, a difference is 0 and a ratio is 1, as fairlearn returns for a single
group. One departure: for a group that is present but has no examples of the
conditioning class, fairlearn (via scikit-learn's ``zero_division``) uses a
rate of 0, which can create a gap out of a missing measurement; fairjax skips
it instead.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from fairjax import _groups

_METHODS = ("between_groups", "to_overall")
_AGGS = ("worst_case", "mean")
_REDUCTIONS = ("max", "pairwise", "vs_pooled")


class GroupStatistics(NamedTuple):
  """Per-group statistics, each of shape ``[G]``; NaN where undefined.

  Attributes:
    count: total sample weight of the group (its size when unweighted).
    selection_rate: weighted fraction with a positive prediction.
    true_positive_rate: P(prediction = 1 | y = 1, group).
    false_positive_rate: P(prediction = 1 | y = 0, group).
    mean_prediction: weighted mean of ``y_pred`` (before thresholding).
  """

  count: jax.Array
  selection_rate: jax.Array
  true_positive_rate: jax.Array
  false_positive_rate: jax.Array
  mean_prediction: jax.Array


# ----------------------------------------------------------------------------
# Input handling and the cell table.


def _cells(y_true, y_pred, sensitive_features, sample_weight, num_groups,
           *, binary_true: bool) -> jax.Array:
  """The validated ``[G, 2, 2]`` table; ``y_true`` unused unless binary_true."""
  if not binary_true:  # only its length matters
    y_pred = _groups.check_vector(y_pred, "y_pred")
    _groups.check_vector(y_true, "y_true", y_pred.shape[0])
    y_true = None
  return _groups.cell_counts(sensitive_features, y_true, y_pred,
                             num_groups=num_groups, sample_weight=sample_weight)


def _out_dtype(sample_weight) -> jnp.dtype:
  """Dtype of a rate metric: the weights' float dtype (cells are >= f32)."""
  return _groups.float_dtype(sample_weight)


def _rates(cells: jax.Array, kind: str) -> tuple[jax.Array, jax.Array]:
  """Per-group rate and the overall rate from a ``[G, 2, 2]`` table."""
  if kind == "selection":
    num, den = cells[:, :, 1].sum(-1), cells.sum((-2, -1))
  elif kind == "tpr":
    num, den = cells[:, 1, 1], cells[:, 1, :].sum(-1)
  else:  # fpr
    num, den = cells[:, 0, 1], cells[:, 0, :].sum(-1)
  pooled = _groups.safe_divide(num.sum(), den.sum())
  return _groups.safe_divide(num, den), pooled


def _difference(rates: jax.Array, overall: jax.Array, method: str) -> jax.Array:
  """Largest gap among defined rates (0 when fewer than two are defined)."""
  defined = ~jnp.isnan(rates)
  if method == "to_overall":
    gaps = jnp.where(defined, jnp.abs(rates - overall), 0)
    return jnp.where(defined.any(), jnp.max(gaps), 0).astype(rates.dtype)
  hi = jnp.max(jnp.where(defined, rates, -jnp.inf))
  lo = jnp.min(jnp.where(defined, rates, jnp.inf))
  return jnp.where(defined.sum() >= 2, hi - lo, 0).astype(rates.dtype)


def _ratio(rates: jax.Array, overall: jax.Array, method: str) -> jax.Array:
  """Smallest ratio among defined rates (1 when fewer than two are defined).

  0/0 gives NaN, as in fairlearn.
  """
  defined = ~jnp.isnan(rates)
  if method == "to_overall":
    r = jnp.minimum(rates / overall, overall / rates)
    value = jnp.min(jnp.where(defined, r, jnp.inf))
    return jnp.where(defined.any(), value, 1).astype(rates.dtype)
  hi = jnp.max(jnp.where(defined, rates, -jnp.inf))
  lo = jnp.min(jnp.where(defined, rates, jnp.inf))
  return jnp.where(defined.sum() >= 2, lo / hi, 1).astype(rates.dtype)


# Metric values as functions of the cell table (used by bootstrap_ci too).


@functools.partial(jax.jit, static_argnames="method")
def _dp_difference_cells(cells, method="between_groups"):
  return _difference(*_rates(cells, "selection"), method)


@functools.partial(jax.jit, static_argnames="method")
def _dp_ratio_cells(cells, method="between_groups"):
  return _ratio(*_rates(cells, "selection"), method)


@functools.partial(jax.jit, static_argnames="method")
def _eo_difference_cells(cells, method="between_groups"):
  return _difference(*_rates(cells, "tpr"), method)


@functools.partial(jax.jit, static_argnames=("method", "agg"))
def _eodds_difference_cells(cells, method="between_groups", agg="worst_case"):
  tpr = _difference(*_rates(cells, "tpr"), method)
  fpr = _difference(*_rates(cells, "fpr"), method)
  return jnp.maximum(tpr, fpr) if agg == "worst_case" else (tpr + fpr) / 2


# ----------------------------------------------------------------------------
# Public rate metrics.


def demographic_parity_difference(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    sample_weight: ArrayLike | None = None,
    method: str = "between_groups",
    num_groups: int | None = None,
) -> jax.Array:
  r"""Largest gap in selection rate between groups.

  .. math::
    \max_{g} P(\hat y = 1 \mid S = g) - \min_{g} P(\hat y = 1 \mid S = g)

  Args:
    y_true: true labels, shape ``[n]`` (unused; kept for fairlearn's
      signature).
    y_pred: binary predictions in {0, 1}, shape ``[n]``.
    sensitive_features: integer group ids in ``[0, num_groups)``, shape
      ``[n]``.
    sample_weight: non-negative weights, shape ``[n]`` (0 masks a padded row).
    method: ``"between_groups"`` (max minus min) or ``"to_overall"`` (largest
      absolute gap to the overall rate), as in fairlearn.
    num_groups: static number of groups; required under ``jit``/``vmap``.

  Returns:
    A scalar.

  Examples:
    >>> import numpy as np
    >>> from fairjax import demographic_parity_difference
    >>> demographic_parity_difference(
    ...     np.zeros(4), np.array([1, 1, 0, 1]),
    ...     sensitive_features=np.array([0, 0, 1, 1])).item()
    0.5
  """
  _groups.check_choice(method, "method", _METHODS)
  cells = _cells(y_true, y_pred, sensitive_features, sample_weight,
                 num_groups, binary_true=False)
  return _dp_difference_cells(cells, method).astype(
      _out_dtype(sample_weight))


def demographic_parity_ratio(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    sample_weight: ArrayLike | None = None,
    method: str = "between_groups",
    num_groups: int | None = None,
) -> jax.Array:
  r"""Smallest ratio of selection rates between groups (1 means parity).

  .. math::
    \min_{g} P(\hat y = 1 \mid S = g) \,/\, \max_{g} P(\hat y = 1 \mid S = g)

  NaN when every selection rate is 0, as in fairlearn. Arguments as in
  :func:`demographic_parity_difference`.
  """
  _groups.check_choice(method, "method", _METHODS)
  cells = _cells(y_true, y_pred, sensitive_features, sample_weight,
                 num_groups, binary_true=False)
  return _dp_ratio_cells(cells, method).astype(
      _out_dtype(sample_weight))


def equal_opportunity_difference(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    sample_weight: ArrayLike | None = None,
    method: str = "between_groups",
    num_groups: int | None = None,
) -> jax.Array:
  r"""Largest gap in true positive rate between groups.

  .. math::
    \max_{g} P(\hat y = 1 \mid Y = 1, S = g)
    - \min_{g} P(\hat y = 1 \mid Y = 1, S = g)

  For two groups this is the DEO of `Donini et al., Empirical Risk
  Minimization under Fairness Constraints
  <https://arxiv.org/abs/1802.08626>`_, 2018. ``y_true`` must be binary; the
  other arguments are as in :func:`demographic_parity_difference`.
  """
  _groups.check_choice(method, "method", _METHODS)
  cells = _cells(y_true, y_pred, sensitive_features, sample_weight,
                 num_groups, binary_true=True)
  return _eo_difference_cells(cells, method).astype(
      _out_dtype(sample_weight))


def equalized_odds_difference(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    sample_weight: ArrayLike | None = None,
    method: str = "between_groups",
    agg: str = "worst_case",
    num_groups: int | None = None,
) -> jax.Array:
  r"""Gap in true and false positive rates between groups.

  .. math::
    \operatorname{agg}\big(\Delta_{\mathrm{TPR}}, \Delta_{\mathrm{FPR}}\big)

  with ``agg="worst_case"`` the maximum and ``agg="mean"`` the mean of the
  two gaps, as in fairlearn. ``y_true`` must be binary; the other arguments
  are as in :func:`demographic_parity_difference`.
  """
  _groups.check_choice(method, "method", _METHODS)
  _groups.check_choice(agg, "agg", _AGGS)
  cells = _cells(y_true, y_pred, sensitive_features, sample_weight,
                 num_groups, binary_true=True)
  return _eodds_difference_cells(cells, method, agg).astype(
      _out_dtype(sample_weight))


def group_statistics(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    sample_weight: ArrayLike | None = None,
    threshold: float = 0.5,
    num_groups: int | None = None,
    check_finite: bool = True,
) -> GroupStatistics:
  """Per-group count, selection rate, TPR, FPR and mean prediction.

  Args:
    y_true: binary true labels, shape ``[n]``.
    y_pred: binary predictions or scores, shape ``[n]``; the rates use
      ``y_pred >= threshold`` (identical to ``y_pred`` for 0/1 predictions),
      ``mean_prediction`` uses ``y_pred`` itself.
    sensitive_features: integer group ids, shape ``[n]``.
    sample_weight: non-negative weights, shape ``[n]`` (0 masks a padded
      row, whose values are then not read).
    threshold: decision threshold for scores.
    num_groups: static number of groups; required under ``jit``/``vmap``.
    check_finite: raise a ``ValueError`` (concrete input) when a non-padded
      prediction is NaN or inf. Otherwise, and under ``jit``, a NaN makes
      its group's statistics NaN (other groups are unaffected); ``+inf`` is
      a score above every threshold.

  Returns:
    A :class:`GroupStatistics` of ``[G]`` arrays in the floating dtype of
    ``y_pred`` and ``sample_weight`` (computed in at least float32), NaN
    where undefined.
  """
  y_pred = jnp.asarray(_groups.check_vector(y_pred, "y_pred"))
  n = y_pred.shape[0]
  s, num_groups = _groups.check_sensitive_features(
      sensitive_features, num_groups, n
  )
  dtype = _groups.float_dtype(y_pred, sample_weight)
  acc = _groups.accumulation_dtype(dtype)
  w = None
  if sample_weight is not None:
    w = _groups.check_sample_weight(sample_weight, n, dtype)
  if check_finite:
    _groups.check_finite(y_pred, "y_pred", _groups.host_live(w))
  y_pred = _groups.mask_padding(y_pred.astype(acc), w)
  nan = jnp.isnan(y_pred)
  hard = (~nan & (y_pred >= threshold)).astype(jnp.int32)
  cells = _groups.cell_counts(s, y_true, hard, num_groups=num_groups,
                              sample_weight=w)
  member = _groups.membership(s, num_groups, w, acc)
  mean_pred, _ = _groups.group_means(y_pred, member)
  # A NaN prediction has no side of the threshold: its group's rates are NaN.
  nan_group = (member * nan[:, None].astype(acc)).sum(0) > 0
  def rate(kind):
    return jnp.where(nan_group, jnp.nan, _rates(cells, kind)[0])
  stats = GroupStatistics(
      count=cells.sum((-2, -1)),
      selection_rate=rate("selection"),
      true_positive_rate=rate("tpr"),
      false_positive_rate=rate("fpr"),
      mean_prediction=mean_pred,
  )
  return GroupStatistics(*(x.astype(dtype) for x in stats))


class AuditResult(NamedTuple):
  """Every rate metric of a binary classifier, from one pass over the data.

  Attributes:
    demographic_parity_difference: see :func:`demographic_parity_difference`.
    demographic_parity_ratio: see :func:`demographic_parity_ratio`.
    equal_opportunity_difference: see :func:`equal_opportunity_difference`.
    equalized_odds_difference: worst case of the TPR and FPR gaps, see
      :func:`equalized_odds_difference`.
    groups: the per-group :class:`GroupStatistics`.
  """

  demographic_parity_difference: jax.Array
  demographic_parity_ratio: jax.Array
  equal_opportunity_difference: jax.Array
  equalized_odds_difference: jax.Array
  groups: GroupStatistics


@jax.jit
def _audit_cells(cells: jax.Array) -> AuditResult:
  selection = _rates(cells, "selection")
  tpr, fpr = _rates(cells, "tpr"), _rates(cells, "fpr")
  method = "between_groups"
  return AuditResult(
      demographic_parity_difference=_difference(*selection, method),
      demographic_parity_ratio=_ratio(*selection, method),
      equal_opportunity_difference=_difference(*tpr, method),
      equalized_odds_difference=jnp.maximum(_difference(*tpr, method),
                                            _difference(*fpr, method)),
      groups=GroupStatistics(
          count=cells.sum((-2, -1)),
          selection_rate=selection[0],
          true_positive_rate=tpr[0],
          false_positive_rate=fpr[0],
          mean_prediction=selection[0],
      ),
  )


def audit(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    sample_weight: ArrayLike | None = None,
    num_groups: int | None = None,
) -> AuditResult:
  """All rate metrics and per-group statistics of binary predictions at once.

  Equal to calling each metric (with the default ``method`` and ``agg``) and
  :func:`group_statistics`, but the data is read once: the metrics are
  functions of the ``[G, 2, 2]`` table of cell counts.

  Args:
    y_true: binary labels, shape ``[n]``.
    y_pred: binary predictions, shape ``[n]``.
    sensitive_features: integer group ids in ``[0, num_groups)``, shape
      ``[n]``.
    sample_weight: non-negative weights, shape ``[n]``.
    num_groups: static number of groups; required under ``jit``/``vmap``.

  Returns:
    An :class:`AuditResult`.

  Examples:
    >>> import numpy as np
    >>> from fairjax import audit
    >>> r = audit(np.array([1, 0, 1, 1]), np.array([1, 0, 0, 1]),
    ...           sensitive_features=np.array([0, 0, 1, 1]))
    >>> r.equal_opportunity_difference.item(), r.groups.count.tolist()
    (0.5, [2.0, 2.0])
  """
  out = _out_dtype(sample_weight)
  result = _audit_cells(_cells(y_true, y_pred, sensitive_features,
                               sample_weight, num_groups, binary_true=True))
  return jax.tree.map(lambda x: x.astype(out), result)


# ----------------------------------------------------------------------------
# Kolmogorov-Smirnov distance for continuous predictions.


def _group_cdfs(cum, total, totals):
  """Group CDFs from cumulative counts.

  A group without mass gets the pooled CDF, which lies between the present
  groups' CDFs and so leaves their spread unchanged.
  """
  present = totals > 0
  mass = totals.sum(axis=-1, keepdims=True)
  pooled = total / jnp.where(mass > 0, mass, 1)
  return jnp.where(present, cum / jnp.where(present, totals, 1), pooled)


def _ks_spread_scan(groups, weights, last, totals):
  """Sequential pass (fast on CPU): no ``[n, G]`` array is formed."""
  def step(carry, row):
    cum, total, best = carry
    g, w, is_last = row
    cum, total = cum.at[g].add(w), total + w
    cdf = _group_cdfs(cum, total, totals)
    return (cum, total, jnp.where(is_last, jnp.maximum(
        best, cdf.max() - cdf.min()), best)), None

  init = (jnp.zeros_like(totals), jnp.zeros((), totals.dtype),
          jnp.zeros((), totals.dtype))
  return jax.lax.scan(step, init, (groups, weights, last))[0][2]


def _ks_spread_cumsum(groups, weights, last, totals):
  """Parallel cumulative sums (fast on accelerators)."""
  onehot = jax.nn.one_hot(groups, totals.shape[0], dtype=totals.dtype)
  cum = jnp.cumsum(onehot * weights[:, None], axis=0)  # [n, G]
  cdf = _group_cdfs(cum, cum.sum(1, keepdims=True), totals[None, :])
  return jnp.max(jnp.where(last, cdf.max(1) - cdf.min(1), 0))


def _ks_sorted(sorted_pred, sorted_s, sorted_w, num_groups) -> jax.Array:
  """KS distance of predictions sorted in increasing order.

  ``sorted_w`` are row weights (integer multiplicities give exact counts) or
  ``None``. The CDFs are compared only after the last of a run of tied
  predictions. Sums run in at least float32; the result has the dtype of
  ``sorted_pred``. NaN in a row of positive weight gives NaN.
  """
  dtype = _groups.float_dtype(sorted_pred)
  acc = _groups.accumulation_dtype(dtype)
  w = jnp.ones(sorted_s.shape, acc) if sorted_w is None else (
      sorted_w.astype(acc))
  totals = jax.ops.segment_sum(w, sorted_s, num_segments=num_groups)
  last = jnp.append(sorted_pred[1:] != sorted_pred[:-1], True)
  spread = jax.lax.platform_dependent(
      sorted_s, w, last, totals, cpu=_ks_spread_scan, default=_ks_spread_cumsum)
  value = jnp.where((totals > 0).sum() >= 2, spread, 0)
  nan = jnp.any(jnp.isnan(sorted_pred) & (w > 0))
  return jnp.where(nan, jnp.nan, value).astype(dtype)


def ks_distance(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    sample_weight: ArrayLike | None = None,
    num_groups: int | None = None,
    check_finite: bool = True,
) -> jax.Array:
  r"""Largest Kolmogorov-Smirnov distance between groups' prediction laws.

  .. math::
    \max_{g, h} \sup_t \big| \hat F_g(t) - \hat F_h(t) \big|
    = \sup_t \big( \max_g \hat F_g(t) - \min_g \hat F_g(t) \big)

  with :math:`\hat F_g` the (weighted) empirical CDF of ``y_pred`` in group
  ``g``. The supremum is exact: it is taken over all sample points, after
  every run of tied values. This is the unfairness measure of demographic
  parity for regression in `Chzhen et al., Fair Regression with Wasserstein
  Barycenters <https://arxiv.org/abs/2006.07286>`_, 2020.

  Args:
    y_true: unused; kept for fairlearn's signature.
    y_pred: continuous predictions, shape ``[n]``.
    sensitive_features: integer group ids, shape ``[n]``.
    sample_weight: non-negative weights, shape ``[n]``.
    num_groups: static number of groups; required under ``jit``/``vmap``.
    check_finite: raise a ``ValueError`` (concrete input) when a non-padded
      prediction is NaN or inf; otherwise, and under ``jit``, NaN gives NaN
      and ``±inf`` are ordinary extreme values.

  Returns:
    A scalar in ``[0, 1]`` in the floating dtype of ``y_pred`` and
    ``sample_weight`` (CDFs are summed in at least float32); 0 when fewer
    than two groups are present.

  Raises:
    ValueError: no rows (``n = 0``), or as documented for ``check_finite``.
  """
  y_pred = jnp.asarray(_groups.check_vector(y_pred, "y_pred"))
  n = y_pred.shape[0]
  _groups.check_nonempty(n, "y_pred")
  _groups.check_vector(y_true, "y_true", n)
  s, num_groups = _groups.check_sensitive_features(
      sensitive_features, num_groups, n
  )
  dtype = _groups.float_dtype(y_pred, sample_weight)
  w = None
  if sample_weight is not None:
    w = _groups.check_sample_weight(sample_weight, n, dtype)
  if check_finite:
    _groups.check_finite(y_pred, "y_pred", _groups.host_live(w))
  y_pred = _groups.mask_padding(y_pred.astype(dtype), w)
  order = jnp.argsort(y_pred)
  return _ks_sorted(y_pred[order], s[order], None if w is None else w[order],
                    num_groups)


# ----------------------------------------------------------------------------
# Differentiable counterpart.


def mean_gap_penalty(
    scores: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    labels: ArrayLike | None = None,
    notion: str = "demographic_parity",
    reduction: str = "max",
    num_groups: int | None = None,
    sample_weight: ArrayLike | None = None,
) -> jax.Array:
  r"""Gap between the groups' mean scores: a differentiable fairness penalty.

  With :math:`m_g` the weighted mean score of group ``g`` within a label
  class (all examples for demographic parity, positives for equal
  opportunity, each class for equalized odds, summed over classes):

  * ``reduction="max"``: :math:`\max_g m_g - \min_g m_g`; on 0/1 predictions
    this equals the corresponding hard metric (e.g.
    :func:`demographic_parity_difference`);
  * ``"pairwise"``: :math:`\sum_{g<h} p_g p_h |m_g - m_h| / \sum_{g<h} p_g p_h`;
  * ``"vs_pooled"``: :math:`\sum_g p_g |m_g - m|`, with :math:`m` the pooled
    mean,

  where :math:`p_g` is the group's weight share. Scores of shape ``[n, d]``
  (representations) use the Euclidean norm of the mean difference, the
  first-moment member of the MMD family (`Oneto et al., Exploiting MMD and
  Sinkhorn Divergences for Fair and Transferable Representation Learning
  <https://arxiv.org/abs/2010.01400>`_, 2020). Groups without members in a
  class are skipped; fewer than two present groups give 0 with a finite
  gradient.

  Args:
    scores: scores in [0, 1] (or any real values), shape ``[n]`` or ``[n, d]``.
    sensitive_features: integer group ids, shape ``[n]``.
    labels: binary labels, shape ``[n]``; needed by the label-conditioned
      notions.
    notion: ``"demographic_parity"``, ``"equal_opportunity"`` or
      ``"equalized_odds"``.
    reduction: ``"max"``, ``"pairwise"`` or ``"vs_pooled"``.
    num_groups: static number of groups; required under ``jit``/``vmap``.
    sample_weight: non-negative weights, shape ``[n]``.

  Returns:
    A scalar of the scores' floating dtype (computed in at least float32).
    NaN in a non-padded score gives NaN (never a confident 0).

  Raises:
    ValueError: no rows (``n = 0``), bad shapes, notion or reduction.
  """
  _groups.check_choice(reduction, "reduction", _REDUCTIONS)
  scores = jnp.asarray(_groups.as_array(scores, "scores"))
  if scores.ndim not in (1, 2):
    raise ValueError(
        f"`scores` must have shape [n] or [n, d], got shape {scores.shape}."
    )
  _groups.check_nonempty(scores.shape[0], "scores")
  dtype = _groups.float_dtype(scores)
  acc = _groups.accumulation_dtype(dtype)
  s, num_groups = _groups.check_sensitive_features(
      sensitive_features, num_groups, scores.shape[0]
  )
  weights, _ = _groups.notion_weights(
      s, num_groups=num_groups, notion=notion, labels=labels,
      sample_weight=sample_weight, dtype=acc,
  )
  # Treat scores [n] as [n, 1]: the norm of a 1-d gap is its absolute value.
  values = scores.astype(acc).reshape(scores.shape[0], -1)
  means, totals = _groups.group_means(values, weights, fill=0.0)
  gap = jnp.sum(jax.vmap(_mean_gap, (0, 0, None))(means, totals, reduction))
  return gap.astype(dtype)


def _safe_norm(x: jax.Array) -> jax.Array:
  """Euclidean norm over the last axis with a finite gradient at 0.

  NaN stays NaN (``sq > 0`` would be false for NaN and give 0).
  """
  sq = jnp.sum(x * x, axis=-1)
  zero = sq == 0
  return jnp.where(zero, 0, jnp.sqrt(jnp.where(zero, 1, sq)))


def _mean_gap(means: jax.Array, totals: jax.Array, reduction: str) -> jax.Array:
  """Gap for one label class; ``means`` ``[G, d]``, ``totals`` ``[G]``."""
  present = totals > 0
  p = totals / jnp.maximum(totals.sum(), jnp.finfo(totals.dtype).tiny)
  if reduction == "vs_pooled":
    pooled = jnp.tensordot(p, means, axes=1)
    return jnp.sum(p * _safe_norm(means - pooled[None, :]))
  pair_gaps = _safe_norm(means[:, None] - means[None, :])  # [G, G]
  both = present[:, None] & present[None, :]
  if reduction == "max":
    return jnp.max(jnp.where(both, pair_gaps, 0))
  distinct = both & ~jnp.eye(means.shape[0], dtype=bool)
  pp = jnp.where(distinct, p[:, None] * p[None, :], 0)
  return _groups.safe_divide(jnp.sum(pp * pair_gaps), jnp.sum(pp), 0.0)


__all__ = (
    "AuditResult",
    "GroupStatistics",
    "audit",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "group_statistics",
    "ks_distance",
    "mean_gap_penalty",
)

