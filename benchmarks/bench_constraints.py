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


def make_steps(X, y, s, kind):
  """One jitted Adam step, unconstrained and constrained, and their states.

  ``kind``: ``"linear"`` (logistic regression) or ``"mlp"`` (64 tanh
  units). Returns ``(plain, constrained, params, st_plain, st_con)``:
  ``plain(params, st_plain) -> (params, state, loss)`` and
  ``constrained(params, st_con) -> (params, state, StepInfo)``. The data
  are arguments of the jitted steps (not constants folded into them).
  """
  X = jnp.asarray(X)
  y, s = jnp.asarray(y, jnp.int32), jnp.asarray(s, jnp.int32)
  key = jax.random.key(0)
  if kind == "linear":
    params = {"w": jnp.zeros((X.shape[1],)), "b": jnp.zeros(())}
    def apply(p, X):
      return X @ p["w"] + p["b"]
  else:
    params = {"W": jax.random.normal(key, (X.shape[1], 64)) * 0.1,
              "c": jnp.zeros(64), "w": jnp.zeros(64), "b": jnp.zeros(())}
    def apply(p, X):
      return jnp.tanh(X @ p["W"] + p["c"]) @ p["w"] + p["b"]
  adam = optax.adam(1e-2)

  def loss_fn(p, X, y):
    return optax.sigmoid_binary_cross_entropy(
        apply(p, X), y.astype(jnp.float32)).mean()

  @jax.jit
  def plain(p, st, X, y):
    loss, g = jax.value_and_grad(loss_fn)(p, X, y)
    u, st = adam.update(g, st, p)
    return optax.apply_updates(p, u), st, loss

  def fun(p, X, y, s):
    z = apply(p, X)
    return (optax.sigmoid_binary_cross_entropy(
        z, y.astype(jnp.float32)).mean(),
            fairjax.rate_constraints(y, z, sensitive_features=s,
                                     bound=0.02, num_groups=2))

  opt = fairjax.constrained_optimizer(adam, dual_learning_rate=0.05)

  @jax.jit
  def constrained(p, st, X, y, s):
    return opt.update(fun, p, st, X, y, s)

  return (lambda p, st: plain(p, st, X, y),
          lambda p, st: constrained(p, st, X, y, s),
          params, adam.init(params), opt.init(params, 2))


def step_cost(X, y, s, repeats):
  rows = []
  for kind in ("linear", "mlp"):
    plain, constrained, params, st_plain, st_con = make_steps(X, y, s, kind)
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


def versus_fairlearn(ds, bound, quick, rows=None, repeats=1):
  """The constrained fit vs fairlearn's; ``rows``: fit on the first rows.

  ``quick`` means ``rows=8000``. fairjax's time is the median of
  ``repeats`` calls after a first one (compile included); fairlearn is
  fitted once (nothing to compile). The scores are ``(accuracy train,
  accuracy test, DP gap train, DP gap test)``.
  """
  from fairlearn.reductions import DemographicParity, ExponentiatedGradient
  from sklearn.linear_model import LogisticRegression

  X, y, s = ds.X_train, ds.y_train, ds.s_train
  Xt, yt, st = ds.X_test, ds.y_test, ds.s_test
  if quick and rows is None:
    rows = 8000
  if rows is not None:
    X, y, s = X[:rows], y[:rows], s[:rows]

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
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    m = fairjax.fit_logistic_regression(
        X, y, constraint="demographic_parity", bound=bound,
        sensitive_features=s)
    jax.block_until_ready(m)
    times.append(time.perf_counter() - t)
  ours_s = float(np.median(times))
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


STEP = ("constrained training step (Lagrangian + rate constraints, Adam), "
        "{model} on Adult (n rows, 102 features)")
FIT = ("fit_logistic_regression, demographic parity <= 0.02, on Adult "
       "(n training rows)")


def _tiled(a, n):
  """The first ``n`` rows of ``a`` repeated along axis 0 as needed."""
  return np.resize(a, (n,) + a.shape[1:])


def run(mode):
  """Rows for ``python -m benchmarks`` (protocol: benchmarks/__init__.py).

  1. One constrained step (``constrained_optimizer`` on the Lagrangian of
     ``rate_constraints``) against the unconstrained step of the same model:
     the ratio is the constraint's overhead. Both start from the same params
     with zero multipliers, so both report the same loss and take the same
     primal step (compared).
  2. ``fit_logistic_regression(constraint="demographic_parity")`` against
     fairlearn's ExponentiatedGradient: train and test accuracy compared
     (atol 0.01), DP gaps in the note.
  """
  from benchmarks import interleave, row, sizes

  accel = mode == "accelerator"
  ds = load_adult(sensitive="sex")
  full_n = ds.X_train.shape[0]
  step_sizes = sizes({"quick": [4096], "full": [full_n],
                      "accelerator": [full_n, 8 * full_n, 32 * full_n]}, mode)
  kinds = ("linear",) if mode == "quick" else ("linear", "mlp")
  reps = {"quick": 20, "full": 100, "accelerator": 100}[mode]
  rows = []
  for n in step_sizes:
    X = jnp.asarray(_tiled(ds.X_train, n), jnp.float32)
    y, s = _tiled(ds.y_train, n), _tiled(ds.s_train, n)
    for kind in kinds:
      plain, con, params, st_plain, st_con = make_steps(X, y, s, kind)
      fns = {"constrained": lambda: con(params, st_con),
             "unconstrained": lambda: plain(params, st_plain)}
      med, first = interleave(fns, reps)
      p_new, _, loss = plain(params, st_plain)
      c_new, _, info = con(params, st_con)
      def summary(loss, p):
        return [float(loss)] + [float(jnp.linalg.norm(v))
                                for v in jax.tree.leaves(p)]
      model = ("logistic regression" if kind == "linear"
               else "MLP 102-64 tanh-1")
      note = (f"one full-batch Adam step on {n:,} rows"
              + (f" (Adult's {full_n:,} training rows tiled)"
                 if n > full_n else "")
              + "; constraints: DP (2 groups, bound 0.02), proxy and hard "
              "rates, dual step 0.05; values: the loss and the norms of the "
              "updated params (zero initial multipliers, so both take the "
              "same primal step); peer / fairjax < 1 is the constraint's "
              "overhead")
      compile_s = first["constrained"] - med["constrained"]
      if accel:
        rows.append(row(STEP.format(model=model), n, med["constrained"],
                        compile_s=compile_s, note=note + (
                            f"; unconstrained step "
                            f"{1e3 * med['unconstrained']:.3f} ms")))
      else:
        rows.append(row(STEP.format(model=model), n, med["constrained"],
                        compile_s=compile_s, peer="unconstrained step",
                        peer_s=med["unconstrained"],
                        value=summary(info.loss, c_new),
                        peer_value=summary(loss, p_new), rtol=1e-5,
                        atol=1e-6, note=note))

  if accel:
    return rows  # fairlearn is the peer of the fit: nothing to run here
  fit_rows = sizes({"quick": [4000], "full": [full_n]}, mode)[0]
  ours_s, first, theirs_s, ours, theirs = versus_fairlearn(
      ds, 0.02, False, rows=fit_rows, repeats=3)
  rows.append(row(
      FIT, fit_rows, ours_s, compile_s=first - ours_s,
      peer="fairlearn ExponentiatedGradient(LogisticRegression)",
      peer_s=theirs_s, value=[ours[0], ours[1]],
      peer_value=[theirs[0], theirs[1]], rtol=0.0, atol=0.01,
      note=f"values: accuracy on the {fit_rows:,} training rows and on the "
      f"{ds.X_test.shape[0]:,} test rows. DP gap train / test: fairjax "
      f"{ours[2]:.4f} / {ours[3]:.4f}, fairlearn {theirs[2]:.4f} / "
      f"{theirs[3]:.4f}. They differ in method: fairjax takes 500 "
      "full-batch Adam steps on the Lagrangian of the hard DP constraint "
      "(l2 1e-3) and returns one deterministic linear model, the best "
      "feasible iterate; fairlearn's reductions loop refits scikit-learn's "
      "LogisticRegression (C=1, max_iter=1000) once per iteration and "
      "returns a randomised mixture, scored by its predict(random_state=0) "
      "(its bound holds in expectation, up to its eps=0.01). fairjax: "
      "median of 3 fits after the first; fairlearn: one fit (nothing to "
      "compile), timed in the same process, not interleaved"))
  return rows


if __name__ == "__main__":
  main()
