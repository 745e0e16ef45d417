"""Sinkhorn penalty: fairjax (ott-jax, full point cloud) vs POT.

Run: python benchmarks/bench_sinkhorn.py [--n 1000] [--d 16] [--eps 0.1]
     [--tol 1e-3] [--reps 5] [--steps 6] [--move 0.02]

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
* POT ``ot.sinkhorn`` (default kernel mode, float64) forward only, same;
* ott-jax directly on the split clouds (the same solvers as fairjax: float32,
  log-domain, over-relaxed cross term, symmetric self terms), forward only:
  the cost of fairjax's masked full-cloud formulation.

The debiased value S = OT(a,b) - OT(a,a)/2 - OT(b,b)/2 is printed for each,
with its relative error against a tight float64 reference (POT, kernel mode,
marginal error 1e-9). Then warm starts across training steps: gradient
descent on the penalty itself (the points move a little at every step), cold
vs warm-started (``init=`` the previous step's diagnostics), iterations and
time per step. JAX compile time is reported separately.
"""

import argparse
import statistics
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import ot
import ott
from ott.geometry import pointcloud
from ott.problems.linear import linear_problem
from ott.solvers.linear import acceleration

from fairjax import _sinkhorn
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


def split_ott(tol, max_iterations, solve_kwargs):
  """S_eps with ott on the split clouds, fairjax's solver settings."""
  config = dict(threshold=tol, max_iterations=max_iterations)
  cross = _sinkhorn._solver(symmetric=False, solve_kwargs=solve_kwargs,
                            **config)
  self_ = _sinkhorn._solver(symmetric=True, solve_kwargs={}, **config)

  def ot_eps(solver, x, y, eps):
    geom = pointcloud.PointCloud(x, y, epsilon=eps)
    out = solver(linear_problem.LinearProblem(geom))
    return out.reg_ot_cost, out.n_iters

  @jax.jit
  def divergence(x0, x1, eps):
    with jax.numpy_dtype_promotion("standard"):
      c01, i01 = ot_eps(cross, x0, x1, eps)
      c00, i00 = ot_eps(self_, x0, x0, eps)
      c11, i11 = ot_eps(self_, x1, x1, eps)
    return c01 - 0.5 * c00 - 0.5 * c11, jnp.stack([i01, i00, i11])

  return divergence


def warm_start_steps(x, common, same_rule, steps, lr):
  """Gradient descent on the penalty: cold vs warm-started solves."""

  @jax.jit
  def step(z, init):
    def loss(z):
      return sinkhorn_penalty(z, solve_kwargs=same_rule, init=init,
                              has_aux=True, **common)
    (value, aux), grad = jax.value_and_grad(loss, has_aux=True)(z)
    return z - lr * grad, value, aux

  z = jnp.asarray(x, jnp.float32)
  _, _, aux0 = jax.block_until_ready(step(z, None))  # compile cold
  jax.block_until_ready(step(z, aux0))  # compile warm
  report = {}
  for mode in ("cold", "warm"):
    z, aux, its, times, values = jnp.asarray(x, jnp.float32), None, [], [], []
    for _ in range(steps):
      t = time.perf_counter()
      z, value, new = jax.block_until_ready(
          step(z, aux if mode == "warm" else None))
      times.append(time.perf_counter() - t)
      aux = new
      its.append(int(new.iterations[0]))
      values.append(float(value))
    report[mode] = (its, times, values)
  return report


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--n", type=int, default=1000)
  parser.add_argument("--d", type=int, default=16)
  parser.add_argument("--eps", type=float, default=0.1)
  parser.add_argument("--tol", type=float, default=1e-3)
  parser.add_argument("--reps", type=int, default=5)
  parser.add_argument("--steps", type=int, default=6)
  parser.add_argument(
      "--move", type=float, default=0.02,
      help="step size: each point moves this fraction of its way to its "
      "transport target per step (learning rate move * n / 2)")
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

  split = split_ott(args.tol, 10_000, same_rule)

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
      "ott split clouds value (f32)": lambda: split(
          xf[:args.n], xf[args.n:], jnp.float32(args.eps)),
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

  reference = pot_divergence(x0, x1, args.eps, 1e-9, "sinkhorn")
  print(f"versions: jax {jax.__version__}, ott-jax {ott.__version__}, POT "
        f"{ot.__version__}, numpy {np.__version__}")
  print(f"n = 2 x {args.n}, d = {args.d}, epsilon = {args.eps}, "
        f"tolerance {args.tol} (L2 marginal error), {args.reps} interleaved "
        "repetitions, medians")
  print(f"reference S_eps (POT kernel f64, tolerance 1e-9): {reference:.6f}")
  print(f"{'method':38s} {'median s':>9s} {'value':>10s} {'rel. err':>9s}")
  for name in runs:
    v = values[name]
    v = float(v[0] if isinstance(v, tuple) else v)
    print(f"{name:38s} {med[name]:9.3f} {v:10.5f} "
          f"{abs(v - reference) / abs(reference):9.1e}")
  for name in ("fairjax value (f32)", "fairjax value, no over-relaxation",
               "fairjax value, warm start"):
    it = np.asarray(runs[name]()[1].iterations)
    print(f"  {name}: iterations per solve (cross, self, self) = {it}")
  it = np.asarray(values["ott split clouds value (f32)"][1])
  print(f"  ott split clouds: iterations (cross, self, self) = {it}")
  fj = med["fairjax value+grad (f32)"]
  fv = med["fairjax value (f32)"]
  print("ratios (> 1: fairjax faster):")
  print(f"  POT log-domain forward / fairjax value+grad: "
        f"{med['POT log-domain forward (f64)'] / fj:.2f}  (target >= 5)")
  print(f"  POT kernel forward / fairjax value+grad:     "
        f"{med['POT kernel forward (f64)'] / fj:.2f}  (aim >= 0.5, i.e. "
        "within 2x)")
  print(f"  POT kernel forward / fairjax value:          "
        f"{med['POT kernel forward (f64)'] / fv:.2f}")
  print(f"  masked full cloud / ott split clouds (value): "
        f"{fv / med['ott split clouds value (f32)']:.2f}x the time")
  print("JAX compile (first call minus median), s:")
  for name in runs:
    if name.startswith(("fairjax", "ott")):
      print(f"  {name}: {compile_s[name] - med[name]:.2f}")

  lr = args.move * args.n / 2
  report = warm_start_steps(x, common, same_rule, args.steps, lr)
  print(f"\nWarm starts across {args.steps} steps of gradient descent on the "
        f"penalty (learning rate {lr:g}: each point moves {args.move:.0%} of "
        "its way to its transport target), value and gradient per step:")
  for mode, (its, times, vals) in report.items():
    print(f"  {mode}: cross-term iterations {its}, median "
          f"{statistics.median(times):.3f} s/step, values "
          f"{vals[0]:.4f} -> {vals[-1]:.4f}")


if __name__ == "__main__":
  main()
