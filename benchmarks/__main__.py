"""Runs every benchmark workload: ``python -m benchmarks [--quick]``.

* ``--quick``: every workload at small sizes (CI, under two minutes on two
  cores); asserts only that fairjax and each peer compute the same values.
* default (full): the sizes of ``benchmarks/RESULTS.md``; writes it (the
  machine, the versions, the medians and ratios table) and one log-log plot
  of time against ``n`` per workload in ``benchmarks/plots/``.
* ``--accelerator``: the fairjax side only, at accelerator-sized inputs;
  prints one table with the device (``benchmarks/gpu.sh`` runs this).

Run from the repository root. The modules it runs are the
``benchmarks/bench_*.py`` that define ``run(mode)`` (the protocol is in
``benchmarks/__init__.py``); the others are listed as not wired in.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import importlib
import importlib.metadata
import os
import pathlib
import platform
import re
import sys
import time
import traceback
import warnings

import numpy as np

HERE = pathlib.Path(__file__).parent
VERSIONS = ("fairjax", "jax", "jaxlib", "numpy", "optax", "ott-jax", "flax",
            "fairlearn", "scikit-learn", "POT", "torch", "pandas")


def _is_protocol_run(node):
  """``def run(mode)``: one argument, named ``mode``."""
  return (isinstance(node, ast.FunctionDef) and node.name == "run"
          and [a.arg for a in node.args.posonlyargs + node.args.args]
          == ["mode"])


def discover():
  """Bench module names: (with a top-level ``run(mode)``, without)."""
  wired, other = [], []
  for path in sorted(HERE.glob("bench_*.py")):
    tree = ast.parse(path.read_text())
    has_run = any(_is_protocol_run(node) for node in tree.body)
    (wired if has_run else other).append(path.stem)
  return wired, other


def agrees(r):
  """None where there is nothing to compare, else whether values agree."""
  if r["value"] is None or r["peer_value"] is None:
    return None
  return bool(np.allclose(np.asarray(r["value"], float),
                          np.asarray(r["peer_value"], float),
                          rtol=r["rtol"], atol=r["atol"]))


def _seconds(t):
  if t is None:
    return ""
  return f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.2f} s"


def table(rows):
  """The medians and ratios table, in markdown."""
  out = ["| workload | n | fairjax | compile | peer | peer time | "
         "peer / fairjax | values agree |",
         "|---|---:|---:|---:|---|---:|---:|---|"]
  for r in rows:
    ratio = (f"{r['peer_s'] / r['fairjax_s']:.3g}x"
             if r["peer_s"] is not None and r["fairjax_s"] > 0 else "")
    ok = {None: "", True: "yes", False: "**NO**"}[agrees(r)]
    out.append(f"| {r['workload']} | {r['n']:,} | {_seconds(r['fairjax_s'])} "
               f"| {_seconds(r['compile_s'])} | {r['peer'] or ''} | "
               f"{_seconds(r['peer_s'])} | {ratio} | {ok} |")
  return "\n".join(out)


def machine():
  """One line naming the machine: CPU model, cores, JAX's devices."""
  import jax
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next(line.split(":", 1)[1].strip() for line in f
                 if line.startswith("model name"))
  except (OSError, StopIteration):
    pass
  devices = ", ".join(sorted({d.device_kind for d in jax.devices()}))
  load = ""
  if hasattr(os, "getloadavg"):  # a shared machine's other work shows here
    load = "; load average (1, 5, 15 min) " + ", ".join(
        f"{x:.1f}" for x in os.getloadavg())
  return (f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} "
          f"{platform.release()}; JAX backend {jax.default_backend()} "
          f"({len(jax.devices())} x {devices}){load}")


def versions():
  out = [f"Python {platform.python_version()}"]
  for name in VERSIONS:
    try:
      out.append(f"{name} {importlib.metadata.version(name)}")
    except importlib.metadata.PackageNotFoundError:
      out.append(f"{name} (not installed)")
  return ", ".join(out)


def slug(text):
  return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60]


def plot(rows, directory):
  """One log-log plot of time against n per workload; returns the files."""
  import matplotlib
  import matplotlib.ticker
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  directory.mkdir(parents=True, exist_ok=True)
  files = {}
  for workload in dict.fromkeys(r["workload"] for r in rows):
    mine = [r for r in rows if r["workload"] == workload]
    series = {"fairjax": {r["n"]: r["fairjax_s"] for r in mine}}
    for r in mine:
      if r["peer"] is not None and r["peer_s"] is not None:
        series.setdefault(r["peer"], {})[r["n"]] = r["peer_s"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, points in series.items():
      n = sorted(points)
      ax.plot(n, [points[k] for k in n], "o-", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("n (see the workload's note)")
    ax.set_ylabel("median seconds")
    ax.set_title(workload, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = directory / f"{slug(workload)}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files[workload] = path
  return files


def write_results(rows, other, path, plots, seconds):
  """benchmarks/RESULTS.md: machine, versions, table, plots, notes."""
  now = datetime.datetime.now(datetime.timezone.utc)
  notes = [f"- **{r['workload']}**, n = {r['n']:,}, {r['peer'] or 'no peer'}"
           f": {r['note']}" for r in rows if r["note"]]
  text = [
      "# Benchmark results",
      "",
      f"Written by `python -m benchmarks` on {now:%Y-%m-%d %H:%M} UTC in "
      f"{seconds / 60:.1f} minutes. Do not edit by hand: rerun it.",
      "",
      f"- **Machine:** {machine()}.",
      f"- **Versions:** {versions()}.",
      "- **Method:** fairjax and its peer run in one process, interleaved; "
      "times are medians of the repetitions, and fairjax's compile time "
      "(first call minus the median) is reported separately. `peer / "
      "fairjax` > 1 means fairjax is faster. The build machine is a shared "
      "2-core CPU: only the ratios mean anything.",
      "- **Accelerators:** none was available for these runs; "
      "`benchmarks/gpu.sh` runs the fairjax side at accelerator-sized "
      "inputs where one is, and prints the device name with its table. No "
      "GPU or TPU numbers are recorded here yet.",
      "",
      "## Medians and ratios",
      "",
      table(rows),
      "",
  ]
  if notes:
    text += ["Notes:", "", *notes, ""]
  if other:
    text += ["Not in this run (their modules define no `run(mode)` yet): "
             + ", ".join(f"`{m}.py`" for m in other) + ".", ""]
  text += ["## Time against n (log-log)", ""]
  for workload, file in plots.items():
    text.append(f"![{workload}](plots/{file.name})")
    text.append("")
  path.write_text("\n".join(text))


def main(argv=None):
  parser = argparse.ArgumentParser(
      prog="python -m benchmarks", description=__doc__.splitlines()[0])
  mode = parser.add_mutually_exclusive_group()
  mode.add_argument("--quick", action="store_true",
                    help="small sizes; assert that the values agree")
  mode.add_argument("--accelerator", action="store_true",
                    help="fairjax only, accelerator-sized inputs")
  parser.add_argument("--only", nargs="+", metavar="MODULE",
                      help="run only these modules (e.g. bench_mmd)")
  parser.add_argument("--sizes", choices=("quick",),
                      help="run the chosen mode's code path at the quick "
                           "sizes (e.g. to check --accelerator on a CPU)")
  parser.add_argument("--out", type=pathlib.Path,
                      default=HERE / "RESULTS.md",
                      help="where a full run writes its markdown")
  args = parser.parse_args(argv)
  run_mode = "quick" if args.quick else (
      "accelerator" if args.accelerator else "full")
  wired, other = discover()
  if args.only:
    unknown = set(args.only) - set(wired)
    if unknown:
      parser.error(f"--only: not a module with run(mode): {sorted(unknown)}")
    wired = [m for m in wired if m in args.only]
  warnings.filterwarnings("ignore")  # peers' deprecation chatter
  import benchmarks
  benchmarks.SIZES_OF = args.sizes
  import jax  # noqa: F401  (after the filter: the imports warn too)

  start = time.perf_counter()
  rows, failed = [], []
  for name in wired:
    t = time.perf_counter()
    try:
      got = importlib.import_module(f"benchmarks.{name}").run(run_mode)
    except Exception:  # report every module, then fail
      traceback.print_exc()
      failed.append(name)
      continue
    rows += got
    print(f"{name}: {len(got)} rows in {time.perf_counter() - t:.1f} s",
          flush=True)
  seconds = time.perf_counter() - start
  print(f"\n{run_mode} run, {seconds:.0f} s; {machine()}\n")
  print(table(rows))
  if other:
    print(f"\nnot wired in (no run(mode)): {', '.join(other)}")
  bad = [r for r in rows if agrees(r) is False]
  for r in bad:
    print(f"VALUES DIFFER: {r['workload']} n={r['n']} vs {r['peer']}: "
          f"{r['value']} vs {r['peer_value']} (rtol {r['rtol']}, "
          f"atol {r['atol']})", file=sys.stderr)
  if failed:
    print(f"modules that failed: {failed}", file=sys.stderr)
  if run_mode == "full" and not (args.only or args.sizes or failed):
    plots = plot(rows, args.out.parent / "plots")
    write_results(rows, other, args.out, plots, seconds)
    print(f"\nwrote {args.out} and {len(plots)} plots")
  return 1 if bad or failed or not rows else 0


if __name__ == "__main__":
  sys.exit(main())
