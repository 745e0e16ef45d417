r"""The linear orthogonality constraint of FERM: direction, penalty, projection.

For a linear score :math:`f(x) = \langle w, x\rangle + b`, equal opportunity
with the *linear* loss (Donini et al., `Empirical Risk Minimization under
Fairness Constraints <https://arxiv.org/abs/1802.08626>`_, NeurIPS 2018)
asks the mean score of the positive examples to be the same in every group.
The bias cancels and the constraint becomes linear in :math:`w`,

.. math::
  \langle w, u_g \rangle = 0, \qquad
  u_g = \mathbb{E}[x \mid y = 1, s = g] - \mathbb{E}[x \mid y = 1, s = 0],
  \quad g = 1, \dots, G - 1.

Demographic parity conditions on nothing (all examples), equalized odds on
each label class (both sets of directions stacked). This module computes the
directions :math:`u_g` (:func:`ferm_direction`), a penalty
:math:`\sum_g \langle w, u_g\rangle^2` for any linear layer
(:func:`orthogonality_penalty`), and a pre-processing map
:math:`x \mapsto \tilde x` after which *every* linear model satisfies the
constraint on the fitting data (:func:`fit_ferm_projection`,
:func:`apply_ferm_projection`).
"""

from __future__ import annotations

import functools
import warnings
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
    group_means,
    host_live,
    is_concrete,
    mask_padding,
    membership,
    notion_weights,
)

METHODS = ("orthogonal", "eliminate", "shift")


def _check_matrix(X: ArrayLike, name: str = "X") -> jax.Array:
  X = as_array(X, name)
  if np.ndim(X) != 2:
    raise ValueError(
        f"`{name}` must be a matrix of shape [n, d], got shape {np.shape(X)}."
    )
  X = jnp.asarray(X)
  if not jnp.issubdtype(X.dtype, jnp.floating):
    X = X.astype(float_dtype())
  return X


def _validate(X, y, sensitive_features, num_groups, notion, sample_weight):
  """Validated ``(X, y, s, sample_weight, num_groups)``; y is None for DP."""
  X = _check_matrix(X)
  check_notion(notion)
  n = X.shape[0]
  s, num_groups = check_sensitive_features(sensitive_features, num_groups, n)
  if num_groups < 2:
    raise ValueError(
        f"FERM needs at least two groups, got num_groups={num_groups}."
    )
  sw = check_sample_weight(sample_weight, n, X.dtype)
  if notion == "demographic_parity":
    y = None
  elif y is None:
    raise ValueError(f"notion={notion!r} conditions on the label: pass `y`.")
  else:
    y = check_binary(y, "y", n, live=host_live(
        None if sample_weight is None else sw))
  # Padded rows (weight 0) are never read: NaN or inf there changes nothing.
  X = mask_padding(X, None if sample_weight is None else sw)
  return X, y, s, sw, num_groups


def _conditioned_means(X, y, s, sw, num_groups, notion):
  """Group means of the conditioned examples ``[K, G, d]`` and masses."""
  weights, _ = notion_weights(
      s, num_groups=num_groups, notion=notion, labels=y, sample_weight=sw,
      dtype=X.dtype,
  )
  return group_means(X, weights, fill=0)


def _differences(means, totals):
  """``u_g - u_0`` per label class, zero where either group is empty."""
  present = (totals[:, 1:] > 0) & (totals[:, :1] > 0)  # [K, G-1]
  diff = means[:, 1:] - means[:, :1]  # [K, G-1, d]
  return jnp.where(present[..., None], diff, 0)


def ferm_direction(
    X: ArrayLike,
    y: ArrayLike | None = None,
    *,
    sensitive_features: ArrayLike,
    num_groups: int | None = None,
    notion: str = "equal_opportunity",
    sample_weight: ArrayLike | None = None,
) -> jax.Array:
  r"""The FERM constraint directions: conditioned group means minus group 0.

  .. math::
    u_g = \frac{\sum_i w_i 1[s_i = g, y_i \in c]\, x_i}
               {\sum_i w_i 1[s_i = g, y_i \in c]}
        - \frac{\sum_i w_i 1[s_i = 0, y_i \in c]\, x_i}
               {\sum_i w_i 1[s_i = 0, y_i \in c]},
    \qquad g = 1, \dots, G - 1,

  with :math:`c` the conditioning class of the notion: all examples
  (``"demographic_parity"``), :math:`y = 1` (``"equal_opportunity"``), or
  both :math:`y = 0` and :math:`y = 1` (``"equalized_odds"``, rows for
  :math:`y = 0` first). For a linear score
  :math:`\langle w, u_g\rangle` is the gap between the mean scores of group
  :math:`g` and group 0 (the bias cancels). A row whose group (or group 0)
  has no conditioned example, e.g. in a minibatch, is zero, with finite
  gradients.

  Args:
    X: features or a learned representation, shape ``[n, d]``.
    y: binary labels, shape ``[n]``; unused for demographic parity.
    sensitive_features: group ids in ``[0, num_groups)``, shape ``[n]``.
    num_groups: static number of groups (required under ``jit``), ``>= 2``.
    notion: ``"demographic_parity"``, ``"equal_opportunity"`` or
      ``"equalized_odds"``.
    sample_weight: non-negative weights or padding mask, shape ``[n]``.

  Returns:
    Directions of shape ``[G - 1, d]`` (``[2 (G - 1), d]`` for equalized
    odds), in the dtype of ``X``.

  Examples:
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
    >>> ferm_direction(X, np.array([1, 1, 1, 0]),
    ...                sensitive_features=np.array([0, 0, 1, 1])).tolist()
    [[-2.0, 2.0]]

  References:
    Donini, Oneto, Ben-David, Shawe-Taylor and Pontil, `Empirical Risk
    Minimization under Fairness Constraints
    <https://arxiv.org/abs/1802.08626>`_, NeurIPS 2018.
  """
  X, y, s, sw, num_groups = _validate(
      X, y, sensitive_features, num_groups, notion, sample_weight
  )
  return _direction_core(X, y, s, sw, num_groups=num_groups, notion=notion)


@functools.partial(jax.jit, static_argnames=("num_groups", "notion"))
def _direction_core(X, y, s, sw, *, num_groups, notion):
  means, totals = _conditioned_means(X, y, s, sw, num_groups, notion)
  return _differences(means, totals).reshape(-1, X.shape[1])


def orthogonality_penalty(
    weights: ArrayLike, directions: ArrayLike
) -> jax.Array:
  r"""Squared projections of a linear layer's weights on the FERM directions.

  .. math::
    R(W) = \sum_{k} \sum_{m} \langle W_{:, m}, u_k \rangle^2,

  zero exactly when every output :math:`m` of the layer satisfies the
  constraint. For the last (linear) layer of a deep model, pass the
  directions of the learned representation (``ferm_direction(h(X), ...)``):
  :math:`\langle W_{:,m}, u_k\rangle` is then the gap between group means of
  the :math:`m`-th logit among the conditioned examples. Differentiable in
  both arguments; add ``strength * orthogonality_penalty(...)`` to a loss.

  Args:
    weights: a vector ``[d]`` or a kernel ``[d, m]`` (Flax ``Dense`` layout).
    directions: ``[K, d]`` (or ``[d]``), e.g. from :func:`ferm_direction`.

  Returns:
    Scalar penalty.
  """
  w = jnp.asarray(as_array(weights, "weights"))
  U = jnp.asarray(as_array(directions, "directions"))
  if U.ndim == 1:
    U = U[None]
  if U.ndim != 2 or w.ndim not in (1, 2) or w.shape[0] != U.shape[1]:
    raise ValueError(
        "`weights` must have shape [d] or [d, m] and `directions` shape "
        f"[K, d] with the same d, got {w.shape} and {U.shape}."
    )
  return jnp.sum(jnp.square(U @ w))


# ------------------------------------------------------------- projections


class OrthogonalProjection(NamedTuple):
  r"""State of the orthogonal variant: :math:`\tilde x = x - Q Q^\top x`.

  Attributes:
    basis: :math:`Q`, shape ``[d, K]``; orthonormal columns spanning the
      directions, with zero columns for numerically dependent ones.
  """

  basis: jax.Array


class CoordinateElimination(NamedTuple):
  r"""State of the elimination variant (the reference code's formula).

  Step :math:`k` maps :math:`x \mapsto x - (x_{j_k} / v_{k, j_k})\, v_k`;
  the pivot coordinates are then dropped.

  Attributes:
    directions: :math:`v_k`, the directions after the earlier steps,
      shape ``[K, d]``.
    pivots: :math:`j_k`, shape ``[K]`` (int32).
    kept: the coordinates kept, increasing, shape ``[d - K]`` (int32).
  """

  directions: jax.Array
  pivots: jax.Array
  kept: jax.Array


class GroupShift(NamedTuple):
  r"""State of the shift variant: :math:`\tilde x = x + o_{s}`.

  Attributes:
    offsets: :math:`o_g = \mu_0 - \mu_g`, the shift that moves the
      conditioned mean of group :math:`g` onto group 0's, shape ``[G, d]``.
  """

  offsets: jax.Array


def _default_tol(X, tol):
  if tol is not None:
    return jnp.asarray(tol, X.dtype)
  scale = jnp.max(jnp.abs(X)) if X.size else jnp.zeros((), X.dtype)
  return jnp.sqrt(jnp.finfo(X.dtype).eps) * jnp.maximum(scale, 1)


def _safe_norm(v: jax.Array) -> jax.Array:
  sq = jnp.sum(jnp.square(v))
  ok = sq > 0
  return jnp.where(ok, jnp.sqrt(jnp.where(ok, sq, 1)), 0)


def orthonormal_basis(directions: jax.Array, tol) -> jax.Array:
  """Gram-Schmidt (twice) with safe norms: ``[K, d] -> [d, K]``.

  A direction whose residual norm is below ``tol`` or below
  ``sqrt(eps)`` times its own norm gives a zero column.
  """
  rel = jnp.sqrt(jnp.finfo(directions.dtype).eps)
  cols = []
  for u in directions:
    q = u
    for _ in range(2):  # "twice is enough" (Kahan, Parlett)
      for c in cols:
        q = q - jnp.dot(c, q) * c
    nrm = _safe_norm(q)
    keep = (nrm > tol) & (nrm > rel * _safe_norm(u))
    cols.append(jnp.where(keep, q / jnp.where(keep, nrm, 1), 0))
  return jnp.stack(cols, axis=1)


def _eliminate(directions: jax.Array, tol):
  """Sequential pivoted elimination: directions, pivots, kept coordinates."""
  K, d = directions.shape
  taken = jnp.zeros((d,), bool)
  steps, pivots = [], []
  rows = list(directions)
  for k in range(K):
    v = rows[k]
    j = jnp.argmax(jnp.where(taken, -1, jnp.abs(v)))
    ok = jnp.abs(v[j]) > tol
    v = jnp.where(ok, v, 0)
    pivot = jnp.where(ok, v[j], 1)
    for m in range(k + 1, K):  # later directions after this step
      rows[m] = rows[m] - (rows[m][j] / pivot) * v
    steps.append(v / pivot)
    pivots.append(j)
    taken = taken.at[j].set(True)
  kept = jnp.argsort(taken, stable=True)[: d - K]
  return (
      jnp.stack(steps), jnp.stack(pivots).astype(jnp.int32),
      kept.astype(jnp.int32),
  )


def fit_ferm_projection(
    X: ArrayLike,
    y: ArrayLike | None = None,
    *,
    sensitive_features: ArrayLike,
    num_groups: int | None = None,
    notion: str = "equal_opportunity",
    sample_weight: ArrayLike | None = None,
    method: str = "orthogonal",
    tol: float | None = None,
) -> OrthogonalProjection | CoordinateElimination | GroupShift:
  r"""Fits a FERM pre-processing: afterwards every linear model is constrained.

  Three variants, selected by ``method``:

  * ``"orthogonal"`` (default): :math:`\tilde x = (I - QQ^\top) x` with
    :math:`Q` an orthonormal basis of the directions
    :math:`u_1, \dots, u_K` of :func:`ferm_direction` (Gram-Schmidt with
    re-orthogonalisation). For every :math:`w`,
    :math:`\langle w, \tilde u_k\rangle = \langle (I - QQ^\top) w,
    u_k\rangle = 0`, for any number of groups; no division by a small
    coordinate. Keeps ``d`` columns; ``s`` is not needed at prediction.
  * ``"eliminate"``: the formula of the paper and of the reference code,
    :math:`\tilde x = x - (x_j / u_j)\, u`, then drop coordinate :math:`j`;
    applied once per direction (pivoted Gaussian elimination), with
    :math:`j` the largest :math:`|u_j|` (the reference takes the largest
    signed :math:`u_j`). Returns ``d - K`` columns; ``s`` is not needed at
    prediction. Less stable than the orthogonal variant when
    :math:`\max_j |u_j|` is small.
  * ``"shift"``: :math:`\tilde x = x + \mu_0 - \mu_s`, moving each group's
    conditioned mean onto group 0's: the variant behind the published
    fair_ERM numbers (which also drop the sensitive column). Needs ``s`` at
    prediction time. Not for equalized odds (one shift cannot align two
    conditioned means).

  On the fitting data all three make every linear score's conditioned group
  means equal. Directions with norm below ``tol`` are treated as zero: the
  orthogonal variant then projects out less (the identity when all groups
  have the same conditioned mean), with a warning for concrete input.

  Args:
    X: features, shape ``[n, d]``.
    y: binary labels, shape ``[n]``; unused for demographic parity.
    sensitive_features: group ids in ``[0, num_groups)``, shape ``[n]``.
    num_groups: static number of groups (required under ``jit``), ``>= 2``.
    notion: ``"demographic_parity"``, ``"equal_opportunity"`` or
      ``"equalized_odds"``.
    sample_weight: non-negative weights or padding mask, shape ``[n]``.
    method: ``"orthogonal"``, ``"eliminate"`` or ``"shift"``.
    tol: norm below which a direction counts as zero; default
      ``sqrt(finfo.eps) * max(1, max |X|)``.

  Returns:
    An :class:`OrthogonalProjection`, :class:`CoordinateElimination` or
    :class:`GroupShift`, for :func:`apply_ferm_projection`.

  Raises:
    ValueError: unknown ``method``, fewer than two groups, or (concrete
      input) a group with no conditioned example, e.g. no positive example
      under equal opportunity. Under ``jit`` such a group is ignored.

  References:
    Donini, Oneto, Ben-David, Shawe-Taylor and Pontil, `Empirical Risk
    Minimization under Fairness Constraints
    <https://arxiv.org/abs/1802.08626>`_, NeurIPS 2018; reference code
    `fair_ERM <https://github.com/jmikko/fair_ERM>`_.
  """
  if method not in METHODS:
    raise ValueError(f"`method` must be one of {METHODS}, got {method!r}.")
  if method == "shift" and notion == "equalized_odds":
    raise ValueError(
        "method='shift' supports notion='demographic_parity' or "
        "'equal_opportunity', got 'equalized_odds' (one shift per group "
        "cannot align the means of both label classes)."
    )
  X, y, s, sw, num_groups = _validate(
      X, y, sensitive_features, num_groups, notion, sample_weight
  )
  tol = None if tol is None else jnp.asarray(tol, X.dtype)
  state, totals = _fit_core(
      X, y, s, sw, tol, num_groups=num_groups, notion=notion, method=method
  )
  _check_no_empty_group(totals, notion)
  if method == "orthogonal":
    _warn_if_degenerate(state.basis, 0, method)
  elif method == "eliminate":
    _warn_if_degenerate(state.directions, 1, method)
  return state


@functools.partial(
    jax.jit, static_argnames=("num_groups", "notion", "method")
)
def _fit_core(X, y, s, sw, tol, *, num_groups, notion, method):
  means, totals = _conditioned_means(X, y, s, sw, num_groups, notion)
  tol = _default_tol(X, tol)
  if method == "shift":
    present = totals[0] > 0
    offsets = jnp.where(present[:, None], means[0, :1] - means[0], 0)
    return GroupShift(offsets), totals
  U = _differences(means, totals).reshape(-1, X.shape[1])
  if method == "orthogonal":
    return OrthogonalProjection(orthonormal_basis(U, tol)), totals
  return CoordinateElimination(*_eliminate(U, tol)), totals


def _check_no_empty_group(totals, notion):
  if not is_concrete(totals):
    return
  host = np.asarray(totals)
  for k, g in zip(*np.nonzero(host <= 0), strict=False):
    what = {
        "demographic_parity": "example",
        "equal_opportunity": "positive example (y = 1)",
        "equalized_odds": f"example with y = {k}",
    }[notion]
    raise ValueError(
        f"Group {g} has no {what} with positive weight, so the FERM "
        f"direction for notion={notion!r} is undefined. Merge or drop the "
        "group, or choose another notion."
    )


def _warn_if_degenerate(vectors, axis, method):
  """Warns (concrete input) when some direction vectors are all zero."""
  if not is_concrete(vectors):
    return
  # on the host: an eager jnp reduction would compile per shape
  used = np.any(np.asarray(vectors) != 0, axis=axis)
  if used.all():
    return
  if not used.any():
    msg = (
        "All groups have the same conditioned mean (the FERM directions are "
        "numerically zero): the projection is the identity"
    )
    if method == "eliminate":
      msg += ", except that the pivot columns are still dropped"
  else:
    msg = (
        f"{int((~used).sum())} of {used.size} FERM directions are "
        "numerically dependent on the others and were skipped"
    )
  warnings.warn(msg + ".", RuntimeWarning, stacklevel=3)


def apply_ferm_projection(
    state: OrthogonalProjection | CoordinateElimination | GroupShift,
    X: ArrayLike,
    *,
    sensitive_features: ArrayLike | None = None,
) -> jax.Array:
  r"""Maps features through a fitted FERM pre-processing.

  Args:
    state: from :func:`fit_ferm_projection`.
    X: features, shape ``[n, d]``.
    sensitive_features: group ids, shape ``[n]``; required by the shift
      variant only.

  Returns:
    :math:`\tilde X`: shape ``[n, d]`` (orthogonal, shift) or
    ``[n, d - K]`` (eliminate), in the dtype of ``X``.
  """
  X = _check_matrix(X)
  if isinstance(state, OrthogonalProjection):
    _check_width(X, state.basis.shape[0])
    return _apply_orthogonal(state, X)
  if isinstance(state, CoordinateElimination):
    _check_width(X, state.directions.shape[1])
    return _apply_elimination(state, X)
  if isinstance(state, GroupShift):
    _check_width(X, state.offsets.shape[1])
    if sensitive_features is None:
      raise ValueError(
          "The shift variant needs `sensitive_features` at prediction time."
      )
    s, _ = check_sensitive_features(
        sensitive_features, state.offsets.shape[0], X.shape[0]
    )
    return _apply_shift(state, X, s)
  raise TypeError(
      "`state` must come from fit_ferm_projection, got "
      f"{type(state).__name__}."
  )


@jax.jit
def _apply_orthogonal(state, X):
  Q = jnp.asarray(state.basis, X.dtype)
  return X - (X @ Q) @ Q.T


@jax.jit
def _apply_elimination(state, X):
  V = jnp.asarray(state.directions, X.dtype)
  for v, j in zip(V, state.pivots, strict=False):
    X = X - X[:, j][:, None] * v[None, :]
  return jnp.take(X, state.kept, axis=1)


@jax.jit
def _apply_shift(state, X, s):
  offsets = jnp.asarray(state.offsets, X.dtype)
  return X + membership(s, offsets.shape[0], dtype=X.dtype) @ offsets


def _check_width(X, d):
  if X.shape[1] != d:
    raise ValueError(
        f"`X` must have {d} columns (as when the projection was fitted), got "
        f"{X.shape[1]}."
    )
