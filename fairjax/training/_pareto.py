r"""The Pareto front of an error-unfairness trade-off, and its plot.

A sweep over fairness strengths gives one point :math:`(e_i, u_i)` per run
(error and unfairness, both minimised). Point :math:`j` *dominates* point
:math:`i` when it is no worse in both coordinates and strictly better in
one,

.. math::

  j \succ i \iff e_j \le e_i,\ u_j \le u_i,\ (e_j, u_j) \ne (e_i, u_i),

and the front is the set of points that no point dominates. Ties are exact:
points equal in both coordinates do not dominate each other, so duplicates
of a front point are all on the front; a point that ties another in one
coordinate and is worse in the other is dominated. Points with a NaN
coordinate are never on the front and dominate nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from fairjax import _groups


def _check_points(error, unfairness):
  """Validated float vectors of the same length."""
  e = _groups.check_vector(error, "error")
  u = _groups.check_vector(unfairness, "unfairness", e.shape[0])
  dtype = _groups.float_dtype(e, u)
  return jnp.asarray(e).astype(dtype), jnp.asarray(u).astype(dtype)


def pareto_front(error: ArrayLike, unfairness: ArrayLike) -> jax.Array:
  r"""Boolean mask of the non-dominated points (both coordinates minimised).

  .. math::

    \text{front}_i = \neg \exists j:\ e_j \le e_i,\ u_j \le u_i,\
    (e_j < e_i \lor u_j < u_i).

  Exact ties: a point equal to another in both coordinates is not
  dominated by it (duplicates on the front are all kept); NaN points are
  off the front and dominate nothing. All pairs are compared at once
  (:math:`O(n^2)` work, fixed shapes), so it runs under ``jit`` and
  ``vmap`` (e.g. over seeds of a sweep).

  Args:
    error: ``[n]`` error (or any loss) of each run.
    unfairness: ``[n]`` unfairness of each run (a gap, a divergence).

  Returns:
    A boolean array of shape ``[n]``, true on the front.

  Examples:
    >>> import fairjax
    >>> fairjax.pareto_front([0.1, 0.2, 0.3, 0.2], [0.5, 0.2, 0.1, 0.3])
    Array([ True,  True,  True, False], dtype=bool)
  """
  e, u = _check_points(error, unfairness)
  valid = ~(jnp.isnan(e) | jnp.isnan(u))
  no_worse = (e[:, None] <= e[None, :]) & (u[:, None] <= u[None, :])
  better = (e[:, None] < e[None, :]) | (u[:, None] < u[None, :])
  dominates = no_worse & better & valid[:, None]  # [j, i]: j dominates i
  return valid & ~jnp.any(dominates, axis=0)


def plot_pareto_front(
    error: ArrayLike,
    unfairness: ArrayLike,
    *,
    strengths: ArrayLike | Sequence | None = None,
    ax=None,
    xlabel: str = "error",
    ylabel: str = "unfairness",
    label_format: str = "{:g}",
):
  """Scatter of a sweep's runs with the Pareto front drawn and labelled.

  Every run is a point; the front (see :func:`pareto_front`) is joined by a
  step line in order of error, and each point is labelled with its
  strength. Needs matplotlib (``pip install "fairjax[demo]"``).

  Args:
    error: ``[n]`` error of each run.
    unfairness: ``[n]`` unfairness of each run.
    strengths: ``[n]`` strengths to label the points with (none if
      ``None``).
    ax: a matplotlib ``Axes``; a new figure's if ``None``.
    xlabel: label of the x (error) axis.
    ylabel: label of the y (unfairness) axis.
    label_format: format of the point labels.

  Returns:
    The matplotlib ``Axes``.
  """
  try:
    import matplotlib.pyplot as plt
  except ImportError as err:  # pragma: no cover - depends on the install
    raise ImportError(
        "plot_pareto_front needs matplotlib, an optional dependency: "
        'pip install "fairjax[demo]" (or pip install matplotlib).'
    ) from err
  front = np.asarray(pareto_front(error, unfairness))
  e = np.asarray(error, dtype=float)
  u = np.asarray(unfairness, dtype=float)
  if strengths is not None:
    strengths = np.asarray(strengths).reshape(-1)
    if strengths.shape[0] != e.shape[0]:
      raise ValueError(
          f"`strengths` must have one value per point ({e.shape[0]}), got "
          f"shape {strengths.shape}."
      )
  if ax is None:
    _, ax = plt.subplots(figsize=(5, 4))
  ax.scatter(e[~front], u[~front], c="0.6", s=18, label="dominated")
  order = np.argsort(e[front], kind="stable")
  ax.step(e[front][order], u[front][order], where="post", c="C0", lw=1)
  ax.scatter(e[front], u[front], c="C0", s=24, label="Pareto front")
  if strengths is not None:
    for x, y, lam in zip(e, u, strengths):
      ax.annotate(label_format.format(lam), (x, y), fontsize=7,
                  xytext=(3, 3), textcoords="offset points")
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.legend(frameon=False, fontsize=8)
  return ax
