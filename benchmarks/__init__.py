"""fairjax benchmarks: every workload against its peer, one entry point.

``python -m benchmarks`` (see ``__main__.py``) finds every
``benchmarks/bench_*.py`` that defines a top-level ``run`` function and calls
it. That is the whole protocol, for any bench module:

.. code-block:: python

  def run(mode: str) -> list[dict]:
    '''mode: "quick" (CI: small sizes, seconds), "full" (RESULTS.md) or
    "accelerator" (the fairjax side only, at accelerator-sized inputs).'''

Each returned dict is one row (a workload at one size against one peer):

* ``workload`` (str): the name shared by a workload's rows; one log-log plot
  of time against ``n`` per workload;
* ``n`` (int): the size on the plot's x axis (say what it counts in
  ``workload`` or ``note``);
* ``fairjax_s`` (float): fairjax's median seconds (steady state, compile
  excluded); ``compile_s`` (float or None): first call minus the median;
* ``peer`` (str or None), ``peer_s`` (float or None): the peer and its median
  seconds, measured in the same process, interleaved with fairjax; ``None``
  in accelerator mode or where no peer exists;
* ``value``, ``peer_value`` (float, a sequence of floats, or None) and
  ``rtol``, ``atol``: what both computed; the entry point asserts
  ``allclose(value, peer_value, rtol, atol)`` whenever both are given;
* ``note`` (str, optional): anything a reader needs (e.g. "peer timed on
  20 resamples and scaled").

A module's ``main()`` (its own command line, for one-off deeper runs) stays
as it is; ``run`` reuses its functions. The helpers below time runs the way
every module does: first call (tracing and compilation included), then
interleaved repetitions, medians.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

import jax

MODES = ("quick", "full", "accelerator")
SIZES_OF = None  # "--sizes quick": every mode's code path at the quick sizes


def sizes(options: Mapping[str, list], mode: str) -> list:
  """The sizes of ``mode`` from ``{mode: [n, ...]}``, or the quick ones.

  ``python -m benchmarks --accelerator --sizes quick`` runs the accelerator
  code path at the quick sizes (to check it on a CPU).
  """
  return list(options[SIZES_OF or mode])


def block(out):
  """Waits for every array in ``out`` (JAX dispatch is asynchronous)."""
  return jax.block_until_ready(out)


def interleave(fns: Mapping[str, Callable[[], object]], reps: int):
  """Times each function: one first call, then ``reps`` interleaved rounds.

  Args:
    fns: name -> a function of no arguments.
    reps: the number of rounds (each calls every function once, in turn).

  Returns:
    ``(medians, first)``: name -> median seconds of the rounds, and name ->
    seconds of the first call (tracing and compilation included).
  """
  first, times = {}, {name: [] for name in fns}
  for name, fn in fns.items():
    t = time.perf_counter()
    block(fn())
    first[name] = time.perf_counter() - t
  for _ in range(reps):
    for name, fn in fns.items():
      t = time.perf_counter()
      block(fn())
      times[name].append(time.perf_counter() - t)
  return {k: statistics.median(v) for k, v in times.items()}, first


def row(workload: str, n: int, fairjax_s: float, *, compile_s=None,
        peer=None, peer_s=None, value=None, peer_value=None, rtol=1e-6,
        atol=1e-6, note="") -> dict:
  """One result row of the protocol above."""
  return dict(workload=workload, n=int(n), fairjax_s=float(fairjax_s),
              compile_s=None if compile_s is None else max(0.0,
                                                           float(compile_s)),
              peer=peer, peer_s=None if peer_s is None else float(peer_s),
              value=value, peer_value=peer_value, rtol=rtol, atol=atol,
              note=note)
