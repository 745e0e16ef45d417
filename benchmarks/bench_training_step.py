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
    if mode == "mmd":
      return fairjax.mmd_penalty(z, sensitive_features=s_batch,
                                 num_groups=num_groups), init
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


def load_data():
  """Adult's training split: standardised inputs, labels, sex (int32)."""
  d = load_adult()
  X = np.asarray(d.X_train, np.float32)
  X = (X - X.mean(0)) / (X.std(0) + 1e-6)
  y = np.asarray(d.y_train, np.float32)
  s = np.asarray(d.s_train).astype(np.int32)
  return X, y, s


def setup(mode, d_in, sizes, batch):
  """A fresh model and optimizer: (split state, jitted step, cold init)."""
  model = MLP(d_in, nnx.Rngs(0))
  opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
  graphdef, params = nnx.split((model, opt))
  step = make_step(mode, sizes, graphdef)
  init = None
  if mode in ("masked", "split"):
    # The cold start: zero potentials of the shape the call returns.
    shape = jax.eval_shape(lambda z: fairjax.sinkhorn_penalty(
        z, group_sizes=sizes, epsilon=0.1, has_aux=True)[1].potentials,
        jnp.zeros((batch, 8)))
    init = jnp.zeros(shape.shape, shape.dtype)
  return params, step, init


WORKLOADS = {
    "split": "training step + Sinkhorn penalty, split layout (Adult MLP, "
             "n = batch)",
    "masked": "training step + Sinkhorn penalty, masked layout (Adult MLP, "
              "n = batch)",
    "mmd": "training step + MMD penalty (Adult MLP, n = batch)",
    "none": "training step, no penalty (Adult MLP, n = batch)",
}
PENALTY = {
    "split": "sinkhorn_penalty(group_sizes=..., epsilon=0.1)",
    "masked": "sinkhorn_penalty(sensitive_features=..., epsilon=0.1)",
    "mmd": "mmd_penalty(sensitive_features=..., gaussian, bandwidth 1)",
}


def _stepper(params, step, init, xs, ys, its):
  """One training step per call, on the next batch; state carried along."""
  st = {"params": params, "i": 0}

  def fn():
    i = st["i"] % len(xs)
    st["i"] += 1
    st["params"], value, aux = step(st["params"], xs[i], ys[i], init)
    if its is not None:
      its.append(aux.iterations)
    return st["params"], value, aux

  return fn


def run(mode):
  """Rows for ``python -m benchmarks`` (protocol: benchmarks/__init__.py).

  One row per penalised step (Sinkhorn split layout, Sinkhorn masked
  layout, MMD) against the same step without a penalty as the peer,
  interleaved step by step. Quick: batch 256, 5 steps, the split layout and
  MMD only (the masked layout's compile alone is several seconds). Full:
  batch 256, the module's 60 steps, all three. Accelerator: batches 256
  and 4,096, 30 steps, no peers (the unpenalised step is its own row).
  """
  from benchmarks import interleave, row, sizes as mode_sizes

  quick, accel = mode == "quick", mode == "accelerator"
  batches = mode_sizes({"quick": [256], "full": [256],
                        "accelerator": [256, 4096]}, mode)
  reps = {"quick": 5, "full": 60, "accelerator": 30}[mode]
  kinds = ["split", "mmd"] if quick else ["split", "masked", "mmd"]
  X, y, s = load_data()
  rows = []
  for batch in batches:
    idx, sizes = make_batches(s, batch, reps + 1)
    xs, ys = list(jnp.asarray(X[idx])), list(jnp.asarray(y[idx]))
    its = {k: [] for k in kinds if k != "mmd"}
    fns = {}
    for kind in ["none"] + kinds:
      params, step, init = setup(kind, X.shape[1], sizes, batch)
      fns[kind] = _stepper(params, step, init, xs, ys, its.get(kind))
    med, first = interleave(fns, reps)
    setting = (f"Flax NNX MLP {X.shape[1]}-64-8-1, Adam, binary "
               f"cross-entropy; n = {batch} rows per batch (group sizes "
               f"{sizes}); medians of {reps} interleaved steps on fresh "
               "fixed-composition batches")
    for kind in kinds:
      note = (f"{setting}; penalty {PENALTY[kind]} on the 8-dim "
              "representation, strength 1")
      if kind in its:
        it = np.median(np.stack([np.asarray(a) for a in its[kind]]), axis=0)
        note += (", Sinkhorn iterations per solve (cross, self, self) "
                 f"median {it.astype(int).tolist()}")
      if accel:
        note += (f"; {med[kind] / med['none']:.1f}x the step without "
                 "penalty (its own row)")
      else:
        note += (". Peer: the same step without a penalty, so there is no "
                 "value to compare; peer / fairjax is the inverse of the "
                 f"penalty's relative cost: the penalised step takes "
                 f"{med[kind] / med['none']:.1f}x the unpenalised one"
                 + (" (target <= 5x)" if kind in its else ""))
      rows.append(row(
          WORKLOADS[kind], batch, med[kind],
          compile_s=first[kind] - med[kind],
          peer=None if accel else "step without penalty",
          peer_s=None if accel else med["none"], note=note))
    if accel:
      rows.append(row(WORKLOADS["none"], batch, med["none"],
                      compile_s=first["none"] - med["none"],
                      note=setting + "; no penalty (the penalised rows' "
                      "baseline)"))
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--steps", type=int, default=60)
  args = parser.parse_args()
  X, y, s = load_data()
  idx, sizes = make_batches(s, args.batch, args.steps)
  xb, yb = jnp.asarray(X[idx]), jnp.asarray(y[idx])

  variants = {"none": "none", "masked": "masked", "split": "split",
              "split, warm start": "split"}
  state = {}
  for name, mode in variants.items():
    params, step, init = setup(mode, X.shape[1], sizes, args.batch)
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
