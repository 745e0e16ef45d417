r"""Post-processing to demographic parity with Wasserstein barycenters.

The regression function with the smallest squared error among those whose
output law is the same in every group (demographic parity, with the group
known at prediction time) has a closed form: it sends a prediction
:math:`f` of group :math:`s` to

.. math::
  g^*(x, s) = \sum_{s'} p_{s'} \, Q_{s'}\big(F_s(f(x, s))\big),

with :math:`F_s` the CDF and :math:`Q_s` the quantile function of
:math:`f(X, S)` given :math:`S = s`; its law is the Wasserstein-2 barycenter
of the group laws (`Chzhen et al., Fair Regression with Wasserstein
Barycenters <https://arxiv.org/abs/2006.07286>`_, 2020).

:func:`fit_barycenter` estimates it from unlabeled predictions;
:func:`apply_barycenter` evaluates it, or a point between ``f`` and it.
The fitted map is a lookup table per group: for a query of group ``s`` of
rank ``k`` among that group's CDF sample the output is ``table_s[k]``, so
applying it costs one search and one gather; no ``[n, G]`` array is ever
formed.

Sorting strategy (``sort_strategy``): XLA's CPU sort is far slower than
numpy's, so on CPU (``"auto"`` -> ``"host"``) the sorts and searches run in
numpy on the host through :func:`jax.pure_callback` (merging queries and
samples with 64-bit composite keys); on GPU/TPU (``"auto"`` -> ``"device"``)
they stay on the device (``lax.sort`` and a vectorised binary search). Both
give the same result for the same random draws.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from fairjax import _group_sort, _groups

INTERPOLATIONS = ("linear", "relative_improvement")
SORT_STRATEGIES = ("auto", "host", "device")


class BarycenterState(NamedTuple):
  """A fitted barycenter map; fixed-shape arrays, a pytree.

  Groups are stored one after the other (group-major); inside a group the
  values are sorted in increasing order. Entries past the groups' total count
  are padding (zeros). ``G`` is the number of groups; ``Lc``, ``Lq`` are
  ``n`` (``split=False``) or ``min(n, (n + G) // 2)`` (``split=True``).

  Attributes:
    cdf_values: jittered predictions that define each group's CDF, shape
      ``[Lc]``.
    cdf_counts: int32 size ``N_s`` of each group's CDF sample, shape ``[G]``.
    quantile_values: jittered predictions that define each group's quantile
      function, shape ``[Lq]``.
    quantile_counts: int32 size ``M_s`` of each quantile sample, shape ``[G]``.
    group_weights: mixture weights ``p_s`` of the barycenter (sum to one over
      the groups seen in fit), shape ``[G]``.
    table: the fitted map, shape ``[Lc + G]``: group ``s`` owns the
      ``N_s + 1`` entries ``table_s[k] = sum_s' p_s' Q_s'(k / N_s)``,
      ``k = 0..N_s``, starting at ``sum_{r<s} (N_r + 1)``.
    jitter: half-width of the uniform noise added to predictions, scalar.
  """

  cdf_values: jax.Array
  cdf_counts: jax.Array
  quantile_values: jax.Array
  quantile_counts: jax.Array
  group_weights: jax.Array
  table: jax.Array
  jitter: jax.Array


def _symmetric_uniform(bits: jax.Array, dtype) -> jax.Array:
  """Uniform on ``[-1, 1)`` from 32 random bits (23 used), in ``dtype``.

  As ``jax.random.uniform`` does: the top 23 bits become the mantissa of a
  float32 in ``[1, 2)``. One ``bits`` draw serves both the jitter and the
  split (one threefry call, which is also the slowest part to compile).
  """
  one_two = jax.lax.bitcast_convert_type(
      (bits >> 9) | jnp.uint32(0x3F800000), jnp.float32)
  return (2 * one_two - 3).astype(dtype)


@functools.partial(
    jax.jit, static_argnames=("num_groups", "split", "strategy")
)
def _fit(y, s, mask, key, jitter, weights, *, num_groups, split, strategy):
  n, dtype = y.shape[0], y.dtype
  lc = lq = n if not split else min(n, (n + num_groups) // 2)
  if key is None:
    v, r = y, jnp.zeros((n,), jnp.uint32)
  else:  # one draw: row 0 for the jitter, row 1 for the split
    bits = jax.random.bits(key, (2, n), jnp.uint32)
    v, r = y + jitter * _symmetric_uniform(bits[0], dtype), bits[1]
  v = jnp.where(v == 0, jnp.zeros((), dtype), v)  # -0.0 -> +0.0
  a = jnp.where(mask, s, num_groups)
  sizes = dict(num_groups=num_groups, split=split, lc=lc, lq=lq)
  if strategy == "host":
    shapes = (
        jax.ShapeDtypeStruct((lc,), dtype),
        jax.ShapeDtypeStruct((lq,), dtype),
        jax.ShapeDtypeStruct((num_groups,), jnp.int32),
    )
    cdf, qnt, counts = _group_sort.host_call(
        functools.partial(_group_sort.host_split_sort, **sizes), shapes, v, a, r
    )
  else:
    cdf, qnt, counts = _group_sort.device_split_sort(v, a, r, **sizes)
  c_counts, q_counts = _group_sort.sample_counts(counts, split)
  if weights is None:
    weights = counts.astype(dtype)
  weights = jnp.where(counts > 0, weights, jnp.zeros((), dtype))
  p = _groups.safe_divide(weights, weights.sum(), 0.0)
  if strategy == "host":
    table = _group_sort.host_call(
        functools.partial(_group_sort.host_table, length=lc + num_groups),
        jax.ShapeDtypeStruct((lc + num_groups,), dtype),
        qnt, c_counts, q_counts, p,
    )
  else:
    table = _group_sort.device_table(qnt, c_counts, q_counts, p,
                                     length=lc + num_groups)
  return BarycenterState(
      cdf, c_counts, qnt, q_counts, p, table, jnp.asarray(jitter, dtype)
  )


@functools.partial(
    jax.jit, static_argnames=("interpolation", "strategy")
)
def _apply(state, y, s, key, alpha, *, interpolation, strategy):
  dtype = y.dtype
  x = jax.lax.stop_gradient(y)
  if key is not None:
    bits = jax.random.bits(key, x.shape, jnp.uint32)
    x = x + state.jitter * _symmetric_uniform(bits, dtype)
  x = jnp.where(x == 0, jnp.zeros((), dtype), x)  # -0.0 -> +0.0
  args = (state.cdf_values, state.cdf_counts, state.table, x, s)
  args = jax.lax.stop_gradient(args)  # piecewise constant in all of them
  if strategy == "host":
    bary = _group_sort.host_call(
        _group_sort.host_lookup, jax.ShapeDtypeStruct(y.shape, dtype), *args
    )
  else:
    bary = _group_sort.device_lookup(*args)
  bary = jnp.where(state.cdf_counts[s] > 0, bary, y)  # unseen group: as is
  alpha = jnp.asarray(alpha, dtype)
  if interpolation == "relative_improvement":
    alpha = 1 - jnp.sqrt(1 - alpha)
  return (1 - alpha) * y + alpha * bary


# ----------------------------------------------------------------------------
# Public API.


def _check_strategy(sort_strategy: str) -> str:
  if sort_strategy not in SORT_STRATEGIES:
    raise ValueError(
        f"`sort_strategy` must be one of {SORT_STRATEGIES}, got "
        f"{sort_strategy!r}."
    )
  if sort_strategy == "auto":
    return "host" if jax.default_backend() == "cpu" else "device"
  return sort_strategy


def _check_predictions(y_pred: ArrayLike, n: int | None = None,
                       check_finite: bool = True) -> jax.Array:
  y = _groups.check_vector(y_pred, "y_pred", n)
  dt = jnp.dtype(_groups._dtype(y))
  if not (jnp.issubdtype(dt, jnp.floating) or jnp.issubdtype(dt, jnp.integer)
          or dt == jnp.bool_):
    raise TypeError(f"`y_pred` must be real-valued, got dtype {dt}.")
  # Not _groups.float_dtype: jnp.result_type warns on float64 without x64.
  dt = dt if jnp.issubdtype(dt, jnp.floating) else jnp.dtype(float)
  y = jnp.asarray(y, jax.dtypes.canonicalize_dtype(dt))
  if check_finite:
    _groups.check_finite(y, "y_pred")
  return y


def _check_nonnegative_scalar(value, name: str):
  if _groups.is_concrete(value):
    v = np.asarray(value)
    if v.shape != () or not np.isfinite(v) or v < 0:
      raise ValueError(
          f"`{name}` must be a finite non-negative scalar, got {value!r}."
      )


def _check_mask(sample_weight, n: int, dtype):
  """The padding mask (a bool array); numpy when concrete (no compile)."""
  if sample_weight is None:
    return np.ones((n,), bool)
  w = _groups.check_sample_weight(sample_weight, n, dtype)
  if not _groups.is_concrete(w):
    return w > 0
  host = np.asarray(w)
  if not np.all(np.isin(host, (0, 1))):
    raise ValueError(
        "`sample_weight` of fit_barycenter is a padding mask with values in "
        "{0, 1} (empirical quantiles are unweighted); reweight the groups' "
        "mixture with `group_weights` instead."
    )
  if not host.any():
    raise ValueError("`sample_weight` leaves no sample to fit on.")
  return host > 0


def _check_group_weights(group_weights, num_groups: int, dtype):
  if group_weights is None:
    return None
  w = _groups.check_vector(group_weights, "group_weights", num_groups)
  if _groups.is_concrete(w):
    host = np.asarray(w, np.float64)
    if not np.all(np.isfinite(host)) or np.any(host < 0) or host.sum() <= 0:
      raise ValueError(
          "`group_weights` must be finite, non-negative and not all zero, "
          f"got {host.tolist()}."
      )
  return jnp.asarray(w, dtype)


def fit_barycenter(
    y_pred: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    num_groups: int | None = None,
    key: jax.Array | None,
    jitter: float = 1e-5,
    split: bool = True,
    sample_weight: ArrayLike | None = None,
    group_weights: ArrayLike | None = None,
    sort_strategy: str = "auto",
) -> BarycenterState:
  r"""Fits the map to the Wasserstein barycenter of the groups' prediction laws.

  From unlabeled predictions :math:`f(x_i, s_i)` (no targets needed), per
  group: add uniform noise :math:`\epsilon \sim U[-\sigma, \sigma]`
  (``jitter``) so that the laws are continuous, split the group at random
  into two halves (``split=True``, the estimator of Chzhen et al.) and sort
  them: the first half (:math:`N_s` points) defines the empirical CDF
  :math:`\hat F_s`, the second (:math:`M_s` points) the quantile function
  :math:`\hat Q_s`. The fitted map is

  .. math::
    \hat g(x, s) = \sum_{s'} p_{s'} \, \hat Q_{s'}\big(\hat F_s(f(x, s)
    + \epsilon)\big), \qquad
    \hat F_s(t) = \frac{k}{N_s},\; k = \#\{j : u^s_j \le t\}, \qquad
    \hat Q_{s'}\Big(\frac{k}{N_s}\Big)
    = v^{s'}_{(\lceil k M_{s'} / N_s \rceil)},

  with :math:`u^s` the CDF half, :math:`v^{s'}_{(i)}` the ``i``-th smallest
  point of the quantile half of :math:`s'` (index clipped to ``[1,
  M_{s'}]``, so :math:`k = 0` reads the minimum).

  Conventions. Ties: the CDF is right-continuous, so a query equal to a
  sample point counts that point (``searchsorted(..., side="right")``);
  :math:`\hat Q` is its generalised inverse, so with ``split=False`` an
  in-sample prediction is sent by its own group's term to itself. Indexing:
  :math:`\lceil k M / N \rceil` is computed in exact integer arithmetic, never
  as ``ceil(level * M)`` in floats (off by one for about 5% of queries in
  float32). The split puts :math:`\lceil n_s / 2 \rceil` points in the CDF
  half; a group with a single point uses it for both. With ``split=False``
  both halves are the whole group (the convention of the authors' reference
  code, which builds the CDF from in-sample predictions).

  Args:
    y_pred: unlabeled predictions (scores or regression outputs), shape
      ``[n]``; any float dtype (kept), integers become the default float.
    sensitive_features: integer group ids in ``[0, num_groups)``, shape
      ``[n]``.
    num_groups: static number of groups; inferred from concrete ids,
      required under ``jit``/``vmap``.
    key: PRNG key for the jitter and the split. ``None`` only when there is
      no randomness (``split=False`` and ``jitter=0``).
    jitter: half-width :math:`\sigma` of the uniform noise (absolute; the
      paper uses about ``1e-5`` to ``1e-4``). It should exceed the dtype's
      resolution at the predictions' scale.
    split: use independent halves for the CDF and the quantiles.
    sample_weight: padding mask with values in ``{0, 1}``, shape ``[n]``;
      rows with weight 0 are left out.
    group_weights: mixture weights :math:`p_s` of the barycenter, shape
      ``[G]`` (normalised over the groups present); default: the groups'
      frequencies in this sample.
    sort_strategy: ``"auto"`` (numpy on the host on CPU, XLA on GPU/TPU),
      ``"host"`` or ``"device"``.

  Returns:
    A :class:`BarycenterState`.

  Raises:
    ValueError: bad shapes, ids out of range, non-finite predictions, a
      non-binary mask, no sample left, ``key=None`` with randomness.
    TypeError: non-numeric input, non-integer ids.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> y = jnp.array([0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0])
    >>> s = jnp.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> state = fit_barycenter(y, sensitive_features=s, key=None, jitter=0.0,
    ...                        split=False)
    >>> apply_barycenter(state, y, sensitive_features=s)
    Array([2. , 3.5, 5. , 6.5, 2. , 3.5, 5. , 6.5], dtype=float32)
    >>> apply_barycenter(state, y, sensitive_features=s, alpha=0.5)
    Array([1.  , 2.25, 3.5 , 4.75, 3.  , 4.75, 6.5 , 8.25], dtype=float32)

  References:
    Chzhen, Denis, Hebiri, Oneto and Pontil, `Fair Regression with
    Wasserstein Barycenters <https://arxiv.org/abs/2006.07286>`_, NeurIPS
    2020 (estimator and guarantees: their Section 4).
  """
  y = _check_predictions(y_pred, check_finite=False)  # checked below
  n = y.shape[0]
  if n == 0:
    raise ValueError("`y_pred` must hold at least one prediction, got none.")
  s, num_groups = _groups.check_sensitive_features(
      sensitive_features, num_groups, n
  )
  mask = _check_mask(sample_weight, n, y.dtype)
  # Padded rows are never read: non-finite values are only an error outside
  # them, and they are set to 0 before any arithmetic.
  _groups.check_finite(y, "y_pred", mask)
  y = jnp.where(mask, y, jnp.zeros((), y.dtype))
  weights = _check_group_weights(group_weights, num_groups, y.dtype)
  _check_nonnegative_scalar(jitter, "jitter")
  if not isinstance(split, (bool, np.bool_)):
    raise TypeError(f"`split` must be a bool, got {type(split).__name__}.")
  if key is None and (split or not _groups.is_concrete(jitter) or jitter != 0):
    raise ValueError(
        "`key` is required when fitting draws randomness (split=True or "
        f"jitter > 0); got key=None with split={split}, jitter={jitter}."
    )
  strategy = _check_strategy(sort_strategy)
  if (strategy == "device" and n + num_groups > _group_sort.MAX_INT32_SAMPLES
      and not jax.config.jax_enable_x64):
    raise ValueError(
        f"sort_strategy='device' with more than "
        f"{_group_sort.MAX_INT32_SAMPLES} "
        f"predictions ({n}) needs int64 quantile indices: enable "
        "jax_enable_x64."
    )
  if key is not None:
    key = _groups.check_key(key)
  return _fit(
      y, s, mask, key, jnp.asarray(jitter, y.dtype), weights,
      num_groups=num_groups, split=bool(split), strategy=strategy,
  )


def _check_state(state) -> int:
  if not isinstance(state, BarycenterState):
    raise TypeError(
        "`state` must be a BarycenterState (from fit_barycenter or "
        f"load_state), got {type(state).__name__}."
    )
  num_groups = np.shape(state.cdf_counts)[0] if np.ndim(
      state.cdf_counts) == 1 else -1
  lc = np.shape(state.cdf_values)
  expected = {
      "cdf_counts": (num_groups,), "quantile_counts": (num_groups,),
      "group_weights": (num_groups,), "jitter": (),
      "table": (lc[0] + num_groups,) if len(lc) == 1 else None,
  }
  for name, shape in expected.items():
    got = np.shape(getattr(state, name))
    if num_groups < 1 or shape is None or got != shape:
      raise ValueError(
          f"Inconsistent BarycenterState: `{name}` has shape {got}, expected "
          f"{shape} for cdf_values of shape {lc} and cdf_counts of shape "
          f"{np.shape(state.cdf_counts)}."
      )
  return num_groups


def apply_barycenter(
    state: BarycenterState,
    y_pred: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    key: jax.Array | None = None,
    alpha: ArrayLike = 1.0,
    interpolation: str = "linear",
    sort_strategy: str = "auto",
) -> jax.Array:
  r"""Moves predictions towards the fitted barycenter map (demographic parity).

  With :math:`\hat g` the fitted map (:func:`fit_barycenter`):

  .. math::
    \text{linear:}\quad (1 - \alpha) f + \alpha \hat g, \qquad
    \text{relative\_improvement:}\quad \sqrt{1 - \alpha}\, f
    + (1 - \sqrt{1 - \alpha})\, \hat g.

  ``alpha = 0`` returns ``y_pred`` unchanged, ``alpha = 1`` the barycenter
  map (demographic parity). ``"linear"`` walks the Wasserstein geodesic
  between the laws of ``f`` and ``g``; ``"relative_improvement"`` is the
  :math:`\alpha`-relative improvement of Chzhen and Schreuder, whose
  unfairness (squared W2 distance of the group laws to their barycenter) is
  ``(1 - alpha)`` times that of ``f``; their :math:`\alpha` is our
  ``1 - alpha``.

  The map depends on a query only through its rank among its group's CDF
  sample, so it is non-decreasing within a group. Gradients flow through
  the ``(1 - alpha) f`` part only (the map is piecewise constant). ``alpha``
  may be traced: ``jax.vmap`` over it traces the whole risk-fairness curve in
  one call.

  Args:
    state: a fitted :class:`BarycenterState`.
    y_pred: predictions, shape ``[m]``; cast to the state's dtype.
    sensitive_features: group ids in ``[0, G)``, shape ``[m]``.
    key: PRNG key for jittering the queries as in fit (the paper's
      estimator); ``None``: no noise, ties resolved as documented in
      :func:`fit_barycenter`.
    alpha: strength in ``[0, 1]``, scalar (may be traced).
    interpolation: ``"linear"`` or ``"relative_improvement"``.
    sort_strategy: as in :func:`fit_barycenter`.

  Returns:
    Post-processed predictions, shape ``[m]``, in the state's dtype.
    Predictions of a group with no sample in fit come back unchanged (only
    possible under ``jit``; concrete input raises instead).

  Raises:
    ValueError: ids out of range or of a group unseen in fit (concrete
      input), ``alpha`` outside ``[0, 1]``, an unknown ``interpolation``.
    TypeError: ``state`` is not a :class:`BarycenterState`.

  Examples:
    Classification: post-process scores to demographic parity of the score
    law, then threshold (every threshold then has equal selection rates, up
    to sampling error).

    >>> import jax
    >>> k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    >>> s = jax.random.bernoulli(k1, 0.5, (4000,)).astype(jnp.int32)
    >>> scores = jax.nn.sigmoid(jax.random.normal(k2, (4000,)) + s)
    >>> state = fit_barycenter(scores, sensitive_features=s, key=k3)
    >>> adjusted = apply_barycenter(state, scores, sensitive_features=s)
    >>> rates = [float((adjusted[s == g] > 0.5).mean()) for g in (0, 1)]
    >>> abs(rates[0] - rates[1]) < 0.05
    True

  References:
    Chzhen, Denis, Hebiri, Oneto and Pontil, `Fair Regression with
    Wasserstein Barycenters <https://arxiv.org/abs/2006.07286>`_, NeurIPS
    2020; Chzhen and Schreuder, `A minimax framework for quantifying
    risk-fairness trade-off in regression
    <https://arxiv.org/abs/2007.14265>`_, 2020 (relative improvement).
  """
  num_groups = _check_state(state)
  dtype = state.cdf_values.dtype
  y = jnp.asarray(_check_predictions(y_pred), dtype)
  s, _ = _groups.check_sensitive_features(
      sensitive_features, num_groups, y.shape[0]
  )
  if interpolation not in INTERPOLATIONS:
    raise ValueError(
        f"`interpolation` must be one of {INTERPOLATIONS}, got "
        f"{interpolation!r}."
    )
  if _groups.is_concrete(alpha):
    a = np.asarray(alpha)
    if a.shape != () or not 0 <= a <= 1:
      raise ValueError(f"`alpha` must be a scalar in [0, 1], got {alpha!r}.")
  elif np.shape(alpha) != ():
    raise ValueError(f"`alpha` must be a scalar, got shape {np.shape(alpha)}.")
  if _groups.is_concrete(s) and _groups.is_concrete(state.cdf_counts):
    seen = np.asarray(state.cdf_counts) > 0
    unseen = np.unique(np.asarray(s)[~seen[np.asarray(s)]])
    if unseen.size:
      raise ValueError(
          f"`sensitive_features` holds group ids {unseen.tolist()} that had "
          "no sample in fit_barycenter; their map is undefined."
      )
  if key is not None:
    key = _groups.check_key(key)
  return _apply(
      state, y, s, key, alpha, interpolation=interpolation,
      strategy=_check_strategy(sort_strategy),
  )
