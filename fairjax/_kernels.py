r"""Kernels on point clouds: kernel matrices, Gram forms, random features.

The numerical core of :mod:`fairjax._mmd`: squared distances that stay exact
near zero, kernel matrices (Gaussian, Laplace, linear, energy or a callable,
with summed bandwidths), the quadratic forms :math:`B^\top K B` of a batch
computed tile by tile over the upper triangle (half the kernel evaluations,
each tile in cache), the median-distance bandwidth, and orthogonal random
Fourier features whose cost is linear in the number of points.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from fairjax import _groups

# Batches up to twice this size build the whole kernel matrix at once; larger
# ones walk the upper triangle of square tiles of at most this size.
_TILE = 512
# The median heuristic looks at the pairs among at most this many points.
_MEDIAN_POINTS = 512


def _safe_sqrt(x: jax.Array) -> jax.Array:
  """``sqrt(x)`` for ``x >= 0`` with a finite (zero) gradient at 0."""
  ok = x > 0
  return jnp.where(ok, jnp.sqrt(jnp.where(ok, x, 1)), 0)


# Up to this dimension, squared distances are summed coordinate by
# coordinate (exact near 0); above it, one matrix product does the work.
_DIRECT_DIM = 8


def sq_distances(
    x: jax.Array, y: jax.Array, same=False, exact_near_zero: bool = True
) -> jax.Array:
  r"""Squared Euclidean distances ``[n, m]``; ``same``: ``x`` is ``y``.

  The matrix-product form :math:`\|x\|^2 + \|y\|^2 - 2 x^\top y` has an
  absolute rounding error of about ``eps * |x|^2``, which a square root
  turns into visible errors at small distances. With ``exact_near_zero``
  (for distances that go through a square root), dimensions up to
  ``_DIRECT_DIM`` therefore sum the coordinates directly: exact, but the
  ``[n, m, d]`` difference tensor and its gradient cost 2-6x the matrix
  product on CPU. ``same`` (a boolean, possibly traced) zeroes the diagonal
  exactly.
  """
  if exact_near_zero and x.shape[1] <= _DIRECT_DIM:
    return jnp.sum((x[:, None, :] - y[None, :, :]) ** 2, axis=-1)
  xx = jnp.sum(x * x, axis=1)
  yy = jnp.sum(y * y, axis=1)
  d2 = jnp.maximum(xx[:, None] + yy[None, :] - 2 * (x @ y.T), 0)
  if same is False:
    return d2
  eye = jnp.eye(x.shape[0], y.shape[0], dtype=bool)
  return jnp.where(eye & same, 0, d2)


def kernel_matrix(
    x: jax.Array, y: jax.Array, kernel, scales: jax.Array | None, same=False
) -> jax.Array:
  """Kernel matrix ``[n, m]``; ``scales`` are the bandwidths (summed)."""
  if callable(kernel):
    return jax.vmap(jax.vmap(kernel, (None, 0)), (0, None))(x, y)
  if kernel == "linear":
    return x @ y.T
  # A Gaussian kernel's error is eps * |x|^2 / (2 sigma^2) in the matrix
  # form (inputs arrive centred): no square root, so no exact sum needed.
  d2 = sq_distances(x, y, same, exact_near_zero=kernel != "gaussian")
  if kernel == "energy":
    return -_safe_sqrt(d2)
  if kernel == "gaussian":
    arg, factor = d2, -1 / (2 * scales * scales)
  else:
    arg, factor = _safe_sqrt(d2), -1 / scales
  if scales.shape[0] == 1:
    return jnp.exp(arg * factor[0])
  return jnp.sum(jnp.exp(arg[..., None] * factor[None, None, :]), axis=-1)


def kernel_diagonal(x: jax.Array, kernel, scales) -> jax.Array:
  """``k(x_i, x_i)`` for every point, shape ``[n]``."""
  if callable(kernel):
    return jax.vmap(kernel)(x, x)
  if kernel == "linear":
    return jnp.sum(x * x, axis=1)
  if kernel == "energy":
    return jnp.zeros(x.shape[:1], x.dtype)
  return jnp.full(x.shape[:1], scales.shape[0], x.dtype)


def weighted_median_distance(x: jax.Array, row_weight: jax.Array) -> jax.Array:
  """Median Euclidean distance between distinct weighted points, no gradient.

  Looks at the pairs among an evenly strided subset of at most
  ``_MEDIAN_POINTS`` points; a pair weighs ``w_i w_j``. Returns 1 when no
  pair has positive weight and distance.
  """
  x = jax.lax.stop_gradient(x)
  stride = -(-x.shape[0] // _MEDIAN_POINTS)
  x, w = x[::stride], row_weight[::stride]
  i, j = np.triu_indices(x.shape[0], k=1)
  if not i.size:  # fewer than two points
    return jnp.ones((), x.dtype)
  dist = _safe_sqrt(jnp.sum((x[i] - x[j]) ** 2, axis=1))
  pw = jnp.where(dist > 0, w[i] * w[j], 0)
  order = jnp.argsort(dist)
  cum = jnp.cumsum(pw[order])
  idx = jnp.searchsorted(cum, 0.5 * cum[-1])
  med = dist[order][jnp.minimum(idx, dist.shape[0] - 1)]
  return jnp.where(cum[-1] > 0, med, 1)


def bandwidths(bandwidth, dtype) -> jax.Array:
  """Validated numeric bandwidths as a vector ``[S]`` (summed kernels)."""
  if isinstance(bandwidth, str):
    raise ValueError(
        "`bandwidth` must be a positive float, a sequence of them or "
        f"'median', got {bandwidth!r}."
    )
  if isinstance(bandwidth, (bool, np.bool_)) or bandwidth is None:
    raise TypeError(f"`bandwidth` must be a positive float, got {bandwidth!r}.")
  try:
    scales = jnp.asarray(bandwidth, dtype).reshape(-1)
  except (TypeError, ValueError) as e:
    raise TypeError(
        "`bandwidth` must be a positive float, a sequence of them or "
        f"'median', got {type(bandwidth).__name__}."
    ) from e
  if scales.shape[0] == 0:
    raise ValueError("`bandwidth` must not be an empty sequence.")
  if _groups.is_concrete(scales) and not bool(jnp.all(scales > 0)):
    raise ValueError(f"`bandwidth` must be positive, got {bandwidth!r}.")
  return scales


def kernel_gram(
    x: jax.Array, columns: jax.Array, kernel, scales
) -> jax.Array:
  r"""``B^T K B`` for the kernel matrix ``K`` of ``x`` (assumed symmetric).

  Small batches build ``K`` at once. Larger ones sum
  :math:`B_I^\top K_{IJ} B_J` over the tiles ``I <= J`` of the upper triangle
  (off-diagonal tiles counted twice through the transpose), each tile
  recomputed in the backward pass instead of stored.
  """
  n, d = x.shape
  if n <= 2 * _TILE:
    if kernel == "gaussian":
      return _gaussian_gram(x, columns, -1 / (2 * scales * scales))
    gram = kernel_matrix(x, x, kernel, scales, same=True)
    return columns.T @ (gram @ columns)
  nt = -(-n // _TILE)
  size = -(-n // nt)  # balanced tiles, at most _TILE (rounded up to 8) rows
  size = -(-size // 8) * 8
  pad = nt * size - n
  xt = jnp.pad(x, ((0, pad), (0, 0))).reshape(nt, size, d)
  ct = jnp.pad(columns, ((0, pad), (0, 0))).reshape(nt, size, -1)
  rows, cols = np.triu_indices(nt)

  @jax.checkpoint
  def tile(ij):
    i, j = ij
    k_ij = kernel_matrix(xt[i], xt[j], kernel, scales, same=i == j)
    q = ct[i].T @ (k_ij @ ct[j])
    return jnp.where(i == j, 0.5, 1.0).astype(q.dtype) * q

  q = jax.lax.map(tile, (jnp.asarray(rows), jnp.asarray(cols))).sum(axis=0)
  return q + q.T


def _gaussian_kernels(x: jax.Array, factors: jax.Array):
  """``d2 [n, n]`` and the per-bandwidth kernels ``exp(f_s d2)``, a list."""
  d2 = sq_distances(x, x, same=True, exact_near_zero=False)
  return d2, [jnp.exp(d2 * factors[i]) for i in range(factors.shape[0])]


def _combine(weights, matrices):
  """``sum_s weights[s] * matrices[s]`` (elementwise, so XLA fuses it)."""
  return sum(weights[i] * m for i, m in enumerate(matrices))


@jax.custom_jvp
def _gaussian_gram(x, columns, factors):
  r"""``B^T K B`` for :math:`K = \sum_s \exp(f_s \|x_i - x_j\|^2)`.

  Same value as the generic path; its derivative is written with matrix
  products, so that neither direction materialises an ``[n, n, d]`` or a
  second ``[n, n]`` tangent: with :math:`K' = \sum_s f_s K_s`,
  :math:`t_i = x_i^\top \dot x_i` and :math:`m_{ij} = x_i^\top \dot x_j`,

  .. math::

    \dot Q = 2 (U + U^\top - R - R^\top) + \dot B^\top K B + B^\top K \dot B
    + B^\top (\textstyle\sum_s \dot f_s K_s \circ D) B,

  :math:`U = (B \circ t)^\top K' B`, :math:`R = B^\top (K' \circ m) B`,
  where :math:`R_{gh} = \sum_{ic} B_{ig} x_{ic} [K' (\dot x_{:c} \circ
  B_{:h})]_i` is one ``[n, n] @ [n, d G]`` product. Reverse mode
  transposes this linear map (2x faster than differentiating the generic
  path at n = 256, d = 8); forward mode and higher orders work as usual.
  """
  _, ks = _gaussian_kernels(x, factors)
  return columns.T @ (sum(ks) @ columns)


def _is_zero(t) -> bool:
  return isinstance(t, jax.custom_derivatives.SymbolicZero)


@functools.partial(_gaussian_gram.defjvp, symbolic_zeros=True)
def _gaussian_gram_jvp(primals, tangents):
  x, b, f = primals
  dx, db, df = tangents
  d2, ks = _gaussian_kernels(x, f)
  kbs = [k @ b for k in ks]  # per bandwidth: no combined [n, n] matrix
  kb = sum(kbs)
  q = b.T @ kb
  dq = jnp.zeros_like(q)
  if not _is_zero(dx):
    u = (b * jnp.sum(x * dx, axis=1)[:, None]).T @ _combine(f, kbs)
    v = (dx[:, :, None] * b[:, None, :]).reshape(x.shape[0], -1)
    # K_s is symmetric; K_s.T makes reverse mode's transposed product the
    # plain row-major one (XLA's CPU backend runs it 2x faster).
    w = _combine(f, [k.T @ v for k in ks])
    r = b.T @ jnp.sum(x[:, :, None] * w.reshape(dx.shape + b.shape[1:]),
                      axis=1)
    dq = dq + 2 * (u + u.T - r - r.T)
  if not _is_zero(db):
    dq = dq + db.T @ kb + kb.T @ db
  if not _is_zero(df):
    dq = dq + b.T @ ((_combine(df, ks) * d2) @ b)
  return q, dq


def _cos_sin(t: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``cos t, sin t`` to about 1e-6, 3-4x faster than XLA's on CPU.

  Reduces ``t`` to ``[-pi, pi]`` (``2 pi`` split in two parts), evaluates
  Taylor polynomials at the half angle and doubles it.
  """
  k = jnp.round(t * (1 / (2 * np.pi)))
  r = (t - k * 6.28125) - k * 1.9353071795864769e-3
  h = 0.5 * r
  h2 = h * h
  c = 1 + h2 * (-1 / 2 + h2 * (1 / 24 + h2 * (-1 / 720 + h2 * (
      1 / 40320 - h2 / 3628800))))
  s = h * (1 + h2 * (-1 / 6 + h2 * (1 / 120 + h2 * (-1 / 5040 + h2 * (
      1 / 362880 - h2 / 39916800)))))
  return 1 - 2 * s * s, 2 * s * c


def random_frequencies(
    key, kernel: str, scales: jax.Array, half: int, d: int, dtype
) -> jax.Array:
  r"""Orthogonal random frequencies ``[d, S * half]`` of a shift kernel.

  Directions come in blocks of ``d`` orthonormal vectors (QR of Gaussian
  matrices) and lengths from the kernel's spectral density: Gaussian,
  :math:`\|\omega\| \sim \chi_d / \sigma`; Laplace
  :math:`e^{-\|x-y\|/\sigma}` (multivariate Cauchy),
  :math:`\|\omega\| \sim \chi_d / (\sigma |c|)`, :math:`c \sim N(0, 1)`.
  Orthogonality cuts the variance of the kernel estimate well below that
  of i.i.d. frequencies (`Yu et al., Orthogonal Random Features
  <https://arxiv.org/abs/1610.09072>`_, NeurIPS 2016).
  """
  num_scales = scales.shape[0]
  blocks = -(-half // d)
  # One draw, sliced: each random call inlines its own threefry kernel, and
  # three of them took 4x the compile time of one on CPU.
  sizes = (num_scales * blocks * d * d, num_scales * half * d,
           num_scales * half if kernel == "laplace" else 0)
  normals = jax.random.normal(key, (sum(sizes),), dtype)
  g = normals[:sizes[0]].reshape(num_scales * blocks, d, d)
  q, _ = jnp.linalg.qr(g)
  dirs = jnp.swapaxes(q, 1, 2).reshape(num_scales, blocks * d, d)[:, :half]
  chi = normals[sizes[0]:sizes[0] + sizes[1]].reshape(num_scales, half, d)
  length = jnp.linalg.norm(chi, axis=-1)
  if kernel == "laplace":
    cauchy = normals[sizes[0] + sizes[1]:].reshape(num_scales, half)
    length = length / jnp.abs(cauchy)
  omega = dirs * (length / scales[:, None])[:, :, None]  # [S, half, d]
  return omega.reshape(num_scales * half, d).T


def random_feature_embedding(
    x: jax.Array, columns: jax.Array, kernel: str, scales: jax.Array,
    num_features: int, key, chunk: int = 2048,
) -> jax.Array:
  r"""Group mean embeddings ``B^T Z`` with random Fourier features ``Z``.

  For each bandwidth, ``num_features / 2`` frequencies :math:`\omega` give
  :math:`z(x) = [\cos \omega^\top x, \sin \omega^\top x] / \sqrt{D/2}`, so
  that :math:`z(x)^\top z(y) \approx k(x, y)` (`Rahimi and Recht, Random
  Features for Large-Scale Kernel Machines
  <https://papers.nips.cc/paper/3182-random-features-for-large-scale-kernel-machines>`_,
  2007). Rows are processed in chunks (recomputed in the backward pass), so
  memory stays :math:`O(\text{chunk} \cdot D)`.

  Returns:
    ``[m, S * num_features]`` for ``columns`` of shape ``[n, m]``.
  """
  n, d = x.shape
  half = num_features // 2
  omega = random_frequencies(key, kernel, scales, half, d, x.dtype)
  trig = _cos_sin if x.dtype == jnp.float32 else (
      lambda t: (jnp.cos(t), jnp.sin(t)))
  norm = np.sqrt(half).astype(x.dtype)

  @jax.checkpoint
  def embed(xc, cc):
    cos, sin = trig(xc @ omega)
    return jnp.concatenate([cc.T @ cos, cc.T @ sin], axis=1) / norm

  if n <= chunk:
    return embed(x, columns)
  nc = -(-n // chunk)
  pad = nc * chunk - n
  xs = jnp.pad(x, ((0, pad), (0, 0))).reshape(nc, chunk, d)
  cs = jnp.pad(columns, ((0, pad), (0, 0))).reshape(nc, chunk, -1)
  return jax.lax.map(lambda a: embed(*a), (xs, cs)).sum(axis=0)
