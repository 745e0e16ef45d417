r"""Minibatches that keep every group (and label class) represented.

A fairness penalty compares groups *within* a minibatch, so a batch that
misses a small group gives it no signal. Two layouts, both with fixed shapes
(index arrays ``[num_batches, batch_size]``) so they run under ``jit`` and
``vmap`` (e.g. a new order per run of a sweep):

* **epoch** (default): every row exactly once, batches stratified by
  *systematic sampling*. Each stratum ``k`` (a group, or a group and label
  class with ``labels=``) of size :math:`n_k` gets the positions
  :math:`(r + u_k) / n_k`, with :math:`r` a random rank within the stratum
  and :math:`u_k \sim U[0, 1)`; rows sorted by position give every window of
  :math:`B` consecutive rows about :math:`B n_k / n` rows of stratum ``k``.
  The last batch is padded with weight 0.
* **fixed composition** (``group_sizes=(c_0, ..., c_{G-1})``): every batch
  holds exactly :math:`c_g` rows of group ``g``, laid out group by group in
  contiguous blocks (group 0 first), so code can slice a group's rows with
  static bounds (e.g. a Sinkhorn solve on split point clouds). Each group is
  drawn without replacement in a random order (label classes interleaved
  within it) and cycled through again when its slots outnumber its rows. The
  weights :math:`n_g B / (n c_g)` make weighted means over a batch estimate
  the population's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from fairjax import _groups


class StratifiedBatches(NamedTuple):
  """Index batches of fixed shape and their weights.

  Attributes:
    indices: ``[num_batches, batch_size]`` int32 row indices.
    sample_weight: ``[num_batches, batch_size]`` float32 weights: 0 on
      padding, 1 on real rows in epoch mode, :math:`n_g B / (n c_g)` in
      fixed-composition mode. Pass a batch's row as ``sample_weight=`` to
      the losses and penalties.
  """

  indices: jax.Array
  sample_weight: jax.Array


def _check_int(value, name: str, minimum: int) -> int:
  if isinstance(value, (bool, np.bool_)) or not isinstance(
      value, (int, np.integer)
  ) or value < minimum:
    raise ValueError(
        f"`{name}` must be an int >= {minimum} (static), got {value!r}."
    )
  return int(value)


def _check_group_sizes(group_sizes, num_groups: int, batch_size: int):
  """A static tuple of non-negative counts, one per group, summing to B."""
  if isinstance(group_sizes, (str, bytes)) or not isinstance(
      group_sizes, Sequence
  ):
    raise TypeError(
        "`group_sizes` must be a tuple of ints (rows of each group in every "
        f"batch), got {type(group_sizes).__name__}."
    )
  sizes = tuple(_check_int(c, "group_sizes[i]", 0) for c in group_sizes)
  if len(sizes) != num_groups or sum(sizes) != batch_size:
    raise ValueError(
        f"`group_sizes` must hold num_groups={num_groups} counts summing to "
        f"batch_size={batch_size}, got {sizes} (sum {sum(sizes)})."
    )
  return sizes


def _systematic_positions(key, strata: jax.Array, num_strata: int):
  """Rows grouped by stratum in random order, and their positions.

  Returns ``(order, stratum, position)``: ``order`` lists the rows stratum
  by stratum, each stratum in a uniformly random order (one sort, on the
  stratum in the high bits of a random 32-bit key; the rare rows whose
  remaining random bits tie keep their relative order), and ``position``
  is ``(rank + u_k) / n_k`` of each listed row.
  """
  n = strata.shape[0]
  k_perm, k_offset = jax.random.split(key)
  shift = max(int(num_strata - 1).bit_length(), 1)
  bits = jax.random.bits(k_perm, (n,), jnp.uint32) >> shift
  sort_key = (strata.astype(jnp.uint32) << (32 - shift)) | bits
  iota = jnp.arange(n, dtype=jnp.int32)
  _, order = jax.lax.sort((sort_key, iota), num_keys=1, is_stable=True)
  stratum = strata[order]
  counts = jnp.bincount(strata, length=num_strata).astype(jnp.int32)
  starts = jnp.cumsum(counts) - counts
  rank = (iota - starts[stratum]).astype(jnp.float32)
  offset = jax.random.uniform(k_offset, (num_strata,), jnp.float32)
  size = counts[stratum].astype(jnp.float32)
  return order, stratum, (rank + offset[stratum]) / size


def stratified_batches(
    key: ArrayLike,
    sensitive_features: ArrayLike,
    batch_size: int,
    *,
    labels: ArrayLike | None = None,
    num_groups: int | None = None,
    group_sizes: Sequence[int] | None = None,
    num_batches: int | None = None,
) -> StratifiedBatches:
  r"""Fixed-shape minibatch indices that keep every group represented.

  Epoch mode (default): one pass over the ``n`` rows in
  :math:`\lceil n / B \rceil` batches, each holding about
  :math:`B n_k / n` rows of every stratum ``k`` (group, or group and label
  class with ``labels``) by systematic sampling; a stratum with at least
  one row per batch is in every full batch. The last batch is padded with
  index 0 and weight 0.

  Fixed-composition mode (``group_sizes``): every batch has exactly
  ``group_sizes[g]`` rows of group ``g``, group 0's first, then group 1's,
  ... (contiguous, static bounds); groups are cycled through when they are
  smaller than their share of ``num_batches`` batches, and weighted by
  :math:`n_g B / (n c_g)` (0 for a group without rows).

  Args:
    key: a ``jax.random`` key (a new key gives a new order).
    sensitive_features: ``[n]`` integer group ids in ``[0, num_groups)``.
    batch_size: rows per batch ``B`` (static).
    labels: optional ``[n]`` binary labels, to stratify by group and label
      class.
    num_groups: static number of groups; inferred from concrete ids.
    group_sizes: static rows of each group per batch, ``num_groups`` ints
      summing to ``batch_size`` (fixed-composition mode).
    num_batches: static number of batches; default
      :math:`\lceil n / B \rceil`, the only value epoch mode accepts (one
      pass: more batches would hold nothing but padding, whose weights
      sum to 0).

  Returns:
    A :class:`StratifiedBatches` of ``[num_batches, batch_size]`` arrays.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> s = jnp.array([0] * 90 + [1] * 10)
    >>> b = stratified_batches(jax.random.key(0), s, 10, num_groups=2)
    >>> [int(v) for v in (s[b.indices] == 1).sum(axis=1)]
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    >>> b = stratified_batches(jax.random.key(0), s, 10, group_sizes=(5, 5))
    >>> s[b.indices[0]].tolist()
    [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
  """
  batch_size = _check_int(batch_size, "batch_size", 1)
  s, num_groups = _groups.check_sensitive_features(
      sensitive_features, num_groups
  )
  n = s.shape[0]
  _groups.check_nonempty(n, "sensitive_features")
  if num_batches is None:
    num_batches = -(-n // batch_size)
  num_batches = _check_int(num_batches, "num_batches", 1)
  if group_sizes is not None:
    group_sizes = _check_group_sizes(group_sizes, num_groups, batch_size)
  elif num_batches != -(-n // batch_size):
    raise ValueError(
        f"epoch mode covers every row once, in ceil(n / batch_size) = "
        f"{-(-n // batch_size)} batches of {batch_size} (n = {n}); got "
        f"num_batches={num_batches}. Draw a new epoch with a new key, or "
        "pass group_sizes= for a fixed number of batches."
    )
  strata, num_strata = s, num_groups
  if labels is not None:
    y = _groups.check_binary(labels, "labels", n)
    strata = 2 * s + jnp.asarray(y).astype(jnp.int32)
    num_strata = 2 * num_groups
  key = _groups.check_key(key)
  return _batches(
      key, s, strata, num_strata=num_strata, num_groups=num_groups,
      batch_size=batch_size, num_batches=num_batches,
      group_sizes=group_sizes,
  )


def _batches(
    key, s, strata, *, num_strata, num_groups, batch_size, num_batches,
    group_sizes,
):
  """The index layout on validated inputs (traceable, fixed shapes)."""
  n = s.shape[0]
  order, stratum, pos = _systematic_positions(key, strata, num_strata)
  if group_sizes is None:
    _, order = jax.lax.sort((pos, order), num_keys=1, is_stable=True)
    pad = num_batches * batch_size - n
    indices = jnp.concatenate([order, jnp.zeros((pad,), jnp.int32)])
    weight = jnp.concatenate(
        [jnp.ones((n,), jnp.float32), jnp.zeros((pad,), jnp.float32)]
    )
    shape = (num_batches, batch_size)
    return StratifiedBatches(indices.reshape(shape), weight.reshape(shape))
  # Groups contiguous, by position within each (label classes interleaved).
  group = stratum if num_strata == num_groups else stratum // 2
  _, _, order = jax.lax.sort((group, pos, order), num_keys=2,
                             is_stable=True)
  counts = jnp.bincount(s, length=num_groups).astype(jnp.int32)
  starts = jnp.cumsum(counts) - counts
  blocks, weights = [], []
  for g, c in enumerate(group_sizes):
    if c == 0:
      continue
    draws = jnp.arange(num_batches * c, dtype=jnp.int32)
    local = draws % jnp.maximum(counts[g], 1)
    blocks.append(order[starts[g] + local].reshape(num_batches, c))
    w = counts[g].astype(jnp.float32) * (batch_size / (n * c))
    weights.append(jnp.broadcast_to(w, (num_batches, c)))
  return StratifiedBatches(
      jnp.concatenate(blocks, axis=1), jnp.concatenate(weights, axis=1)
  )
