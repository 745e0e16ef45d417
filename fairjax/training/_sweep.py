r"""A sweep over fairness strengths as one compiled program.

The user writes the whole training run, ``train_fn(strength, key) ->
pytree``; :func:`sweep` runs it for every strength (and seed) in one
``jit``-compiled program and stacks the results on a leading axis.

How the runs are batched is chosen from the run itself. ``train_fn`` is
traced once to a jaxpr, and a pass over it (into scans, loops, conditionals
and nested jits) finds the intermediates that depend on the strength or the
key, i.e. the ones ``vmap`` widens by the number of runs:

* the largest one, :math:`m` bytes, is the per-run working set of the
  hottest step. On CPU, vmapping more runs than fit in a cache-sized budget
  :math:`C` makes XLA stream batched tensors through memory (a batched MMD
  kernel matrix ran 2-3x slower than a loop);
* run-independent operands (the data) read whole by run-dependent
  operations, :math:`h` bytes, favour wide vmaps: a full-batch ``X @ w``
  of many runs becomes one matrix product that reads ``X`` once;
* the sum of all run-dependent values bounds a run's memory, and a chunk
  never exceeds a memory budget (a quarter of the host's memory on CPU,
  half of the device's otherwise), so 256 strengths fit.

On CPU a chunk holds :math:`\max(\lfloor C / m \rfloor, \lceil h / m
\rceil)` runs (:math:`C` = 8 MiB, measured in ``notes/sweep.md``); on
accelerators, as many as the memory budget allows. Chunks are then evened
out (17 + 15 runs become 16 + 16), so no remainder program is compiled.

Chunks run in sequence inside the program (a ``lax.scan`` over vmapped
chunks, as ``lax.map(..., batch_size=)``), each reporting to the progress
bar. The program is cached per ``(train_fn, options, shapes)``: a repeated
sweep neither retraces ``train_fn`` nor recompiles.
"""

from __future__ import annotations

import os
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jex_core
from jax.typing import ArrayLike

from fairjax import _groups
from fairjax.training import _progress

# Per-chunk working-set budget on CPU (bytes of the largest run-dependent
# intermediate, times the runs in a chunk), measured in notes/sweep.md.
CPU_CHUNK_BYTES = 8 << 20
# Cached programs for train functions that cannot be weakly referenced.
_STRONG_CACHE_SIZE = 32


class SweepPlan(NamedTuple):
  """How :func:`sweep` batches its runs (returned by :func:`sweep_plan`).

  Attributes:
    num_runs: strengths times seeds.
    chunk_size: runs vmapped together; ``num_runs`` means one full vmap.
    largest_bytes: the largest run-dependent intermediate of one run.
    total_bytes: the sum of one run's run-dependent intermediates (an upper
      bound on its memory).
    shared_bytes: bytes of run-independent operands (data) that the
      run-dependent operations read whole; vmapping ``c`` runs reads them
      once instead of ``c`` times.
  """

  num_runs: int
  chunk_size: int
  largest_bytes: int
  total_bytes: int
  shared_bytes: int


# --- the jaxpr pass ---------------------------------------------------------


def _nbytes(aval) -> int:
  shape = getattr(aval, "shape", ())
  dtype = getattr(aval, "dtype", None)
  try:
    itemsize = np.dtype(dtype).itemsize
  except TypeError:  # PRNG key types
    itemsize = 8
  return int(np.prod(shape, dtype=np.int64)) * itemsize


def _sub(param) -> list:
  """The jaxprs held by an equation parameter."""
  if isinstance(param, jex_core.ClosedJaxpr):
    return [param.jaxpr]
  if isinstance(param, jex_core.Jaxpr):
    return [param]
  if isinstance(param, (tuple, list)):
    return [j for p in param for j in _sub(p)]
  return []


# Structural primitives (walked into) and reads of a few rows of an operand:
# their unbatched operands are not streamed whole by every run.
_NOT_SHARED_READS = frozenset({
    "gather", "dynamic_slice", "slice", "scatter", "scatter-add",
    "scatter_add", "dynamic_update_slice", "scan", "while", "cond", "jit",
    "pjit", "closed_call", "core_call", "remat", "checkpoint",
    "custom_jvp_call", "custom_vjp_call", "custom_vjp_call_jaxpr",
})


class _Sizes:
  """Bytes of run-dependent values (largest, sum) and of shared operands."""

  def __init__(self):
    self.largest = 0
    self.total = 0
    self.shared = 0

  def add(self, aval):
    b = _nbytes(aval)
    self.largest = max(self.largest, b)
    self.total += b


def _walk(jaxpr, batched_in: list[bool], sizes: _Sizes | None) -> list[bool]:
  """Which outputs depend on the batched inputs; records their sizes."""
  batched = {}
  for v, b in zip(jaxpr.invars, batched_in):
    batched[v] = b

  def is_b(v):
    return isinstance(v, jex_core.Var) and batched.get(v, False)

  for eqn in jaxpr.eqns:
    ins = [is_b(v) for v in eqn.invars]
    outs = _eqn_outputs(eqn, ins, sizes) if any(ins) else [False] * len(
        eqn.outvars)
    if any(ins) and sizes is not None and (
        eqn.primitive.name not in _NOT_SHARED_READS
    ):
      sizes.shared += sum(
          _nbytes(v.aval) for v, b in zip(eqn.invars, ins) if not b
      )
    for v, b in zip(eqn.outvars, outs):
      batched[v] = b
      if b and sizes is not None:
        sizes.add(v.aval)
  return [is_b(v) for v in jaxpr.outvars]


def _loop_fixpoint(body, consts: list[bool], carry: list[bool], xs: list[bool],
                   sizes):
  """Carry batching of a loop body: widen until nothing changes."""
  for _ in range(len(carry) + 1):
    out = _walk(body, consts + carry + xs, None)
    new = [a or b for a, b in zip(carry, out[: len(carry)])]
    if new == carry:
      break
    carry = new
  return _walk(body, consts + carry + xs, sizes), carry


def _eqn_outputs(eqn, ins: list[bool], sizes) -> list[bool]:
  """Batched outputs of one equation with some batched inputs."""
  name = eqn.primitive.name
  p = eqn.params
  n_out = len(eqn.outvars)
  if name == "scan":
    nc, ncar = p["num_consts"], p["num_carry"]
    out, carry = _loop_fixpoint(
        p["jaxpr"].jaxpr, ins[:nc], ins[nc:nc + ncar], ins[nc + ncar:], sizes
    )
    return carry + out[ncar:]
  if name == "while":
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    _, carry = _loop_fixpoint(
        p["body_jaxpr"].jaxpr, ins[cn:cn + bn], ins[cn + bn:], [], sizes
    )
    return carry
  subs = [j for v in p.values() for j in _sub(v)]
  if name == "cond":
    outs = [False] * n_out
    for j in subs:
      outs = [a or b for a, b in zip(outs, _walk(j, ins[1:], sizes))]
    return [o or ins[0] for o in outs]
  for j in subs:
    if len(j.invars) == len(ins) and len(j.outvars) == n_out:
      return _walk(j, ins, sizes)
  # Unknown structure: every output depends on every input.
  for j in subs:
    _walk(j, [True] * len(j.invars), sizes)
  return [True] * n_out


def _plan(closed_jaxpr, num_runs: int, chunk_size, memory_bytes) -> SweepPlan:
  sizes = _Sizes()
  _walk(closed_jaxpr.jaxpr, [True] * len(closed_jaxpr.jaxpr.invars), sizes)
  largest, total = max(sizes.largest, 1), max(sizes.total, 1)
  if chunk_size is None:
    chunk = num_runs
    if jax.default_backend() == "cpu":
      in_cache = CPU_CHUNK_BYTES // largest
      # Enough runs that each reads the shared data for at most one
      # hottest private array's worth of traffic.
      amortised = -(-sizes.shared // largest)
      chunk = min(chunk, max(1, in_cache, amortised))
    budget = _memory_budget() if memory_bytes is None else memory_bytes
    chunk = min(chunk, max(1, int(budget) // total))
    # Equal chunks (17 + 15 -> 16 + 16): no remainder program to compile.
    chunk = -(-num_runs // -(-num_runs // chunk))
  else:
    chunk = min(chunk_size, num_runs)
  return SweepPlan(
      num_runs, int(chunk), sizes.largest, sizes.total, sizes.shared
  )


def _memory_budget() -> int:
  """A quarter of host memory on CPU, half of the device's memory else."""
  device = jax.devices()[0]
  if device.platform != "cpu":
    stats = device.memory_stats() or {}
    if "bytes_limit" in stats:
      return int(stats["bytes_limit"]) // 2
  try:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
  except (ValueError, OSError, AttributeError):  # pragma: no cover
    return 4 << 30


# --- the program --------------------------------------------------------------


def _batched(run, chunk: int, xs):
  """``run`` over the leading axis of ``xs``: vmapped chunks in a scan."""
  num = jax.tree.leaves(xs)[0].shape[0]
  if chunk >= num:
    return jax.vmap(run)(*xs)
  full, rest = divmod(num, chunk)

  def body(_, block):
    out = jax.vmap(run)(*block)
    _progress.report_chunk(jax.tree.leaves(out)[0].reshape(-1)[:1])
    return None, out

  head = jax.tree.map(
      lambda a: a[: full * chunk].reshape(full, chunk, *a.shape[1:]), xs
  )
  _, out = jax.lax.scan(body, None, head)
  out = jax.tree.map(lambda a: a.reshape(full * chunk, *a.shape[2:]), out)
  if rest:
    tail = jax.vmap(run)(*jax.tree.map(lambda a: a[full * chunk:], xs))
    out = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), out, tail)
  return out


class _Program(NamedTuple):
  fn: Callable
  plan: SweepPlan


_WEAK: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_STRONG: OrderedDict = OrderedDict()


def _cache_for(train_fn) -> dict:
  if not isinstance(train_fn, types.MethodType):
    try:
      return _WEAK.setdefault(train_fn, {})
    except TypeError:
      pass
  if train_fn not in _STRONG:
    _STRONG[train_fn] = {}
    if len(_STRONG) > _STRONG_CACHE_SIZE:
      _STRONG.popitem(last=False)
  _STRONG.move_to_end(train_fn)
  return _STRONG[train_fn]


def _signature(tree) -> tuple:
  leaves, treedef = jax.tree.flatten(tree)
  return treedef, tuple(
      (tuple(np.shape(a)), str(jnp.result_type(a)),
       getattr(a, "weak_type", False)) for a in leaves
  )


def _program(train_fn, strength0, key0, num_runs, chunk_size, memory_bytes):
  """The cached compiled sweep for one signature (traces train_fn once)."""
  cache = _cache_for(train_fn)
  sig = (_signature((strength0, key0)), num_runs, chunk_size, memory_bytes)
  if sig in cache:
    return cache[sig]
  closed, out_shape = jax.make_jaxpr(train_fn, return_shape=True)(
      strength0, key0
  )
  plan = _plan(closed, num_runs, chunk_size, memory_bytes)
  in_tree = jax.tree.structure((strength0, key0))
  out_tree = jax.tree.structure(out_shape)
  flat_run = jex_core.jaxpr_as_fun(closed)

  def run(strength, key):
    flat = flat_run(*jax.tree.leaves((strength, key)))
    return jax.tree.unflatten(out_tree, flat)

  def program(strengths, keys):
    return _batched(run, plan.chunk_size, (strengths, keys))

  del in_tree
  cache[sig] = _Program(jax.jit(program), plan)
  return cache[sig]


# --- the public function ------------------------------------------------------


def _is_number(x) -> bool:
  return isinstance(x, (int, float, np.number)) and not isinstance(
      x, (bool, np.bool_))


def _check_strengths(strengths):
  if isinstance(strengths, (list, tuple)) and strengths and all(
      _is_number(x) for x in strengths
  ):  # [0.0, 1.0, 10.0]: one run per number, not a pytree of scalars
    strengths = np.asarray(strengths, np.float32)
  leaves = jax.tree.leaves(strengths)
  if not leaves:
    raise ValueError("`strengths` must hold at least one array, got none.")
  strengths = jax.tree.map(jnp.asarray, strengths)
  leaves = jax.tree.leaves(strengths)
  if any(a.ndim == 0 for a in leaves):
    raise ValueError(
        "`strengths` must have a leading axis (one entry per run), got a "
        "scalar; pass e.g. jnp.array([0.0, 1.0, 10.0])."
    )
  num = leaves[0].shape[0]
  if num == 0 or any(a.shape[0] != num for a in leaves):
    raise ValueError(
        "`strengths` must have one common, non-empty leading axis, got "
        f"leading sizes {[a.shape[0] for a in leaves]}."
    )
  return strengths, num


def _check_positive(value, name):
  if value is None:
    return None
  if isinstance(value, (bool, np.bool_)) or not isinstance(
      value, (int, np.integer)
  ) or value < 1:
    raise ValueError(f"`{name}` must be an int >= 1 or None, got {value!r}.")
  return int(value)


def _keys_and_runs(strengths, num, key, num_seeds):
  if num_seeds is None:
    return strengths, jax.random.split(key, num)
  seed_keys = jax.random.split(key, num_seeds)
  grid = jax.tree.map(lambda a: jnp.repeat(a, num_seeds, axis=0), strengths)
  keys = jnp.concatenate([seed_keys] * num)
  return grid, keys


def sweep_plan(
    train_fn: Callable[[Any, jax.Array], Any],
    strengths: Any,
    *,
    key: ArrayLike,
    chunk_size: int | None = None,
    num_seeds: int | None = None,
    memory_bytes: int | None = None,
) -> SweepPlan:
  """How :func:`sweep` would batch these runs (traces ``train_fn`` once).

  Same arguments as :func:`sweep`; the plan is cached with the program, so
  a later :func:`sweep` with the same signature does not trace again.

  Returns:
    A :class:`SweepPlan`.
  """
  strengths, num = _check_strengths(strengths)
  key = _groups.check_key(key)
  num_seeds = _check_positive(num_seeds, "num_seeds")
  runs, keys = _keys_and_runs(strengths, num, key, num_seeds)
  first = jax.tree.map(lambda a: a[0], (runs, keys))
  return _program(
      train_fn, *first, keys.shape[0], _check_positive(chunk_size,
                                                       "chunk_size"),
      memory_bytes,
  ).plan


def sweep(
    train_fn: Callable[[Any, jax.Array], Any],
    strengths: Any,
    *,
    key: ArrayLike,
    chunk_size: int | None = None,
    num_seeds: int | None = None,
    progress: bool = False,
    memory_bytes: int | None = None,
) -> Any:
  r"""Runs ``train_fn`` for every strength (and seed) in one compiled program.

  ``train_fn(strength, key)`` is a whole training run (initialise, train,
  evaluate) returning any pytree of arrays. ``sweep`` vmaps it over the
  strengths, in chunks when the run is large (see the module docstring for
  the rule and ``notes/sweep.md`` for its measurements), under one
  ``jax.jit``, and returns the results stacked on a leading axis. The
  program is cached per ``train_fn``, options and input shapes: calling
  again with new strength values of the same shape neither retraces nor
  recompiles.

  Keys: without ``num_seeds``, ``key`` is split once per strength (run
  ``i`` gets ``jax.random.split(key, S)[i]``). With ``num_seeds=R`` it is
  split once per seed and seed ``r`` has the same key at every strength
  (common random numbers: the same initialisation and batches, so the
  curve over strengths is not seed noise); the results are ``[S, R, ...]``,
  for confidence bands over seeds.

  Args:
    train_fn: ``train_fn(strength, key) -> pytree``; pure and jittable.
    strengths: ``[S]`` strengths (an array, or a list of numbers, taken
      as float32), or any pytree of arrays with a common leading axis ``S``
      (several hyperparameters per run).
    key: a ``jax.random`` key.
    chunk_size: runs vmapped at once (static); ``None`` chooses it from
      the run's measured working set, ``S`` (or more) is a full vmap, 1 a
      sequential loop inside the program.
    num_seeds: seeds per strength (static); ``None`` for one run each.
    progress: draw a progress bar (tqdm if installed, else a text line)
      fed by finished chunks and by :func:`progress_scan` loops inside
      ``train_fn``; it waits for the result. Never recompiles.
    memory_bytes: memory budget for one chunk of runs; default a quarter
      of host memory on CPU, half of the accelerator's memory otherwise.

  Returns:
    ``train_fn``'s pytree with a leading axis ``S`` (``[S, R]`` with
    ``num_seeds``).

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> def train_fn(strength, key):
    ...   w = jax.random.normal(key, (3,))
    ...   for _ in range(10):
    ...     w = w - 0.1 * (w - 1.0 + strength * w)
    ...   return {"w": w, "norm": jnp.linalg.norm(w)}
    >>> out = sweep(train_fn, jnp.array([0.0, 1.0]), key=jax.random.key(0))
    >>> out["w"].shape
    (2, 3)
    >>> sweep(train_fn, jnp.array([0.0, 1.0]), key=jax.random.key(0),
    ...       num_seeds=4)["norm"].shape
    (2, 4)
  """
  if not callable(train_fn):
    raise TypeError(
        "`train_fn` must be a function train_fn(strength, key) -> pytree, "
        f"got {type(train_fn).__name__}."
    )
  strengths, num = _check_strengths(strengths)
  key = _groups.check_key(key)
  chunk_size = _check_positive(chunk_size, "chunk_size")
  num_seeds = _check_positive(num_seeds, "num_seeds")
  runs, keys = _keys_and_runs(strengths, num, key, num_seeds)
  first = jax.tree.map(lambda a: a[0], (runs, keys))
  prog = _program(train_fn, *first, keys.shape[0], chunk_size, memory_bytes)
  c, total = prog.plan.chunk_size, prog.plan.num_runs
  chunks = [c] * (total // c) + ([total % c] if total % c else [])
  with _progress.progress_bar(
      "sweep", chunks=chunks, enabled=bool(progress)
  ):
    out = prog.fn(runs, keys)
    if progress:
      out = jax.block_until_ready(out)
  if num_seeds is not None:
    out = jax.tree.map(lambda a: a.reshape(num, num_seeds, *a.shape[1:]), out)
  return out
