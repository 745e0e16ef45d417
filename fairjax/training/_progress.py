"""Progress bars for compiled training loops and sweeps.

A compiled loop cannot print as it goes, but it can call the host:
:func:`progress_scan` is ``jax.lax.scan`` run as a scan over chunks of
``every`` steps with a ``jax.debug.callback`` between chunks (on the chunk
counter, which no transformation batches, so a vmapped sweep reports once
per chunk, not once per run; the user's step loop itself is untouched).
The callbacks feed the innermost open bar
(:func:`progress_bar`, which :func:`fairjax.sweep` opens with
``progress=True``); with no bar open they return at once. The bar is drawn
by tqdm when it is installed and by a plain line on stderr otherwise.

Switching the bar on or off is host-side state, so it never retraces or
recompiles; the compiled callbacks cost one host round trip each (at most
50 per loop by default; see ``notes/sweep.md`` for the measured cost).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_LOCK = threading.Lock()
_STACK: list[_Session] = []
# Default reports per loop of progress_scan: at most _REPORTS, at least
# _MIN_STEPS steps apart (each report is a host round trip, about 1 ms on
# CPU: 50 reports cost 5.8% of a 118-step sweep, notes/sweep.md).
_REPORTS = 50
_MIN_STEPS = 25


class _PlainBar:
  """A text bar on stderr, redrawn at most five times a second."""

  def __init__(self, total: float, desc: str | None):
    self.total, self.desc, self.n, self._last = total, desc or "", 0.0, 0.0

  def update_to(self, n: float):
    self.n = n
    now = time.monotonic()
    if now - self._last >= 0.2 or n >= self.total:
      self._last = now
      pct = 100 * n / self.total if self.total else 100
      sys.stderr.write(f"\r{self.desc} {pct:5.1f}% ({n:.1f}/{self.total:g})")
      sys.stderr.flush()

  def close(self):
    sys.stderr.write("\n")
    sys.stderr.flush()


class _TqdmBar:
  """tqdm's bar, moved to absolute positions."""

  def __init__(self, total: float, desc: str | None):
    from tqdm.auto import tqdm

    self._bar = tqdm(total=total, desc=desc, unit="run",
                     bar_format="{l_bar}{bar}| {n:.1f}/{total:g} "
                                "[{elapsed}<{remaining}]")

    self._last = 0.0

  def update_to(self, n: float):
    now = time.monotonic()
    if now - self._last >= 0.1 or n >= self._bar.total:
      self._last = now
      self._bar.n = n
      self._bar.refresh()

  def close(self):
    self._bar.close()


def _make_bar(total: float, desc: str | None):
  try:
    import tqdm  # noqa: F401
  except ImportError:
    return _PlainBar(total, desc)
  return _TqdmBar(total, desc)


class _Session:
  """An open bar over consecutive chunks of runs (sizes known in advance)."""

  def __init__(self, sizes: Sequence[int], desc: str | None, enabled: bool):
    self.sizes = list(sizes)
    self.chunk = 0  # index of the running chunk
    self.fraction = 0.0  # of the running chunk's loop
    self.bar = _make_bar(float(sum(self.sizes)), desc) if enabled else None

  def _draw(self):
    if self.bar is None:
      return
    done = sum(self.sizes[: self.chunk])
    if self.chunk < len(self.sizes):
      done += self.fraction * self.sizes[self.chunk]
    self.bar.update_to(float(done))

  def step(self, fraction: float):
    self.fraction = min(max(fraction, 0.0), 1.0)
    self._draw()

  def chunk_done(self):
    self.chunk += 1
    self.fraction = 0.0
    self._draw()


def _current() -> _Session | None:
  return _STACK[-1] if _STACK else None


def _on_step(step, length) -> None:
  """Host side of :func:`progress_scan`: the running loop reached ``step``."""
  with _LOCK:
    session = _current()
    if session is not None:
      session.step((int(step) + 1) / max(int(length), 1))


def _on_chunk(*_) -> None:
  """Host side of a sweep's chunk loop: one more chunk of runs finished."""
  with _LOCK:
    session = _current()
    if session is not None:
      session.chunk_done()


def report_chunk(token: jax.Array) -> None:
  """Traced: tells the open bar a chunk finished (``token`` orders it)."""
  jax.debug.callback(_on_chunk, token)


@contextlib.contextmanager
def progress_bar(
    desc: str | None = None,
    *,
    chunks: Sequence[int] = (1,),
    enabled: bool = True,
) -> Iterator[None]:
  """Context in which :func:`progress_scan` loops (and sweeps) draw a bar.

  Args:
    desc: text in front of the bar.
    chunks: sizes of the consecutive chunks of runs the bar counts (one run
      by default: a plain training loop).
    enabled: ``False`` opens a silent session (callbacks are swallowed), so
      an outer bar does not count an inner loop.

  Examples:
    >>> import jax.numpy as jnp
    >>> def step(c, x):
    ...   return c + x, None
    >>> with progress_bar(enabled=False):
    ...   total, _ = progress_scan(step, 0.0, jnp.ones(100))
    >>> float(total)
    100.0
  """
  session = _Session(chunks, desc, enabled)
  with _LOCK:
    _STACK.append(session)
  try:
    yield
  finally:
    with _LOCK:
      _STACK.remove(session)
    if session.bar is not None:
      session.chunk, session.fraction = len(session.sizes), 0.0
      session._draw()
      session.bar.close()


def progress_scan(
    f: Callable[[Any, Any], tuple[Any, Any]],
    init: Any,
    xs: Any = None,
    length: int | None = None,
    *,
    every: int | None = None,
    reverse: bool = False,
    unroll: int | bool = 1,
) -> tuple[Any, Any]:
  """``jax.lax.scan`` that reports its progress to the open bar.

  Same arguments and result as ``jax.lax.scan``. The loop runs as a scan
  over chunks of ``every`` steps, each an inner ``jax.lax.scan`` of ``f``
  (the hot loop is untouched), and at the start of each chunk a
  ``jax.debug.callback`` tells the innermost :func:`progress_bar` (or
  :func:`fairjax.sweep` with ``progress=True``) how many steps are done.
  The callback takes only the chunk counter, which no transformation
  batches, so a vmapped sweep reports once per chunk, not once per run.
  Without an open bar it returns at once; the compiled program is the same
  either way, so switching the bar never retraces.

  Args:
    f: ``f(carry, x) -> (carry, y)``.
    init: initial carry.
    xs: scanned inputs (leading axis ``length``), or ``None``.
    length: number of steps when ``xs`` is ``None``.
    every: steps per chunk, i.e. between reports (static); default
      ``max(25, ceil(length / 50))``: at most 50 reports, 25 steps apart.
    reverse: scan from the end.
    unroll: as in ``jax.lax.scan`` (for the inner loops).

  Returns:
    ``(final carry, stacked ys)``, as ``jax.lax.scan``.
  """
  if length is None:
    leaves = jax.tree.leaves(xs)
    if not leaves:
      raise ValueError("progress_scan needs `xs` or `length`.")
    length = int(np.shape(leaves[0])[0])
  length = int(length)
  if every is None:
    every = max(_MIN_STEPS, -(-length // _REPORTS))
  if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or (
      every < 1
  ):
    raise ValueError(f"`every` must be an int >= 1, got {every!r}.")
  every = min(int(every), max(length, 1))
  if reverse:
    xs = jax.tree.map(lambda a: jnp.flip(a, 0), xs)
  full, rest = divmod(length, every)

  def chunk(carry, block):
    i, xc = block
    jax.debug.callback(_on_step, i * every - 1, length)
    return jax.lax.scan(f, carry, xc, every, unroll=unroll)

  head = jax.tree.map(
      lambda a: a[: full * every].reshape(full, every, *a.shape[1:]), xs
  )
  carry, ys = jax.lax.scan(
      chunk, init, (jnp.arange(full, dtype=jnp.int32), head), full
  )
  ys = jax.tree.map(lambda a: a.reshape(full * every, *a.shape[2:]), ys)
  if rest:
    jax.debug.callback(_on_step, full * every - 1, length)
    tail = jax.tree.map(lambda a: a[full * every:], xs)
    carry, ys_tail = jax.lax.scan(f, carry, tail, rest, unroll=unroll)
    ys = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), ys, ys_tail)
  if reverse:
    ys = jax.tree.map(lambda a: jnp.flip(a, 0), ys)
  return carry, ys
