"""Load times of the offline loaders, against pandas parsing the same files.

fairjax's loaders parse with the standard library (csv, gzip) and numpy; the
peer is ``pandas.read_csv`` on the same vendored ``.gz`` files (parsing only,
no encoding), i.e. what the loaders would cost with pandas as a dependency.
Repetitions are interleaved; medians and ratios are printed. No JAX code
runs here, so there is no compile time to report.

Usage: python benchmarks/bench_datasets.py [--reps 5]
"""

import argparse
import gzip
import importlib.resources
import io
import statistics
import time

try:  # the peer; absent on an accelerator machine (run("accelerator"))
  import pandas as pd
except ImportError:
  pd = None

from fairjax.datasets import (
    load_adult,
    load_compas,
    load_crime,
    load_german,
)
from fairjax.datasets._adult import raw_adult
from fairjax.datasets._compas import raw_compas
from fairjax.datasets._crime import raw_crime
from fairjax.datasets._german import raw_german


def _read(path):
  ref = importlib.resources.files("fairjax.datasets") / "data" / (path + ".gz")
  return io.BytesIO(gzip.decompress(ref.read_bytes()))


def _pandas(paths, **kw):
  def run():
    for p in paths:
      pd.read_csv(_read(p), **kw)
  return run


def _cold(load, cache):
  def run():
    cache.cache_clear()
    load()
  return run


CASES = {
    "adult": (
        _cold(load_adult, raw_adult), load_adult,
        _pandas(["adult/adult.data", "adult/adult.test"], header=None,
                skipinitialspace=True),
    ),
    "german": (
        _cold(load_german, raw_german), load_german,
        _pandas(["german/german.data"], header=None, sep=" "),
    ),
    "compas": (
        _cold(load_compas, raw_compas), load_compas,
        _pandas(["compas/compas-scores-two-years.csv"]),
    ),
    "crime": (
        _cold(load_crime, raw_crime), load_crime,
        _pandas(["crime/train.csv", "crime/test.csv"], header=None),
    ),
}


def _time(fn):
  t = time.perf_counter()
  fn()
  return time.perf_counter() - t


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--reps", type=int, default=5)
  args = parser.parse_args()
  print(f"{'data set':8s} {'cold (s)':>9s} {'cached (s)':>10s} "
        f"{'pandas parse (s)':>16s} {'cold/pandas':>11s}")
  for name, (cold, cached, peer) in CASES.items():
    times = {"cold": [], "cached": [], "peer": []}
    for _ in range(args.reps):  # interleaved repetitions
      times["cold"].append(_time(cold))
      times["cached"].append(_time(cached))
      times["peer"].append(_time(peer))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{name:8s} {med['cold']:9.3f} {med['cached']:10.3f} "
          f"{med['peer']:16.3f} {med['cold'] / med['peer']:11.2f}")


def run(mode):
  """Rows for ``python -m benchmarks`` (protocol: benchmarks/__init__.py).

  Cold load (cache cleared: decompress, parse, encode) of each vendored
  data set, n = its rows, against pandas parsing the same files. No JAX
  runs, so there is no compile time, and nothing to compare but time.
  """
  from benchmarks import interleave, row

  if mode == "accelerator":
    return []  # host-only work
  name = "datasets: cold load of a vendored data set (n rows)"
  rows = []
  for data_set, (cold, cached, peer) in CASES.items():
    n = sum(len(a) for a in (cached().y_train, cached().y_test))
    med, _ = interleave({"fairjax": cold, "pandas": peer},
                        1 if mode == "quick" else 5)
    rows.append(row(name, n, med["fairjax"], peer="pandas.read_csv (parse)",
                    peer_s=med["pandas"], note=f"n = {n:,}: {data_set}"))
  return rows


if __name__ == "__main__":
  main()
