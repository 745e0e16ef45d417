"""Benchmark: the cost of a constrained step; a constrained fit vs fairlearn.

1. One full-batch training step on Adult (30,162 x 102), logistic regression
   and an MLP (64 tanh units), with Adam: unconstrained (loss gradient) vs
   constrained (``fairjax.constrained_optimizer`` with
   ``rate_constraints``: proxy and hard rate states, the Lagrangian and the
   dual step). Interleaved repeats, medians; compile time apart.
2. ``fit_logistic_regression(constraint="demographic_parity", bound=0.02)``
   vs fairlearn's ``ExponentiatedGradient(LogisticRegression(),
   DemographicParity(difference_bound=0.02))`` (its reductions loop calls
   scikit-learn's fit once per iteration), same data: wall time, train and
   test DP gaps and accuracies. fairlearn returns a randomised classifier;
   its hard ``predict`` is what we score (``random_state=0``).

Run: ``python benchmarks/bench_constraints.py [--repeats N] [--quick]``.
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fairjax
from fairjax.datasets import load_adult


def _median_time(fn, repeats):
  out = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn())
    out.append(time.perf_counter() - t)
  return float(np.median(out))


def step_cost(X, y, s, repeats):
  yf = jnp.asarray(y, jnp.float32)
  rows = []
  for kind in ("linear", "mlp"):
    key = jax.random.key(0)
    if kind == "linear":
      params = {"w": jnp.zeros((X.shape[1],)), "b": jnp.zeros(())}
      def apply(p):
        return X @ p["w"] + p["b"]
    else:
      params = {"W": jax.random.normal(key, (X.shape[1], 64)) * 0.1,
                "c": jnp.zeros(64), "w": jnp.zeros(64), "b": jnp.zeros(())}
      def apply(p):
        return jnp.tanh(X @ p["W"] + p["c"]) @ p["w"] + p["b"]
    adam = optax.adam(1e-2)

    def loss_fn(p, apply=apply):
      return optax.sigmoid_binary_cross_entropy(apply(p), yf).mean()

    @jax.jit
    def plain(p, st, loss_fn=loss_fn):
      loss, g = jax.value_and_grad(loss_fn)(p)
      u, st = adam.update(g, st, p)
      return optax.apply_updates(p, u), st, loss

    def fun(p, apply=apply):
      z = apply(p)
      return (optax.sigmoid_binary_cross_entropy(z, yf).mean(),
              fairjax.rate_constraints(y, z, sensitive_features=s,
                                       bound=0.02, num_groups=2))

    opt = fairjax.constrained_optimizer(adam, dual_learning_rate=0.05)

    @jax.jit
    def constrained(p, st, fun=fun, opt=opt):
      return opt.update(fun, p, st)

    st_plain, st_con = adam.init(params), opt.init(params, 2)
    t = time.perf_counter()
    jax.block_until_ready(plain(params, st_plain))
    c_plain = time.perf_counter() - t
    t = time.perf_counter()
    jax.block_until_ready(constrained(params, st_con))
    c_con = time.perf_counter() - t
    tp, tc = [], []
    for _ in range(repeats):  # interleaved
      tp.append(_median_time(lambda: plain(params, st_plain), 5))
      tc.append(_median_time(lambda: constrained(params, st_con), 5))
    p_ms, c_ms = 1e3 * np.median(tp), 1e3 * np.median(tc)
    rows.append((kind, p_ms, c_ms, c_ms / p_ms, c_plain, c_con))
    print(f"step {kind:6s}: unconstrained {p_ms:.2f} ms, constrained "
          f"{c_ms:.2f} ms, ratio {c_ms / p_ms:.3f} (compile {c_plain:.1f} s /"
          f" {c_con:.1f} s)", flush=True)
  return rows


def versus_fairlearn(ds, bound, quick):
  from fairlearn.reductions import DemographicParity, ExponentiatedGradient
  from sklearn.linear_model import LogisticRegression

  X, y, s = ds.X_train, ds.y_train, ds.s_train
  Xt, yt, st = ds.X_test, ds.y_test, ds.s_test
  if quick:
    X, y, s = X[:8000], y[:8000], s[:8000]

  def score(pred_tr, pred_te):
    return (float(np.mean(pred_tr == y)), float(np.mean(pred_te == yt)),
            float(fairjax.demographic_parity_difference(
                y, pred_tr, sensitive_features=s)),
            float(fairjax.demographic_parity_difference(
                yt, pred_te, sensitive_features=st)))

  t = time.perf_counter()
  m = fairjax.fit_logistic_regression(X, y, constraint="demographic_parity",
                                      bound=bound, sensitive_features=s)
  jax.block_until_ready(m)
  first = time.perf_counter() - t
  t = time.perf_counter()
  m = fairjax.fit_logistic_regression(X, y, constraint="demographic_parity",
                                      bound=bound, sensitive_features=s)
  jax.block_until_ready(m)
  ours_s = time.perf_counter() - t
  ours = score(np.asarray(fairjax.decision_function(m, X) > 0).astype(int),
               np.asarray(fairjax.decision_function(m, Xt) > 0).astype(int))

  t = time.perf_counter()
  eg = ExponentiatedGradient(
      LogisticRegression(max_iter=1000),
      constraints=DemographicParity(difference_bound=bound))
  eg.fit(X, y, sensitive_features=s)
  theirs_s = time.perf_counter() - t
  theirs = score(eg.predict(X, random_state=0), eg.predict(Xt, random_state=0))
  print(f"fit, DP <= {bound}: fairjax {ours_s:.2f} s (first call "
        f"{first:.1f} s, compile included), fairlearn EG {theirs_s:.1f} s, "
        f"ratio {theirs_s / ours_s:.1f}x")
  for name, r in (("fairjax", ours), ("fairlearn EG", theirs)):
    print(f"  {name:12s} acc train {r[0]:.4f} test {r[1]:.4f} | DP gap "
          f"train {r[2]:.4f} test {r[3]:.4f}")
  return ours_s, first, theirs_s, ours, theirs


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--repeats", type=int, default=7)
  parser.add_argument("--quick", action="store_true")
  args = parser.parse_args()
  ds = load_adult(sensitive="sex")
  X = jnp.asarray(ds.X_train, jnp.float32)
  print(f"Adult {X.shape}, {jax.devices()[0].platform}")
  step_cost(X, ds.y_train, ds.s_train, args.repeats)
  versus_fairlearn(ds, 0.02, args.quick)


if __name__ == "__main__":
  main()
