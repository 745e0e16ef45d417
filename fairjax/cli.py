"""The ``fairjax`` command.

``fairjax demo [--dataset adult]``
    trains a baseline, FERM, barycenter post-processing and an MMD-penalised
    network on a vendored data set and compares their accuracy and fairness.
``fairjax audit --dataset adult``
    trains a logistic regression (JAX/Optax) on a vendored data set, then
    audits its test predictions: fairness metrics with bootstrap confidence
    intervals and per-group statistics, printed and written as JSON.
``fairjax audit --csv FILE --target COL --pred COL --sensitive COL``
    audits your own predictions from a CSV file.
``fairjax reproduce NAME [options]``
    runs a paper reproduction (``fairjax reproduce --list`` lists them).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import pkgutil
import sys
import time
from collections.abc import Sequence

import numpy as np

_DATASETS = ("adult", "german", "compas")
_RATE_METRICS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
)


def _read_csv(path, target, pred, sensitive, weight):
  """Reads the named columns of a CSV file with a header row."""
  with open(path, newline="") as f:
    reader = csv.DictReader(f)
    names = reader.fieldnames or []
    wanted = [c for c in (target, pred, sensitive, weight) if c]
    missing = [c for c in wanted if c not in names]
    if missing:
      raise SystemExit(f"error: column(s) {missing} not in {path}; "
                       f"columns are {names}")
    cols = {c: [] for c in wanted}
    for row in reader:
      for c in wanted:
        cols[c].append(row[c])

  def numeric(c):
    try:
      return np.asarray(cols[c], dtype=np.float64)
    except ValueError:
      raise SystemExit(f"error: column {c!r} must be numeric") from None

  return (numeric(target), numeric(pred), np.asarray(cols[sensitive]),
          numeric(weight) if weight else None)


def _from_dataset(name: str, sensitive: str | None, seed: int):
  """Fits logistic regression on the training split; scores on the test."""
  from fairjax import datasets
  from fairjax._linear import decision_function, fit_logistic_regression

  loader = getattr(datasets, f"load_{name}")
  kwargs = {"sensitive": sensitive} if sensitive else {}
  if name != "adult":
    kwargs["seed"] = seed
  data = loader(**kwargs)
  model = fit_logistic_regression(data.X_train, data.y_train, l2=1e-4)
  scores = 1 / (1 + np.exp(-np.asarray(decision_function(model, data.X_test),
                                       np.float64)))
  return (data.y_test, scores, data.s_test, None, data.group_names,
          f"logistic regression on {name} ({data.X_train.shape[0]:,} train / "
          f"{data.X_test.shape[0]:,} test rows, sensitive: "
          f"{kwargs.get('sensitive', 'default')})")


def _is_binary(x: np.ndarray) -> bool:
  return bool(np.all((x == 0) | (x == 1)))


def run_audit(y_true, y_pred, groups, *, sample_weight=None, group_names=None,
              threshold=0.5, n_boot=1000, level=0.95, seed=0) -> dict:
  """Computes the audit report as a JSON-ready dict."""
  import jax

  import fairjax

  if not _is_binary(y_true):
    raise SystemExit("error: the target must be binary (0/1)")
  enc = fairjax.encode_groups(groups)
  s, num_groups = enc.ids, enc.num_groups
  names = ([str(group_names[int(v[0])]) for v in enc.names]
           if group_names is not None else [str(v[0]) for v in enc.names])
  scores = np.asarray(y_pred, np.float32)
  hard = scores.astype(np.int32) if _is_binary(scores) else (
      scores >= threshold).astype(np.int32)
  y = np.asarray(y_true, np.int32)
  w = None if sample_weight is None else np.asarray(sample_weight, np.float32)
  key = jax.random.key(seed)
  metrics = {}
  for i, name in enumerate(_RATE_METRICS + ("ks_distance",)):
    metric = getattr(fairjax, name)
    pred = scores if name == "ks_distance" else hard
    r = fairjax.bootstrap_ci(metric, y, pred, sensitive_features=s,
                             key=jax.random.fold_in(key, i), n_boot=n_boot,
                             level=level, sample_weight=w,
                             num_groups=num_groups)
    metrics[name] = {"value": float(r.estimate), "lower": float(r.lower),
                     "upper": float(r.upper), "std": float(r.std)}
  stats = fairjax.group_statistics(y, scores, sensitive_features=s,
                                   sample_weight=w, threshold=threshold,
                                   num_groups=num_groups)
  per_group = [
      {"group": names[g], **{f: float(getattr(stats, f)[g])
                             for f in stats._fields}}
      for g in range(num_groups)
  ]
  accuracy = float(np.average(hard == y, weights=w))
  return {"rows": int(len(y)), "accuracy": accuracy, "threshold": threshold,
          "n_boot": n_boot, "level": level, "metrics": metrics,
          "groups": per_group}


def format_report(report: dict, title: str) -> str:
  """The audit report as an aligned text table."""
  pct = f"{report['level']:.0%}"
  lines = [title, f"rows: {report['rows']:,}   accuracy: "
           f"{report['accuracy']:.4f}   threshold: {report['threshold']}", "",
           f"{'metric':<32}{'value':>9}   {pct} bootstrap CI "
           f"({report['n_boot']} resamples)"]
  for name, m in report["metrics"].items():
    lines.append(f"{name:<32}{m['value']:>9.4f}   "
                 f"[{m['lower']:.4f}, {m['upper']:.4f}]")
  lines += ["", f"{'group':<24}{'count':>10}{'selection':>11}{'TPR':>8}"
            f"{'FPR':>8}{'mean score':>12}"]
  for g in report["groups"]:
    lines.append(f"{g['group'][:23]:<24}{g['count']:>10.0f}"
                 f"{g['selection_rate']:>11.4f}{g['true_positive_rate']:>8.4f}"
                 f"{g['false_positive_rate']:>8.4f}"
                 f"{g['mean_prediction']:>12.4f}")
  return "\n".join(lines)


def _audit(args) -> int:
  if (args.dataset is None) == (args.csv is None):
    raise SystemExit("error: give either --dataset or --csv")
  t0 = time.perf_counter()
  if args.dataset:
    y, pred, s, w, names, title = _from_dataset(args.dataset, args.sensitive,
                                                args.seed)
  else:
    if not (args.target and args.pred and args.sensitive):
      raise SystemExit("error: --csv needs --target, --pred and --sensitive")
    y, pred, s, w = _read_csv(args.csv, args.target, args.pred,
                              args.sensitive, args.weight)
    names, title = None, f"predictions from {args.csv}"
  report = run_audit(y, pred, s, sample_weight=w, group_names=names,
                     threshold=args.threshold, n_boot=args.n_boot,
                     level=args.level, seed=args.seed)
  report["source"] = title
  print(format_report(report, title))
  with open(args.json, "w") as f:
    json.dump(report, f, indent=2)
  print(f"\nwrote {args.json} ({time.perf_counter() - t0:.1f} s)")
  return 0


def _demo(args) -> int:
  from fairjax import demo

  t0 = time.perf_counter()
  rows = demo.run_demo(args.dataset, seed=args.seed, steps=args.steps,
                       strength=args.strength)
  print(demo.format_rows(rows, f"fairjax demo on {args.dataset} (test set; "
                         "predictions thresholded at 0.5)"))
  with open(args.json, "w") as f:
    json.dump({"dataset": args.dataset, "seed": args.seed,
               "rows": [r._asdict() for r in rows]}, f, indent=2)
  print(f"\nwrote {args.json} ({time.perf_counter() - t0:.1f} s)")
  return 0


def _reproductions() -> list[str]:
  import fairjax.reproductions as r
  return sorted(m.name for m in pkgutil.iter_modules(r.__path__))


def _reproduce(args, rest: list[str]) -> int:
  available = _reproductions()
  if args.list or not args.name:
    print("available reproductions: " + ", ".join(available))
    return 0
  if args.name not in available:
    raise SystemExit(f"error: unknown reproduction {args.name!r}; "
                     f"available: {', '.join(available)}")
  module = importlib.import_module(f"fairjax.reproductions.{args.name}")
  return int(module.main(rest) or 0)


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the ``fairjax`` command line; returns the exit status."""
  parser = argparse.ArgumentParser(prog="fairjax", description=__doc__,
                                   formatter_class=argparse.RawTextHelpFormatter)
  sub = parser.add_subparsers(dest="command", required=True)

  audit = sub.add_parser("audit", help="fairness audit with bootstrap CIs")
  audit.add_argument("--dataset", choices=_DATASETS)
  audit.add_argument("--csv", help="CSV file with a header row")
  audit.add_argument("--target", help="CSV column of binary true labels")
  audit.add_argument("--pred", help="CSV column of predictions (0/1 or scores)")
  audit.add_argument("--sensitive", help="sensitive attribute: a CSV column, "
                     "or the loader's option with --dataset (e.g. sex, race)")
  audit.add_argument("--weight", help="CSV column of sample weights")
  audit.add_argument("--threshold", type=float, default=0.5)
  audit.add_argument("--n-boot", type=int, default=1000)
  audit.add_argument("--level", type=float, default=0.95)
  audit.add_argument("--seed", type=int, default=0)
  audit.add_argument("--json", default="fairjax_audit.json",
                     help="where to write the report (default: %(default)s)")

  demo = sub.add_parser("demo", help="the library's methods side by side")
  # German's sensitive groups (foreign workers: 37 rows) are too small to
  # fit a post-processing map on.
  demo.add_argument("--dataset", choices=("adult", "compas"), default="adult")
  demo.add_argument("--steps", type=int, default=400,
                    help="training steps of the MMD network")
  demo.add_argument("--strength", type=float, default=10.0,
                    help="MMD penalty strength")
  demo.add_argument("--seed", type=int, default=0)
  demo.add_argument("--json", default="fairjax_demo.json",
                    help="where to write the results (default: %(default)s)")

  repro = sub.add_parser("reproduce", help="run a paper reproduction")
  repro.add_argument("name", nargs="?")
  repro.add_argument("--list", action="store_true")

  args, rest = parser.parse_known_args(argv)
  if args.command == "reproduce":
    return _reproduce(args, rest)
  if rest:
    parser.error(f"unrecognized arguments: {' '.join(rest)}")
  return _audit(args) if args.command == "audit" else _demo(args)


if __name__ == "__main__":
  sys.exit(main())
