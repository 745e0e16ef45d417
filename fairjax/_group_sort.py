r"""Per-group sorting and ranking for the barycenter map, on host or device.

Three operations, each in two interchangeable implementations that return
the same arrays for the same input:

* ``split_sort``: per group, pick the CDF half (the ``ceil(n_s / 2)`` members
  with the smallest random keys, ties by position) and sort both halves;
* ``table``: ``table_s[k] = sum_s' p_s' Q_s'(k / N_s)``, with the quantile
  indices ``ceil(k M / N) - 1`` in exact integer arithmetic;
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

import functools

import jax
import jax.numpy as jnp
import numpy as np

# Largest table for which the device path's int32 quantile indices are exact
# (see `ceil_mul_div`); beyond it they use int64, which needs x64. The host
# path always uses numpy int64.
MAX_INT32_SAMPLES = 2**26


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
  """numpy: the barycenter table, as :func:`device_table`.

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


def _divmod(x: jax.Array, n: jax.Array, inv_n: jax.Array):
  """``(x // n, x % n)`` for int32 ``x``, ``n >= 1``, ``|x / n| <= 2**26``.

  No integer division (slow on CPU): a float32 estimate of ``x / n`` is off
  by at most 17; the remainder ``x - q n`` is then small, hence exact in
  wrapping int32 arithmetic, and a second float step plus two integer
  comparisons make the quotient exact.
  """
  q = jnp.floor(x.astype(jnp.float32) * inv_n).astype(jnp.int32)
  r = x - q * n
  c = jnp.floor(r.astype(jnp.float32) * inv_n).astype(jnp.int32)
  q, r = q + c, r - c * n
  low = r < 0
  q, r = jnp.where(low, q - 1, q), jnp.where(low, r + n, r)
  high = r >= n
  return jnp.where(high, q + 1, q), jnp.where(high, r - n, r)


def ceil_mul_div_parts(k, m, n, inv_n) -> jax.Array:
  """:func:`ceil_mul_div` given ``inv_n = 1 / n`` in float32; no division.

  ``m = a n + b`` and ``ceil(k m / n) = k a + ceil(k b / n)``. The quotient
  of ``k b / n`` is estimated in float32 (off by at most 17 for
  ``n <= 2**26``); the remainder ``k b - q n`` is then exact in wrapping
  int32 arithmetic because its true value is small, and :func:`_divmod`
  finishes the division.
  """
  a, b = _divmod(m, n, inv_n)
  f32 = jnp.float32
  q = jnp.floor(k.astype(f32) * b.astype(f32) * inv_n).astype(jnp.int32)
  c, r = _divmod(k * b - q * n, n, inv_n)  # k b wraps mod 2**32: harmless
  return k * a + q + c + (r > 0).astype(jnp.int32)


def ceil_mul_div(k: jax.Array, m: jax.Array, n: jax.Array) -> jax.Array:
  r"""Exact :math:`\lceil k m / n \rceil` for ``0 <= k <= n <= 2**26``.

  The float formula ``ceil(k / n * m)`` is off by one for a few percent of
  queries in float32 (and some in float64), and ``k * m`` overflows int32.
  """
  return ceil_mul_div_parts(k, m, n, 1 / n.astype(jnp.float32))


def _ceil_mul_div_int64(k, m, n) -> jax.Array:
  r"""Plain int64 :math:`\lceil k m / n \rceil` (needs ``jax_enable_x64``)."""
  k, m, n = (jnp.asarray(v, jnp.int64) for v in (k, m, n))
  return ((k * m + n - 1) // n).astype(jnp.int32)


def _table_groups(sizes: jax.Array, length: int) -> tuple[jax.Array, ...]:
  """Owner group and offset of each of ``length`` flat entries."""
  num_groups = sizes.shape[0]
  starts = exclusive_cumsum(sizes)
  t = jnp.arange(length, dtype=jnp.int32)
  g = jnp.clip(jnp.searchsorted(starts, t, side="right",
                                method="compare_all") - 1, 0, num_groups - 1)
  return g, t - starts[g]


@functools.partial(jax.jit, static_argnames=("length",))
def device_table(
    quantile_values, cdf_counts, quantile_counts, group_weights, length
) -> jax.Array:
  """XLA: ``table_s[k] = sum_s' p_s' Q_s'(k / N_s)`` for every group, flat.

  ``Q_s'(k / N_s) = sorted_s'[ceil(k M_s' / N_s) - 1]`` (clipped to the
  sample), the generalised inverse of the right-continuous empirical CDF.
  One pass per group ``s'`` over the ``[Lc + G]`` table (``fori_loop``).
  """
  num_groups = cdf_counts.shape[0]
  g, k = _table_groups(cdf_counts + 1, length)
  n_g = jnp.maximum(cdf_counts, 1)
  valid = (k <= cdf_counts[g]) & (cdf_counts[g] > 0)
  k = jnp.where(valid, k, 0)
  n = n_g[g]
  inv_n = 1 / n.astype(jnp.float32)
  q_starts = exclusive_cumsum(quantile_counts)
  last = quantile_values.shape[0] - 1
  dtype = quantile_values.dtype
  wide = length > MAX_INT32_SAMPLES  # int64 indices (x64 checked in fit)

  def add_group(j, acc):
    m = quantile_counts[j]
    if wide:
      top = _ceil_mul_div_int64(k, m, n)
    else:
      top = ceil_mul_div_parts(k, m, n, inv_n)
    idx = jnp.clip(top - 1, 0, jnp.maximum(m - 1, 0))
    val = quantile_values[jnp.clip(q_starts[j] + idx, 0, last)]
    return acc + jnp.where(m > 0, group_weights[j] * val, jnp.zeros((), dtype))

  table = jax.lax.fori_loop(
      0, num_groups, add_group, jnp.zeros((length,), dtype)
  )
  return jnp.where(valid, table, jnp.zeros((), dtype))


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
