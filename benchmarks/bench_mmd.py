"""MMD penalty: fairjax vs numpy and PyTorch, and random features vs exact.

Run: python benchmarks/bench_mmd.py [--n 2048] [--d 64] [--reps 7]
     [--rff-n 32768] [--skip-rff]

Measured in one process with interleaved repetitions (medians; the machine
is shared, only ratios mean anything):

1. The machine's float32 GEMM rate (jitted and numpy 2048^3 products, the
   better of the two), interleaved with the runs of 2.
2. Exact biased MMD^2 between two groups of ``n`` points in ``d``
   dimensions, Gaussian kernel: fairjax ``mmd_penalty`` (jitted; value, and
   value + gradient), a plain jitted version of the same full-batch formula
   ``(a - b)^T K (a - b)`` (the whole kernel matrix at once), numpy and
   PyTorch CPU (``torch.cdist``; value, and value + gradient by autograd)
   versions of the textbook formula ``mean K_xx + mean K_yy - 2 mean K_xy``.
   The GEMM fraction counts the nominal ``2 (2n)^2 d`` flops of the batch's
   distance matrix (fairjax evaluates only its upper triangle).
3. Random-features MMD (``estimator="random_features"``, default 1,024
   orthogonal features) vs exact at ``--rff-n`` points: speed ratio and
   relative error over 5 keys.

JAX compile time (first call minus the steady-state median) is reported
separately.
"""

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from fairjax._mmd import mmd_penalty

try:
  import torch
except ImportError:  # the peer is optional
  torch = None


def timed(runs, reps):
  """Interleaved repetitions; returns (medians, first-call seconds)."""
  first = {}
  for name, fn in runs.items():
    t = time.perf_counter()
    jax.block_until_ready(fn())
    first[name] = time.perf_counter() - t
  times = {name: [] for name in runs}
  for _ in range(reps):
    for name, fn in runs.items():
      t = time.perf_counter()
      jax.block_until_ready(fn())
      times[name].append(time.perf_counter() - t)
  return {k: statistics.median(v) for k, v in times.items()}, first


def gemm_runs():
  """Jitted and numpy float32 2048^3 products, timed with the others."""
  m = 2048
  rng = np.random.default_rng(0)
  a = rng.normal(size=(m, m)).astype(np.float32)
  b = rng.normal(size=(m, m)).astype(np.float32)
  ja, jb = jnp.asarray(a), jnp.asarray(b)
  mm = jax.jit(jnp.matmul)
  runs = {"jax f32 GEMM 2048^3": lambda: mm(ja, jb),
          "numpy f32 GEMM 2048^3": lambda: a @ b}
  return runs, 2 * m**3


def numpy_mmd(x0, x1, bandwidth):
  """Textbook biased MMD^2 with numpy (GEMM-form squared distances)."""

  def kmean(a, b):
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.exp(-np.maximum(d2, 0) / (2 * bandwidth**2)).mean()

  return kmean(x0, x0) + kmean(x1, x1) - 2 * kmean(x0, x1)


def _torch_mmd(x0, x1, bandwidth):
  def kmean(a, b):
    return torch.exp(-torch.cdist(a, b) ** 2 / (2 * bandwidth**2)).mean()

  return kmean(x0, x0) + kmean(x1, x1) - 2 * kmean(x0, x1)


def torch_mmd(x0, x1, bandwidth):
  """Textbook biased MMD^2 with torch.cdist."""
  with torch.no_grad():
    return float(_torch_mmd(x0, x1, bandwidth))


def torch_mmd_grad(x0, x1, bandwidth):
  """The same with autograd: value and gradient in both groups' points."""
  x0 = x0.detach().requires_grad_(True)
  x1 = x1.detach().requires_grad_(True)
  value = _torch_mmd(x0, x1, bandwidth)
  value.backward()
  return float(value.detach()), x0.grad, x1.grad


def plain_jitted(bandwidth):
  """The same full-batch formula, whole kernel matrix at once."""

  @jax.jit
  def f(x, a):
    sq = jnp.sum(x * x, axis=1)
    d2 = jnp.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0)
    return a @ (jnp.exp(-d2 / (2 * bandwidth**2)) @ a)

  return f


def exact_section(args):
  rng = np.random.default_rng(0)
  n, d, bw = args.n, args.d, args.bandwidth
  x0 = rng.normal(size=(n, d)).astype(np.float32)
  x1 = (rng.normal(size=(n, d)) + 0.3).astype(np.float32)
  x = np.concatenate([x0, x1])
  s = np.repeat([0, 1], n).astype(np.int32)
  a = np.where(s == 0, 1 / n, -1 / n).astype(np.float32)
  xj, aj = jnp.asarray(x), jnp.asarray(a)
  kw = dict(sensitive_features=s, num_groups=2, bandwidth=bw)
  value = jax.jit(lambda z: mmd_penalty(z, **kw))
  value_grad = jax.jit(jax.value_and_grad(lambda z: mmd_penalty(z, **kw)))
  plain = plain_jitted(bw)
  runs = {
      "fairjax mmd_penalty (value)": lambda: value(xj),
      "fairjax mmd_penalty (value+grad)": lambda: value_grad(xj),
      "plain jitted full matrix (value)": lambda: plain(xj, aj),
      "numpy textbook (value)": lambda: numpy_mmd(x0, x1, bw),
  }
  gemm, gemm_flops = gemm_runs()
  runs.update(gemm)
  if torch is not None:
    torch.set_num_threads(2)
    t0, t1 = torch.from_numpy(x0), torch.from_numpy(x1)
    runs["torch.cdist textbook (value)"] = lambda: torch_mmd(t0, t1, bw)
    runs["torch.cdist textbook (value+grad)"] = lambda: torch_mmd_grad(
        t0, t1, bw)
  med, first = timed(runs, args.reps)
  rates = {k: gemm_flops / med.pop(k) for k in gemm}
  for k in gemm:
    del runs[k], first[k]
  vals = {k: float(jax.tree.leaves(fn())[0]) for k, fn in runs.items()}
  flops = 2 * (2 * n) ** 2 * d
  return runs, vals, med, first, flops, rates


def rff_section(args):
  rng = np.random.default_rng(1)
  n = args.rff_n // 2
  x = np.concatenate([rng.normal(size=(n, args.d)),
                      rng.normal(size=(n, args.d)) + 0.3]).astype(np.float32)
  s = np.repeat([0, 1], n).astype(np.int32)
  xj = jnp.asarray(x)
  kw = dict(sensitive_features=s, num_groups=2, bandwidth=args.bandwidth)
  exact = jax.jit(lambda z: mmd_penalty(z, **kw))
  approx = jax.jit(lambda z, k: mmd_penalty(
      z, estimator="random_features", key=k, **kw))
  key = jax.random.key(0)
  runs = {"exact": lambda: exact(xj),
          "random features": lambda: approx(xj, key)}
  med, first = timed(runs, max(3, args.reps // 2))
  ref = float(exact(xj))
  errs = [abs(float(approx(xj, jax.random.key(i))) - ref) / ref
          for i in range(5)]
  return med, first, ref, errs


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--n", type=int, default=2048, help="points per group")
  parser.add_argument("--d", type=int, default=64)
  parser.add_argument("--bandwidth", type=float, default=10.0)
  parser.add_argument("--reps", type=int, default=7)
  parser.add_argument("--rff-n", type=int, default=32768)
  parser.add_argument("--skip-rff", action="store_true")
  args = parser.parse_args()

  print(f"versions: jax {jax.__version__}, numpy {np.__version__}, torch "
        f"{torch.__version__ if torch is not None else 'not installed'} "
        "(2 threads)")
  runs, vals, med, first, flops, rates = exact_section(args)
  rate = max(rates.values())
  print("float32 GEMM rate, timed with the runs below: " + ", ".join(
      f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in rates.items()))
  fj = med["fairjax mmd_penalty (value)"]
  print(f"\nExact MMD^2, 2 x {args.n} points, d = {args.d}, Gaussian kernel "
        f"(bandwidth {args.bandwidth}); {args.reps} interleaved repetitions")
  print(f"{'method':36s} {'median ms':>10s} {'GEMM %':>7s} {'vs fairjax':>11s}"
        f" {'value':>12s}")
  for name in runs:
    frac = flops / med[name] / rate
    print(f"{name:36s} {1e3 * med[name]:10.2f} {100 * frac:6.1f}% "
          f"{med[name] / fj:10.2f}x {vals[name]:12.6g}")
  print("(GEMM % = 2 (2n)^2 d nominal flops / time / best GEMM rate; "
        "'vs fairjax' = time / fairjax value time)")
  print("JAX compile (first call minus median), s: " + ", ".join(
      f"{k}: {first[k] - med[k]:.2f}" for k in runs
      if "fairjax" in k or "jitted" in k))

  if args.skip_rff:
    return
  med, first, ref, errs = rff_section(args)
  print(f"\nRandom features vs exact, n = {args.rff_n}, d = {args.d}: "
        f"exact {med['exact']:.3f} s, random features "
        f"{med['random features']:.4f} s, speed-up "
        f"{med['exact'] / med['random features']:.1f}x (target >= 10)")
  print(f"  exact MMD^2 = {ref:.6g}; relative error over 5 keys: max "
        f"{max(errs):.4f}, median {statistics.median(errs):.4f} "
        "(target < 0.05)")
  print("  JAX compile, s: " + ", ".join(
      f"{k}: {first[k] - med[k]:.2f}" for k in med))


def run(mode):
  """Rows for ``python -m benchmarks`` (protocol: benchmarks/__init__.py).

  Exact Gaussian MMD^2 between two groups of n / 2 points in d = 64
  (jitted value) against numpy and PyTorch textbook versions, and the
  random-feature estimator against the exact one.
  """
  from benchmarks import interleave, row, sizes

  d, bw = 64, 10.0
  reps = 1 if mode == "quick" else 5
  exact_sizes = sizes({"quick": [512], "full": [512, 2_048, 8_192],
                       "accelerator": [8_192, 32_768, 65_536]}, mode)
  name = f"mmd_penalty: exact Gaussian MMD^2, d={d} (n points, 2 groups)"
  rows = []
  for n in exact_sizes:
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(n // 2, d)).astype(np.float32)
    x1 = (rng.normal(size=(n // 2, d)) + 0.3).astype(np.float32)
    xj = jnp.asarray(np.concatenate([x0, x1]))
    s = np.repeat([0, 1], n // 2).astype(np.int32)
    value = jax.jit(lambda z, s=s: mmd_penalty(
        z, sensitive_features=s, num_groups=2, bandwidth=bw))
    fns = {"fairjax": lambda v=value, z=xj: v(z)}
    if mode != "accelerator":
      fns["numpy textbook"] = lambda a=x0, b=x1: numpy_mmd(a, b, bw)
      if torch is not None:
        torch.set_num_threads(os.cpu_count() or 1)
        t0, t1 = torch.from_numpy(x0), torch.from_numpy(x1)
        fns["torch.cdist textbook"] = lambda a=t0, b=t1: torch_mmd(a, b, bw)
    med, first = interleave(fns, reps)
    got = float(fns["fairjax"]())
    compile_s = first["fairjax"] - med["fairjax"]
    if mode == "accelerator":
      rows.append(row(name, n, med["fairjax"], compile_s=compile_s))
    for peer in fns:
      if peer != "fairjax":
        rows.append(row(name, n, med["fairjax"], compile_s=compile_s,
                        peer=peer, peer_s=med[peer], value=got,
                        peer_value=float(fns[peer]()), rtol=1e-3,
                        atol=1e-6))

  rff_sizes = sizes({"quick": [2_048], "full": [4_096, 16_384, 32_768],
                     "accelerator": [65_536, 1_048_576]}, mode)
  name = ("mmd_penalty: random features (1,024) vs exact, d=64 "
          "(n points, 2 groups)")
  for n in rff_sizes:
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(size=(n // 2, d)),
                        rng.normal(size=(n // 2, d)) + 0.3]).astype(np.float32)
    xj = jnp.asarray(x)
    s = np.repeat([0, 1], n // 2).astype(np.int32)
    kw = dict(sensitive_features=s, num_groups=2, bandwidth=bw)
    approx = jax.jit(lambda z, k, kw=kw: mmd_penalty(
        z, estimator="random_features", key=k, **kw))
    key = jax.random.key(0)
    fns = {"fairjax": lambda a=approx, z=xj: a(z, key)}
    if mode != "accelerator":
      exact = jax.jit(lambda z, kw=kw: mmd_penalty(z, **kw))
      fns["exact mmd_penalty"] = lambda e=exact, z=xj: e(z)
    med, first = interleave(fns, max(1, reps // 2))
    compile_s = first["fairjax"] - med["fairjax"]
    if mode == "accelerator":
      rows.append(row(name, n, med["fairjax"], compile_s=compile_s))
      continue
    rows.append(row(name, n, med["fairjax"], compile_s=compile_s,
                    peer="exact mmd_penalty", peer_s=med["exact mmd_penalty"],
                    value=float(fns["fairjax"]()),
                    peer_value=float(fns["exact mmd_penalty"]()), rtol=0.1,
                    atol=0.0, note="random-feature estimate within 10% of "
                                   "the exact value"))
  return rows


if __name__ == "__main__":
  main()
