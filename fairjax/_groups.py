r"""The group core: membership weights, conditioning on labels, group moments.

Every metric and risk in fairjax sees groups the same way:

* ``sensitive_features`` is an integer array of group ids in
  ``[0, num_groups)``, shape ``[n]``;
* ``num_groups`` is a static Python ``int``; it is inferred from concrete
  input (``max(id) + 1``) and required under ``jit``/``vmap``;
* a group "subset" is a weight vector over the whole batch,
  ``one_hot(s)[:, g] * sample_weight``, never ``x[s == g]``, so shapes stay
  fixed and a minibatch that misses a group is an ordinary input;
* ``sample_weight`` doubles as a padding mask (weight 0 = padded row): the
  values of a padded row (predictions, scores, features, labels) are never
  read, so NaN, inf or 1e30 there changes nothing; its group id must still
  be a valid id;
* a fairness *notion* is a conditioning on the label:
  demographic parity conditions on nothing, equal opportunity on ``y = 1``,
  equalized odds on each label class ``y = 0`` and ``y = 1``.

Conditioned weights have shape ``[K, n, G]`` with ``K`` the number of label
classes the notion conditions on (1 or 2). Sums of half-precision (bfloat16,
float16) values and weights accumulate in float32 (:func:`accumulation_dtype`).

Checks on traced input cannot raise; they are written with
``jax.experimental.checkify.debug_check`` (no-ops unless the function runs
under :func:`checked`), so ``checked(f)`` catches out-of-range ids,
non-binary labels and negative or non-finite weights inside ``jit``.
See ``docs/reliability.md`` for the NaN and padding policy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify
from jax.typing import ArrayLike

NOTIONS = ("demographic_parity", "equal_opportunity", "equalized_odds")


def is_concrete(x) -> bool:
  """Whether ``x`` holds concrete values (not a tracer under jit/vmap/grad)."""
  return not isinstance(x, jax.core.Tracer)


def _kind(x) -> str:
  return f"shape {tuple(np.shape(x))} and dtype {_dtype(x)}"


def _dtype(x):
  return x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype


def as_array(x: ArrayLike, name: str) -> jax.Array | np.ndarray:
  """Turns lists, scalars and pandas objects into arrays; keeps jax and numpy.

  pandas Series (and anything else with ``.to_numpy()``) are read through
  ``.to_numpy()``, without importing pandas. Non-numeric arrays (strings,
  objects, dates) raise a ``TypeError`` naming the argument instead of
  reaching JAX.
  """
  if isinstance(x, jax.Array):
    return x
  if not isinstance(x, np.ndarray):
    if hasattr(x, "to_numpy") and not hasattr(x, "columns"):
      x = x.to_numpy()
    try:
      x = np.asarray(x)
    except Exception as e:  # ragged lists and other non-array input
      raise TypeError(
          f"`{name}` must be array-like, got {type(x).__name__}."
      ) from e
  if x.dtype == object or x.dtype.kind in "USMmV":
    raise TypeError(
        f"`{name}` must be numeric, got an array of dtype {x.dtype}. Encode "
        "categories with fairjax.encode_groups first."
    )
  return x


def check_vector(x: ArrayLike, name: str, n: int | None = None):
  """Checks that ``x`` is rank 1 (and of length ``n`` when given)."""
  x = as_array(x, name)
  if np.ndim(x) != 1:
    raise ValueError(f"`{name}` must be a vector of shape [n], got {_kind(x)}.")
  if n is not None and x.shape[0] != n:
    raise ValueError(
        f"`{name}` must have length {n} (the number of samples), got "
        f"length {x.shape[0]}."
    )
  return x


def check_num_groups(num_groups) -> int:
  if isinstance(num_groups, (bool, np.bool_)) or not isinstance(
      num_groups, (int, np.integer)
  ):
    raise TypeError(
        "`num_groups` must be a Python int (it is static: it fixes shapes), "
        f"got {type(num_groups).__name__}."
    )
  if num_groups < 1:
    raise ValueError(f"`num_groups` must be >= 1, got {num_groups}.")
  return int(num_groups)


def check_sensitive_features(
    sensitive_features: ArrayLike,
    num_groups: int | None = None,
    n: int | None = None,
    *,
    min_groups: int = 1,
) -> tuple[jax.Array, int]:
  """Validates group ids and returns them as an int32 array with ``num_groups``.

  Args:
    sensitive_features: integer group ids, shape ``[n]``.
    num_groups: static number of groups; inferred when the ids are concrete.
    n: expected length, if known.
    min_groups: smallest acceptable ``num_groups``.

  Returns:
    ``(ids, num_groups)`` with ``ids`` an ``int32`` array.

  Raises:
    TypeError: non-integer ids or a non-int ``num_groups``.
    ValueError: wrong rank or length, ids out of range (concrete input), or
      ``num_groups`` missing under ``jit``/``vmap``.
  """
  s = check_vector(sensitive_features, "sensitive_features", n)
  dt = np.dtype(_dtype(s))
  if dt.kind not in "iub":
    raise TypeError(
        "`sensitive_features` must hold integer group ids in [0, num_groups), "
        f"got dtype {dt}. Map categories (strings, several columns) to ids "
        "with fairjax.encode_groups."
    )
  if num_groups is None:
    if not is_concrete(s):
      raise ValueError(
          "`num_groups` is required under jit/vmap/grad (it fixes array "
          "shapes): pass num_groups=<int> as a static argument."
      )
    host = np.asarray(s)
    num_groups = int(host.max()) + 1 if host.size else 1
    if num_groups > np.iinfo(np.int32).max:
      raise ValueError(
          "`sensitive_features` must be group ids in [0, num_groups) with "
          f"num_groups < 2**31, got a largest id of {host.max()}. Map raw "
          "codes to ids with fairjax.encode_groups."
      )
  num_groups = check_num_groups(num_groups)
  if num_groups < min_groups:
    raise ValueError(
        f"This function needs at least {min_groups} groups, got "
        f"num_groups={num_groups}."
    )
  if is_concrete(s):
    host = np.asarray(s)
    if host.size and (host.min() < 0 or host.max() >= num_groups):
      raise ValueError(
          f"`sensitive_features` must lie in [0, {num_groups}) "
          f"(num_groups={num_groups}), got values in "
          f"[{host.min()}, {host.max()}]."
      )
  s = jnp.asarray(s, dtype=jnp.int32)
  if not is_concrete(s) and s.size:
    checkify.debug_check(
        (jnp.min(s) >= 0) & (jnp.max(s) < num_groups),
        f"`sensitive_features` must lie in [0, {num_groups}) "
        f"(num_groups={num_groups}), got values in [{{lo}}, {{hi}}].",
        lo=jnp.min(s), hi=jnp.max(s))
  return s, num_groups


def check_binary(
    y: ArrayLike, name: str, n: int | None = None, *, live=None
) -> jax.Array:
  """Validates a binary vector (values in {0, 1}, or bool).

  ``live`` (a host boolean mask, optional) restricts the check to the rows
  that are not padding.
  """
  y = check_vector(y, name, n)
  if is_concrete(y):
    host = np.asarray(y)
    bad = ~((host == 0) | (host == 1))
    if live is not None and is_concrete(live):
      bad &= np.asarray(live)
    if bad.any():
      rows = np.nonzero(bad)[0]
      vals = np.unique(host[bad])[:5]
      raise ValueError(
          f"`{name}` must be binary with values in {{0, 1}}, got other values "
          f"such as {vals.tolist()} ({rows.size} rows, first at row "
          f"{rows[0]})."
      )
  elif y.size:
    checkify.debug_check(
        jnp.all((y == 0) | (y == 1)),
        f"`{name}` must be binary with values in {{{{0, 1}}}}.")
  if jnp.issubdtype(_dtype(y), jnp.bool_):
    y = jnp.asarray(y, jnp.int32)
  return jnp.asarray(y)


def check_sample_weight(
    sample_weight: ArrayLike | None, n: int, dtype
) -> jax.Array:
  """Validates non-negative sample weights; ``None`` means all ones."""
  if sample_weight is None:
    return jnp.ones((n,), dtype)
  w = check_vector(sample_weight, "sample_weight", n)
  if not jnp.issubdtype(_dtype(w), jnp.number) and not jnp.issubdtype(
      _dtype(w), jnp.bool_
  ):
    raise TypeError(f"`sample_weight` must be numeric, got dtype {_dtype(w)}.")
  if is_concrete(w):
    host = np.asarray(w)
    bad = ~np.isfinite(host) | (host < 0)
    if bad.any():
      rows = np.nonzero(bad)[0]
      raise ValueError(
          "`sample_weight` must be finite and non-negative, got "
          f"{rows.size} bad values (first: {host[rows[0]]} at row "
          f"{rows[0]})."
      )
  w = jnp.asarray(w, dtype)
  if not is_concrete(w) and w.size:
    checkify.debug_check(
        jnp.all(jnp.isfinite(w) & (w >= 0)),
        "`sample_weight` must be finite and non-negative.")
  return w


def check_finite(x, name: str, live=None) -> None:
  """Raises (concrete input) if a non-padded row of ``x`` is NaN or inf.

  ``live``: optional boolean mask ``[n]`` of the rows that are not padding.
  Traced input is not checked (NaN then propagates to the result).
  """
  if not (is_concrete(x) and (live is None or is_concrete(live))):
    return
  host = np.asarray(x)
  bad = ~np.isfinite(host)
  if host.ndim > 1:
    bad = bad.reshape(host.shape[0], -1).any(axis=1)
  if live is not None:
    bad &= np.asarray(live)
  if bad.any():
    rows = np.nonzero(bad)[0]
    raise ValueError(
        f"`{name}` must be finite, got NaN or inf in {rows.size} rows (first "
        f"at row {rows[0]}: {host[rows[0]]}). Pass check_finite=False to "
        "propagate NaN instead (the result is then NaN)."
    )


def check_key(key, name: str = "key"):
  """A single PRNG key: a typed key array, or legacy uint32 key data [2]."""
  if isinstance(key, jax.Array) and jnp.issubdtype(
      key.dtype, jax.dtypes.prng_key
  ):
    if key.ndim != 0:
      raise ValueError(
          f"`{name}` must be a single PRNG key, got shape {key.shape}.")
    return key
  raw = jnp.asarray(key) if isinstance(key, (jax.Array, np.ndarray)) else None
  if raw is None or raw.shape != (2,) or raw.dtype != jnp.uint32:
    raise TypeError(
        f"`{name}` must be a PRNG key (jax.random.key(0)), got "
        f"{type(key).__name__} of shape {np.shape(key)}."
    )
  return raw


def check_nonempty(n: int, name: str) -> None:
  """Raises a ``ValueError`` naming ``name`` when there is no row (static)."""
  if n == 0:
    raise ValueError(f"`{name}` must hold at least one row, got 0.")


def live_rows(sample_weight):
  """Rows that are not padding (``sample_weight > 0``), or ``None``."""
  if sample_weight is None:
    return None
  return sample_weight > 0


def host_live(sample_weight):
  """The non-padded rows as a numpy mask, if ``sample_weight`` is concrete."""
  if sample_weight is None or not is_concrete(sample_weight):
    return None
  return np.asarray(sample_weight) > 0


def mask_padding(x: jax.Array, sample_weight) -> jax.Array:
  """``x`` with padded rows (weight 0) set to 0 (``where``, not a product).

  A product would turn NaN or inf in a padded row into NaN; ``where`` also
  stops gradients into padded rows.
  """
  if sample_weight is None:
    return x
  live = (sample_weight > 0).reshape((-1,) + (1,) * (x.ndim - 1))
  return jnp.where(live, x, jnp.zeros((), x.dtype))


def accumulation_dtype(dtype) -> jnp.dtype:
  """float32 for half-precision dtypes (sums of 256 bfloat16 ones stall)."""
  dtype = jnp.dtype(dtype)
  if jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32:
    return jnp.dtype(jnp.float32)
  return dtype


def check_choice(value, name: str, choices: Sequence[str]) -> str:
  """Raises a ValueError naming the argument unless ``value`` is a choice."""
  if not isinstance(value, str) or value not in choices:
    raise ValueError(
        f"`{name}` must be one of {tuple(choices)}, got {value!r}."
    )
  return value


def check_notion(notion: str) -> str:
  return check_choice(notion, "notion", NOTIONS)


def float_dtype(*arrays) -> jnp.dtype:
  """The floating dtype of the result: the inputs' if floating, else default."""
  dts = [
      _dtype(a) for a in arrays
      if a is not None and jnp.issubdtype(_dtype(a), jnp.floating)
  ]
  if not dts:
    return jnp.result_type(float)
  # float64 input without jax_enable_x64 computes in float32, as jnp.asarray.
  return jnp.result_type(*map(jax.dtypes.canonicalize_dtype, dts))


def label_conditions(labels: jax.Array | None, notion: str, n: int, dtype):
  """Indicators of the label classes a notion conditions on, shape ``[K, n]``.

  demographic_parity: ``K = 1``, all ones; equal_opportunity: ``K = 1``,
  ``1[y = 1]``; equalized_odds: ``K = 2``, ``(1[y = 0], 1[y = 1])``.
  """
  check_notion(notion)
  if notion == "demographic_parity":
    return jnp.ones((1, n), dtype)
  if labels is None:
    raise ValueError(
        f"notion={notion!r} conditions on the label: pass `labels`."
    )
  # Indicators, not the values: a padded row's label (even NaN) gives 0.
  pos = (labels == 1).astype(dtype)
  if notion == "equal_opportunity":
    return pos[None]
  return jnp.stack([(labels == 0).astype(dtype), pos])


def membership(
    sensitive_features: jax.Array,
    num_groups: int,
    sample_weight: jax.Array | None = None,
    dtype=None,
) -> jax.Array:
  """Group membership weights ``one_hot(s) * w``, shape ``[n, G]``."""
  dtype = dtype or float_dtype(sample_weight)
  m = jax.nn.one_hot(sensitive_features, num_groups, dtype=dtype)
  if sample_weight is not None:
    m = m * jnp.asarray(sample_weight, dtype)[:, None]
  return m


def notion_weights(
    sensitive_features: ArrayLike,
    *,
    num_groups: int | None = None,
    notion: str = "demographic_parity",
    labels: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    dtype=None,
) -> tuple[jax.Array, int]:
  """Validated weights of each (label class, group) cell, shape ``[K, n, G]``.

  ``weights[k, i, g] = sample_weight[i] * 1[s_i = g] * 1[y_i in class k]``.

  Returns:
    ``(weights, num_groups)``.
  """
  check_notion(notion)
  s, num_groups = check_sensitive_features(sensitive_features, num_groups)
  n = s.shape[0]
  dtype = dtype or float_dtype(sample_weight)
  w = check_sample_weight(sample_weight, n, dtype)
  if labels is not None:
    labels = check_binary(labels, "labels", n, live=host_live(
        None if sample_weight is None else w))
  cond = label_conditions(labels, notion, n, dtype)
  member = membership(s, num_groups, w, dtype)
  return cond[:, :, None] * member[None], num_groups


def safe_divide(num: jax.Array, den: jax.Array, fill=jnp.nan) -> jax.Array:
  """``num / den`` where ``den > 0``, else ``fill``; gradients stay finite.

  The double-``where`` trick: the division never sees a zero denominator, so
  no NaN reaches the backward pass.
  """
  ok = den > 0
  return jnp.where(ok, num / jnp.where(ok, den, 1), fill)


def group_means(
    values: jax.Array, weights: jax.Array, fill=jnp.nan
) -> tuple[jax.Array, jax.Array]:
  """Weighted per-group means and total weights.

  Sums accumulate in float32 for half-precision input. A row with weight 0
  in a group is never read for that group: NaN or inf in a padded row
  changes nothing, and inf in one group leaves the other groups' means
  finite (a group holding +inf has mean +inf, one holding NaN or both
  infinities NaN).

  Args:
    values: shape ``[n]`` or ``[n, d]``.
    weights: shape ``[..., n, G]`` (e.g. from :func:`notion_weights`).
    fill: value for groups with zero total weight.

  Returns:
    ``(means, totals)``, means of shape ``[..., G]`` or ``[..., G, d]``,
    totals of shape ``[..., G]``, in the dtype of ``weights`` and ``values``.
  """
  out = jnp.result_type(weights.dtype, values.dtype)
  acc = accumulation_dtype(out)
  w, v = weights.astype(acc), values.astype(acc)
  v = v[:, None] if v.ndim == 1 else v
  finite = jnp.isfinite(v)
  totals = w.sum(axis=-2)
  sums = jnp.einsum("...ng,nd->...gd", w, jnp.where(finite, v, 0))
  # Non-finite values reach only the groups of the rows that hold them.
  flags = jnp.concatenate(
      [v == jnp.inf, v == -jnp.inf, jnp.isnan(v)], axis=1).astype(acc)
  hits = jnp.einsum("...ng,nd->...gd", (w != 0).astype(acc), flags) > 0
  pos, neg, nan = jnp.split(hits, 3, axis=-1)
  special = jnp.where(nan | (pos & neg), jnp.nan,
                      jnp.where(pos, jnp.inf, -jnp.inf)).astype(acc)
  sums = jnp.where(pos | neg | nan, special, sums)
  means = safe_divide(sums, totals[..., None], fill)
  if values.ndim == 1:
    means = means[..., 0]
  return means.astype(out), totals.astype(out)


_HOST_CHUNK = 1 << 18  # rows per compiled count when inputs are on the host


def _narrow_ints(x, hi: int):
  """A host 64-bit integer array as int8 (int32 if ``hi > 127``).

  JAX (without x64) would convert it on the host anyway, in two passes and
  wrapping values beyond int32; this is one pass with 8x less to move.
  Values are clipped to ``[-1, hi]`` (``[0, hi]`` if unsigned), so an
  invalid value stays invalid (negative or ``>= hi``) instead of wrapping
  into range. Narrower arrays go to XLA as they are: narrowing them costs
  more than it saves.
  """
  if not (isinstance(x, np.ndarray) and x.dtype.kind in "iu"
          and x.itemsize > 4):
    return x
  dtype = np.int8 if hi <= np.iinfo(np.int8).max else np.int32
  lo = 0 if x.dtype.kind == "u" else -1
  return np.clip(x, lo, hi, out=np.empty(x.shape, dtype), casting="unsafe")


def _is_binary(v: jax.Array) -> jax.Array:
  if v.dtype == jnp.bool_:
    return jnp.ones(v.shape, bool)
  if jnp.issubdtype(v.dtype, jnp.integer):
    return (v >> 1) == 0  # 0 or 1; negatives stay negative
  return (v == 0) | (v == 1)


@jax.jit
def _add_cell_counts(counts, invalid, s, y_true, y_pred, w):
  """``counts`` and ``invalid`` updated with one chunk of rows.

  One compiled pass: the ``[G, 2, 2]`` cell counts of the chunk are added to
  ``counts``; ``invalid`` becomes true if a row has an id out of range or a
  non-binary label (such rows are counted in an extra bin, not in a cell).
  Rows of weight 0 are padding and are not read.
  """
  num_groups, dtype = counts.shape[0], counts.dtype
  s = s.astype(jnp.int32)
  valid = (s >= 0) & (s < num_groups) & _is_binary(y_true) & _is_binary(y_pred)
  k = 4 * num_groups
  cell = jnp.where(valid, s * 4 + y_true.astype(jnp.int32) * 2
                   + y_pred.astype(jnp.int32), k)
  if w is not None:
    # Padded rows (weight 0) count nowhere, whatever they hold; an invalid
    # row that is not padding is flagged in the extra bin.
    w = w.astype(dtype)
    live = w != 0
    cell = jnp.where(live, cell, k)
    w = jnp.where(valid, w, live.astype(dtype))
  # Four partial histograms: a bincount is a serial scatter, and XLA's CPU
  # runtime runs independent ones concurrently (1.1-1.3x at 10^6 rows).
  ws = [None] * 4 if w is None else jnp.array_split(w, 4)
  bins = sum(jnp.bincount(c, weights=v, length=k + 1)
             for c, v in zip(jnp.array_split(cell, 4), ws, strict=True))
  bins = bins.astype(dtype)  # integer sums are exact when unweighted
  return counts + bins[:k].reshape(num_groups, 2, 2), invalid | (bins[k] > 0)


def cell_counts(
    sensitive_features: ArrayLike,
    y_true: ArrayLike | None,
    y_pred: ArrayLike,
    *,
    num_groups: int | None = None,
    sample_weight: ArrayLike | None = None,
) -> jax.Array:
  """Validated weighted counts of every (group, true label, prediction) cell.

  One compiled pass over the data (a bincount, with the range and binary
  checks fused into it; numpy inputs go through it in chunks of 2^18 rows);
  the rate metrics are functions of this table only.
  Under ``jit`` the values cannot be checked: rows with an invalid id or
  label are then left out of the counts.

  Args:
    sensitive_features: integer group ids, shape ``[n]``.
    y_true: binary labels, shape ``[n]``, or ``None`` (all counted as 0).
    y_pred: binary predictions, shape ``[n]``.
    num_groups: static number of groups; required under ``jit``/``vmap``.
    sample_weight: non-negative weights, shape ``[n]``.

  Returns:
    Counts of shape ``[G, 2, 2]`` indexed ``[group, y_true, y_pred]``, in the
    dtype of ``sample_weight`` (default float dtype when unweighted), at
    least float32: half-precision weights are summed in float32 and the
    table stays float32 (a bfloat16 count stalls at 256).
  """
  y_pred = check_vector(y_pred, "y_pred")
  n = y_pred.shape[0]
  if y_true is None:
    y_true = np.zeros((n,), np.int8)
  y_true = check_vector(y_true, "y_true", n)
  s = check_vector(sensitive_features, "sensitive_features", n)
  if np.dtype(_dtype(s)).kind not in "iub":
    check_sensitive_features(s, num_groups, n)  # raises the TypeError
  if num_groups is None:
    _, num_groups = check_sensitive_features(s, None, n)
  num_groups = check_num_groups(num_groups)
  dtype = float_dtype(sample_weight)
  if sample_weight is not None:
    sample_weight = check_sample_weight(sample_weight, n, dtype)
  cols, highs = (s, y_true, y_pred), (num_groups, 2, 2)
  counts = jnp.zeros((num_groups, 2, 2), accumulation_dtype(dtype))
  invalid = jnp.zeros((), bool)
  # Host arrays go in chunks: dispatch is asynchronous, so narrowing one
  # chunk on the host overlaps XLA's count of the previous one.
  on_host = all(map(is_concrete, cols)) and any(
      isinstance(x, np.ndarray) for x in cols)
  step = _HOST_CHUNK if on_host else n
  for i in range(0, max(n, 1), max(step, 1)):
    rows = slice(i, i + step)
    counts, invalid = _add_cell_counts(
        counts, invalid,
        *(_narrow_ints(x[rows], h) for x, h in zip(cols, highs, strict=True)),
        None if sample_weight is None else sample_weight[rows])
  if is_concrete(invalid):
    if all(map(is_concrete, cols)) and bool(invalid):
      # Slow path, only to name the offending values.
      live = host_live(sample_weight)
      check_sensitive_features(s, num_groups, n)
      check_binary(y_true, "y_true", n, live=live)
      check_binary(y_pred, "y_pred", n, live=live)
  else:  # checks for fairjax.checked (no-ops otherwise)
    check_sensitive_features(s, num_groups, n)
    pad = None if sample_weight is None else sample_weight == 0
    for x, name in ((y_true, "y_true"), (y_pred, "y_pred")):
      ok = _is_binary(jnp.asarray(x))
      checkify.debug_check(
          jnp.all(ok if pad is None else ok | pad),
          f"`{name}` must be binary with values in {{{{0, 1}}}}.")
  return counts


def checked(fn: Callable) -> Callable:
  """``fn`` with the checks of traced input turned on (a debug mode).

  Under ``jit`` or ``vmap`` fairjax cannot raise on values: an
  out-of-range group id, a non-binary label or a negative weight then
  passes silently (the row is left out of counts, or a one-hot row is
  zero). ``checked(fn)`` runs ``fn`` under
  ``jax.experimental.checkify`` and raises a ``ValueError`` naming the
  argument when one of these checks fails. It costs a few reductions; use
  it while developing, not in the hot loop.

  Args:
    fn: any function (jitted or not) that calls fairjax.

  Returns:
    A function with the signature of ``fn``.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> from fairjax import checked, demographic_parity_difference
    >>> f = jax.jit(lambda p, s: demographic_parity_difference(
    ...     p, p, sensitive_features=s, num_groups=2))
    >>> p, s = jnp.array([1, 0, 1]), jnp.array([0, 1, 5])
    >>> checked(f)(p, s)
    Traceback (most recent call last):
    ...
    ValueError: `sensitive_features` must lie in [0, 2) (num_groups=2), got values in [0, 5]. (`check` failed)
  """  # noqa: E501
  if not callable(fn):
    raise TypeError(f"`fn` must be callable, got {type(fn).__name__}.")
  checked_fn = checkify.checkify(fn, errors=checkify.user_checks)

  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    err, out = checked_fn(*args, **kwargs)
    msg = err.get()
    if msg is not None:
      raise ValueError(msg.split("\n")[0])
    return out

  return wrapper
