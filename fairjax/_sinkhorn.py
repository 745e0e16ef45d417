r"""Debiased Sinkhorn divergence between the groups' distributions (ott-jax).

Two layouts of the batch, one set of transport problems:

* **masked** (any batch): every problem runs on the *full* point cloud; a
  group is the probability vector :math:`a_g = w_g / \sum_i w_{g,i}` over all
  points, zero outside the group (ott-jax's log-domain Sinkhorn gives such
  points :math:`-\infty` potentials). Shapes never depend on the data, so a
  minibatch that misses a group is an ordinary input, but every solve
  touches all :math:`n^2` pairs.
* **split** (``group_sizes``, fixed-composition batches whose rows are laid
  out group by group): a problem between groups ``g`` and ``h`` runs on
  their own points, an :math:`n_g \times n_h` cost matrix, with static
  shapes; about 4x fewer pairs for two equal groups.

Every solve is certified: with the column marginal error
:math:`\delta = \|P^\top 1 - b\|_1` of the plan at the returned potential and
the cost range :math:`R`, the semi-dual value is within
:math:`\delta\,(R + \mathrm{osc}\,\hat g)/2` below the exact entropic cost
(concavity of the semi-dual, and the oscillation bound of c-transforms), and
``converged`` means this bound is at most ``threshold`` times the problem's
cost scale :math:`\langle a \otimes b, C\rangle`.

Reference: `Oneto et al., Exploiting MMD and Sinkhorn Divergences for Fair and
Transferable Representation Learning <https://arxiv.org/abs/2010.01400>`_,
NeurIPS 2020; `Feydy et al., Interpolating between Optimal Transport and MMD
using Sinkhorn Divergences <https://arxiv.org/abs/1810.08278>`_, AISTATS 2019;
`Cuturi et al., Optimal Transport Tools (OTT)
<https://arxiv.org/abs/2201.12324>`_, 2022.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from fairjax import _groups
from fairjax._groups import check_choice
from fairjax._kernels import sq_distances
from fairjax._mmd import (
    REDUCTIONS,
    check_penalty_inputs,
    group_measures,
    reduce_divergences,
)

with warnings.catch_warnings():
  # ott-jax 0.6 imports jaxopt, which warns that it is unmaintained.
  warnings.filterwarnings(
      "ignore", "JAXopt is no longer maintained", DeprecationWarning
  )
  from ott.geometry import geometry
  from ott.problems.linear import linear_problem
  from ott.solvers.linear import (
      acceleration,
      sinkhorn,
  )

DIFFERENTIATIONS = ("implicit", "unroll")
# Marginal errors below a few ulps are rounding, not progress.
_ULPS = 8


class SinkhornConvergenceWarning(UserWarning):
  """A solve of :func:`sinkhorn_penalty` missed the requested accuracy.

  Raised (as a warning) on eager calls only; under ``jit`` read
  ``SinkhornDiagnostics.converged``. Silence it with
  ``warnings.simplefilter("ignore", fairjax.SinkhornConvergenceWarning)``.
  """


class SinkhornDiagnostics(NamedTuple):
  r"""What the solves of :func:`sinkhorn_penalty` left behind.

  Pass it back as ``init=`` to warm-start the next call on the same rows
  (full-batch training, repeated evaluation, or the same fixed batch at the
  next epoch); carry it in the training state under ``jit``.

  Attributes:
    potentials: ``[P, 2, n]`` dual potentials ``(f, g)`` of the ``P``
      transport problems (cross terms first, then self terms), indexed by the
      batch's rows; ``-inf`` where a point has no weight or lies outside the
      problem's groups (split layout).
    costs: ``[P]`` entropic transport costs :math:`\mathrm{OT}_\varepsilon`.
    converged: ``[P]`` whether each cost is certified within ``threshold``
      times its cost scale of the exact entropic cost.
    iterations: ``[P]`` Sinkhorn iterations each solve ran.
    errors: ``[P]`` the certified bound on each cost's error (absolute, in
      cost units): the exact cost lies in ``[cost, cost + error]``.
  """

  potentials: jax.Array
  costs: jax.Array
  converged: jax.Array
  iterations: jax.Array
  errors: jax.Array


class _Problems(NamedTuple):
  """Static transport problems: columns, row ranges and solver kind.

  ``cols[p] = (column of a, column of b)`` (see :class:`GroupMeasures`);
  ``rows[p] = ((start, stop) of a, (start, stop) of b)``; ``sym[p]``: a self
  term ``OT(a, a)``.
  """

  cols: tuple
  rows: tuple
  sym: tuple
  num_cross: int


def _problems(num_classes, num_groups, reduction, ranges):
  """The cross and self problems; ``ranges[g]``: group ``g``'s rows.

  Columns follow :class:`fairjax._mmd.GroupMeasures`: ``k * (G + 1) + g``,
  with ``g = G`` the pooled class, whose range is the whole batch.
  """
  m = num_groups + 1
  cross, selves = [], []
  for k in range(num_classes):
    base = k * m
    if reduction == "vs_pooled":
      cross += [(base + g, base + num_groups) for g in range(num_groups)]
      selves += [base + g for g in range(m)]
    else:
      cross += [
          (base + g, base + h)
          for g in range(num_groups) for h in range(g + 1, num_groups)
      ]
      selves += [base + g for g in range(num_groups)]
  cols = tuple(cross) + tuple((c, c) for c in selves)
  rows = tuple((ranges[a % m], ranges[b % m]) for a, b in cols)
  sym = (False,) * len(cross) + (True,) * len(selves)
  return _Problems(cols, rows, sym, len(cross))


def _solver(
    *, symmetric: bool, threshold, max_iterations: int,
    solve_kwargs: Mapping[str, Any],
) -> sinkhorn.Sinkhorn:
  """A log-domain ott-jax Sinkhorn solver for cross or self terms.

  ``threshold`` bounds the L1 marginal error (ott's ``norm_error=1``).
  """
  kwargs = dict(
      lse_mode=True, threshold=threshold, max_iterations=max_iterations,
      implicit_diff=None,
  )
  if symmetric:
    # Self terms OT(a, a): parallel updates with momentum 0.5 average the
    # two potentials (Feydy et al., 2019, eq. 25) and converge in a few
    # iterations, often one: check the error every other iteration.
    kwargs.update(
        parallel_dual_updates=True, inner_iterations=2,
        momentum=acceleration.Momentum(start=0, value=0.5),
    )
  else:
    # Cross terms: over-relaxation (Thibault et al., 2021) with a fixed
    # weight of 1.5 cuts the iterations about 2.5x on standardised data.
    kwargs.update(momentum=acceleration.Momentum(value=1.5))
    kwargs.update(solve_kwargs)
  return sinkhorn.Sinkhorn(**kwargs)


def _batched_solve(cost, a, b, init, eps, *, symmetric, config):
  """``p`` problems on one cost matrix ``[na, nb]``: ``a [na, p]``, ``b``.

  Returns the costs ``[p]`` and ``(f [p, na], g [p, nb], converged,
  iterations, errors)``. With ``"implicit"`` the solver never sees a
  gradient: :func:`_semi_dual` differentiates the cost at the frozen
  potential (the envelope theorem); with ``"unroll"`` the potential is
  differentiated through every Sinkhorn iteration.
  """
  threshold = config["threshold"]
  cost_sg = jax.lax.stop_gradient(cost)
  cost_solve = cost if config["differentiation"] == "unroll" else cost_sg
  solve = _under_ott_promotion(functools.partial(
      _solve, symmetric=symmetric, max_iterations=config["max_iterations"],
      solve_kwargs=dict(config["solve_items"]),
  ))
  ulp = _ULPS * jnp.finfo(cost.dtype).eps

  def one(a, b, init):
    on = (a > 0)[:, None] & (b > 0)[None, :]
    reach = jnp.max(jnp.where(on, cost_sg, 0))
    scale = a @ cost_sg @ b  # <a x b, C>: OT_eps(a, b) lies in [0, scale]
    # Stop where the certified bound below would be about `threshold`.
    tol = jnp.maximum(_groups.safe_divide(threshold * scale, reach, 1), ulp)
    g, (f, g_out, iterations) = solve(cost_solve, a, b, init, eps, tol)
    value, error = _semi_dual(cost, a, b, g, eps, reach)
    converged = error <= threshold * scale + ulp * reach
    return value, (f, g_out, converged, iterations, error)

  return jax.vmap(one, (1, 1, None if init is None else 0))(a, b, init)


def _semi_dual(c, a, b, g, eps, reach):
  r"""Certified :math:`\mathrm{OT}_\varepsilon(a, b)` from the potential ``g``.

  With ott's convention :math:`P_{ij} = \exp((f_i + g_j - C_{ij})/\varepsilon)`
  and :math:`\hat g = g - \varepsilon \log b`, the row update
  :math:`\hat f_i = -\varepsilon \log \sum_j b_j
  \exp((\hat g_j - C_{ij})/\varepsilon)` makes every row of :math:`P` sum to
  :math:`a_i` exactly, so the mass term of the dual vanishes and

  .. math::

    V(\hat g) = \sum_i a_i \hat f_i + \sum_j b_j \hat g_j
      \le \mathrm{OT}_\varepsilon(a, b).

  This stays finite when float32 potentials are far less accurate than
  ``epsilon``, and its gradient in ``c`` at a frozen ``g`` is the plan
  :math:`P` (the envelope theorem). :math:`V` is concave with gradient
  :math:`b - P^\top 1`, and an optimal :math:`\hat g^*` is a c-transform, so
  :math:`\mathrm{osc}\,\hat g^* \le R` (the cost range over the supports):

  .. math::

    0 \le \mathrm{OT}_\varepsilon - V(\hat g)
      \le \|P^\top 1 - b\|_1 \,(R + \mathrm{osc}\,\hat g) / 2.

  Returns ``(value, bound)``; the bound carries no gradient.
  """
  on_a, on_b = a > 0, b > 0
  g = jnp.where(on_b, g, -jnp.inf)
  f = -eps * jax.nn.logsumexp((g[None, :] - c) / eps, axis=1)
  g_kl = g - eps * jnp.log(jnp.where(on_b, b, 1))
  value = (
      jnp.sum(jnp.where(on_a, a * f, 0))
      + jnp.sum(b * jnp.where(on_b, g_kl, 0))
  )
  f, g, g_kl, c = map(jax.lax.stop_gradient, (f, g, g_kl, c))
  log_a = jnp.where(on_a, jnp.log(jnp.where(on_a, a, 1)), -jnp.inf)
  column = jnp.exp(jax.nn.logsumexp(
      log_a[:, None] + (f[:, None] + g[None, :] - c) / eps, axis=0))
  delta = jnp.sum(jnp.abs(column - b))
  osc = (jnp.max(jnp.where(on_b, g_kl, -jnp.inf))
         - jnp.min(jnp.where(on_b, g_kl, jnp.inf)))
  return value, delta * (reach + osc) / 2


@contextlib.contextmanager
def _ott_promotion():
  """ott-jax relies on implicit rank and dtype promotion internally."""
  with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
    yield


def _under_ott_promotion(fn):
  """``fn(x, *rest)`` traced under ott's rules, differentiable in ``x`` only.

  ott's own custom derivative rule (the unrolled loop's backward pass) is
  traced lazily, when a transformation reaches it, possibly after ``fn``
  returned; owning the VJP keeps it under the same configuration. The other
  arguments (marginals, ``epsilon``, tolerance) get zero cotangents: ott's
  gradients with respect to zero weights are NaN by design.
  """

  @jax.custom_vjp
  def wrapped(x, *rest):
    with _ott_promotion():
      return fn(x, *rest)

  def fwd(x, *rest):
    with _ott_promotion():
      value, vjp, aux = jax.vjp(lambda x: fn(x, *rest), x, has_aux=True)
    return (value, aux), (vjp, rest)

  def bwd(res, cotangent):
    vjp, rest = res
    with _ott_promotion():
      (grad_x,) = vjp(cotangent[0])
    return (grad_x, *jax.tree.map(jnp.zeros_like, rest))

  wrapped.defvjp(fwd, bwd)
  return wrapped


def _solve(cost, a, b, init, epsilon, tol, *, symmetric, max_iterations,
           solve_kwargs):
  """Solves ``OT_eps(a, b)`` for the cost matrix ``cost`` with ott-jax.

  Returns ``(g, (f, g, iterations))``, the second pair gradient-stopped.
  """
  solver = _solver(symmetric=symmetric, threshold=tol,
                   max_iterations=max_iterations, solve_kwargs=solve_kwargs)
  geom = geometry.Geometry(cost_matrix=cost, epsilon=epsilon)
  prob = linear_problem.LinearProblem(geom, a=a, b=b)
  if init is not None:
    f, g = jax.lax.stop_gradient(init)
    f = jnp.where(a > 0, jnp.where(jnp.isfinite(f), f, 0), -jnp.inf)
    g = jnp.where(b > 0, jnp.where(jnp.isfinite(g), g, 0), -jnp.inf)
    init = (f, g)
  out = solver(prob, init=init)
  f, g = jax.lax.stop_gradient((out.f, out.g))
  return out.g, (f, g, out.n_iters)


def _check_epsilon(epsilon):
  if isinstance(epsilon, (str, bool, np.bool_)) or epsilon is None:
    raise TypeError(f"`epsilon` must be a positive float, got {epsilon!r}.")
  if np.ndim(epsilon) != 0:
    raise ValueError(
        f"`epsilon` must be a scalar, got shape {tuple(np.shape(epsilon))}."
    )
  if _groups.is_concrete(epsilon) and not float(epsilon) > 0:
    raise ValueError(f"`epsilon` must be positive, got {epsilon!r}.")


def _check_iterations(max_iterations):
  if isinstance(max_iterations, (bool, np.bool_)) or not isinstance(
      max_iterations, (int, np.integer)
  ) or max_iterations < 1:
    raise ValueError(
        f"`max_iterations` must be a positive int, got {max_iterations!r}."
    )


def _check_threshold(threshold):
  if isinstance(threshold, (bool, np.bool_)) or not isinstance(
      threshold, (int, float, np.floating, np.integer)
  ) or not 0 < threshold < 1:
    raise ValueError(
        "`threshold` must be a float in (0, 1) (accuracy relative to the "
        f"cost scale), got {threshold!r}."
    )


def _layout(group_sizes, sensitive_features, num_groups, n):
  """Group ids and static row ranges of the split layout (or ``None``)."""
  sizes = tuple(group_sizes)
  if not sizes or any(
      isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer))
      or k < 1 for k in sizes
  ):
    raise ValueError(
        "`group_sizes` must be a tuple of positive ints (rows per group, "
        f"laid out group by group), got {group_sizes!r}."
    )
  if sum(sizes) != n:
    raise ValueError(
        f"`group_sizes` must sum to the number of rows {n}, got {sizes} "
        f"(sum {sum(sizes)})."
    )
  if num_groups is not None and num_groups != len(sizes):
    raise ValueError(
        f"`num_groups` must equal len(group_sizes) = {len(sizes)}, got "
        f"{num_groups}."
    )
  ids = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
  if sensitive_features is not None and _groups.is_concrete(
      sensitive_features
  ) and not np.array_equal(np.asarray(sensitive_features).ravel(), ids):
    raise ValueError(
        "`sensitive_features` must be laid out group by group as "
        f"`group_sizes` = {sizes} says (rows 0..{sizes[0] - 1} in group 0, "
        "...), got other ids."
    )
  stops = np.cumsum(sizes)
  ranges = tuple((int(a), int(b)) for a, b in zip(stops - sizes, stops))
  return ids, ranges + ((0, n),)


def sinkhorn_penalty(
    features: ArrayLike,
    *,
    sensitive_features: ArrayLike | None = None,
    num_groups: int | None = None,
    group_sizes: Sequence[int] | None = None,
    labels: ArrayLike | None = None,
    notion: str = "demographic_parity",
    sample_weight: ArrayLike | None = None,
    epsilon: float = 0.1,
    max_iterations: int = 1000,
    threshold: float = 1e-2,
    reduction: str = "pairwise",
    differentiation: str = "implicit",
    init: SinkhornDiagnostics | None = None,
    has_aux: bool = False,
    solve_kwargs: Mapping[str, Any] = MappingProxyType({}),
) -> jax.Array | tuple[jax.Array, SinkhornDiagnostics]:
  r"""Debiased Sinkhorn divergence between the groups' distributions.

  For groups :math:`a_g, a_h` (weighted empirical measures, within a label
  class for the conditional notions) and the squared-Euclidean cost
  :math:`C_{ij} = \|z_i - z_j\|^2`,

  .. math::

    S_\varepsilon(a_g, a_h) = \mathrm{OT}_\varepsilon(a_g, a_h)
      - \tfrac12 \mathrm{OT}_\varepsilon(a_g, a_g)
      - \tfrac12 \mathrm{OT}_\varepsilon(a_h, a_h),

  .. math::

    \mathrm{OT}_\varepsilon(a, b) = \min_{P \in U(a, b)} \langle P, C \rangle
      + \varepsilon\, \mathrm{KL}(P \,\|\, a \otimes b).

  The self terms remove the entropic bias, so :math:`S_\varepsilon(a, a) = 0`;
  :math:`S_\varepsilon` interpolates between optimal transport
  (:math:`\varepsilon \to 0`) and an energy-distance MMD
  (:math:`\varepsilon \to \infty`). For two groups the default is exactly
  :math:`S_\varepsilon(P_0, P_1)`; more groups are combined as in
  :func:`fairjax.mmd_penalty` (``"pairwise"`` weighs pairs by
  :math:`p_g p_h`, ``"vs_pooled"`` compares each group with its label class,
  ``"max"`` takes the worst pair). Equalized odds sums the two label classes.
  A group without members contributes exactly 0 with a finite gradient.

  Every problem is solved by ott-jax's log-domain Sinkhorn with an absolute
  ``epsilon`` and certified: ``converged`` means the cost is within
  ``threshold`` times its scale :math:`\langle a \otimes b, C \rangle` (the
  mean squared distance between the two measures, an upper bound of the
  cost) of the exact entropic cost, so the divergence is within ``threshold
  * (s_gh + s_gg / 2 + s_hh / 2)``. The bound is worst-case; the error is
  usually far smaller. Small ``epsilon`` relative to the squared spread of
  the points (below about 1e-3 of it) needs many iterations: an eager call
  whose solves miss the accuracy warns with
  :class:`SinkhornConvergenceWarning`; under ``jit`` read the diagnostics.

  Layouts: by default every problem runs on the full batch with group
  weights (any batch, ``n^2`` pairs per solve). With ``group_sizes`` (a
  fixed-composition batch, rows group by group, e.g. from
  ``fairjax.stratified_batches``) each problem runs on its two groups'
  rows only, with static shapes: same value, several times faster.

  Gradients: ``"implicit"`` differentiates the converged costs by the
  envelope theorem (no backward pass through the iterations); ``"unroll"``
  backpropagates through every iteration.

  Warm starts: carry ``aux`` (``has_aux=True``) in the training state and
  pass it as ``init`` at the next call on the same rows (the same fixed
  batch, or the full batch): the solves start from the previous potentials.

  Args:
    features: scores of shape ``[n]`` or representations of shape ``[n, d]``
      (standardise them: ``epsilon`` is in squared feature units).
    sensitive_features: integer group ids, shape ``[n]``; optional with
      ``group_sizes`` (then checked against it when concrete).
    num_groups: static number of groups; required under ``jit``/``vmap``
      (``len(group_sizes)`` with ``group_sizes``).
    group_sizes: static tuple ``(n_0, ..., n_{G-1})``: rows ``0..n_0-1`` are
      group 0, the next ``n_1`` group 1, and so on (the split layout). A
      group can still be emptied by zero ``sample_weight`` or, for the
      conditional notions, by its labels.
    labels: binary labels, shape ``[n]``; needed by the label-conditioned
      notions.
    notion: ``"demographic_parity"``, ``"equal_opportunity"`` or
      ``"equalized_odds"``.
    sample_weight: non-negative weights, shape ``[n]`` (0 masks padding).
    epsilon: entropic regularisation, absolute (same units as the cost).
    max_iterations: Sinkhorn iterations per solve at most (static).
    threshold: requested accuracy of every transport cost, relative to its
      cost scale (static, in (0, 1)).
    reduction: ``"pairwise"``, ``"vs_pooled"`` or ``"max"``.
    differentiation: ``"implicit"`` or ``"unroll"``.
    init: the diagnostics (or their potentials ``[P, 2, n]``) of a previous
      call with the same batch shape and options, to warm-start every solve.
    has_aux: also return a :class:`SinkhornDiagnostics`.
    solve_kwargs: extra keyword arguments for the cross-term
      :class:`ott.solvers.linear.sinkhorn.Sinkhorn` (e.g. ``momentum``,
      ``anderson``, ``inner_iterations``).

  Returns:
    A scalar of the floating dtype of ``features``, and the diagnostics if
    ``has_aux``.

  Warns:
    SinkhornConvergenceWarning: on an eager call, when a solve missed the
      requested accuracy within ``max_iterations``.

  Examples:
    >>> import jax.numpy as jnp
    >>> z = jnp.array([[0.0], [0.1], [1.0], [1.2]])
    >>> s = jnp.array([0, 0, 1, 1])
    >>> round(float(sinkhorn_penalty(z, sensitive_features=s)), 3)
    1.103
    >>> round(float(sinkhorn_penalty(z, group_sizes=(2, 2))), 3)
    1.103

  References:
    `Oneto et al., Exploiting MMD and Sinkhorn Divergences for Fair and
    Transferable Representation Learning <https://arxiv.org/abs/2010.01400>`_,
    NeurIPS 2020; `Feydy et al., Interpolating between Optimal Transport and
    MMD using Sinkhorn Divergences <https://arxiv.org/abs/1810.08278>`_,
    AISTATS 2019.
  """
  check_choice(reduction, "reduction", REDUCTIONS)
  check_choice(differentiation, "differentiation", DIFFERENTIATIONS)
  _groups.check_notion(notion)
  _check_epsilon(epsilon)
  _check_iterations(max_iterations)
  _check_threshold(threshold)
  n = int(np.shape(features)[0]) if np.ndim(features) else 0
  ranges = None
  if group_sizes is not None:
    ids, ranges = _layout(group_sizes, sensitive_features, num_groups, n)
    sensitive_features, num_groups = ids, len(ranges) - 1
  elif sensitive_features is None:
    raise TypeError(
        "`sensitive_features` is required unless `group_sizes` gives the "
        "layout."
    )
  x, out_dtype, s, num_groups, labels, sample_weight = check_penalty_inputs(
      features, sensitive_features, num_groups, labels, sample_weight
  )
  n = x.shape[0]
  if ranges is None:
    ranges = ((0, n),) * (num_groups + 1)
  num_classes = 2 if notion == "equalized_odds" else 1
  problems = _problems(num_classes, num_groups, reduction, ranges)
  shape = (len(problems.cols), 2, n)
  pots = None
  if init is not None:
    pots = jnp.asarray(getattr(init, "potentials", init))
    if pots.shape != shape:
      raise ValueError(
          f"`init` must hold potentials of shape {shape} (from a call on the "
          f"same batch shape and options), got {pots.shape}."
      )
    pots = pots.astype(x.dtype)
  static = dict(
      num_groups=num_groups, notion=notion, reduction=reduction,
      differentiation=differentiation, max_iterations=int(max_iterations),
      threshold=float(threshold), ranges=ranges,
      solve_items=tuple(sorted(solve_kwargs.items())),
  )
  eps = jnp.asarray(epsilon, x.dtype)
  try:
    hash(tuple(static.values()))
    core = _sinkhorn_jit
  except TypeError:  # unhashable solver options: trace without caching
    core = _sinkhorn
  value, aux = core(x, s, labels, sample_weight, eps, pots, **static)
  if _groups.is_concrete(aux.converged) and not bool(jnp.all(aux.converged)):
    bad = np.flatnonzero(~np.asarray(aux.converged))
    warnings.warn(SinkhornConvergenceWarning(
        f"sinkhorn_penalty: {bad.size} of {aux.converged.size} transport "
        f"problems missed the requested accuracy (threshold={threshold}) "
        f"within max_iterations={max_iterations} (iterations "
        f"{np.asarray(aux.iterations)[bad].tolist()}, error bounds "
        f"{np.asarray(aux.errors)[bad].tolist()}): raise epsilon (now "
        f"{float(epsilon)}, relative to the squared spread of the features), "
        "max_iterations or threshold, or warm-start with init=."
    ), stacklevel=2)
  value = value.astype(out_dtype)
  return (value, aux) if has_aux else value


def _sinkhorn(
    x, s, labels, sample_weight, eps, pots, *, num_groups, notion, reduction,
    differentiation, max_iterations, threshold, ranges, solve_items,
):
  """The penalty and diagnostics on validated (centred) inputs."""
  n = x.shape[0]
  groups = group_measures(
      n, s, num_groups=num_groups, labels=labels, notion=notion,
      sample_weight=sample_weight, dtype=x.dtype,
  )
  num_classes = groups.shares.shape[0]
  problems = _problems(num_classes, num_groups, reduction, ranges)
  m = num_groups + 1
  # Absent groups are swapped for a harmless measure (uniform on the rows a
  # problem sees) so that every solve is well posed; their divergences get
  # weight 0.
  cols = groups.columns
  present = cols.sum(axis=0) > 0.5
  fallback = np.zeros((n, cols.shape[1]), np.float32)
  for c in range(cols.shape[1]):
    start, stop = ranges[c % m]
    fallback[start:stop, c] = 1 / (stop - start)
  safe = jnp.where(present[None, :], cols, jnp.asarray(fallback, x.dtype))
  config = dict(threshold=threshold, max_iterations=max_iterations,
                differentiation=differentiation, solve_items=solve_items)

  # One cost matrix per pair of row ranges, shared by its vmapped problems.
  batches: dict[tuple, list[int]] = {}
  for p, key in enumerate(zip(problems.rows, problems.sym, strict=True)):
    batches.setdefault(key, []).append(p)
  outs = [None] * len(problems.cols)
  for ((ra, rb), sym), idx in batches.items():
    xa, xb = x[ra[0]:ra[1]], x[rb[0]:rb[1]]
    cost = sq_distances(xa, xb, same=ra == rb)
    ca = np.asarray([problems.cols[p][0] for p in idx])
    cb = np.asarray([problems.cols[p][1] for p in idx])
    a = safe[ra[0]:ra[1]][:, ca]
    b = safe[rb[0]:rb[1]][:, cb]
    p_init = None
    if pots is not None:
      sel = pots[np.asarray(idx)]
      p_init = (sel[:, 0, ra[0]:ra[1]], sel[:, 1, rb[0]:rb[1]])
    values, (f, g, conv, its, err) = _batched_solve(
        cost, a, b, p_init, eps, symmetric=sym, config=config)
    full = jnp.full((len(idx), 2, n), -jnp.inf, x.dtype)
    full = full.at[:, 0, ra[0]:ra[1]].set(f).at[:, 1, rb[0]:rb[1]].set(g)
    for j, p in enumerate(idx):
      outs[p] = (values[j], full[j], conv[j], its[j], err[j])
  costs, potentials, converged, iterations, errors = (
      jnp.stack(parts) for parts in zip(*outs, strict=True)
  )
  # A problem of an absent group carries weight 0: its accuracy is moot.
  cols_p = np.asarray(problems.cols)
  converged = converged | ~(present[cols_p[:, 0]] & present[cols_p[:, 1]])
  pairs, to_pooled = _divergences(
      costs, problems, num_classes, num_groups, reduction
  )
  value = reduce_divergences(pairs, to_pooled, groups.shares, reduction)
  return value, SinkhornDiagnostics(
      potentials, costs, converged, iterations, errors)


_sinkhorn_jit = jax.jit(
    _sinkhorn,
    static_argnames=(
        "num_groups", "notion", "reduction", "differentiation",
        "max_iterations", "threshold", "ranges", "solve_items",
    ),
)


def _divergences(costs, problems, num_classes, num_groups, reduction):
  """Debiased divergences ``[K, G, G]`` and ``[K, G]`` from the OT costs."""
  m = num_groups + 1
  n_cross = problems.num_cross
  cross = np.asarray(problems.cols[:n_cross], np.int32).reshape(-1, 2)
  selves = np.asarray([c for c, _ in problems.cols[n_cross:]], np.int32)
  self_cost = jnp.zeros((num_classes * m,), costs.dtype)
  self_cost = self_cost.at[selves].set(costs[n_cross:])
  div = (
      costs[:n_cross]
      - 0.5 * self_cost[cross[:, 0]]
      - 0.5 * self_cost[cross[:, 1]]
  )
  k, g = np.divmod(cross[:, 0], m)
  _, h = np.divmod(cross[:, 1], m)
  if reduction == "vs_pooled":
    to_pooled = jnp.zeros((num_classes, num_groups), costs.dtype)
    return None, to_pooled.at[k, g].set(div)
  pairs = jnp.zeros((num_classes, num_groups, num_groups), costs.dtype)
  return pairs.at[k, g, h].set(div), None
