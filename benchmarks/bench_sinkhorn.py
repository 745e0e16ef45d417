"""Sinkhorn penalty: fairjax (ott-jax, full point cloud) vs POT.

Run: python benchmarks/bench_sinkhorn.py [--n 1000] [--d 16] [--eps 0.1]
     [--tol 1e-3] [--reps 5]

Two groups of ``n`` points in ``d`` dimensions (the second shifted by 0.5 in
every coordinate, then the pooled batch standardised), epsilon 0.1, and the
same stopping rule everywhere: the L2 norm of the marginal error below
``--tol``, checked every 10 iterations (POT's rule; fairjax gets
``norm_error=2``). Measured in one process, interleaved repetitions, medians:

* fairjax ``sinkhorn_penalty`` value and gradient (jitted, float32,
  log-domain, implicit differentiation); also value only, the masked
  formulation without over-relaxation, and a warm-started repeat;
* POT ``ot.sinkhorn(method="sinkhorn_log")`` (stable log-domain, float64,
  numpy) forward only: OT(a, b), OT(a, a), OT(b, b) on the split clouds;
* POT ``ot.sinkhorn`` (default kernel mode, float64) forward only, same.

The debiased value S = OT(a,b) - OT(a,a)/2 - OT(b,b)/2 is printed for each, as
a check that they solve the same problem. JAX compile time is reported
separately.
"""

import argparse
import statistics
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import ot
from ott.solvers.linear import acceleration

from fairjax._sinkhorn import sinkhorn_penalty

warnings.filterwarnings("ignore")


def make_data(n, d, seed=0):
  rng = np.random.default_rng(seed)
  x = np.concatenate([rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 0.5])
  x = (x - x.mean(0)) / x.std(0)
  s = np.repeat([0, 1], n).astype(np.int32)
  return x, s


def pot_divergence(x0, x1, eps, tol, method):
  """S_eps from POT's plans on the split clouds (forward only)."""

  def ot_eps(x, y):
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    cost = ot.dist(x, y)
    plan = ot.sinkhorn(a, b, cost, eps, method=method, stopThr=tol,
                       numItermax=10_000)
    m = plan > 0
    ab = np.outer(a, b)
    kl = np.sum(plan[m] * np.log(plan[m] / ab[m])) - plan.sum() + 1
    return np.sum(plan * cost) + eps * kl

  return ot_eps(x0, x1) - 0.5 * ot_eps(x0, x0) - 0.5 * ot_eps(x1, x1)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--n", type=int, default=1000)
  parser.add_argument("--d", type=int, default=16)
  parser.add_argument("--eps", type=float, default=0.1)
  parser.add_argument("--tol", type=float, default=1e-3)
  parser.add_argument("--reps", type=int, default=5)
  args = parser.parse_args()

  x, s = make_data(args.n, args.d)
  x0, x1 = x[s == 0], x[s == 1]
  xf = jnp.asarray(x, jnp.float32)
  common = dict(sensitive_features=s, num_groups=2, epsilon=args.eps,
                threshold=args.tol, max_iterations=10_000)
  same_rule = dict(norm_error=2)

  def penalty(z, **kw):
    return sinkhorn_penalty(z, solve_kwargs=same_rule, **common, **kw)

  value_and_grad = jax.jit(jax.value_and_grad(penalty))
  value_only = jax.jit(lambda z: penalty(z, has_aux=True))
  plain = jax.jit(lambda z: sinkhorn_penalty(
      z, solve_kwargs=dict(same_rule, momentum=acceleration.Momentum()),
      has_aux=True, **common))
  _, aux = value_only(xf)

  @jax.jit
  def warm(z, aux):
    return sinkhorn_penalty(z, solve_kwargs=same_rule, init=aux,
                            has_aux=True, **common)

  runs = {
      "fairjax value+grad (f32)": lambda: value_and_grad(xf),
      "fairjax value (f32)": lambda: value_only(xf),
      "fairjax value, no over-relaxation": lambda: plain(xf),
      "fairjax value, warm start": lambda: warm(xf, aux),
      "POT log-domain forward (f64)": lambda: pot_divergence(
          x0, x1, args.eps, args.tol, "sinkhorn_log"),
      "POT kernel forward (f64)": lambda: pot_divergence(
          x0, x1, args.eps, args.tol, "sinkhorn"),
  }
  compile_s, values = {}, {}
  for name, fn in runs.items():
    t = time.perf_counter()
    out = jax.block_until_ready(fn())
    compile_s[name] = time.perf_counter() - t
    values[name] = out
  times = {name: [] for name in runs}
  for _ in range(args.reps):
    for name, fn in runs.items():  # interleaved
      t = time.perf_counter()
      jax.block_until_ready(fn())
      times[name].append(time.perf_counter() - t)
  med = {k: statistics.median(v) for k, v in times.items()}

  print(f"n = 2 x {args.n}, d = {args.d}, epsilon = {args.eps}, "
        f"tolerance {args.tol} (L2 marginal error), {args.reps} interleaved "
        "repetitions, medians")
  print(f"{'method':38s} {'median s':>9s} {'value':>10s}")
  for name in runs:
    v = values[name]
    v = v[0] if isinstance(v, tuple) else v
    print(f"{name:38s} {med[name]:9.3f} {float(v):10.5f}")
  for name in ("fairjax value (f32)", "fairjax value, no over-relaxation",
               "fairjax value, warm start"):
    it = np.asarray(jax.tree.map(np.asarray, _iters(runs[name]())))
    print(f"  {name}: iterations per solve (cross, self, self) = {it}")
  fj = med["fairjax value+grad (f32)"]
  print("ratios (> 1: fairjax faster):")
  print(f"  POT log-domain forward / fairjax value+grad: "
        f"{med['POT log-domain forward (f64)'] / fj:.2f}  (target >= 5)")
  print(f"  POT kernel forward / fairjax value+grad:     "
        f"{med['POT kernel forward (f64)'] / fj:.2f}  (target >= 0.5)")
  print(f"  POT kernel forward / fairjax value:          "
        f"{med['POT kernel forward (f64)'] / med['fairjax value (f32)']:.2f}")
  print("JAX compile (first call minus median), s:")
  for name in runs:
    if name.startswith("fairjax"):
      print(f"  {name}: {compile_s[name] - med[name]:.2f}")


def _iters(out):
  return out[1].iterations


if __name__ == "__main__":
  main()
