"""Flax NNX training loops inside a sweep, the tree-mode way.

NNX objects are mutable Python objects; JAX transformations see them as
pytrees once they are split into a static graph definition and a state.
The recipe that stays valid in Flax's tree mode (no ``nnx.vmap`` and no
``StateAxes``):

1. outside: ``graphdef, state = nnx.split(model)``;
2. ``train_fn(strength, key)``: ``model = nnx.merge(graphdef, state)``
   (or build a fresh model from ``key``), an ``nnx.Optimizer``, the loop,
   and return ``nnx.state(model)`` (any pytree);
3. :func:`fairjax.sweep` (plain ``jax.vmap`` over the strength) stacks the
   states; run ``i`` is ``nnx.merge(graphdef, jax.tree.map(lambda a: a[i],
   states))``.

:func:`nnx_scan` is step 2's loop: it runs an ordinary mutating NNX train
step (``optimizer.update(model, grads)``) under ``jax.lax.scan`` by
splitting the objects into their state before the loop, merging them
inside the body, and returning the trained objects merged from the final
state. flax is an optional dependency, imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fairjax.training._progress import progress_scan


def _nnx():
  try:
    from flax import nnx
  except ImportError as err:  # pragma: no cover - depends on the install
    raise ImportError(
        "nnx_scan needs Flax (NNX), an optional dependency: "
        'pip install "fairjax[demo]" (or pip install flax).'
    ) from err
  return nnx


def nnx_scan(
    step: Callable[..., Any],
    objects: Any,
    xs: Any = None,
    length: int | None = None,
    *,
    every: int | None = None,
) -> tuple[Any, Any]:
  """Runs a mutating NNX train step in a compiled loop.

  ``step(*objects, x)`` (or ``step(objects, x)`` when ``objects`` is not a
  tuple) may update the NNX objects in place, as ``nnx.Optimizer.update``
  does, and returns anything to stack (e.g. the loss). The loop is a
  :func:`progress_scan` over ``nnx.split(objects)``'s state, merged back
  into objects inside the body, so it runs under ``jit``, ``vmap`` and
  :func:`fairjax.sweep` (Flax's tree mode, no ``StateAxes``). The trained
  objects are returned as new objects (merged from the final state); the
  ones passed in are left as they were, so nothing is mutated across trace
  levels.

  Args:
    step: ``step(*objects, x) -> y``.
    objects: an NNX object or a tuple of them (e.g. ``(model, optimizer)``).
    xs: per-step inputs with a leading axis (e.g. batch indices or keys),
      or ``None``.
    length: number of steps when ``xs`` is ``None``.
    every: steps between progress reports (see :func:`progress_scan`).

  Returns:
    ``(objects, ys)``: the trained objects (same structure as ``objects``)
    and the stacked outputs of ``step`` (leading axis: the steps).

  Examples:
    >>> import jax.numpy as jnp, optax
    >>> from flax import nnx
    >>> model = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
    >>> opt = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
    >>> x, y = jnp.ones((4, 2)), jnp.ones((4, 1))
    >>> def step(model, opt, _):
    ...   loss, g = nnx.value_and_grad(
    ...       lambda m: jnp.mean((m(x) - y) ** 2))(model)
    ...   opt.update(model, g)
    ...   return loss
    >>> (model, opt), losses = nnx_scan(step, (model, opt), length=50)
    >>> bool(losses[-1] < 1e-3 * losses[0])
    True
  """
  nnx = _nnx()
  graphdef, state = nnx.split(objects)

  def body(state, x):
    objs = nnx.merge(graphdef, state)
    y = step(*objs, x) if isinstance(objs, tuple) else step(objs, x)
    return nnx.state(objs), y

  state, ys = progress_scan(body, state, xs, length, every=every)
  return nnx.merge(graphdef, state), ys
