"""The fairjax command.

  fairjax demo [--dataset adult|compas] [--quick] [--out DIR]
      trains a baseline and each of the library's methods on a vendored data
      set and compares their accuracy and fairness in one table, with plots.
  fairjax audit --dataset adult [--sensitive sex]
      trains a logistic regression (JAX/Optax) on a vendored data set, then
      audits its test predictions: fairness metrics with bootstrap confidence
      intervals and per-group statistics, printed and written as JSON.
  fairjax audit --csv FILE --target COL --pred COL --sensitive COL
      audits your own predictions from a CSV file (repeat --sensitive to
      audit the intersection of several columns).
  fairjax reproduce NAME [options]
      runs a paper reproduction (fairjax reproduce --list lists them;
      fairjax reproduce NAME --help shows its options).

Errors in the input are reported in one line on stderr, with exit status 1;
invalid command-line syntax exits with status 2.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import math
import os
import pathlib
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
_MISSING = ("", "na", "nan", "null", "none")
_SHOWN_ROWS = 5


class CommandError(Exception):
  """An input error the command reports in one line (exit status 1)."""


def _version() -> str:
  try:
    from importlib.metadata import version
    return version("fairjax")
  except Exception:  # not installed (e.g. run from a source tree)
    import fairjax
    return fairjax.__version__


def _lines(rows: np.ndarray) -> str:
  """CSV line numbers (the header is line 1) of data rows, abbreviated."""
  shown = ", ".join(str(int(r) + 2) for r in rows[:_SHOWN_ROWS])
  more = len(rows) - _SHOWN_ROWS
  return shown + (f" and {more} more" if more > 0 else "")


def _read_csv(path, target, pred, sensitive, weight, *, drop_missing=False):
  """Reads the named columns of a CSV file with a header row.

  Returns ``(y, scores, sensitive_columns, weights, dropped)``: numeric
  columns as float64 arrays, each sensitive column as an array of strings,
  and the number of rows dropped for missing values.
  """
  try:
    with open(path, newline="") as f:
      reader = csv.DictReader(f)
      names = reader.fieldnames or []
      wanted = list(dict.fromkeys(
          c for c in (target, pred, *sensitive, weight) if c))
      missing = [c for c in wanted if c not in names]
      if not names:
        raise CommandError(f"{path} is empty (expected a header row and "
                           "data rows)")
      if missing:
        raise CommandError(f"column(s) {missing} not in {path}; columns are "
                           f"{names}")
      cols = {c: [] for c in wanted}
      for row in reader:
        for c in wanted:
          cols[c].append((row[c] or "").strip())
  except OSError as e:
    raise CommandError(f"cannot read {path}: {e.strerror or e}") from None
  except (csv.Error, UnicodeDecodeError) as e:
    raise CommandError(f"cannot parse {path} as CSV: {e}") from None
  n = len(cols[wanted[0]])
  if n == 0:
    raise CommandError(f"{path} has a header but no data rows")

  absent = {c: np.array([v.lower() in _MISSING for v in cols[c]])
            for c in wanted}
  numeric_cols = [c for c in (target, pred, weight) if c]
  for c in numeric_cols:
    bad = [i for i, v in enumerate(cols[c]) if not absent[c][i]
           and not _is_float(v)]
    if bad:
      raise CommandError(
          f"column {c!r} must be numeric; non-numeric values such as "
          f"{cols[c][bad[0]]!r} on line(s) {_lines(np.array(bad))} of {path}")
  any_absent = np.any(np.stack([absent[c] for c in wanted]), axis=0)
  if any_absent.any():
    rows = np.flatnonzero(any_absent)
    which = [c for c in wanted if absent[c].any()]
    if not drop_missing:
      raise CommandError(
          f"{len(rows)} row(s) of {path} have empty or missing values in "
          f"column(s) {which} (line(s) {_lines(rows)}); pass --drop-missing "
          "to leave those rows out of the audit")
    if len(rows) == n:
      raise CommandError(f"every row of {path} has a missing value in "
                         f"column(s) {which}; nothing left to audit")
  keep = ~any_absent

  def numeric(c):
    return np.asarray([float(v) for v, k in zip(cols[c], keep, strict=True)
                       if k], np.float64)

  groups = [np.asarray(cols[c])[keep] for c in sensitive]
  return (numeric(target), numeric(pred), groups,
          numeric(weight) if weight else None, int(any_absent.sum()))


def _is_float(v: str) -> bool:
  try:
    float(v)
  except ValueError:
    return False
  return True


def _load(name: str, sensitive: str | None, seed: int):
  from fairjax import datasets

  loader = getattr(datasets, f"load_{name}")
  kwargs = {"sensitive": sensitive} if sensitive else {}
  if name != "adult":
    kwargs["seed"] = seed
  try:
    return loader(**kwargs)
  except ValueError as e:
    if sensitive and "sensitive" in str(e):
      raise CommandError(f"--sensitive {sensitive!r} is not an attribute of "
                         f"--dataset {name}: {e}") from None
    raise


def _from_dataset(name: str, sensitive: list[str], seed: int):
  """Fits logistic regression on the training split; scores on the test.

  With several sensitive attributes the model is trained on the features of
  the first attribute's loader (which leaves that attribute out); the groups
  are the intersection of all.
  """
  from fairjax._linear import decision_function, fit_logistic_regression

  data = _load(name, sensitive[0] if sensitive else None, seed)
  groups = [np.asarray(data.group_names)[data.s_test]]
  for extra in sensitive[1:]:
    other = _load(name, extra, seed)
    if not np.array_equal(other.y_test, data.y_test):
      raise CommandError(f"--dataset {name}: the test rows differ between "
                         f"--sensitive {sensitive[0]} and {extra}")
    groups.append(np.asarray(other.group_names)[other.s_test])
  model = fit_logistic_regression(data.X_train, data.y_train, l2=1e-4)
  scores = 1 / (1 + np.exp(-np.asarray(decision_function(model, data.X_test),
                                       np.float64)))
  which = ", ".join(sensitive) if sensitive else "default"
  return (data.y_test, scores, groups, None,
          f"logistic regression on {name} ({data.X_train.shape[0]:,} train / "
          f"{data.X_test.shape[0]:,} test rows, sensitive: {which})")


def _is_binary(x: np.ndarray) -> bool:
  return bool(np.all((x == 0) | (x == 1)))


def _group_names(enc, columns: Sequence[str] | None) -> list[str]:
  if len(enc.names[0]) == 1 or not columns:
    return [", ".join(str(v) for v in names) for names in enc.names]
  return [", ".join(f"{c}={v}" for c, v in zip(columns, names, strict=True))
          for names in enc.names]


def _undefined(stats, names: list[str]) -> tuple[dict, dict]:
  """Rate-gap metrics that are undefined or leave groups out, and why.

  A gap needs the rate in at least two groups; groups without positives
  (TPR) or negatives (FPR) are skipped by the metric, which a note says.
  """
  tpr = np.isfinite(np.asarray(stats.true_positive_rate))
  fpr = np.isfinite(np.asarray(stats.false_positive_rate))
  no_pos = [names[g] for g in np.flatnonzero(~tpr)]
  no_neg = [names[g] for g in np.flatnonzero(~fpr)]
  undefined, partial = {}, {}
  if tpr.sum() < 2:
    undefined["equal_opportunity_difference"] = (
        f"group(s) {no_pos} have no positives (target = 1), so fewer than "
        "two groups have a true positive rate")
  elif no_pos:
    partial["equal_opportunity_difference"] = (
        f"leaves out group(s) {no_pos}: no positives (target = 1)")
  if tpr.sum() < 2 or fpr.sum() < 2:
    undefined["equalized_odds_difference"] = (
        "fewer than two groups have both a true and a false positive rate "
        f"(no positives: {no_pos}; no negatives: {no_neg})")
  elif no_pos or no_neg:
    partial["equalized_odds_difference"] = (
        f"leaves out group(s) without positives {no_pos} or negatives "
        f"{no_neg}")
  return undefined, partial


def run_audit(y_true, y_pred, groups, *, sample_weight=None,
              sensitive_names=None, threshold=0.5, n_boot=1000, level=0.95,
              seed=0) -> dict:
  """Computes the audit report as a JSON-ready dict.

  ``groups`` is one sensitive column or a list of them (their intersection is
  audited). Metrics that are undefined (e.g. equal opportunity when a group
  has no positives) have value ``None`` and an ``undefined`` reason.
  """
  import jax

  import fairjax

  y_true = np.asarray(y_true)
  if not _is_binary(y_true):
    raise CommandError("the target must be binary (0/1), got values "
                       f"{np.unique(y_true)[:5].tolist()}")
  columns = groups if isinstance(groups, list) else [groups]
  enc = fairjax.encode_groups(*columns)
  s, num_groups = enc.ids, enc.num_groups
  names = _group_names(enc, sensitive_names)
  scores = np.asarray(y_pred, np.float32)
  hard = scores.astype(np.int32) if _is_binary(scores) else (
      scores >= threshold).astype(np.int32)
  y = np.asarray(y_true, np.int32)
  w = None if sample_weight is None else np.asarray(sample_weight, np.float32)
  stats = fairjax.group_statistics(y, scores, sensitive_features=s,
                                   sample_weight=w, threshold=threshold,
                                   num_groups=num_groups)
  undefined, partial = (_undefined(stats, names) if num_groups > 1
                        else ({}, {}))
  key = jax.random.key(seed)
  metrics = {}
  for i, name in enumerate(_RATE_METRICS + ("ks_distance",)):
    if name in undefined:
      metrics[name] = {"value": None, "lower": None, "upper": None,
                       "std": None, "undefined": undefined[name]}
      continue
    metric = getattr(fairjax, name)
    pred = scores if name == "ks_distance" else hard
    r = fairjax.bootstrap_ci(metric, y, pred, sensitive_features=s,
                             key=jax.random.fold_in(key, i), n_boot=n_boot,
                             level=level, sample_weight=w,
                             num_groups=num_groups)
    metrics[name] = {k: _finite_or_none(getattr(r, f)) for k, f in
                     (("value", "estimate"), ("lower", "lower"),
                      ("upper", "upper"), ("std", "std"))}
    if metrics[name]["value"] is None:
      metrics[name]["undefined"] = "every group's rate is 0 (0/0)"
    elif name in partial:
      metrics[name]["note"] = partial[name]
  per_group = [
      {"group": names[g], **{f: _finite_or_none(getattr(stats, f)[g])
                             for f in stats._fields}}
      for g in range(num_groups)
  ]
  accuracy = float(np.average(hard == y, weights=w))
  return {"rows": int(len(y)), "accuracy": accuracy, "threshold": threshold,
          "n_boot": n_boot, "level": level, "metrics": metrics,
          "groups": per_group}


def _finite_or_none(x) -> float | None:
  x = float(x)
  return x if math.isfinite(x) else None


def _fmt(x, width: int) -> str:
  return f"{'n/a':>{width}}" if x is None else f"{x:>{width}.4f}"


def format_report(report: dict, title: str) -> str:
  """The audit report as an aligned text table."""
  pct = f"{report['level']:.0%}"
  lines = [title, f"rows: {report['rows']:,}   accuracy: "
           f"{report['accuracy']:.4f}   threshold: {report['threshold']}", "",
           f"{'metric':<32}{'value':>9}   {pct} bootstrap CI "
           f"({report['n_boot']} resamples)"]
  notes = []
  for name, m in report["metrics"].items():
    if m["value"] is None:
      lines.append(f"{name:<32}{'undefined':>9}")
      notes.append(f"note: {name} is undefined: {m['undefined']}")
    else:
      lines.append(f"{name:<32}{m['value']:>9.4f}   "
                   f"[{m['lower']:.4f}, {m['upper']:.4f}]")
      if "note" in m:
        notes.append(f"note: {name} {m['note']}")
  lines += notes
  lines += ["", f"{'group':<24}{'count':>10}{'selection':>11}{'TPR':>8}"
            f"{'FPR':>8}{'mean score':>12}"]
  for g in report["groups"]:
    lines.append(f"{g['group'][:23]:<24}{g['count']:>10.0f}"
                 f"{_fmt(g['selection_rate'], 11)}"
                 f"{_fmt(g['true_positive_rate'], 8)}"
                 f"{_fmt(g['false_positive_rate'], 8)}"
                 f"{_fmt(g['mean_prediction'], 12)}")
  if any(g[f] is None for g in report["groups"]
         for f in ("true_positive_rate", "false_positive_rate")):
    lines.append("n/a: the group has no positives (TPR) or no negatives "
                 "(FPR)")
  return "\n".join(lines)


def check_writable(path: str, option: str) -> None:
  """Raises CommandError unless ``path`` can be written (before any work)."""
  p = pathlib.Path(path)
  if p.is_dir():
    raise CommandError(f"{option} {path} is a directory, expected a file path")
  parent = p.parent if str(p.parent) else pathlib.Path(".")
  if not parent.is_dir():
    raise CommandError(f"{option} {path}: directory {parent} does not exist")
  if (p.exists() and not os.access(p, os.W_OK)) or not os.access(
      parent, os.W_OK):
    raise CommandError(f"{option} {path} is not writable")


def _check_audit_args(args) -> None:
  if (args.dataset is None) == (args.csv is None):
    raise CommandError("give either --dataset or --csv")
  if args.csv and not (args.target and args.pred and args.sensitive):
    raise CommandError("--csv needs --target, --pred and --sensitive")
  if args.dataset and (args.target or args.pred or args.weight):
    raise CommandError("--target, --pred and --weight apply to --csv only")
  if not 0 < args.level < 1:
    raise CommandError(f"--level must be a fraction in (0, 1), e.g. 0.95 for "
                       f"95%; got {args.level:g}")
  if args.n_boot < 2:
    raise CommandError(f"--n-boot must be >= 2 resamples, got {args.n_boot}")
  if not math.isfinite(args.threshold):
    raise CommandError(f"--threshold must be finite, got {args.threshold}")
  check_writable(args.json, "--json")


def _audit(args) -> int:
  _check_audit_args(args)
  sensitive = args.sensitive or []
  t0 = time.perf_counter()
  if args.dataset:
    y, pred, s, w, title = _from_dataset(args.dataset, sensitive, args.seed)
  else:
    y, pred, s, w, dropped = _read_csv(args.csv, args.target, args.pred,
                                       sensitive, args.weight,
                                       drop_missing=args.drop_missing)
    title = f"predictions from {args.csv}"
    if dropped:
      print(f"note: dropped {dropped} row(s) with missing values "
            "(--drop-missing)", file=sys.stderr)
    outside = (pred < 0) | (pred > 1)
    if outside.any() and not _is_binary(pred):
      print(f"warning: {int(outside.sum())} value(s) of --pred {args.pred} "
            f"lie outside [0, 1] (min {pred.min():g}, max {pred.max():g}); "
            f"they are thresholded at {args.threshold:g} as if they were "
            "probabilities (set --threshold for other scales)",
            file=sys.stderr)
  if len(sensitive) > 1:
    title += f"; groups: intersection of {', '.join(sensitive)}"
  report = run_audit(y, pred, s, sample_weight=w,
                     sensitive_names=sensitive, threshold=args.threshold,
                     n_boot=args.n_boot, level=args.level, seed=args.seed)
  report["source"] = title
  if args.csv:
    report["dropped_rows"] = dropped
  print(format_report(report, title))
  with open(args.json, "w") as f:
    json.dump(report, f, indent=2)
  print(f"\nwrote {args.json} ({time.perf_counter() - t0:.1f} s)")
  return 0


def _demo(args) -> int:
  from fairjax import demo

  return demo.run_from_args(args)


def _reproductions() -> list[str]:
  import fairjax.reproductions as r
  return sorted(m.name for m in pkgutil.iter_modules(r.__path__))


def _reproduce(args, rest: list[str], parser) -> int:
  available = _reproductions()
  if not args.name:
    if "-h" in rest or "--help" in rest:
      parser.print_help()
    elif rest:
      parser.error(f"unrecognized arguments: {' '.join(rest)}")
    else:
      print("available reproductions: " + ", ".join(available))
    return 0
  if args.name not in available:
    raise CommandError(f"unknown reproduction {args.name!r}; available: "
                       f"{', '.join(available)}")
  module = importlib.import_module(f"fairjax.reproductions.{args.name}")
  argv0 = sys.argv[0]
  sys.argv[0] = f"fairjax reproduce {args.name}"  # the module parser's prog
  try:
    return int(module.main(rest) or 0)
  finally:
    sys.argv[0] = argv0


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
  """Keeps the description's layout; wraps option help."""


def build_parser() -> argparse.ArgumentParser:
  """The ``fairjax`` argument parser."""
  parser = argparse.ArgumentParser(
      prog="fairjax", description=__doc__, formatter_class=_HelpFormatter)
  parser.add_argument("--version", action="version",
                      version=f"fairjax {_version()}")
  sub = parser.add_subparsers(dest="command", required=True,
                              metavar="{demo,audit,reproduce}")

  demo = sub.add_parser(
      "demo", help="every method side by side, with a report and plots",
      description="Trains a baseline and each fairness method on a vendored "
      "data set (offline), prints one table with bootstrap CIs and writes "
      "report.json, pareto.png and distributions.png to --out.")
  # German's sensitive groups (foreign workers: 37 rows) are too small to
  # fit a post-processing map on.
  demo.add_argument("--dataset", choices=("adult", "compas"), default="adult",
                    help="vendored data set (default: %(default)s)")
  demo.add_argument("--out", default="fairjax-report",
                    help="directory for the report and plots; nothing is "
                    "written outside it (default: %(default)s)")
  demo.add_argument("--seed", type=int, default=0,
                    help="random seed: the same seed gives the same numbers "
                    "(default: %(default)s)")
  demo.add_argument("--quick", action="store_true",
                    help="a reduced run (fewer rows, steps and resamples) "
                    "for tests, under 30 s")
  demo.add_argument("--n-boot", type=int, default=None,
                    help="bootstrap resamples of the fairness metrics "
                    "(default: 200, or 50 with --quick)")

  audit = sub.add_parser(
      "audit", help="fairness audit with bootstrap CIs",
      description="Audits predictions: fairness metrics with bootstrap "
      "confidence intervals and per-group statistics, printed and written "
      "as JSON. Give --dataset (a model is trained) or --csv (your own "
      "predictions).")
  audit.add_argument("--dataset", choices=_DATASETS,
                     help="train a logistic regression on this vendored data "
                     "set and audit its test predictions")
  audit.add_argument("--csv", help="CSV file with a header row")
  audit.add_argument("--target", help="CSV column of binary true labels")
  audit.add_argument("--pred", help="CSV column of predictions: 0/1 or "
                     "scores in [0, 1] (thresholded at --threshold)")
  audit.add_argument("--sensitive", action="append", metavar="COL",
                     help="sensitive attribute: a CSV column, or the loader's "
                     "option with --dataset (e.g. sex, race); repeat it to "
                     "audit the intersection of several attributes")
  audit.add_argument("--weight", help="CSV column of sample weights")
  audit.add_argument("--drop-missing", action="store_true",
                     help="drop CSV rows with an empty value in a used "
                     "column (and report how many); without it they are an "
                     "error")
  audit.add_argument("--threshold", type=float, default=0.5,
                     help="scores >= threshold count as positive "
                     "predictions (default: %(default)s)")
  audit.add_argument("--n-boot", type=int, default=1000,
                     help="bootstrap resamples (default: %(default)s)")
  audit.add_argument("--level", type=float, default=0.95,
                     help="confidence level of the intervals, a fraction "
                     "(default: %(default)s)")
  audit.add_argument("--seed", type=int, default=0,
                     help="seed of the bootstrap and of the data split "
                     "(default: %(default)s)")
  audit.add_argument("--json", default="fairjax_audit.json",
                     help="where to write the report (default: %(default)s)")

  repro = sub.add_parser(
      "reproduce", help="run a paper reproduction", add_help=False,
      description="Runs a paper reproduction. Options after NAME go to the "
      "reproduction: fairjax reproduce NAME --help shows them.")
  repro.add_argument("-h", "--help", action="store_true",
                     help="show this help (or NAME's options) and exit")
  repro.add_argument("name", nargs="?", metavar="NAME",
                     help="the reproduction to run (see --list)")
  repro.add_argument("--list", action="store_true",
                     help="list the available reproductions")
  repro.set_defaults(reproduce_parser=repro)
  return parser


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the ``fairjax`` command line; returns the exit status.

  Input errors are printed as one line on stderr and return 1 (set
  ``FAIRJAX_TRACEBACK=1`` to see the traceback); invalid syntax exits with
  status 2 (argparse).
  """
  parser = build_parser()
  args, rest = parser.parse_known_args(argv)
  try:
    if args.command == "reproduce":
      if args.help:
        rest = ["--help", *rest]
      return _reproduce(args, rest, args.reproduce_parser)
    if rest:
      parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return _audit(args) if args.command == "audit" else _demo(args)
  except (CommandError, ValueError, TypeError, OSError) as e:
    if os.environ.get("FAIRJAX_TRACEBACK"):
      raise
    message = str(e).splitlines()[0] if str(e) else type(e).__name__
    print(f"error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
  sys.exit(main())
