"""A training step with the Sinkhorn penalty against one without it.

Run: python benchmarks/bench_training_step.py [--batch 256] [--steps 60]

Flax NNX MLP on Adult (inputs -> 64 -> 8-dim tanh representation -> logit),
Adam, binary cross-entropy, batch 256, sensitive attribute sex. The penalty
is ``sinkhorn_penalty`` (epsilon 0.1, default threshold) on the
representation, added with strength 1. Batches have a fixed composition
(the batch's share of each group, rows group by group, drawn on the host
before timing), so the same batches feed every variant:

* no penalty;
* masked layout (``sensitive_features``, every solve on the whole batch);
* split layout (``group_sizes``);
* split layout, warm-started: the training state carries the previous
  step's ``SinkhornDiagnostics`` and passes it as ``init``.

Each variant's step is one ``jax.jit`` function of the split NNX state;
variants run interleaved, step by step, and the script prints median
milliseconds per step, the ratio to the step without penalty (target <= 5x),
Sinkhorn iterations, and compile time separately. The warm start carries
potentials by row: with fresh random batches at every step the rows are
other points, so it only pays on repeated batches (see bench_sinkhorn.py).
"""

import argparse
import statistics
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import fairjax
from fairjax.datasets import load_adult

warnings.filterwarnings("ignore", category=DeprecationWarning)


class MLP(nnx.Module):

  def __init__(self, d_in, rngs):
    self.hidden = nnx.Linear(d_in, 64, rngs=rngs)
    self.rep = nnx.Linear(64, 8, rngs=rngs)
    self.head = nnx.Linear(8, 1, rngs=rngs)

  def __call__(self, x):
    z = jnp.tanh(self.rep(nnx.relu(self.hidden(x))))
    return self.head(z)[:, 0], z


def make_batches(s, batch, steps, seed=0):
  """Fixed-composition batches: row indices, group 0's rows first."""
  rng = np.random.default_rng(seed)
  share = np.bincount(s) / len(s)
  sizes = np.floor(share * batch).astype(int)
  sizes[-1] = batch - sizes[:-1].sum()
  members = [np.flatnonzero(s == g) for g in range(len(sizes))]
  idx = np.stack([
      np.concatenate([rng.choice(m, k, replace=False)
                      for m, k in zip(members, sizes, strict=True)])
      for _ in range(steps)
  ])
  return idx, tuple(int(k) for k in sizes)


def make_step(mode, sizes, graphdef, lam=1.0, eps=0.1):
  num_groups = len(sizes)
  s_batch = np.repeat(np.arange(num_groups, dtype=np.int32), sizes)

  def penalty(z, init):
    if mode == "masked":
      return fairjax.sinkhorn_penalty(
          z, sensitive_features=s_batch, num_groups=num_groups, epsilon=eps,
          init=init, has_aux=True)
    return fairjax.sinkhorn_penalty(z, group_sizes=sizes, epsilon=eps,
                                    init=init, has_aux=True)

  @jax.jit
  def step(state, x, y, init):
    # Functional NNX: the (model, optimizer) graph split once, its state
    # carried through jax.jit (no graph traversal per step).
    model, opt = nnx.merge(graphdef, state)

    def loss(model):
      logits, z = model(x)
      risk = optax.sigmoid_binary_cross_entropy(logits, y).mean()
      if mode == "none":
        return risk, init
      value, aux = penalty(z, init)
      return risk + lam * value, aux

    (value, aux), grads = nnx.value_and_grad(loss, has_aux=True)(model)
    opt.update(model, grads)
    return nnx.state((model, opt)), value, aux

  return step


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--steps", type=int, default=60)
  args = parser.parse_args()
  d = load_adult()
  X = np.asarray(d.X_train, np.float32)
  X = (X - X.mean(0)) / (X.std(0) + 1e-6)
  y = np.asarray(d.y_train, np.float32)
  s = np.asarray(d.s_train).astype(np.int32)
  idx, sizes = make_batches(s, args.batch, args.steps)
  xb, yb = jnp.asarray(X[idx]), jnp.asarray(y[idx])

  variants = {"none": "none", "masked": "masked", "split": "split",
              "split, warm start": "split"}
  state = {}
  for name, mode in variants.items():
    model = MLP(X.shape[1], nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    graphdef, params = nnx.split((model, opt))
    step = make_step(mode, sizes, graphdef)
    init = None
    if mode != "none":
      # The cold start: zero potentials of the shape the call returns.
      shape = jax.eval_shape(lambda z: fairjax.sinkhorn_penalty(
          z, group_sizes=sizes, epsilon=0.1, has_aux=True)[1].potentials,
          jnp.zeros((args.batch, 8)))
      init = jnp.zeros(shape.shape, shape.dtype)
    state[name] = [params, step, init, []]
  compile_s, times = {}, {k: [] for k in variants}
  for name, st in state.items():
    t = time.perf_counter()
    jax.block_until_ready(st[1](st[0], xb[0], yb[0], st[2]))
    compile_s[name] = time.perf_counter() - t
  for i in range(args.steps):
    for name, st in state.items():  # interleaved
      params, step, init, its = st
      t = time.perf_counter()
      st[0], value, aux = jax.block_until_ready(
          step(params, xb[i], yb[i], init))
      times[name].append(time.perf_counter() - t)
      if variants[name] != "none":
        its.append(np.asarray(aux.iterations))
        if name.endswith("warm start"):
          st[2] = aux.potentials
  med = {k: statistics.median(v[3:]) for k, v in times.items()}
  print(f"versions: jax {jax.__version__}, flax {nnx.__name__}, optax "
        f"{optax.__version__}")
  print(f"Adult, batch {args.batch} (group sizes {sizes}), MLP "
        f"{X.shape[1]}-64-8-1, Adam, {args.steps} interleaved steps, medians "
        "(first 3 steps dropped)")
  base = med["none"]
  for name in variants:
    line = (f"  {name:20s} {1e3 * med[name]:8.2f} ms/step  "
            f"{med[name] / base:6.1f}x the step without penalty")
    its = state[name][3]
    if its:
      its = np.stack(its)
      line += (f"; iterations per solve (cross, self, self), median "
               f"{np.median(its, axis=0).astype(int).tolist()}")
    print(line)
  print("ratios (target <= 5x):")
  for name in variants:
    if name != "none":
      print(f"  step with Sinkhorn ({name}) / step without: "
            f"{med[name] / base:.1f}x")
  print("JAX compile (first call), s: " + ", ".join(
      f"{k} {v:.2f}" for k, v in compile_s.items()))


if __name__ == "__main__":
  main()
