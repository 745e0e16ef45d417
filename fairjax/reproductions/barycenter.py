"""Reproduces Wasserstein-barycenter post-processing (Chzhen et al., 2020).

Part A, the authors' Crime experiment on their published random-forest
predictions (``load_crime_rf_predictions``): the unlabeled sample is the
forest's in-sample predictions on the 1,795 training rows, the map is
applied to its 199 test predictions. Reported: test MSE and KS before and
after, for

* the reference code's conventions (re-implemented here in numpy: CDFs from
  the in-sample predictions with a strict ``<``, other group's quantile
  found on a 100-point grid, own group's term the prediction itself);
* ``fit_barycenter(split=False, jitter=0)``: exact empirical quantiles on
  the same sample;
* ``fit_barycenter(split=True, jitter=1e-5)``: the paper's estimator, over
  20 keys (mean +- std).

KS is the authors' (1,000-point grid between the predictions' min and max,
``f_ks.m``) and the exact supremum (``fairjax`` ``ks_distance``).

Part B, 10 random splits of the 1,994 Crime rows (50% train, 25% unlabeled,
25% test): a ridge regressor and a small MLP (one hidden layer of 64 ReLU
units, Adam) trained in JAX on the 247 inputs (the sensitive columns
included, as for the forest), post-processed with the barycenter map fitted
on the unlabeled rows' predictions, at alpha in {0, 0.25, 0.5, 0.75, 1}
(both interpolations; the paper's estimator, and for comparison exact
quantiles on the whole unlabeled sample, ``split=False``). Mean +- std of
test RMSE and exact KS.

Run: ``python -m fairjax.reproductions.barycenter [--quick] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

PUBLISHED = {  # ../shared/papers.md; the authors' NIPS2020_Fairness code
    "random forest": (0.0141, 0.602),
    "reference conventions": (0.0322, 0.0815),
    "exact quantiles": (0.0324, 0.090),
}
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


# ---------------------------------------------------------------- metrics


def ks_grid(pred, s, points=1000):
  """The authors' KS: max over a uniform grid of |F_0(t) - F_1(t)|."""
  pred, s = np.asarray(pred, np.float64), np.asarray(s)
  grid = np.linspace(pred.min(), pred.max(), points)
  cdfs = [np.searchsorted(np.sort(pred[s == g]), grid, side="right")
          / np.sum(s == g) for g in (0, 1)]
  return float(np.max(np.abs(cdfs[0] - cdfs[1])))


def ks_exact(pred, s):
  """Exact KS between the two groups (``fairjax`` ``ks_distance``)."""
  from fairjax._metrics import ks_distance
  pred = np.asarray(pred, np.float32)
  return float(ks_distance(pred, pred, sensitive_features=np.asarray(s)))


def _mse(y, pred):
  return float(np.mean((np.asarray(y, np.float64) - pred) ** 2))


# ---------------------------------------------------------------- part A


def reference_conventions(train_pred, s_train, test_pred, s_test, grid=100):
  """The reference code's two-group post-processing, vectorised in numpy.

  A test prediction ``x`` of group ``s`` has level ``#{train_s < x} / n_s``;
  the other group's value is the grid point ``t`` (100 points between the
  training predictions' min and max) whose ``#{train_o < t} / n_o`` is
  closest to that level (first on ties), and the output is
  ``p_s x + (1 - p_s) t``.
  """
  train_pred = np.asarray(train_pred, np.float64)
  test_pred = np.asarray(test_pred, np.float64)
  ts = np.linspace(train_pred.min(), train_pred.max(), grid)
  out = np.empty_like(test_pred)
  for g in (0, 1):
    own = np.sort(train_pred[s_train == g])
    other = np.sort(train_pred[s_train == 1 - g])
    p = own.size / train_pred.size
    x = test_pred[s_test == g]
    level = np.searchsorted(own, x, side="left") / own.size
    grid_level = np.searchsorted(other, ts, side="left") / other.size
    best = np.argmin(np.abs(grid_level[None, :] - level[:, None]), axis=1)
    out[s_test == g] = p * x + (1 - p) * ts[best]
  return out


def part_a(quick: bool) -> list[dict]:
  """The authors' Crime experiment on their random-forest predictions."""
  from fairjax._barycenter import apply_barycenter, fit_barycenter
  from fairjax.datasets import load_crime_rf_predictions

  rf = load_crime_rf_predictions()
  rows = []

  def row(name, pred, extra=""):
    rows.append({
        "method": name, "mse": _mse(rf.y_test, pred),
        "ks_grid": ks_grid(pred, rf.s_test),
        "ks_exact": ks_exact(pred, rf.s_test), "note": extra})

  row("random forest", rf.pred_test)
  row("reference conventions", reference_conventions(
      rf.pred_train, rf.s_train, rf.pred_test, rf.s_test))
  state = fit_barycenter(rf.pred_train, sensitive_features=rf.s_train,
                         key=None, jitter=0.0, split=False)
  row("exact quantiles", np.asarray(apply_barycenter(
      state, rf.pred_test, sensitive_features=rf.s_test)),
      "fit_barycenter(split=False, jitter=0)")
  keys = 5 if quick else 20
  runs = []
  for seed in range(keys):
    k_fit, k_apply = jax.random.split(jax.random.key(seed))
    state = fit_barycenter(rf.pred_train, sensitive_features=rf.s_train,
                           key=k_fit)
    runs.append(np.asarray(apply_barycenter(
        state, rf.pred_test, sensitive_features=rf.s_test, key=k_apply)))
  stats = {m: [f(p) for p in runs] for m, f in (
      ("mse", lambda p: _mse(rf.y_test, p)),
      ("ks_grid", lambda p: ks_grid(p, rf.s_test)),
      ("ks_exact", lambda p: ks_exact(p, rf.s_test)))}
  rows.append({"method": "paper's estimator",
               **{m: float(np.mean(v)) for m, v in stats.items()},
               **{m + "_std": float(np.std(v)) for m, v in stats.items()},
               "note": f"split=True, jitter=1e-5, mean over {keys} keys"})
  return rows


# ---------------------------------------------------------------- part B


def _standardize(x_train, *others):
  mu, sd = x_train.mean(0), x_train.std(0)
  sd = np.where(sd > 0, sd, 1.0)
  return [(x - mu) / sd for x in (x_train, *others)]


def fit_ridge(x, y, lam=10.0):
  """Ridge with an unpenalised intercept, closed form in JAX."""
  x, y = jnp.asarray(x), jnp.asarray(y)
  mx, my = x.mean(0), y.mean()
  xc = x - mx
  w = jnp.linalg.solve(xc.T @ xc + lam * jnp.eye(x.shape[1], dtype=x.dtype),
                       xc.T @ (y - my))
  return lambda z: (jnp.asarray(z) - mx) @ w + my


def fit_mlp(x, y, *, key, steps=1500, hidden=64, lr=1e-3, l2=1e-2):
  """One hidden layer of ReLU units, full-batch Adam (optax) on the MSE.

  With ``l2 * (|W1|^2 + |w2|^2)`` added to the loss (247 inputs for about
  1,000 rows: without it the network overfits).
  """
  import optax

  x, y = jnp.asarray(x), jnp.asarray(y)
  k1, k2 = jax.random.split(key)
  d = x.shape[1]
  params = {
      "w1": jax.random.normal(k1, (d, hidden)) * jnp.sqrt(2.0 / d),
      "b1": jnp.zeros(hidden),
      "w2": jax.random.normal(k2, (hidden,)) * jnp.sqrt(1.0 / hidden),
      "b2": y.mean(),
  }

  def predict(p, z):
    return jax.nn.relu(z @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

  def loss(p):
    penalty = jnp.sum(p["w1"] ** 2) + jnp.sum(p["w2"] ** 2)
    return jnp.mean((predict(p, x) - y) ** 2) + l2 * penalty

  opt = optax.adam(lr)

  @jax.jit
  def train(p):
    def step(carry, _):
      p, state = carry
      grads = jax.grad(loss)(p)
      updates, state = opt.update(grads, state, p)
      return (optax.apply_updates(p, updates), state), None
    return jax.lax.scan(step, (p, opt.init(p)), None, length=steps)[0][0]

  params = train(params)
  return lambda z: predict(params, jnp.asarray(z))


def part_b(quick: bool) -> tuple[list[dict], list[float]]:
  """Ridge and MLP over random splits; returns per-split records, KS floors."""
  from fairjax._barycenter import fit_barycenter
  from fairjax.datasets import load_crime

  data = load_crime(include_sensitive=True)
  x_all = np.concatenate([data.X_train, data.X_test]).astype(np.float32)
  y_all = np.concatenate([data.y_train, data.y_test]).astype(np.float32)
  s_all = np.concatenate([data.s_train, data.s_test]).astype(np.int32)
  n = y_all.size
  splits = 2 if quick else 10
  records, floors = [], []
  for split in range(splits):
    perm = np.random.default_rng(split).permutation(n)
    tr, un, te = np.split(perm, [n // 2, 3 * n // 4])
    x_tr, x_un, x_te = _standardize(x_all[tr], x_all[un], x_all[te])
    models = {
        "ridge": fit_ridge(x_tr, y_all[tr]),
        "mlp": fit_mlp(x_tr, y_all[tr], key=jax.random.key(split),
                       steps=500 if quick else 1500),
    }
    # KS of a predictor that is DP-fair by construction at this test size:
    # the test predictions with the group labels shuffled.
    shuffled = np.random.default_rng(1000 + split).permutation(s_all[te])
    floors.append(ks_exact(np.asarray(models["ridge"](x_te)), shuffled))
    for name, model in models.items():
      f_un = np.asarray(model(x_un), np.float32)
      f_te = np.asarray(model(x_te), np.float32)
      k_fit, k_apply = jax.random.split(jax.random.key(100 + split))
      state = fit_barycenter(f_un, sensitive_features=s_all[un], key=k_fit)
      exact = fit_barycenter(f_un, sensitive_features=s_all[un], key=None,
                             jitter=0.0, split=False)
      fits = {"linear": state, "relative_improvement": state,
              "linear, split=False": exact}
      for interp, fitted in fits.items():
        curve = _curve(fitted, f_te, s_all[te], k_apply, interp.split(",")[0])
        for alpha, pred in zip(ALPHAS, np.asarray(curve), strict=True):
          records.append({
              "split": split, "model": name, "interpolation": interp,
              "alpha": alpha,
              "rmse": float(np.sqrt(_mse(y_all[te], pred))),
              "ks": ks_exact(pred, s_all[te])})
  return records, floors


def _curve(state, pred, s, key, interpolation):
  """The post-processed predictions at every alpha, one vmapped call."""
  from fairjax._barycenter import apply_barycenter

  def at(alpha):
    return apply_barycenter(state, pred, sensitive_features=s, key=key,
                            alpha=alpha, interpolation=interpolation)

  return jax.vmap(at)(jnp.asarray(ALPHAS, jnp.float32))


def _summarise(records):
  rows = []
  keys = sorted({(r["model"], r["interpolation"], r["alpha"])
                 for r in records})
  for model, interp, alpha in keys:
    sel = [r for r in records if (r["model"], r["interpolation"],
                                  r["alpha"]) == (model, interp, alpha)]
    rmse = [r["rmse"] for r in sel]
    ks = [r["ks"] for r in sel]
    rows.append({"model": model, "interpolation": interp, "alpha": alpha,
                 "rmse": float(np.mean(rmse)), "rmse_std": float(np.std(rmse)),
                 "ks": float(np.mean(ks)), "ks_std": float(np.std(ks)),
                 "splits": len(sel)})
  return rows


# ---------------------------------------------------------------- output


def _table_a(rows):
  lines = ["| method | test MSE | KS (grid) | KS (exact) | published MSE / KS "
           "| note |", "|---|---|---|---|---|---|"]
  for r in rows:
    pub = PUBLISHED.get(r["method"])
    pub = f"{pub[0]:.4f} / {pub[1]:.4f}" if pub else "about 0.032 / <= 0.10"
    def std(m, r=r):
      return f" +- {r[m + '_std']:.4f}" if m + "_std" in r else ""

    lines.append(
        f"| {r['method']} | {r['mse']:.4f}{std('mse')} | "
        f"{r['ks_grid']:.4f}{std('ks_grid')} | "
        f"{r['ks_exact']:.4f}{std('ks_exact')} | {pub} | {r['note']} |")
  return "\n".join(lines)


def _table_b(rows):
  lines = ["| model | interpolation | alpha | test RMSE | KS (exact) |",
           "|---|---|---|---|---|"]
  for r in rows:
    lines.append(
        f"| {r['model']} | {r['interpolation']} | {r['alpha']:.2f} | "
        f"{r['rmse']:.4f} +- {r['rmse_std']:.4f} | "
        f"{r['ks']:.4f} +- {r['ks_std']:.4f} |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  """Runs both parts, prints the tables and writes them to ``--out``."""
  parser = argparse.ArgumentParser(
      prog="fairjax reproduce barycenter", description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true",
                      help="2 splits, 5 keys, shorter MLP training")
  parser.add_argument("--out", default="results/barycenter",
                      help="output folder (default: results/barycenter)")
  args = parser.parse_args(argv)
  start = time.perf_counter()
  rows_a = part_a(args.quick)
  records, floors = part_b(args.quick)
  rows_b = _summarise(records)
  text = (
      "## A. Crime, the authors' random-forest predictions\n\n"
      + _table_a(rows_a)
      + "\n\n## B. Crime, random 50/25/25 splits (train / unlabeled / test)"
      f", {rows_b[0]['splits']} splits, mean +- std\n\n"
      + _table_b(rows_b) + "\n\nKS floor at this test size (test predictions"
      f" with shuffled group labels): {np.mean(floors):.4f} +- "
      f"{np.std(floors):.4f}\n")
  print(text)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  (out / ("results_quick.md" if args.quick else "results.md")).write_text(text)
  (out / ("results_quick.json" if args.quick else "results.json")).write_text(
      json.dumps({"crime_rf": rows_a, "splits": rows_b, "records": records,
                  "ks_floor": floors,
                  "quick": args.quick, "jax": jax.__version__,
                  "seconds": time.perf_counter() - start}, indent=1))
  print(f"wrote {out}/ in {time.perf_counter() - start:.0f} s")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
