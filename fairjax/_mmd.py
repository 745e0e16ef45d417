r"""Maximum mean discrepancy (MMD) between the groups' distributions.

The groups are weighted empirical measures over the *whole* batch: group
``g`` (within a label class ``k`` of the notion) is the probability vector
:math:`a_g = w_g / \sum_i w_{g,i}` with ``w_g`` its membership weights, zero
outside the group. With the kernel matrix :math:`K_{ij} = k(z_i, z_j)` of the
batch, the biased (V-statistic) squared MMD is a quadratic form,

.. math::

  \mathrm{MMD}^2_b(a_g, a_h) = (a_g - a_h)^\top K (a_g - a_h),

so every pair of groups (and every group against the pooled batch) comes out
of one Gram matrix :math:`Q = B^\top K B` of the column stack ``B`` of these
vectors, with fixed shapes and no boolean indexing. The module also holds the
reductions over group pairs that :mod:`fairjax._sinkhorn` shares.

Reference: `Oneto et al., Exploiting MMD and Sinkhorn Divergences for Fair and
Transferable Representation Learning <https://arxiv.org/abs/2010.01400>`_,
NeurIPS 2020; `Gretton et al., A Kernel Two-Sample Test
<https://jmlr.org/papers/v13/gretton12a.html>`_, JMLR 2012.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from fairjax import _groups
from fairjax._groups import check_choice
from fairjax._kernels import (
    bandwidths,
    kernel_diagonal,
    kernel_gram,
    random_feature_embedding,
    weighted_median_distance,
)

KERNELS = ("gaussian", "laplace", "linear", "energy")
ESTIMATORS = ("biased", "unbiased", "random_features")
REDUCTIONS = ("pairwise", "vs_pooled", "max")


class GroupMeasures(NamedTuple):
  """The groups of a batch as probability vectors over the whole batch.

  Attributes:
    columns: ``[n, K * (G + 1)]``; column ``k * (G + 1) + g`` is group ``g``'s
      probability vector within label class ``k`` (zero if the group has no
      member there) and column ``k * (G + 1) + G`` the pooled class.
    shares: ``[K, G]``, each group's share of its label class's weight.
    num_groups: ``G``.
  """

  columns: jax.Array
  shares: jax.Array
  num_groups: int


def as_points(features: ArrayLike) -> tuple[jax.Array, jnp.dtype]:
  """Features ``[n]`` or ``[n, d]`` as points ``[n, d]`` in a compute dtype.

  Returns the points and the dtype of the result. Half-precision input is
  computed in float32 (distances in bfloat16 lose all but 8 bits) and the
  result cast back; float32 and float64 are kept.
  """
  x = _groups.as_array(features, "features")
  if np.ndim(x) not in (1, 2):
    raise ValueError(
        "`features` must be scores of shape [n] or representations of shape "
        f"[n, d], got shape {tuple(np.shape(x))}."
    )
  _groups.check_nonempty(np.shape(x)[0], "features")
  out_dtype = _groups.float_dtype(x)
  compute = out_dtype if jnp.finfo(out_dtype).bits >= 32 else jnp.float32
  x = jnp.asarray(x).astype(compute)
  return x.reshape(x.shape[0], -1), out_dtype


def weighted_center(x: jax.Array, sample_weight) -> jax.Array:
  """Points minus their weighted mean (padded rows, weight 0, set to 0).

  Translation-invariant kernels and costs are unchanged by it, and
  distances far from the origin (1e4) stay accurate.
  """
  if sample_weight is None:
    return x - jnp.mean(x, axis=0, keepdims=True)
  w = sample_weight.astype(x.dtype)
  center = _groups.safe_divide(w @ x, jnp.sum(w), 0)
  return _groups.mask_padding(x - center[None, :], sample_weight)


def check_penalty_inputs(
    features, sensitive_features, num_groups, labels, sample_weight, *,
    center: bool = True,
):
  """Validates the arguments shared by the distribution-matching penalties.

  Padded rows (weight 0) are set to 0 with ``where`` before any arithmetic,
  so NaN or inf there changes nothing; with ``center`` (translation-invariant
  kernels and OT costs) the points are then centred on their weighted mean
  (:func:`weighted_center`).

  Returns ``(points [n, d], output dtype, group ids, num_groups, labels,
  sample_weight)``; ``labels`` and ``sample_weight`` stay ``None`` if not
  given.

  Raises:
    ValueError: no rows, bad shapes, ids, labels or weights.
  """
  x, out_dtype = as_points(features)
  n = x.shape[0]
  s, num_groups = _groups.check_sensitive_features(
      sensitive_features, num_groups, n
  )
  if sample_weight is not None:
    sample_weight = _groups.check_sample_weight(sample_weight, n, x.dtype)
    x = _groups.mask_padding(x, sample_weight)
  if labels is not None:
    labels = _groups.check_binary(
        labels, "labels", n, live=_groups.host_live(sample_weight))
  if center:
    x = weighted_center(x, sample_weight)
  return x, out_dtype, s, num_groups, labels, sample_weight


def group_measures(
    n: int,
    sensitive_features: ArrayLike,
    *,
    num_groups: int | None,
    labels: ArrayLike | None,
    notion: str,
    sample_weight: ArrayLike | None,
    dtype,
) -> GroupMeasures:
  """Validated group probability vectors and shares (see GroupMeasures)."""
  s, num_groups = _groups.check_sensitive_features(
      sensitive_features, num_groups, n
  )
  weights, _ = _groups.notion_weights(
      s, num_groups=num_groups, notion=notion, labels=labels,
      sample_weight=sample_weight, dtype=dtype,
  )  # [K, n, G]
  weights = jnp.concatenate([weights, weights.sum(-1, keepdims=True)], -1)
  totals = weights.sum(axis=1)  # [K, G + 1]
  probs = _groups.safe_divide(weights, totals[:, None, :], 0)
  columns = jnp.moveaxis(probs, 0, 1).reshape(n, -1)
  shares = _groups.safe_divide(totals[:, :-1], totals[:, -1:], 0)
  return GroupMeasures(columns, shares, num_groups)


def reduce_divergences(
    pairs: jax.Array, to_pooled: jax.Array, shares: jax.Array, reduction: str
) -> jax.Array:
  r"""Combines per-class group divergences into one penalty.

  With :math:`p_g` the groups' shares within a label class:
  ``"pairwise"`` gives :math:`\sum_{g<h} p_g p_h D_{gh} / \sum_{g<h} p_g p_h`,
  ``"vs_pooled"`` :math:`\sum_g p_g D(g, \text{pooled})`, ``"max"`` the
  largest :math:`D_{gh}` over pairs of present groups. Absent groups weigh 0;
  a class with fewer than two present groups gives exactly 0. Label classes
  are summed (equalized odds).

  Args:
    pairs: ``[K, G, G]`` divergences between groups.
    to_pooled: ``[K, G]`` divergences between each group and its class.
    shares: ``[K, G]`` group shares (0 for absent groups).
    reduction: ``"pairwise"``, ``"vs_pooled"`` or ``"max"``.

  Returns:
    A scalar.
  """
  if reduction == "vs_pooled":
    return jnp.sum(shares * to_pooled)
  g = shares.shape[-1]
  upper = jnp.asarray(np.triu(np.ones((1, g, g), bool), k=1))
  if reduction == "pairwise":
    w = jnp.where(upper, shares[:, :, None] * shares[:, None, :], 0)
    total = w.sum(axis=(1, 2))
    return jnp.sum(_groups.safe_divide((w * pairs).sum(axis=(1, 2)), total, 0))
  present = upper & (shares[:, :, None] > 0) & (shares[:, None, :] > 0)
  worst = jnp.max(jnp.where(present, pairs, -jnp.inf), axis=(1, 2))
  return jnp.sum(jnp.where(present.any(axis=(1, 2)), worst, 0))


def _pair_divergences(
    gram: jax.Array, num_classes: int, num_groups: int
) -> tuple[jax.Array, jax.Array]:
  """Squared MMDs from the Gram matrix of group columns (see GroupMeasures).

  Returns ``([K, G, G] between groups, [K, G] group vs pooled class)``.
  """
  m = num_groups + 1
  q = gram.reshape(num_classes, m, num_classes, m)
  q = jnp.diagonal(q, axis1=0, axis2=2)  # [m, m, K]
  q = jnp.moveaxis(q, -1, 0)  # [K, m, m]
  diag = jnp.diagonal(q, axis1=1, axis2=2)  # [K, m]
  div = diag[:, :, None] + diag[:, None, :] - 2 * q
  return div[:, :num_groups, :num_groups], div[:, :num_groups, num_groups]


def mmd_penalty(
    features: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    num_groups: int | None = None,
    labels: ArrayLike | None = None,
    notion: str = "demographic_parity",
    kernel: str | Callable[[jax.Array, jax.Array], jax.Array] = "gaussian",
    bandwidth: float | Sequence[float] | str = 1.0,
    estimator: str = "biased",
    sample_weight: ArrayLike | None = None,
    reduction: str = "pairwise",
    num_features: int = 1024,
    key: ArrayLike | None = None,
) -> jax.Array:
  r"""Squared maximum mean discrepancy between the groups' distributions.

  Each group is the weighted empirical measure :math:`a_g` of its members
  in the batch (within a label class for the conditional notions). With the
  batch's kernel matrix :math:`K`,

  .. math::

    \mathrm{MMD}^2_b(a_g, a_h) = (a_g - a_h)^\top K (a_g - a_h)
    \quad\text{(biased, V-statistic)},

  .. math::

    \mathrm{MMD}^2_u(a_g, a_h) = U(a_g, a_g) + U(a_h, a_h) - 2 U(a_g, a_h),
    \quad U(u, v) = \frac{u^\top K v - \sum_i u_i v_i K_{ii}}
    {1 - \sum_i u_i v_i}
    \quad\text{(unbiased, U-statistic)},

  which for uniform weights averages over pairs of distinct points; and
  ``"random_features"`` replaces :math:`K` by :math:`Z Z^\top` with
  orthogonal random Fourier features :math:`Z` (the biased form, cost
  :math:`O(n d D)` instead of :math:`O(n^2 d)`; use it for batches of
  10^4 points and more). For two groups
  the default is exactly :math:`\mathrm{MMD}^2(P_0, P_1)`; more groups are
  combined by ``reduction``:

  * ``"pairwise"``: :math:`\sum_{g<h} p_g p_h D_{gh} / \sum_{g<h} p_g p_h`;
  * ``"vs_pooled"``: :math:`\sum_g p_g D(g, \text{pooled})` (for two groups
    this is :math:`p_0 p_1 \mathrm{MMD}^2(P_0, P_1)`);
  * ``"max"``: the largest :math:`D_{gh}` over present pairs;

  with :math:`p_g` the group's weight share within the label class.
  Equalized odds sums the penalties of the two label classes. A group (or
  label class) without members contributes exactly 0 with a finite
  gradient; a batch with one group gives 0. The unbiased estimator is
  undefined for a group with a single member: concrete input raises a
  ``ValueError``, under ``jit`` the group is left out like an absent group.
  The unbiased estimate can be slightly negative (it is unbiased for a
  non-negative quantity); the biased ones are ``>= 0`` up to rounding.
  Rows of weight 0 are padding: their features are never read.

  Kernels, with bandwidths :math:`\sigma_s` (a sequence sums the kernels,
  for a multi-scale kernel):

  * ``"gaussian"``: :math:`\sum_s \exp(-\|x - y\|^2 / (2\sigma_s^2))`;
  * ``"laplace"``: :math:`\sum_s \exp(-\|x - y\| / \sigma_s)`;
  * ``"linear"``: :math:`x^\top y`; the biased MMD is then the squared
    distance between group means, computed in :math:`O(nd)`;
  * ``"energy"``: :math:`-\|x - y\|`; the biased MMD is then the energy
    distance :math:`2E\|X - Y\| - E\|X - X'\| - E\|Y - Y'\|`;
  * a callable ``k(x, y)`` on two points of shape ``[d]`` returning a
    scalar (symmetric, positive definite), evaluated on all pairs.

  ``bandwidth="median"`` takes the median distance between points of the
  batch (among at most 512 of them, weighted; gradient stopped). Built-in
  kernels are translation invariant, so the points are centred first (on
  their weighted mean), which keeps magnitudes up to 1e4 accurate.

  Args:
    features: scores of shape ``[n]`` or representations of shape ``[n, d]``.
    sensitive_features: integer group ids, shape ``[n]``.
    num_groups: static number of groups; required under ``jit``/``vmap``.
    labels: binary labels, shape ``[n]``; needed by the label-conditioned
      notions.
    notion: ``"demographic_parity"``, ``"equal_opportunity"`` (positives
      only) or ``"equalized_odds"`` (each label class, summed).
    kernel: ``"gaussian"``, ``"laplace"``, ``"linear"``, ``"energy"`` or a
      callable ``k(x, y)``.
    bandwidth: a positive float, a sequence of them (multi-scale) or
      ``"median"``; unused by the linear and energy kernels and callables.
    estimator: ``"biased"``, ``"unbiased"`` or ``"random_features"``
      (Gaussian and Laplace kernels; needs ``key``).
    sample_weight: non-negative weights, shape ``[n]`` (0 masks padding).
    reduction: ``"pairwise"``, ``"vs_pooled"`` or ``"max"``.
    num_features: dimension ``D`` of the random feature map per bandwidth
      (even, static): ``D / 2`` frequencies, each with a cosine and a sine.
    key: a ``jax.random`` key for ``estimator="random_features"``; reuse the
      same key to compare values, draw new ones across training steps.

  Returns:
    A scalar of the floating dtype of ``features``.

  Examples:
    >>> import jax.numpy as jnp
    >>> z = jnp.array([[0.0], [0.1], [1.0], [1.2]])
    >>> s = jnp.array([0, 0, 1, 1])
    >>> round(float(mmd_penalty(z, sensitive_features=s)), 4)
    0.8344

  References:
    `Oneto et al., Exploiting MMD and Sinkhorn Divergences for Fair and
    Transferable Representation Learning <https://arxiv.org/abs/2010.01400>`_,
    NeurIPS 2020; `Gretton et al., A Kernel Two-Sample Test
    <https://jmlr.org/papers/v13/gretton12a.html>`_, JMLR 2012.
  """
  check_choice(estimator, "estimator", ESTIMATORS)
  check_choice(reduction, "reduction", REDUCTIONS)
  if not callable(kernel):
    check_choice(kernel, "kernel", KERNELS)
  _groups.check_notion(notion)
  # Translation invariant (the weighted U-statistic of the linear kernel
  # is not): centring keeps distances accurate far from the origin.
  invariant = kernel in ("gaussian", "laplace", "energy") or (
      kernel == "linear" and estimator != "unbiased")
  x, out_dtype, s, num_groups, labels, sample_weight = check_penalty_inputs(
      features, sensitive_features, num_groups, labels, sample_weight,
      center=invariant,
  )
  if estimator == "unbiased":
    _check_two_members(s, labels, sample_weight, notion, num_groups)
  shift = kernel in ("gaussian", "laplace")
  median = shift and isinstance(bandwidth, str) and bandwidth == "median"
  scales = bandwidths(bandwidth, x.dtype) if shift and not median else None
  if estimator == "random_features" and kernel != "linear":
    _check_random_features(kernel, num_features, key)
  else:
    key = None
  out = _mmd(
      x, s, labels, sample_weight, scales, key, num_groups=num_groups,
      notion=notion, kernel=kernel, median=median, estimator=estimator,
      reduction=reduction, num_features=int(num_features),
  )
  return out.astype(out_dtype)


@functools.partial(
    jax.jit,
    static_argnames=(
        "num_groups", "notion", "kernel", "median", "estimator", "reduction",
        "num_features",
    ),
)
def _mmd(
    x, s, labels, sample_weight, scales, key, *, num_groups, notion, kernel,
    median, estimator, reduction, num_features,
):
  """The penalty on validated inputs (jitted: eager calls compile once)."""
  n = x.shape[0]
  groups = group_measures(
      n, s, num_groups=num_groups, labels=labels, notion=notion,
      sample_weight=sample_weight, dtype=x.dtype,
  )
  num_classes = groups.shares.shape[0]
  if median:
    scales = weighted_median_distance(x, groups.columns.sum(axis=1))[None]

  if kernel == "linear":
    emb = groups.columns.T @ x
    gram = emb @ emb.T
    diag = jnp.sum(x * x, axis=1)
  elif estimator == "random_features":
    emb = random_feature_embedding(
        x, groups.columns, kernel, scales, num_features, key
    )
    gram = emb @ emb.T
  else:
    gram = kernel_gram(x, groups.columns, kernel, scales)
    diag = kernel_diagonal(x, kernel, scales)
  shares = groups.shares
  if estimator == "unbiased":
    cols = groups.columns
    overlap = cols.T @ (diag[:, None] * cols)
    same = cols.T @ cols
    gram = _groups.safe_divide(gram - overlap, 1 - same, 0)
    # U(a_g, a_g) averages over pairs of distinct members: undefined for a
    # group with a single member (sum a_i^2 = 1). Under jit such a group is
    # left out, as an absent group (concrete input raises before).
    self_pairs = 1 - jnp.diagonal(same).reshape(num_classes, -1)[:, :-1]
    tol = jnp.sqrt(jnp.finfo(x.dtype).eps)
    shares = jnp.where(self_pairs > tol, shares, 0)
  pairs, to_pooled = _pair_divergences(gram, num_classes, groups.num_groups)
  return reduce_divergences(pairs, to_pooled, shares, reduction)


def _check_two_members(s, labels, sample_weight, notion, num_groups):
  """Concrete input: every present group needs two members (unbiased MMD)."""
  if not all(_groups.is_concrete(v) for v in (s, labels, sample_weight)):
    return
  s = np.asarray(s)
  live = np.ones(s.shape, bool) if sample_weight is None else (
      np.asarray(sample_weight) > 0)
  classes = {"demographic_parity": [(None, live)]}.get(notion) or [
      (k, live & (np.asarray(labels) == k))
      for k in ((1,) if notion == "equal_opportunity" else (0, 1))]
  for k, rows in classes:
    counts = np.bincount(s[rows], minlength=num_groups)
    if (counts == 1).any():
      g = int(np.nonzero(counts == 1)[0][0])
      where = "" if k is None else f" with y = {k}"
      raise ValueError(
          f"estimator='unbiased' needs at least two members (rows of "
          f"positive weight) in every present group, but group {g} has one"
          f"{where}: its U-statistic, an average over pairs of distinct "
          "members, is undefined. Use estimator='biased', or merge groups."
      )


def _check_random_features(kernel, num_features, key):
  """Validates the options of ``estimator="random_features"``."""
  if callable(kernel) or kernel == "energy":
    raise ValueError(
        "estimator='random_features' needs a shift-invariant kernel with a "
        "known spectral density: kernel='gaussian' or 'laplace', got "
        f"kernel={kernel!r}."
    )
  if isinstance(num_features, (bool, np.bool_)) or not isinstance(
      num_features, (int, np.integer)
  ) or num_features < 2 or num_features % 2:
    raise ValueError(
        "`num_features` must be an even int >= 2 (cosine and sine pairs), "
        f"got {num_features!r}."
    )
  if key is None:
    raise ValueError(
        "estimator='random_features' draws random frequencies: pass "
        "`key=jax.random.key(...)`."
    )
  _groups.check_key(key)
