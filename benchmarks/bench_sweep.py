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

  python benchmarks/bench_sweep.py      # writes results/sweep/bench_sweep.md
  python -m benchmarks --only bench_sweep [--quick]
"""

import argparse
import json
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fairjax

S = 32


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


def mlp_jax(x, y, s, batch, every=None):
  """``every``: steps between progress reports (nnx_scan's default: 50)."""
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
                                          (b.indices, b.sample_weight),
                                          every=every)
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

LOGISTIC = "sweep (a): logistic, DP penalty, full-batch Adam (n strengths)"
MLP = "sweep (b): NNX MLP on Adult, MMD penalty, minibatches of 256 (n strengths)"


def _loop(fn, lams, keys):
  return [fn(jnp.float32(l), k) for l, k in zip(lams, keys)]


def _compare(name, num, train_fn, peers, reps, torch_runs, note, pick,
             threads=None):
  """Rows: sweep vs the jitted loop (values compared), then each peer.

  ``peers``: name -> ``fn(lams)``, a PyTorch loop over ``torch_runs`` of
  the ``num`` strengths, scaled by ``num / torch_runs`` (a sequential loop
  is linear in its runs). ``pick(out)`` is the leaf whose sweep and loop
  values are compared.
  """
  from benchmarks import interleave, row

  lams = np.linspace(0.0, 3.0, num).astype(np.float32)
  key = jax.random.key(0)
  keys = jax.random.split(key, num)
  single = jax.jit(train_fn)
  plan = fairjax.training.sweep_plan(train_fn, jnp.asarray(lams), key=key)
  fns = {"fairjax.sweep": lambda: fairjax.sweep(train_fn, jnp.asarray(lams),
                                                key=key),
         "jitted JAX loop": lambda: _loop(single, lams, keys)}
  for peer, fn in peers.items():
    fns[peer] = lambda fn=fn: fn(lams[:torch_runs])
  med, first = interleave(fns, reps)
  swept = np.asarray(pick(fairjax.sweep(train_fn, jnp.asarray(lams),
                                        key=key)))
  looped = np.stack([np.asarray(pick(o)) for o in _loop(single, lams, keys)])
  base = med["fairjax.sweep"]
  compile_s = first["fairjax.sweep"] - base
  plan_note = (f"plan: chunks of {plan.chunk_size} of {plan.num_runs} runs; "
               f"{note}")
  rows = [row(name, num, base, compile_s=compile_s, peer="jitted JAX loop",
              peer_s=med["jitted JAX loop"], value=swept.ravel().tolist(),
              peer_value=looped.ravel().tolist(), rtol=1e-3, atol=1e-4,
              note=f"{plan_note}; the loop compiles once in "
              f"{first['jitted JAX loop'] - med['jitted JAX loop']:.1f} s")]
  scale = num / torch_runs
  for peer in peers:
    rows.append(row(name, num, base, compile_s=compile_s, peer=peer,
                    peer_s=med[peer] * scale,
                    note=f"{plan_note}; timed on {torch_runs} strengths, "
                    f"scaled by {scale:g}; torch threads {threads}"))
  return rows


def _peers(torch_loop, **kw):
  """The PyTorch and fairret loops that this machine can run."""
  import importlib.util

  peers = {}
  if importlib.util.find_spec("torch") is not None:
    peers["PyTorch loop"] = lambda l: torch_loop(lams=l, **kw)
    if importlib.util.find_spec("fairret") is not None:
      peers["fairret loop"] = lambda l: torch_loop(lams=l, fairret=True, **kw)
  return peers


def run(mode):
  """Rows for ``python -m benchmarks`` (protocol: benchmarks/__init__.py).

  Quick: 4 strengths of small versions of both workloads. Full: the
  issue's 32 strengths, (a) 32,768 x 100 for 300 steps, (b) one epoch of
  Adult. Accelerator: the fairjax side only, 256 strengths. The PyTorch
  and fairret loops run where those packages are installed (``[bench]``).
  """
  quick, accel = mode == "quick", mode == "accelerator"
  threads = None
  try:
    import torch
  except ImportError:
    torch = None
  if torch is not None and not accel:
    torch.set_num_threads(os.cpu_count() or 1)
    threads = torch.get_num_threads()
  num = {"quick": 4, "full": S, "accelerator": 256}[mode]
  reps = {"quick": 1, "full": 3, "accelerator": 3}[mode]
  torch_runs = num if quick else 8
  rows = []

  n, d, steps = (2048, 20, 20) if quick else (32768, 100, 300)
  x, y, s = logistic_data(n, d)
  peers = {} if accel else _peers(logistic_torch, x=x, y=y, s=s, steps=steps)
  rows += _compare(
      LOGISTIC, num, logistic_jax(x, y, s, steps), peers, reps, torch_runs,
      f"{n:,} x {d} features, {steps} steps", pick=lambda out: out[0],
      threads=threads)

  from fairjax.datasets import load_adult

  data = load_adult()
  rows_used = 2048 if quick else data.X_train.shape[0]
  x, y, s = (a[:rows_used] for a in (data.X_train, data.y_train,
                                     data.s_train))
  train_fn, steps = mlp_jax(x, y, s, 256)
  peers = {} if accel else _peers(mlp_torch, x=x, y=y, s=s, batch=256,
                                  steps=steps)
  rows += _compare(
      MLP, num, train_fn, peers, reps, torch_runs,
      f"{rows_used:,} rows, {steps} steps (one epoch); fairret has no MMD, "
      "so its loop penalises the predictions' positive rates",
      pick=lambda out: out[1], threads=threads)
  rows += _progress_rows(x, y, s, num, reps)
  return rows


PROGRESS = "sweep progress bar: cost of the bar on workload (b) (n strengths)"


def _progress_rows(x, y, s, num, reps):
  """Workload (b) with its bar drawn against one without progress reports.

  With the bar: ``sweep(progress=True)`` and ``nnx_scan``'s default
  reports. Without: one report per run and no bar open (callbacks return
  at once). ``peer / fairjax`` >= 0.95 is the issue's "under 5%".
  """
  import contextlib
  import io

  from benchmarks import interleave, row

  lams = jnp.linspace(0.0, 3.0, num)
  key = jax.random.key(0)
  shown, steps = mlp_jax(x, y, s, 256)
  quiet, _ = mlp_jax(x, y, s, 256, every=steps)

  def with_bar():
    with contextlib.redirect_stderr(io.StringIO()):  # keep the log clean
      return fairjax.sweep(shown, lams, key=key, progress=True)

  fns = {"bar": with_bar,
         "no bar": lambda: fairjax.sweep(quiet, lams, key=key)}
  med, first = interleave(fns, max(reps, 3))
  return [row(PROGRESS, num, med["bar"],
              compile_s=first["bar"] - med["bar"],
              peer="no progress reports", peer_s=med["no bar"],
              value=np.asarray(with_bar()[1]).ravel().tolist(),
              peer_value=np.asarray(fns["no bar"]()[1]).ravel().tolist(),
              rtol=1e-5, atol=1e-6,
              note="bar: tqdm, nnx_scan's default reports (at most 50 "
              "per run, 25 steps apart) and one per chunk of runs")]


def main():
  """Both workloads at the issue's sizes; writes results/sweep/."""
  ap = argparse.ArgumentParser()
  ap.add_argument("--out", default="results/sweep")
  args = ap.parse_args()
  from benchmarks.__main__ import machine, table

  rows = run("full")
  text = (f"# Strength sweeps, 32 strengths\n\n`python benchmarks/"
          f"bench_sweep.py` on {machine()}.\n\n{table(rows)}\n\nNotes:\n\n"
          + "\n".join(f"- {r['peer']}: {r['note']}" for r in rows) + "\n")
  print(text)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  (out / "bench_sweep.md").write_text(text)
  (out / "bench_sweep.json").write_text(json.dumps(
      [{k: v for k, v in r.items() if k not in ("value", "peer_value")}
       for r in rows], indent=1))


if __name__ == "__main__":
  main()
