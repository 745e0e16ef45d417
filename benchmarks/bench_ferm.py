"""Linear FERM on full Adult: fairjax (JAX, L-BFGS) vs scikit-learn's SVC.

Both fit a linear SVM (C=0.01, hinge, L2) on the same FERM-projected features
of Adult (the reference split, 32,561 x 13, orthogonal projection), the
reference approach being ``SVC(kernel="linear")`` (libsvm) as in fair_ERM.
Repetitions are interleaved; medians and the ratio are printed; JAX's
compile time (first call) is reported separately. LinearSVC (liblinear,
hinge loss; it also penalises the bias) is shown for context.

Run: ``python benchmarks/bench_ferm.py [--reps 3]``.
"""

import argparse
import time

import jax
import numpy as np
try:  # the peer; absent on an accelerator machine (run("accelerator"))
  from sklearn.svm import SVC, LinearSVC
except ImportError:
  SVC = LinearSVC = None

from fairjax._ferm import apply_ferm_projection, fit_ferm_projection
from fairjax._linear import decision_function, fit_linear_svm
from fairjax.datasets import load_adult


def deo(y, pred, s):
  tpr = [pred[(y == 1) & (s == g)].mean() for g in (0, 1)]
  return abs(tpr[0] - tpr[1])


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--reps", type=int, default=3)
  parser.add_argument("--C", type=float, default=0.01)
  args = parser.parse_args()
  ds = load_adult(split="ferm")
  X, y, s = ds.X_train, ds.y_train, ds.s_train
  Xt, yt, st = ds.X_test, ds.y_test, ds.s_test

  def fairjax_fit():
    state = fit_ferm_projection(X, y, sensitive_features=s)
    model = fit_linear_svm(apply_ferm_projection(state, X), y, C=args.C)
    jax.block_until_ready(model)
    return state, model

  t = time.perf_counter()
  fairjax_fit()
  first = time.perf_counter() - t
  state, _ = fairjax_fit()
  Z, Zt = (np.asarray(apply_ferm_projection(state, A)) for A in (X, Xt))

  times = {"fairjax": [], "sklearn SVC": [], "sklearn LinearSVC": []}
  preds = {}
  for _ in range(args.reps):  # interleaved repetitions
    t = time.perf_counter()
    state, model = fairjax_fit()
    times["fairjax"].append(time.perf_counter() - t)
    Zt_j = apply_ferm_projection(state, Xt)
    preds["fairjax"] = np.asarray(decision_function(model, Zt_j) > 0)
    t = time.perf_counter()
    svc = SVC(kernel="linear", C=args.C).fit(Z, y)
    times["sklearn SVC"].append(time.perf_counter() - t)
    preds["sklearn SVC"] = svc.decision_function(Zt) > 0
    t = time.perf_counter()
    lin = LinearSVC(loss="hinge", C=args.C, max_iter=100_000).fit(Z, y)
    times["sklearn LinearSVC"].append(time.perf_counter() - t)
    preds["sklearn LinearSVC"] = lin.decision_function(Zt) > 0

  ref = np.median(times["sklearn SVC"])
  print(f"Adult (reference split) {X.shape}, linear FERM, C={args.C}, "
        f"{args.reps} interleaved reps")
  print(f"fairjax first call (compile + run): {first:.2f} s; compile ~ "
        f"{first - np.median(times['fairjax']):.2f} s")
  print(f"{'method':20s} {'median s':>9s} {'SVC / it':>9s} {'ACC':>7s} "
        f"{'DEO':>7s}")
  for name, ts in times.items():
    p = preds[name].astype(int)
    print(f"{name:20s} {np.median(ts):9.3f} {ref / np.median(ts):9.1f} "
          f"{np.mean(p == yt):7.4f} {deo(yt, p, st):7.4f}")


def run(mode):
  """Rows for ``python -m benchmarks`` (protocol: benchmarks/__init__.py).

  Linear FERM (projection fit + linear SVM fit) on the first n rows of
  Adult's reference training split; the peers fit the same SVM on the same
  projected features; the test accuracies are compared.
  """
  from benchmarks import interleave, row
  from benchmarks import sizes as pick_sizes

  C = 0.01
  ds = load_adult(split="ferm")
  full = ds.X_train.shape[0]
  sizes = pick_sizes({"quick": [2_000], "full": [2_000, 8_000, full],
                      "accelerator": [full]}, mode)
  name = f"linear FERM: projection + linear SVM, C={C} (n Adult rows)"
  rows = []
  for n in sizes:
    X, y, s = ds.X_train[:n], ds.y_train[:n], ds.s_train[:n]

    def fairjax_fit(X=X, y=y, s=s):
      state = fit_ferm_projection(X, y, sensitive_features=s)
      return state, fit_linear_svm(apply_ferm_projection(state, X), y, C=C)

    t = time.perf_counter()
    state, model = jax.block_until_ready(fairjax_fit())
    first_s = time.perf_counter() - t  # tracing and compilation included
    Z, Zt = (np.asarray(apply_ferm_projection(state, A))
             for A in (X, ds.X_test))
    fns = {"fairjax": fairjax_fit}
    if mode != "accelerator":
      if n <= 8_000:  # libsvm is quadratic in n: 94 s at 32,561 rows
        fns["scikit-learn SVC(kernel='linear')"] = (
            lambda Z=Z, y=y: SVC(kernel="linear", C=C).fit(Z, y))
      fns["scikit-learn LinearSVC(hinge)"] = (
          lambda Z=Z, y=y: LinearSVC(loss="hinge", C=C,
                                     max_iter=100_000).fit(Z, y))
    med, _ = interleave(fns, 1 if mode == "quick" else 3)
    compile_s = first_s - med["fairjax"]
    acc = float(np.mean(np.asarray(
        decision_function(model, apply_ferm_projection(state, ds.X_test))
        > 0) == ds.y_test))
    if mode == "accelerator":
      rows.append(row(name, n, med["fairjax"], compile_s=compile_s))
    for peer, fn in fns.items():
      if peer == "fairjax":
        continue
      peer_acc = float(np.mean((fn().decision_function(Zt) > 0)
                               == ds.y_test))
      rows.append(row(
          name, n, med["fairjax"], compile_s=compile_s, peer=peer,
          peer_s=med[peer], value=acc, peer_value=peer_acc, atol=0.01,
          note="test accuracies compared (atol 0.01); LinearSVC also "
               "penalises the bias" if "Linear" in peer else
               "test accuracies compared (atol 0.01)"))
  return rows


if __name__ == "__main__":
  main()
