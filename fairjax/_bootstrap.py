r"""Bootstrap confidence intervals for fairness metrics, vmapped over resamples.

A row bootstrap draws ``n`` rows with replacement; equivalently each row gets
a multiplicity ``c_i`` with ``c ~ Multinomial(n, 1/n)``, and the resampled
metric is the metric with sample weights ``w_i c_i``. Weights keep shapes
fixed, so every resample runs through the same compiled function.

Two exact shortcuts:

* rate metrics (demographic parity, equal opportunity, equalized odds) depend
  on the data only through the ``[G, 2, 2]`` table of cell counts; without
  sample weights, the resampled table is exactly
  ``Multinomial(n, counts / n)``, so a resample costs ``O(G)``, not ``O(n)``;
* the KS distance sorts the predictions once; each resample is then a
  weighted cumulative sum.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from fairjax import _groups, _metrics


class BootstrapResult(NamedTuple):
  """A metric with its bootstrap distribution.

  Attributes:
    estimate: the metric on the full data.
    lower: lower end of the percentile interval.
    upper: upper end of the percentile interval.
    std: standard deviation of the resampled values (bootstrap standard
      error).
    samples: the resampled values, shape ``[n_boot]``.
  """

  estimate: jax.Array
  lower: jax.Array
  upper: jax.Array
  std: jax.Array
  samples: jax.Array


# metric -> value as a function of the [G, 2, 2] cell table
_CELL_METRICS = {
    _metrics.demographic_parity_difference: _metrics._dp_difference_cells,
    _metrics.demographic_parity_ratio: _metrics._dp_ratio_cells,
    _metrics.equal_opportunity_difference: _metrics._eo_difference_cells,
    _metrics.equalized_odds_difference: _metrics._eodds_difference_cells,
}
_DP_METRICS = (_metrics.demographic_parity_difference,
               _metrics.demographic_parity_ratio)


def _row_multiplicities(key: jax.Array, n: int, dtype,
                        live: jax.Array | None = None) -> jax.Array:
  """Multiplicities of rows drawn with replacement, shape ``[n]``.

  Without ``live``: ``n`` draws among the ``n`` rows. With ``live`` (the
  rows that are not padding): ``n_live`` draws among the live rows only, the
  ``k``-th draw naming the ``k``-th live row, so padded rows are never drawn
  and the resample is the one of the data without its padding (the same
  draws, since a key's first ``n_live`` integers do not depend on ``n``).
  """
  if live is None:
    counts = jnp.bincount(jax.random.randint(key, (n,), 0, n), length=n)
  else:
    n_live = jnp.sum(live.astype(jnp.int32))
    draws = jax.random.randint(key, (n,), 0, jnp.maximum(n_live, 1))
    rows = jnp.nonzero(live, size=n, fill_value=0)[0]
    keep = (jnp.arange(n) < n_live).astype(jnp.int32)
    counts = jnp.bincount(rows[draws], weights=keep, length=n)
  return counts if dtype is None else counts.astype(dtype)


@jax.jit
def _multinomial_tables(cells: jax.Array, keys: jax.Array) -> jax.Array:
  """Cell tables of row resamples: ``Multinomial(n, cells / n)`` per key.

  Compiled once per table shape and shared by all rate metrics.
  """
  flat = cells.reshape(-1)
  n = flat.sum()
  draws = jax.vmap(
      lambda k: jax.random.multinomial(k, n, flat / n, dtype=flat.dtype))(keys)
  return draws.reshape(keys.shape[:1] + cells.shape)


def _cell_samples(metric, kwargs, y_true, y_pred, s, num_groups, keys):
  """Exact row bootstrap of a rate metric through multinomial cell counts."""
  cells = _metrics._cells(y_true, y_pred, s, None, num_groups,
                          binary_true=metric not in _DP_METRICS)
  value_fn = functools.partial(_CELL_METRICS[metric], **kwargs)
  return jax.vmap(value_fn)(_multinomial_tables(cells, keys))


def _ks_samples(y_pred, s, weight, num_groups, keys):
  """Row bootstrap of the KS distance: sort once, reweight per resample."""
  dtype = _groups.float_dtype(y_pred, weight)
  y_pred = _groups.mask_padding(jnp.asarray(y_pred, dtype), weight)
  order = jnp.argsort(y_pred)
  sp, ss = y_pred[order], s[order]
  sw = None if weight is None else weight[order]
  live = None if sw is None else sw > 0

  def one(key):
    # Rows are exchangeable: drawing multiplicities of the sorted rows is a
    # row bootstrap (the one the generic path draws on pre-sorted data).
    c = _row_multiplicities(key, sp.shape[0], None, live)
    return _metrics._ks_sorted(
        sp, ss, c if sw is None else c.astype(sw.dtype) * sw, num_groups)

  return jax.lax.map(one, keys)


def _row_samples(metric, kwargs, y_true, y_pred, s, weight, num_groups, keys):
  """Generic row bootstrap: the metric with multiplicities as weights."""
  n = s.shape[0]
  dtype = _groups.float_dtype(weight)
  base = jnp.ones((n,), dtype) if weight is None else weight
  live = None if weight is None else weight > 0

  def one(key):
    w = base * _row_multiplicities(key, n, dtype, live)
    return metric(y_true, y_pred, sensitive_features=s, sample_weight=w,
                  num_groups=num_groups, **kwargs)

  return jax.lax.map(one, keys)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _resample(metric, kwarg_items, num_groups, y_true, y_pred, s, weight, keys):
  kwargs = dict(kwarg_items)
  if metric is _metrics.ks_distance and not kwargs:
    return _ks_samples(y_pred, s, weight, num_groups, keys)
  return _row_samples(metric, kwargs, y_true, y_pred, s, weight, num_groups,
                      keys)


def bootstrap_ci(
    metric: Callable[..., jax.Array],
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    key: jax.Array,
    n_boot: int = 1000,
    level: float = 0.95,
    sample_weight: ArrayLike | None = None,
    num_groups: int | None = None,
    **metric_kwargs,
) -> BootstrapResult:
  r"""Percentile bootstrap confidence interval of a fairness metric.

  Resamples rows with replacement ``n_boot`` times and returns the metric on
  the full data with the ``(1 - level) / 2`` and ``(1 + level) / 2``
  quantiles of the resampled values (resamples where the metric is
  undefined, NaN, are left out of the quantiles).

  Args:
    metric: a metric with fairlearn's signature ``metric(y_true, y_pred, *,
      sensitive_features, sample_weight, num_groups, **metric_kwargs)``, e.g.
      :func:`~fairjax.demographic_parity_difference` or
      :func:`~fairjax.ks_distance`. fairjax's rate metrics and KS distance use
      exact shortcuts (see the module docstring).
    y_true: true labels, shape ``[n]``.
    y_pred: predictions, shape ``[n]``.
    sensitive_features: integer group ids, shape ``[n]``.
    key: a ``jax.random`` key.
    n_boot: number of resamples (static).
    level: confidence level in ``(0, 1)``.
    sample_weight: non-negative weights, shape ``[n]``; rows of weight 0 are
      padding and never drawn (each resample draws as many rows as there
      are non-padded ones).
    num_groups: static number of groups; required under ``jit``/``vmap``.
    **metric_kwargs: static options of the metric (e.g. ``agg="mean"``).

  Returns:
    A :class:`BootstrapResult`.

  Examples:
    >>> import jax, numpy as np
    >>> from fairjax import bootstrap_ci, demographic_parity_difference
    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(0, 2, 500)
    >>> y_pred = (rng.random(500) < 0.3 + 0.2 * s).astype(int)
    >>> ci = bootstrap_ci(demographic_parity_difference, y_pred, y_pred,
    ...                   sensitive_features=s, key=jax.random.key(0))
    >>> bool(ci.lower < ci.estimate < ci.upper)
    True
  """
  if not callable(metric):
    raise TypeError(f"`metric` must be callable, got {type(metric).__name__}.")
  if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 2:
    raise ValueError(f"`n_boot` must be an int >= 2, got {n_boot!r}.")
  if not 0 < level < 1:
    raise ValueError(f"`level` must lie in (0, 1), got {level!r}.")
  y_pred = _groups.check_vector(y_pred, "y_pred")
  n = y_pred.shape[0]
  y_true = _groups.check_vector(y_true, "y_true", n)
  s, num_groups = _groups.check_sensitive_features(
      sensitive_features, num_groups, n
  )
  weight = None
  if sample_weight is not None:
    weight = _groups.check_sample_weight(
        sample_weight, n, _groups.float_dtype(y_pred, sample_weight))
  # The metric on the full data; this also validates labels and options.
  estimate = metric(y_true, y_pred, sensitive_features=s,
                    sample_weight=weight, num_groups=num_groups,
                    **metric_kwargs)
  keys = jax.random.split(_groups.check_key(key), n_boot)
  if metric in _CELL_METRICS and weight is None:
    samples = _cell_samples(metric, metric_kwargs, y_true, y_pred, s,
                            num_groups, keys)
  else:
    samples = _resample(metric, tuple(sorted(metric_kwargs.items())),
                        num_groups, jnp.asarray(y_true), jnp.asarray(y_pred),
                        s, weight, keys)
  tail = (1 - level) / 2
  lower, upper = jnp.nanquantile(samples, jnp.array([tail, 1 - tail],
                                                    samples.dtype))
  return BootstrapResult(estimate, lower, upper, jnp.nanstd(samples), samples)
