"""Barycenter post-processing at scale: fairjax vs numpy vs a per-sample loop.

fit + apply of the paper's estimator (jitter 1e-5, random halves per group)
on ``n`` float32 predictions with 8 groups, all on CPU, in one process:

* ``fairjax``: ``fit_barycenter`` / ``apply_barycenter`` with the default
  ``sort_strategy="auto"`` (numpy sorts on the host through callbacks on CPU);
* ``fairjax-xla``: ``sort_strategy="device"``, pure XLA (what runs on GPU/TPU)
  on CPU, for reference (XLA's CPU sort is slow);
* ``numpy``: a vectorised numpy reference (per group: boolean mask,
  permutation, ``np.sort``; apply: ``np.searchsorted`` per group and the
  quantile lookups of every group);
* ``loop``: a per-sample Python loop as in peer code (the authors' reference
  loops over test points): fit as ``numpy``, apply one query at a time
  (``np.searchsorted`` on its group's sample, then one lookup per group).
  It is timed on ``--loop-n`` queries and extrapolated linearly to ``n``.

Repetitions are interleaved; medians are reported, and ratios against
fairjax. fairjax's first call (tracing + XLA compilation) is reported
separately. The machine is shared: only the ratios mean anything.

Run: ``python benchmarks/bench_barycenter.py [--sizes 1e6 1e7] [--reps 5]``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import jax
import numpy as np

from fairjax._barycenter import apply_barycenter, fit_barycenter

G = 8
JITTER = 1e-5


def make_data(n: int, seed: int = 0):
  rng = np.random.default_rng(seed)
  s = rng.integers(0, G, n).astype(np.int32)
  y = (rng.normal(size=n) * (1 + 0.1 * s) + 0.2 * s).astype(np.float32)
  return y, s


# ---------------------------------------------------------------- numpy


def numpy_fit(y, s, rng):
  cdf, qnt = [], []
  for g in range(G):
    yg = y[s == g]
    yg = yg + rng.uniform(-JITTER, JITTER, yg.size).astype(y.dtype)
    perm = rng.permutation(yg.size)
    h = (yg.size + 1) // 2
    cdf.append(np.sort(yg[perm[:h]]))
    qnt.append(np.sort(yg[perm[h:]]))
  return cdf, qnt, np.bincount(s, minlength=G) / s.size


def numpy_apply(state, x, s, rng):
  cdf, qnt, p = state
  out = np.empty_like(x)
  for g in range(G):
    m = s == g
    xg = x[m] + rng.uniform(-JITTER, JITTER, int(m.sum())).astype(x.dtype)
    k = np.searchsorted(cdf[g], xg, side="right").astype(np.int64)
    n_g, acc = cdf[g].size, np.zeros(xg.size)
    for j in range(G):
      idx = np.clip((k * qnt[j].size + n_g - 1) // n_g - 1, 0,
                    qnt[j].size - 1)
      acc += p[j] * qnt[j][idx]
    out[m] = acc
  return out


def loop_apply(state, x, s, rng):
  cdf, qnt, p = state
  sizes = [q.size for q in qnt]
  out = np.empty_like(x)
  noise = rng.uniform(-JITTER, JITTER, x.size)
  for i in range(x.size):
    g = s[i]
    n_g = cdf[g].size
    k = int(np.searchsorted(cdf[g], x[i] + noise[i], side="right"))
    val = 0.0
    for j in range(G):
      idx = min(max(-(-k * sizes[j] // n_g) - 1, 0), sizes[j] - 1)
      val += p[j] * qnt[j][idx]
    out[i] = val
  return out


# ---------------------------------------------------------------- timing


def _timed(fn):
  t0 = time.perf_counter()
  out = fn()
  jax.block_until_ready(out)
  return time.perf_counter() - t0, out


def bench(n: int, reps: int, loop_n: int, xla: bool):
  y, s = make_data(n)
  x, sx = make_data(n, seed=1)
  rng = np.random.default_rng(0)
  keys = iter(jax.random.split(jax.random.key(0), 4 * reps + 8))

  def fairjax_fit(strategy):
    return fit_barycenter(y, sensitive_features=s, num_groups=G,
                          key=next(keys), sort_strategy=strategy)

  def fairjax_apply(state, strategy):
    return apply_barycenter(state, x, sensitive_features=sx, key=next(keys),
                            sort_strategy=strategy)

  first = {}
  for strategy in ("host", "device") if xla else ("host",):
    t_fit, state = _timed(lambda st=strategy: fairjax_fit(st))
    t_apply, _ = _timed(lambda st=strategy, z=state: fairjax_apply(z, st))
    first[strategy] = (t_fit, t_apply)

  times = {k: {"fit": [], "apply": []} for k in
           ("fairjax", "fairjax-xla", "numpy", "loop")}
  np_state = numpy_fit(y, s, rng)
  for _ in range(reps):
    t, state = _timed(lambda: fairjax_fit("host"))
    times["fairjax"]["fit"].append(t)
    t, _ = _timed(lambda z=state: fairjax_apply(z, "host"))
    times["fairjax"]["apply"].append(t)
    t, np_state = _timed(lambda: numpy_fit(y, s, rng))
    times["numpy"]["fit"].append(t)
    t, _ = _timed(lambda z=np_state: numpy_apply(z, x, sx, rng))
    times["numpy"]["apply"].append(t)
    t, _ = _timed(lambda z=np_state: loop_apply(z, x[:loop_n], sx[:loop_n],
                                                rng))
    times["loop"]["fit"].append(times["numpy"]["fit"][-1])
    times["loop"]["apply"].append(t * n / loop_n)  # linear extrapolation
    if xla:
      t, state = _timed(lambda: fairjax_fit("device"))
      times["fairjax-xla"]["fit"].append(t)
      t, _ = _timed(lambda z=state: fairjax_apply(z, "device"))
      times["fairjax-xla"]["apply"].append(t)

  med = {k: {p: statistics.median(v[p]) for p in v} for k, v in
         times.items() if v["fit"]}
  base = med["fairjax"]["fit"] + med["fairjax"]["apply"]
  print(f"\nn = {n:,} predictions, {G} groups, float32, {reps} interleaved "
        f"repetitions (loop apply timed on {loop_n:,} queries, x{n // loop_n}"
        ")")
  print(f"{'method':<13}{'fit s':>9}{'apply s':>9}{'total s':>9}"
        f"{'total / fairjax':>17}")
  for k, v in med.items():
    total = v["fit"] + v["apply"]
    print(f"{k:<13}{v['fit']:>9.3f}{v['apply']:>9.3f}{total:>9.3f}"
          f"{total / base:>17.2f}")
  for k, v in first.items():
    name = "fairjax" if k == "host" else "fairjax-xla"
    extra = sum(v) - med[name]["fit"] - med[name]["apply"]
    print(f"{name}: first fit+apply {sum(v):.2f} s, of which tracing + "
          f"compilation about {extra:.2f} s")
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
  print(f"peak RSS so far: {rss:.2f} GiB")
  return med


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7])
  parser.add_argument("--reps", type=int, default=5)
  parser.add_argument("--loop-n", type=int, default=20_000)
  parser.add_argument("--xla-max", type=float, default=1e6,
                      help="largest n for the pure-XLA strategy (slow on CPU)")
  args = parser.parse_args(argv)
  print(f"jax {jax.__version__}, numpy {np.__version__}, backend "
        f"{jax.default_backend()}")
  for n in args.sizes:
    bench(int(n), args.reps, args.loop_n, xla=n <= args.xla_max)


def run(mode):
  """Rows for ``python -m benchmarks`` (protocol: benchmarks/__init__.py).

  Timed: the paper's estimator (jitter, random halves), fit + apply of n
  predictions in 8 groups. Compared: the deterministic estimator
  (``key=None``, ``split=False``) against the numpy reference on the same
  data, which then compute the same map.
  """
  from benchmarks import interleave, row
  from benchmarks import sizes as pick_sizes

  sizes = pick_sizes({"quick": [10_000],
                      "full": [10_000, 100_000, 1_000_000],
                      "accelerator": [1_000_000, 10_000_000, 50_000_000]},
                     mode)
  strategy = "device" if mode == "accelerator" else "auto"
  name = f"barycenter: fit + apply, {G} groups (n predictions)"
  loop_n = 2_000 if mode == "quick" else 20_000
  rows = []
  for n in sizes:
    y, s = make_data(n)
    x, sx = make_data(n, seed=1)
    rng = np.random.default_rng(0)
    keys = iter(jax.random.split(jax.random.key(0), 64))

    def fairjax_run(y=y, s=s, x=x, sx=sx):
      state = fit_barycenter(y, sensitive_features=s, num_groups=G,
                             key=next(keys), sort_strategy=strategy)
      return apply_barycenter(state, x, sensitive_features=sx,
                              key=next(keys), sort_strategy=strategy)

    def numpy_run(y=y, s=s, x=x, sx=sx):
      return numpy_apply(numpy_fit(y, s, rng), x, sx, rng)

    np_state = numpy_fit(y, s, rng)
    fns = {"fairjax": fairjax_run}
    if mode != "accelerator":
      fns["numpy sort + searchsorted"] = numpy_run
      fns["numpy fit"] = lambda y=y, s=s: numpy_fit(y, s, rng)
      fns["loop apply"] = lambda z=np_state, x=x, sx=sx: loop_apply(
          z, x[:loop_n], sx[:loop_n], rng)
    med, first = interleave(fns, 1 if mode == "quick" else 3)
    compile_s = first["fairjax"] - med["fairjax"]
    if mode == "accelerator":
      rows.append(row(name, n, med["fairjax"], compile_s=compile_s,
                      note=f"sort_strategy={strategy!r}"))
      continue
    m = min(n, 100_000)  # deterministic estimators, compared on m queries
    exact = fit_barycenter(y, sensitive_features=s, num_groups=G, key=None,
                           split=False, jitter=0.0)
    got = np.asarray(apply_barycenter(exact, x[:m], sensitive_features=sx[:m]))
    cdf = [np.sort(y[s == g]) for g in range(G)]
    ref = numpy_apply((cdf, cdf, np.bincount(s, minlength=G) / s.size),
                      x[:m], sx[:m], _NoJitter())
    rows.append(row(name, n, med["fairjax"], compile_s=compile_s,
                    peer="numpy sort + searchsorted",
                    peer_s=med["numpy sort + searchsorted"], value=got,
                    peer_value=ref, rtol=1e-5, atol=1e-5))
    loop_s = med["numpy fit"] + med["loop apply"] * n / min(n, loop_n)
    rows.append(row(name, n, med["fairjax"], compile_s=compile_s,
                    peer="per-sample Python loop", peer_s=loop_s,
                    note=f"the loop applies {min(n, loop_n):,} queries; its "
                         "apply time is scaled linearly to n"))
  return rows


class _NoJitter:
  """Stands in for ``rng`` in :func:`numpy_apply`: no jitter."""

  @staticmethod
  def uniform(low, high, size):
    del low, high
    return np.zeros(size)


if __name__ == "__main__":
  main()
