"""Audit metrics: fairjax vs a numpy single pass vs fairlearn 0.15.

Run: python benchmarks/bench_metrics.py [--rows 1000000] [--groups 8]

Measures, in one process with interleaved repetitions (medians; only ratios
mean anything on a shared machine):

1. demographic parity difference + equalized odds difference at 10^6 rows:
   fairjax ``audit`` (one pass computing every rate metric, eager, input
   validation included; on numpy arrays and, for int32, on the same values
   as JAX arrays already on the device) and two separate metric calls, vs
   one numpy ``np.bincount`` pass over (group, label, prediction) cells,
   vs fairlearn.
2. bootstrap_ci with 1,000 resamples of 100,000 rows: fairjax's exact
   multinomial cell bootstrap vs fairlearn's MetricFrame bootstrap
   (``n_boot``; timed on fewer resamples and scaled, as it is slow), and the
   KS-distance bootstrap.

JAX compile time (first call minus the steady-state median) is reported
separately.
"""

import argparse
import functools
import statistics
import time
import warnings

import jax
import numpy as np

import fairjax

warnings.filterwarnings("ignore")


def numpy_single_pass(y, p, s, num_groups):
  """DP and equalized-odds differences from one bincount over cells."""
  cells = np.bincount(s * 4 + y * 2 + p, minlength=4 * num_groups)
  cells = cells.reshape(num_groups, 2, 2).astype(np.float64)
  sel = cells[:, :, 1].sum(1) / cells.sum((1, 2))
  tpr = cells[:, 1, 1] / cells[:, 1].sum(1)
  fpr = cells[:, 0, 1] / cells[:, 0].sum(1)
  dp = sel.max() - sel.min()
  eo = max(tpr.max() - tpr.min(), fpr.max() - fpr.min())
  return dp, eo


def fairjax_audit(y, p, s, num_groups):
  """One pass: every rate metric and the per-group statistics."""
  r = fairjax.audit(y, p, sensitive_features=s, num_groups=num_groups)
  return (float(r.demographic_parity_difference),
          float(r.equalized_odds_difference))


def fairjax_pair(y, p, s, num_groups):
  dp = fairjax.demographic_parity_difference(
      y, p, sensitive_features=s, num_groups=num_groups)
  eo = fairjax.equalized_odds_difference(
      y, p, sensitive_features=s, num_groups=num_groups)
  return float(dp), float(eo)


def fairlearn_pair(y, p, s, num_groups):
  import fairlearn.metrics as fm
  return (fm.demographic_parity_difference(y, p, sensitive_features=s),
          fm.equalized_odds_difference(y, p, sensitive_features=s))


def timeit(fn, reps):
  out = []
  for _ in range(reps):
    t = time.perf_counter()
    jax.block_until_ready(fn())
    out.append(time.perf_counter() - t)
  return out


def interleaved(fns, reps):
  """Runs the functions round-robin ``reps`` times; returns median seconds."""
  times = {k: [] for k in fns}
  for _ in range(reps):
    for k, fn in fns.items():
      times[k] += timeit(fn, 1)
  return {k: statistics.median(v) for k, v in times.items()}


def data(rng, n, num_groups):
  s = rng.integers(0, num_groups, n)
  y = (rng.random(n) < 0.3 + 0.4 * s / num_groups).astype(np.int64)
  p = (rng.random(n) < 0.2 + 0.3 * y + 0.1 * s / num_groups).astype(np.int64)
  return y, p, s


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--rows", type=int, default=1_000_000)
  ap.add_argument("--boot-rows", type=int, default=100_000)
  ap.add_argument("--groups", type=int, default=8)
  ap.add_argument("--reps", type=int, default=7)
  ap.add_argument("--fairlearn-boot", type=int, default=20,
                  help="MetricFrame resamples actually run (then scaled)")
  args = ap.parse_args()
  rng = np.random.default_rng(0)
  G = args.groups

  print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
  for dtype in (np.int64, np.int32):
    print(f"\n== DP + equalized odds difference, {args.rows:,} rows, "
          f"{G} groups, {np.dtype(dtype).name} inputs ==")
    y, p, s = (a.astype(dtype) for a in data(rng, args.rows, G))
    ref = numpy_single_pass(y, p, s, G)
    t0 = time.perf_counter()
    got = fairjax_audit(y, p, s, G)
    first = time.perf_counter() - t0
    np.testing.assert_allclose(got, ref, atol=1e-6)
    np.testing.assert_allclose(fairjax_pair(y, p, s, G), ref, atol=1e-6)
    fns = {"fairjax audit": functools.partial(fairjax_audit, y, p, s, G),
           "fairjax 2 calls": functools.partial(fairjax_pair, y, p, s, G),
           "numpy bincount": functools.partial(numpy_single_pass, y, p, s, G)}
    if dtype is np.int64:
      fns["fairlearn"] = functools.partial(fairlearn_pair, y, p, s, G)
    else:  # the same values already on the device, as a JAX pipeline has them
      on_device = jax.device_put((y, p, s))
      fns["audit, jax arrays"] = functools.partial(fairjax_audit, *on_device,
                                                   G)
    med = interleaved(fns, args.reps)
    for k, v in med.items():
      print(f"{k:>16}: {v * 1e3:9.2f} ms")
    print(f"  compile (first fairjax call - median, 0 if cached): "
          f"{max(0.0, first - med['fairjax audit']) * 1e3:.0f} ms")
    np_time = med["numpy bincount"]
    print(f"  ratio numpy/fairjax audit: {np_time / med['fairjax audit']:.2f}x"
          f"  (>= 1 means fairjax is at least as fast)")
    print(f"  ratio numpy/fairjax two metric calls: "
          f"{np_time / med['fairjax 2 calls']:.2f}x")
    if "audit, jax arrays" in med:
      print(f"  ratio numpy/fairjax audit on jax arrays: "
            f"{np_time / med['audit, jax arrays']:.2f}x")
    if "fairlearn" in med:
      print(f"  ratio fairlearn/fairjax audit: "
            f"{med['fairlearn'] / med['fairjax audit']:.0f}x")

  print(f"\n== bootstrap_ci, 1,000 resamples of {args.boot_rows:,} rows ==")
  y, p, s = data(rng, args.boot_rows, G)
  scores = np.clip(0.5 * p + 0.3 * rng.random(args.boot_rows), 0, 1)
  key = jax.random.key(0)
  cases = {
      "DP difference": (fairjax.demographic_parity_difference, p),
      "equalized odds": (fairjax.equalized_odds_difference, p),
      "KS distance": (fairjax.ks_distance, scores),
  }
  fj = {}
  for name, (metric, pred) in cases.items():
    t0 = time.perf_counter()
    jax.block_until_ready(fairjax.bootstrap_ci(
        metric, y, pred, sensitive_features=s, key=key, n_boot=1000))
    first = time.perf_counter() - t0
    run = functools.partial(fairjax.bootstrap_ci, metric, y, pred,
                            sensitive_features=s, key=key, n_boot=1000)
    med = statistics.median(timeit(run, 3))
    fj[name] = med
    print(f"{name:>16}: fairjax {med:8.3f} s (compile {first - med:.2f} s)")

  from fairlearn.metrics import MetricFrame, selection_rate
  k = args.fairlearn_boot
  t0 = time.perf_counter()
  MetricFrame(metrics=selection_rate, y_true=y, y_pred=p,
              sensitive_features=s, n_boot=k, random_state=0,
              ci_quantiles=[0.025, 0.975])
  fl = (time.perf_counter() - t0) * 1000 / k
  print(f"  fairlearn MetricFrame(selection_rate, n_boot=1000), scaled from "
        f"{k}: {fl:.1f} s")
  print(f"  ratio fairlearn/fairjax (DP): {fl / fj['DP difference']:.0f}x")


def run(mode):
  """Rows for ``python -m benchmarks`` (protocol: benchmarks/__init__.py)."""
  from benchmarks import interleave, row, sizes

  G = 8
  rng = np.random.default_rng(0)
  rows = []
  audit_sizes = sizes({"quick": [10_000],
                       "full": [10_000, 100_000, 1_000_000, 10_000_000],
                       "accelerator": [10_000_000, 100_000_000]}, mode)
  name = f"audit: DP + equalized odds difference, {G} groups (n rows)"
  for n in audit_sizes:
    y, p, s = (a.astype(np.int32) for a in data(rng, n, G))
    if mode == "accelerator":
      y, p, s = jax.device_put((y, p, s))
    fns = {"fairjax": functools.partial(fairjax_audit, y, p, s, G)}
    if mode != "accelerator":
      fns["numpy bincount"] = functools.partial(numpy_single_pass, y, p, s, G)
      if n <= 100_000:
        fns["fairlearn"] = functools.partial(fairlearn_pair, y, p, s, G)
    med, first = interleave(fns, 1 if mode == "quick" else 5)
    value = fairjax_audit(y, p, s, G)
    for peer, fn in fns.items():
      if peer == "fairjax":
        continue
      rows.append(row(name, n, med["fairjax"],
                      compile_s=first["fairjax"] - med["fairjax"], peer=peer,
                      peer_s=med[peer], value=value, peer_value=fn(),
                      atol=1e-6, note="int32 numpy inputs"))
    if mode == "accelerator":
      rows.append(row(name, n, med["fairjax"],
                      compile_s=first["fairjax"] - med["fairjax"],
                      note="int32 inputs already on the device"))

  n_boot = 100 if mode == "quick" else 1000
  boot_sizes = sizes({"quick": [10_000], "full": [10_000, 100_000, 1_000_000],
                      "accelerator": [1_000_000, 10_000_000]}, mode)
  name = f"bootstrap_ci: DP difference, {n_boot:,} resamples (n rows)"
  key = jax.random.key(0)
  for n in boot_sizes:
    y, p, s = data(rng, n, G)
    fj = functools.partial(fairjax.bootstrap_ci,
                           fairjax.demographic_parity_difference, y, p,
                           sensitive_features=s, num_groups=G, key=key,
                           n_boot=n_boot)
    med, first = interleave({"fairjax": fj}, 1 if mode == "quick" else 3)
    compile_s = first["fairjax"] - med["fairjax"]
    if mode == "accelerator":
      rows.append(row(name, n, med["fairjax"], compile_s=compile_s))
      continue
    from fairlearn.metrics import MetricFrame, selection_rate
    ci = fj()
    k = 5 if mode == "quick" else (20 if n <= 100_000 else 0)
    if not k:  # fairlearn would take hours
      rows.append(row(name, n, med["fairjax"], compile_s=compile_s))
      continue
    t0 = time.perf_counter()
    frame = MetricFrame(metrics=selection_rate, y_true=y, y_pred=p,
                        sensitive_features=s, n_boot=k, random_state=0,
                        ci_quantiles=[0.5])
    peer_s = (time.perf_counter() - t0) * n_boot / k
    rows.append(row(
        name, n, med["fairjax"], compile_s=compile_s,
        peer="fairlearn MetricFrame(n_boot)", peer_s=peer_s,
        value=float(ci.estimate), peer_value=float(frame.difference()),
        atol=1e-6,
        note=f"fairlearn timed on {k} resamples and scaled to {n_boot:,}; "
             "the point estimates are compared"))
  return rows


if __name__ == "__main__":
  main()
