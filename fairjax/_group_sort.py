r"""Per-group sorting and ranking for the barycenter map, on host or device.

Two operations, each in two interchangeable implementations that return the
same arrays for the same input:

* ``split_sort``: per group, pick the CDF half (the ``ceil(n_s / 2)`` members
  with the smallest random keys, ties by position) and sort both halves;
* ``lookup``: for each query of group ``s``, ``table_s[k]`` with ``k`` its
  rank ``#{cdf_s <= x}`` in its group's CDF sample.

``host_*`` run in numpy (meant for :func:`jax.pure_callback` on CPU, where
numpy's sort is many times faster than XLA's); ``device_*`` in XLA
(``lax.sort`` and a vectorised binary search) for GPU/TPU. The host lookup
merges all queries with all samples in one sort of 64-bit composite keys
``(group, value, index)``: searchsorted on sorted keys is a linear merge,
and no per-group boolean masks are needed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _is_wide_float(dtype) -> bool:
  return jnp.issubdtype(dtype, jnp.floating) and jnp.dtype(dtype).itemsize == 8


def host_call(fn, result_shapes, *args):
  """``jax.pure_callback(fn, ...)`` that carries float64 as uint32 pairs.

  Callbacks convert their operands with the calling thread's x64 setting,
  so under the ``jax.enable_x64()`` context manager a float64 operand can
  reach numpy as float32. Bit patterns in uint32 are never converted.
  ``vmap`` calls ``fn`` once per batch element.
  """
  single = not isinstance(result_shapes, (tuple, list))
  shapes = (result_shapes,) if single else tuple(result_shapes)
  wide_in = [_is_wide_float(a.dtype) for a in args]
  wide_out = [_is_wide_float(r.dtype) for r in shapes]
  packed = [jax.lax.bitcast_convert_type(a, jnp.uint32) if w else a
            for a, w in zip(args, wide_in, strict=True)]
  specs = tuple(
      jax.ShapeDtypeStruct(r.shape + (2,), jnp.uint32) if w else r
      for r, w in zip(shapes, wide_out, strict=True))

  def callback(*xs):
    xs = [np.ascontiguousarray(x).view(np.float64)[..., 0] if w
          else np.asarray(x) for x, w in zip(xs, wide_in, strict=True)]
    outs = fn(*xs)
    outs = (outs,) if single else outs
    return tuple(
        np.ascontiguousarray(o, np.float64)[..., None].view(np.uint32) if w
        else o for o, w in zip(outs, wide_out, strict=True))

  outs = jax.pure_callback(callback, specs, *packed, vmap_method="sequential")
  outs = [jax.lax.bitcast_convert_type(o, jnp.float64) if w else o
          for o, w in zip(outs, wide_out, strict=True)]
  return outs[0] if single else tuple(outs)


def exclusive_cumsum(x: jax.Array) -> jax.Array:
  """``[0, x0, x0 + x1, ...]`` without the total, same shape as ``x``."""
  return jnp.cumsum(x) - x


def sample_counts(counts, split: bool):
  """Sizes of the CDF and quantile samples of groups of size ``counts``.

  Split: the CDF half has ``ceil(n / 2)`` points, the quantile half the
  rest; a group of one point uses it for both. Not split: both are the
  whole group.
  """
  if not split:
    return counts, counts
  two = counts >= 2
  c = jnp.where(two, (counts + 1) // 2, counts)
  return c, jnp.where(two, counts - c, counts)


def _small_uint(x: np.ndarray, bound: int) -> np.ndarray:
  """Smallest unsigned view of ids in ``[0, bound]`` (numpy radix sorts it)."""
  for dt in (np.uint8, np.uint16):
    if bound <= np.iinfo(dt).max:
      return x.astype(dt)
  return x


def _cdf_half(r: np.ndarray, h: int) -> np.ndarray:
  """Mask of the ``h`` smallest keys, ties broken by position (stable)."""
  t = np.partition(r, h - 1)[h - 1]
  sel = r < t
  ties = np.flatnonzero(r == t)[: h - int(np.count_nonzero(sel))]
  sel[ties] = True
  return sel


def host_split_sort(v, a, r, *, num_groups, split, lc, lq):
  """numpy: per group, the CDF and quantile samples, sorted; and counts."""
  v, a, r = np.asarray(v), np.asarray(a), np.asarray(r)
  work = v.astype(np.float32) if v.dtype.itemsize < 4 else v
  counts = np.bincount(a, minlength=num_groups + 1)[:num_groups]
  order = np.argsort(_small_uint(a, num_groups), kind="stable")
  starts = np.concatenate([[0], np.cumsum(counts)])
  cdf, qnt = np.zeros(lc, work.dtype), np.zeros(lq, work.dtype)
  ci = qi = 0
  for g in range(num_groups):
    idx = order[starts[g]:starts[g + 1]]
    if idx.size == 0:
      continue
    vg = work[idx]
    if split and idx.size >= 2:
      sel = _cdf_half(r[idx], (idx.size + 1) // 2)
      c, q = np.sort(vg[sel]), np.sort(vg[~sel])
    else:
      c = q = np.sort(vg)
    cdf[ci:ci + c.size], qnt[qi:qi + q.size] = c, q
    ci, qi = ci + c.size, qi + q.size
  return cdf.astype(v.dtype), qnt.astype(v.dtype), counts.astype(np.int32)


def device_split_sort(v, a, r, *, num_groups, split, lc, lq):
  """XLA: the same as `host_split_sort`, with ``lax.sort``."""
  valid = a < num_groups
  counts = jax.ops.segment_sum(
      valid.astype(jnp.int32), jnp.where(valid, a, 0), num_groups
  )
  g_starts = exclusive_cumsum(counts)
  if split:
    a1, _, v1 = jax.lax.sort((a, r, v), num_keys=2)
    ga = jnp.minimum(a1, num_groups - 1)
    rank = jnp.arange(a.shape[0], dtype=jnp.int32) - g_starts[ga]
    n_g = counts[ga]
    half = (rank >= (n_g + 1) // 2) & (n_g >= 2)
    seg = jnp.where(a1 < num_groups, 2 * a1 + half.astype(jnp.int32),
                    2 * num_groups)
    _, combined = jax.lax.sort((seg, v1), num_keys=2)
  else:
    _, combined = jax.lax.sort((a, v), num_keys=2)
  c_counts, q_counts = sample_counts(counts, split)
  # Group g's sorted CDF half starts at g_starts[g], its quantile half right
  # after it (or is the same sample when not split / one member).
  q_offset = jnp.where(counts >= 2, c_counts, 0) if split else 0
  cdf = _gather_segments(combined, g_starts, c_counts, lc)
  qnt = _gather_segments(combined, g_starts + q_offset, q_counts, lq)
  return cdf, qnt, counts


def _gather_segments(values, src_starts, counts, length):
  """Packs segments ``values[src_starts[g]:+counts[g]]`` one after another."""
  num_groups = counts.shape[0]
  dst_starts = exclusive_cumsum(counts)
  j = jnp.arange(length, dtype=jnp.int32)
  g = jnp.clip(
      jnp.searchsorted(dst_starts, j, side="right") - 1, 0, num_groups - 1
  )
  offset = j - dst_starts[g]
  src = jnp.clip(src_starts[g] + offset, 0, values.shape[0] - 1)
  return jnp.where(offset < counts[g], values[src], jnp.zeros((), values.dtype))


def host_table(quantile_values, cdf_counts, quantile_counts, weights, *,
               length):
  """numpy: the barycenter table (see ``_barycenter._barycenter_table``).

  Per pair of groups ``(s, s')`` the indices ``ceil(k M / N) - 1`` are int64
  arithmetic with a scalar divisor (fast in numpy); the sum over ``s'`` runs
  in the same order as the XLA version.
  """
  qv = np.asarray(quantile_values)
  work = qv.astype(np.float32) if qv.dtype.itemsize < 4 else qv
  n_c = np.asarray(cdf_counts).astype(np.int64)
  n_q = np.asarray(quantile_counts).astype(np.int64)
  w = np.asarray(weights).astype(work.dtype)
  q_starts = np.concatenate([[0], np.cumsum(n_q)])
  out = np.zeros(length, work.dtype)
  start = 0
  for n, size in zip(n_c, n_c + 1, strict=True):
    if n:
      k = np.arange(size, dtype=np.int64)
      seg = out[start:start + size]
      for j, m in enumerate(n_q):
        if m:
          idx = np.clip((k * m + n - 1) // n - 1, 0, m - 1)
          seg += w[j] * work[q_starts[j]:q_starts[j] + m][idx]
    start += size
  return out.astype(qv.dtype)


def _orderable32(x: np.ndarray) -> np.ndarray:
  """float32 -> uint64 holding 32 bits whose unsigned order is the float's."""
  bits = x.astype(np.float32).view(np.uint32)
  neg = (bits >> np.uint32(31)).astype(bool)
  out = np.where(neg, ~bits, bits | np.uint32(0x80000000))
  return out.astype(np.uint64)


def host_lookup(cdf_values, cdf_counts, table, x, s):
  """numpy: ``table_s[#{cdf_s <= x}]`` for every query."""
  values, counts, table = map(np.asarray, (cdf_values, cdf_counts, table))
  x, s = np.asarray(x), np.asarray(s)
  num_groups, m = counts.shape[0], x.shape[0]
  starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
  out = np.empty(m, table.dtype)
  gbits = max(int(num_groups - 1).bit_length(), 1)
  ibits = max(int(m - 1).bit_length(), 1)
  if x.dtype.itemsize <= 4 and gbits + 32 + ibits <= 64 and m:
    # One sort of composite keys (group, value, index) merges every query
    # with its group's sample: searchsorted on sorted keys is a merge.
    shift = np.uint64(32 + ibits)
    q = (s.astype(np.uint64) << shift) | (
        _orderable32(x) << np.uint64(ibits)) | np.arange(m, dtype=np.uint64)
    q.sort()
    total = int(starts[-1])
    owner = np.repeat(np.arange(num_groups, dtype=np.uint64), counts)
    keys = (owner << shift) | (_orderable32(values[:total]) << np.uint64(ibits))
    pos = np.searchsorted(keys, q, side="right")
    g = (q >> shift).astype(np.int64)
    idx = (q & np.uint64((1 << ibits) - 1)).astype(np.int64)
    out[idx] = table[pos + g]  # table_s starts at starts[s] + s
    return out
  order = np.argsort(_small_uint(s, num_groups), kind="stable")
  sizes = np.bincount(s, minlength=num_groups)
  q_starts = np.concatenate([[0], np.cumsum(sizes)])
  for g in range(num_groups):
    idx = order[q_starts[g]:q_starts[g + 1]]
    if idx.size:
      k = np.searchsorted(values[starts[g]:starts[g + 1]], x[idx], side="right")
      out[idx] = table[starts[g] + g + k]
  return out


def device_lookup(cdf_values, cdf_counts, table, x, s):
  """XLA: the same as `host_lookup`, by a vectorised binary search."""
  starts = exclusive_cumsum(cdf_counts)
  lo = starts[s]
  hi = lo + cdf_counts[s]
  last = cdf_values.shape[0] - 1

  def halve(_, bounds):
    lo, hi = bounds
    mid = (lo + hi) // 2
    right = cdf_values[jnp.clip(mid, 0, last)] <= x
    active = lo < hi
    return (jnp.where(active & right, mid + 1, lo),
            jnp.where(active & ~right, mid, hi))

  steps = max(int(cdf_values.shape[0]).bit_length(), 1)
  lo, _ = jax.lax.fori_loop(0, steps, halve, (lo, hi))
  return table[lo + s]  # starts[s] + s + (lo - starts[s])
