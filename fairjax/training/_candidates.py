r"""Choosing the final model among snapshots of a constrained training run.

The last iterate of a (non-convex) min-max game oscillates around the
constraint boundary. `Cotter et al., Optimization with Non-Differentiable
Constraints <https://arxiv.org/abs/1809.04198>`_ (JMLR 2019, TFCO's
``find_best_candidate_index`` and ``find_best_candidate_distribution``)
evaluate ``T`` snapshots on held-out data and return either

* the best feasible snapshot: the lowest objective among those whose
  largest violation is ``<= 0`` (or, if none is feasible, the least
  violating one); or
* a randomised model: a distribution :math:`p` over the snapshots solving
  the linear program

  .. math::
    \min_{p \in \Delta_T} \sum_t p_t f_t \quad \text{s.t.} \quad
    \sum_t p_t g_{tj} \le 0, \quad j = 1, \dots, m,

  whose optimal vertex has at most :math:`m + 1` non-zero weights. When no
  mixture is feasible, the largest violation is minimised first
  (lexicographically). Solved exactly by a dense simplex method with
  Bland's rule, in JAX (``lax.while_loop``), so it jits and vmaps.

Both functions take the objective ``[T]`` and the constraint values
``[T, m]`` (e.g. the error rate and ``rate_gaps - bound`` of each snapshot on
validation data).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike


def _check(objectives, violations):
  f = jnp.asarray(objectives)
  g = jnp.asarray(violations)
  if f.ndim != 1:
    raise ValueError(
        f"`objectives` must have shape [T] (one per candidate), got shape "
        f"{f.shape}.")
  if g.ndim == 1:
    g = g[:, None]
  if g.ndim != 2 or g.shape[0] != f.shape[0]:
    raise ValueError(
        f"`violations` must have shape [T, m] or [T] with T = {f.shape[0]}, "
        f"got shape {jnp.shape(violations)}.")
  if f.shape[0] == 0:
    raise ValueError("There must be at least one candidate, got T = 0.")
  dtype = jax.dtypes.canonicalize_dtype(
      np.result_type(np.dtype(f.dtype), np.dtype(g.dtype), np.float32))
  return f.astype(dtype), g.astype(dtype)


def find_best_candidate_index(
    objectives: ArrayLike,
    violations: ArrayLike,
    *,
    tolerance: ArrayLike = 0.0,
) -> jax.Array:
  """Index of the best feasible candidate (else the least violating one).

  Args:
    objectives: objective of each candidate (lower is better), shape ``[T]``.
    violations: constraint values (``<= 0`` is satisfied), shape ``[T, m]``
      or ``[T]``.
    tolerance: a candidate is feasible when its largest violation is
      ``<= tolerance``.

  Returns:
    An ``int32`` scalar index. Ties go to the earliest candidate.

  Examples:
    >>> find_best_candidate_index([0.3, 0.1, 0.2], [[0.0], [0.5], [-0.1]])
    Array(2, dtype=int32)
  """
  f, g = _check(objectives, violations)
  worst = jnp.max(g, axis=1)
  feasible = worst <= jnp.asarray(tolerance, f.dtype)
  best_feasible = jnp.argmin(jnp.where(feasible, f, jnp.inf))
  least_bad = jnp.argmin(worst)
  return jnp.where(feasible.any(), best_feasible, least_bad).astype(jnp.int32)


def _lex_negative(reduced: jax.Array, tol) -> jax.Array:
  """Columns whose reduced cost vector (rows in priority order) is < 0."""
  lead = jnp.zeros(reduced.shape[1], reduced.dtype)
  for row in reduced[::-1]:
    lead = jnp.where(jnp.abs(row) > tol, row, lead)
  return lead < -tol


def _simplex(tab, basis, costs, tol, max_iter):
  """Lexicographic tableau simplex with Bland's rule.

  ``tab``: ``[r, n + 1]``, the constraint rows ``B^{-1} [A | b]``;
  ``basis``: ``[r]`` indices of the basic variables; ``costs``: ``[k, n]``
  cost rows in priority order. The reduced costs are recomputed from
  ``costs`` at every pivot (no rounding accumulates in them).
  """

  def cond(carry):
    tab, _, it, done = carry
    return (~done) & (it < max_iter)

  def body(carry):
    tab, basis, it, _ = carry
    reduced = costs - costs[:, basis] @ tab[:, :-1]
    enter_ok = _lex_negative(reduced, tol)
    e = jnp.argmax(enter_ok)  # Bland: the smallest improving index
    col, rhs = tab[:, e], tab[:, -1]
    ok = col > tol
    ratio = jnp.where(ok, rhs / jnp.where(ok, col, 1), jnp.inf)
    best = jnp.min(ratio)
    tie = ok & (ratio <= best + tol)
    leave = jnp.argmin(jnp.where(tie, basis, jnp.iinfo(jnp.int32).max))
    stop = ~enter_ok.any() | ~ok.any()
    pivot_row = tab[leave] / tab[leave, e]
    new = tab - tab[:, e][:, None] * pivot_row[None, :]
    new = new.at[leave].set(pivot_row)
    tab = jnp.where(stop, tab, new)
    basis = jnp.where(stop, basis, basis.at[leave].set(e.astype(basis.dtype)))
    return tab, basis, it + 1, stop

  tab, basis, _, _ = jax.lax.while_loop(
      cond, body, (tab, basis, jnp.zeros((), jnp.int32), jnp.zeros((), bool)))
  return tab, basis


def find_best_candidate_distribution(
    objectives: ArrayLike,
    violations: ArrayLike,
) -> jax.Array:
  r"""The best randomised mixture of at most ``m + 1`` candidates (an LP).

  Solves, exactly (a simplex method; module docstring),

  .. math::
    \min_{p \in \Delta_T} \; \Big(\max\big(0, \max_j \textstyle\sum_t p_t
    g_{tj}\big),\; \sum_t p_t f_t\Big) \quad \text{(lexicographically)},

  i.e. the lowest expected objective among the mixtures whose expected
  constraint values are all ``<= 0``, or the least violating mixture if
  there is none. The optimum is a vertex: at most ``m + 1`` weights are
  non-zero. Deploy it by drawing candidate ``t`` with probability ``p_t``
  for each prediction (or each user).

  Args:
    objectives: objective of each candidate, shape ``[T]``.
    violations: constraint values, shape ``[T, m]`` or ``[T]``.

  Returns:
    Probabilities :math:`p`, shape ``[T]`` (non-negative, summing to 1).

  Examples:
    >>> p = find_best_candidate_distribution([0.1, 0.3], [[0.2], [-0.2]])
    >>> [round(float(x), 3) for x in p]
    [0.5, 0.5]
  """
  f, g = _check(objectives, violations)
  T, m = g.shape
  dtype = f.dtype
  tiny = jnp.finfo(dtype).tiny
  # One common positive scale per row of costs: the optimum is unchanged.
  f = (f - f.min()) / jnp.maximum(f.max() - f.min(), tiny)
  g = g / jnp.maximum(jnp.max(jnp.abs(g)), tiny)
  tol = jnp.asarray(1e-9 if dtype == jnp.float64 else 1e-6, dtype)
  # Variables: p [T], slacks s [m], z (largest violation), artificial a.
  n = T + m + 2
  iz, ia = T + m, T + m + 1
  rows = jnp.zeros((m + 1, n + 1), dtype)
  rows = rows.at[:m, :T].set(g.T)
  rows = rows.at[:m, T:T + m].set(jnp.eye(m, dtype=dtype))
  rows = rows.at[:m, iz].set(-1)
  rows = rows.at[m, :T].set(1).at[m, ia].set(1).at[m, -1].set(1)
  basis = jnp.concatenate([jnp.arange(T, T + m), jnp.array([ia])]).astype(
      jnp.int32)
  costs = jnp.zeros((3, n), dtype)
  costs = costs.at[0, ia].set(1).at[1, iz].set(1).at[2, :T].set(f)
  tab, basis = _simplex(rows, basis, costs, tol, max_iter=20 * n + 100)
  x = jnp.zeros((n,), dtype).at[basis].set(tab[:m + 1, -1])
  p = jnp.maximum(x[:T], 0)
  return p / jnp.maximum(p.sum(), tiny)


__all__ = (
    "find_best_candidate_distribution",
    "find_best_candidate_index",
)
