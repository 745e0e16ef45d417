"""Strength sweeps: fairjax.sweep vs a jitted loop, PyTorch and fairret.

Two workloads, 32 strengths each:

(a) logistic regression on 32,768 x 100 synthetic features, demographic-parity
    penalty (``fairjax.mean_gap_penalty`` of the probabilities), 300
    full-batch Adam steps;
(b) a Flax NNX MLP (102 -> 64 -> 8 -> 1) on UCI Adult with
    ``fairjax.mmd_penalty`` (Gaussian, bandwidth 1) on its 8-d representation,
    one epoch of ``fairjax.stratified_batches`` minibatches of 256 (118 SGD
    steps with momentum).

Contenders, run in one process and interleaved round by round: ``fairjax.sweep``
(one program), a Python loop over strengths of the same jitted trainer, a
PyTorch CPU loop of the same model and penalty (hand-written, threads set to
the cores), and fairret's PyTorch loop (its ``NormLoss(PositiveRate())``
demographic-parity loss; fairret has no MMD, so in (b) it penalises the
predictions). JAX compile time is reported separately (first call minus the
median of the steady calls).

  python benchmarks/bench_sweep.py [--workload a|b|both] [--rounds 2]
"""

import argparse
import json
import os
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fairjax

S = 32


def _timeit(fn):
  t0 = time.perf_counter()
  out = fn()
  jax.block_until_ready(out)
  return time.perf_counter() - t0, out


# --- (a) logistic regression, DP penalty, full batch -------------------------


def logistic_data(n=32768, d=100, seed=0):
  rng = np.random.default_rng(seed)
  s = rng.integers(0, 2, n).astype(np.int32)
  x = rng.normal(size=(n, d)).astype(np.float32)
  x[:, 0] += 0.8 * s
  logit = x[:, :5].sum(1) + 0.5 * s
  y = (logit + rng.logistic(size=n) > 0).astype(np.float32)
  return x, y, s


def logistic_jax(x, y, s, steps):
  X, Y, Sg = map(jnp.asarray, (x, y, s))
  opt = optax.adam(0.05)

  def train_fn(lam, key):
    del key  # zero init: the runs differ only by the strength
    params = (jnp.zeros(X.shape[1]), jnp.zeros(()))

    def loss(p):
      logit = X @ p[0] + p[1]
      risk = optax.sigmoid_binary_cross_entropy(logit, Y).mean()
      gap = fairjax.mean_gap_penalty(
          jax.nn.sigmoid(logit), sensitive_features=Sg, num_groups=2)
      return risk + lam * gap

    def step(carry, _):
      p, st = carry
      g = jax.grad(loss)(p)
      u, st = opt.update(g, st, p)
      return (optax.apply_updates(p, u), st), None

    (p, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, steps)
    return p

  return train_fn


def logistic_torch(x, y, s, steps, lams, fairret=False):
  import torch

  X, Y = torch.from_numpy(x), torch.from_numpy(y)
  m0 = torch.from_numpy(s == 0)
  m1 = ~m0
  sens = torch.nn.functional.one_hot(torch.from_numpy(s).long(), 2).float()
  if fairret:
    from fairret.loss import NormLoss
    from fairret.statistic import PositiveRate
    norm = NormLoss(PositiveRate())
  out = []
  for lam in lams:
    model = torch.nn.Linear(X.shape[1], 1)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
      opt.zero_grad()
      logit = model(X)[:, 0]
      risk = torch.nn.functional.binary_cross_entropy_with_logits(logit, Y)
      if fairret:
        pen = norm(logit[:, None], sens)
      else:
        p = torch.sigmoid(logit)
        pen = (p[m0].mean() - p[m1].mean()).abs()
      (risk + float(lam) * pen).backward()
      opt.step()
    out.append(model.weight.detach().numpy().copy())
  return out


# --- (b) NNX MLP on Adult, MMD penalty, minibatches of 256 --------------------


def mlp_jax(x, y, s, batch):
  from flax import nnx

  X, Y, Sg = jnp.asarray(x), jnp.asarray(y, jnp.float32), jnp.asarray(s)

  class Model(nnx.Module):
    def __init__(self, rngs):
      self.hidden = nnx.Linear(X.shape[1], 64, rngs=rngs)
      self.rep = nnx.Linear(64, 8, rngs=rngs)
      self.head = nnx.Linear(8, 1, rngs=rngs)

    def represent(self, x):
      return self.rep(nnx.relu(self.hidden(x)))

  tx = optax.sgd(0.05, momentum=0.9)

  def train_fn(lam, key):
    init_key, batch_key = jax.random.split(key)
    model = Model(nnx.Rngs(init_key))
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
    b = fairjax.stratified_batches(batch_key, Sg, batch, labels=Y,
                                   num_groups=2)

    def step(model, opt, batch):
      idx, w = batch

      def loss(m):
        z = m.represent(X[idx])
        logit = m.head(nnx.relu(z))[:, 0]
        risk = optax.sigmoid_binary_cross_entropy(logit, Y[idx])
        risk = jnp.sum(w * risk) / jnp.sum(w)
        mmd = fairjax.mmd_penalty(z, sensitive_features=Sg[idx],
                                  num_groups=2, sample_weight=w)
        return risk + lam * mmd

      value, grads = nnx.value_and_grad(loss)(model)
      opt.update(model, grads)
      return value

    (model, _), losses = fairjax.nnx_scan(step, (model, opt),
                                          (b.indices, b.sample_weight))
    return nnx.state(model, nnx.Param), losses

  return train_fn, -(-X.shape[0] // batch)


def mlp_torch(x, y, s, batch, steps, lams, fairret=False):
  import torch

  X, Y = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
  Sg = torch.from_numpy(s).long()
  if fairret:
    from fairret.loss import NormLoss
    from fairret.statistic import PositiveRate
    norm = NormLoss(PositiveRate())
  gen = torch.Generator().manual_seed(0)
  out = []
  for lam in lams:
    enc = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 8))
    head = torch.nn.Linear(8, 1)
    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    for _ in range(steps):
      idx = torch.randint(0, X.shape[0], (batch,), generator=gen)
      xb, yb, sb = X[idx], Y[idx], Sg[idx]
      opt.zero_grad()
      z = enc(xb)
      logit = head(torch.relu(z))[:, 0]
      risk = torch.nn.functional.binary_cross_entropy_with_logits(logit, yb)
      if fairret:
        pen = norm(logit[:, None],
                   torch.nn.functional.one_hot(sb, 2).float())
      else:
        a = torch.nn.functional.one_hot(sb, 2).float()
        a = a / a.sum(0).clamp_min(1)
        c = a[:, 0] - a[:, 1]
        k = torch.exp(-0.5 * torch.cdist(z, z) ** 2)
        pen = c @ k @ c
      (risk + float(lam) * pen).backward()
      opt.step()
    out.append(head.weight.detach().numpy().copy())
  return out


# --- driver ---------------------------------------------------------------


def run(name, contenders, rounds, scale=None):
  """Interleaved rounds; the first call of each contender is its warm-up.

  ``scale[k]``: contender ``k`` timed on a subset of the strengths; its
  times are multiplied by this factor (a loop's time is linear in the
  number of runs).
  """
  scale = scale or {}
  first, times = {}, {k: [] for k in contenders}
  for k, fn in contenders.items():
    first[k], _ = _timeit(fn)
    first[k] *= scale.get(k, 1)
    print(f"[{name}] {k}: first call {first[k]:.2f} s", flush=True)
  for r in range(rounds):
    for k, fn in contenders.items():
      t, _ = _timeit(fn)
      t *= scale.get(k, 1)
      times[k].append(t)
      print(f"[{name}] round {r}: {k} {t:.2f} s", flush=True)
  med = {k: float(np.median(v)) for k, v in times.items()}
  return {"first": first, "times": times, "median": med}


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--workload", default="both", choices=("a", "b", "both"))
  ap.add_argument("--rounds", type=int, default=2)
  ap.add_argument("--steps", type=int, default=300)
  ap.add_argument("--out", default="results/sweep")
  ap.add_argument("--no-torch", action="store_true")
  ap.add_argument("--torch-strengths", type=int, default=S,
                  help="time the PyTorch loops on this many strengths and "
                  "scale linearly to 32 (the machine is slow and shared)")
  args = ap.parse_args()
  import torch

  threads = os.cpu_count() or 1
  torch.set_num_threads(threads)
  lams = np.linspace(0.0, 3.0, S).astype(np.float32)
  key = jax.random.key(0)
  keys = jax.random.split(key, S)
  k_t = args.torch_strengths
  scale = {"torch loop": S / k_t, "fairret loop": S / k_t}
  report = {"strengths": S, "torch_threads": threads,
            "torch_strengths_timed": k_t,
            "jax": jax.__version__, "torch": torch.__version__}

  if args.workload in ("a", "both"):
    x, y, s = logistic_data()
    train_fn = logistic_jax(x, y, s, args.steps)
    single = jax.jit(train_fn)
    plan = fairjax.training.sweep_plan(train_fn, jnp.asarray(lams), key=key)
    print("(a) plan:", plan, flush=True)
    c = {
        "fairjax.sweep": lambda: fairjax.sweep(train_fn, jnp.asarray(lams),
                                               key=key),
        "jax loop": lambda: [single(jnp.float32(l), k)
                             for l, k in zip(lams, keys)],
    }
    if not args.no_torch:
      c["torch loop"] = lambda: logistic_torch(x, y, s, args.steps,
                                               lams[:k_t])
      c["fairret loop"] = lambda: logistic_torch(x, y, s, args.steps,
                                                 lams[:k_t], fairret=True)
    res = run("a", c, args.rounds, scale)
    sw = fairjax.sweep(train_fn, jnp.asarray(lams), key=key)[0]
    lp = np.stack([np.asarray(single(jnp.float32(l), k)[0])
                   for l, k in zip(lams, keys)])
    res["max_abs_diff_sweep_vs_loop"] = float(np.max(np.abs(sw - lp)))
    res["plan"] = plan._asdict()
    report["a_logistic"] = res

  if args.workload in ("b", "both"):
    from fairjax.datasets import load_adult

    d = load_adult()
    x, y, s = d.X_train, d.y_train, d.s_train
    train_fn, steps = mlp_jax(x, y, s, 256)
    single = jax.jit(train_fn)
    plan = fairjax.training.sweep_plan(train_fn, jnp.asarray(lams), key=key)
    print("(b) plan:", plan, flush=True)
    c = {
        "fairjax.sweep": lambda: fairjax.sweep(train_fn, jnp.asarray(lams),
                                               key=key),
        "jax loop": lambda: [single(jnp.float32(l), k)
                             for l, k in zip(lams, keys)],
    }
    if not args.no_torch:
      c["torch loop"] = lambda: mlp_torch(x, y, s, 256, steps, lams[:k_t])
      c["fairret loop"] = lambda: mlp_torch(x, y, s, 256, steps, lams[:k_t],
                                            fairret=True)
    res = run("b", c, args.rounds, scale)
    sw = fairjax.sweep(train_fn, jnp.asarray(lams), key=key)[1]
    lp = np.stack([np.asarray(single(jnp.float32(l), k)[1])
                   for l, k in zip(lams, keys)])
    res["max_abs_diff_losses_sweep_vs_loop"] = float(np.max(np.abs(sw - lp)))
    res["plan"] = plan._asdict()
    res["steps"] = steps
    report["b_nnx_mmd"] = res

  lines = ["| workload | contender | median s | first call s | "
           "contender / sweep |", "|---|---|---|---|---|"]
  for w in ("a_logistic", "b_nnx_mmd"):
    if w not in report:
      continue
    med, first = report[w]["median"], report[w]["first"]
    base = med["fairjax.sweep"]
    for k in med:
      lines.append(f"| {w} | {k} | {med[k]:.2f} | {first[k]:.2f} | "
                   f"{med[k] / base:.2f}x |")
  table = "\n".join(lines)
  print(table)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  tag = args.workload
  (out / f"bench_sweep_{tag}.json").write_text(json.dumps(report, indent=1))
  (out / f"bench_sweep_{tag}.md").write_text(table + "\n")


if __name__ == "__main__":
  main()
