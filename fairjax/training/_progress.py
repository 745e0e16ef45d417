"""Progress bars for compiled training loops and sweeps.

A compiled loop cannot print as it goes, but it can call the host:
:func:`progress_scan` is ``jax.lax.scan`` plus a ``jax.debug.callback``
every ``every`` steps (under a ``lax.cond`` on the step counter, which no
transformation batches, so a vmapped sweep reports once per step, not once
per run). The callbacks feed the innermost open bar
(:func:`progress_bar`, which :func:`fairjax.sweep` opens with
``progress=True``); with no bar open they return at once. The bar is drawn
by tqdm when it is installed and by a plain line on stderr otherwise.

Switching the bar on or off is host-side state, so it never retraces or
recompiles; the compiled callbacks cost one host round trip each (about
50 steps per loop by default, well under 5% of any loop worth a bar; see
``notes/sweep.md``).
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
# Default number of reports per loop of progress_scan.
_REPORTS = 50


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

  Same arguments and result as ``jax.lax.scan``; every ``every`` steps (and
  at the last one) a ``jax.debug.callback`` tells the innermost
  :func:`progress_bar` (or :func:`fairjax.sweep` with ``progress=True``)
  how far it got. Without an open bar the callback returns at once; the
  compiled program is the same either way, so switching the bar never
  retraces.

  Args:
    f: ``f(carry, x) -> (carry, y)``.
    init: initial carry.
    xs: scanned inputs (leading axis ``length``), or ``None``.
    length: number of steps when ``xs`` is ``None``.
    every: steps between reports (static); default ``length // 50``.
    reverse: scan from the end.
    unroll: as in ``jax.lax.scan``.

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
    every = max(1, length // _REPORTS)
  if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or (
      every < 1
  ):
    raise ValueError(f"`every` must be an int >= 1, got {every!r}.")
  every = int(every)

  def report(i):
    jax.debug.callback(_on_step, i, length)

  def body(carry, x):
    inner, i = carry
    inner, y = f(inner, x)
    due = (jnp.remainder(i + 1, every) == 0) | (i + 1 == length)
    jax.lax.cond(due, report, lambda _: None, i)
    return (inner, i + 1), y

  (carry, _), ys = jax.lax.scan(
      body, (init, jnp.zeros((), jnp.int32)), xs, length, reverse=reverse,
      unroll=unroll,
  )
  return carry, ys
