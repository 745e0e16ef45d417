"""``fairjax demo``: every method of the library side by side, on real data.

On a vendored data set (UCI Adult with sensitive attribute sex, or ProPublica
COMPAS with race), offline, trains on 80% of the training rows

1. a logistic-regression **baseline** (Optax L-BFGS);
2. the same model on features with the **FERM projection** applied (Donini et
   al., 2018): linear models on them have equal mean decision values across
   groups among the positives (equal opportunity);
3. a one-hidden-layer network whose representation is pulled together
   across groups by an **MMD penalty** (Oneto et al., 2020);
4. the same network with a debiased **Sinkhorn penalty** (ott-jax);
5. the logistic regression under a **demographic-parity constraint**
   (difference <= 0.02 on the training rows), met by the proxy-Lagrangian of
   :mod:`fairjax.training` (Cotter et al., 2019);
6. the baseline's scores **post-processed** to the Wasserstein barycenter of
   the groups' score laws (Chzhen et al., 2020), fitted on the baseline's
   scores of the other 20% (their labels are not used);

then reports test accuracy, demographic-parity difference, equal-opportunity
difference (predictions thresholded at 0.5) and the KS distance between the
groups' score laws, with bootstrap confidence intervals for the fairness
metrics. Each method is also swept over its strength (penalty weight, FERM's
``eps``, the constraint's bound, the barycenter's ``alpha``; the penalised
networks with :func:`fairjax.sweep`) for the error-unfairness trade-off.

Everything is written to one directory: ``report.json``, and, with
matplotlib installed (the ``demo`` extra), ``pareto.png`` and
``distributions.png``.
"""

from __future__ import annotations

import json
import pathlib
import platform
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fairjax
from fairjax import datasets

SENSITIVE = {"adult": "sex", "compas": "race"}
_POINT_KEYS = ("accuracy", "demographic_parity_difference",
               "equal_opportunity_difference", "ks_distance",
               "on_pareto_front")
_PARAM_NAMES = {"strength": "strength", "eps_fraction": "eps fraction",
                "alpha": "alpha", "bound": "bound"}
_CI_METRICS = ("demographic_parity_difference", "equal_opportunity_difference",
               "ks_distance")


class Settings(NamedTuple):
  """The demo's sizes; ``quick`` shrinks them for tests."""

  dataset: str = "adult"
  seed: int = 0
  quick: bool = False
  n_boot: int = 200
  steps: int = 400  # network training steps
  batch_size: int = 128
  width: int = 16  # hidden units of the network
  mmd_strength: float = 3.0
  sinkhorn_strength: float = 3.0
  sinkhorn_epsilon: float = 0.5
  penalty_strengths: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0, 30.0)  # has
  # mmd_strength and sinkhorn_strength
  ferm_fractions: tuple[float, ...] = (1.0, 0.5, 0.25, 0.1, 0.0)
  barycenter_alphas: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
  constraint_bound: float = 0.02
  constraint_bounds: tuple[float, ...] = (0.15, 0.1, 0.05, 0.02, 0.01)
  max_train_rows: int | None = None
  max_test_rows: int | None = None


def settings_for(dataset: str = "adult", *, seed: int = 0, quick: bool = False,
                 n_boot: int | None = None) -> Settings:
  """The default settings, or the reduced ones of ``--quick``."""
  if quick:
    return Settings(dataset, seed, True, n_boot or 50, steps=150,
                    penalty_strengths=(0.0, 3.0, 10.0),
                    ferm_fractions=(1.0, 0.5, 0.0),
                    barycenter_alphas=(0.0, 0.5, 1.0),
                    constraint_bounds=(0.1, 0.05, 0.02),
                    max_train_rows=4000, max_test_rows=3000)
  return Settings(dataset, seed, False, n_boot or 200)


class Progress:
  """One line per step on stderr, with the elapsed time."""

  def __init__(self, total: int, stream=None):
    self.total, self.done, self.t0 = total, 0, time.perf_counter()
    self.stream = sys.stderr if stream is None else stream

  def step(self, what: str) -> None:
    self.done += 1
    print(f"[{self.done}/{self.total}] {what} "
          f"({time.perf_counter() - self.t0:.0f} s elapsed)",
          file=self.stream, flush=True)


# ------------------------------------------------------------ evaluation


def _hard(scores) -> np.ndarray:
  return (np.asarray(scores, np.float32) >= 0.5).astype(np.int32)


def point_metrics(scores, y, s) -> dict:
  """Accuracy, DP and EO differences (at 0.5) and KS of scores in [0, 1]."""
  scores = np.asarray(scores, np.float32)
  pred = _hard(scores)
  rates = fairjax.audit(y, pred, sensitive_features=s, num_groups=2)
  return {
      "accuracy": float(np.mean(pred == y)),
      "demographic_parity_difference":
          float(rates.demographic_parity_difference),
      "equal_opportunity_difference":
          float(rates.equal_opportunity_difference),
      "ks_distance": float(fairjax.ks_distance(
          y, scores, sensitive_features=s, num_groups=2)),
  }


def evaluate(method: str, scores, y, s, *, seconds: float, key: jax.Array,
             n_boot: int, **extra) -> dict:
  """One table row: point metrics and bootstrap CIs of the fairness ones."""
  scores = np.asarray(scores, np.float32)
  row = {"method": method, **point_metrics(scores, y, s),
         "train_seconds": seconds}
  for i, name in enumerate(_CI_METRICS):
    pred = scores if name == "ks_distance" else _hard(scores)
    r = fairjax.bootstrap_ci(getattr(fairjax, name), y, pred,
                             sensitive_features=s, num_groups=2,
                             key=jax.random.fold_in(key, i), n_boot=n_boot)
    row[f"{name}_ci"] = [float(r.lower), float(r.upper)]
  row.update(extra)
  return row


# ------------------------------------------------------------ training


def _sigmoid_scores(model, X) -> np.ndarray:
  return np.asarray(jax.nn.sigmoid(fairjax.decision_function(model, X)))


def _timed(fn: Callable, *args, **kwargs):
  t0 = time.perf_counter()
  out = jax.block_until_ready(fn(*args, **kwargs))
  return out, time.perf_counter() - t0


def _init_network(key: jax.Array, d: int, width: int, dtype) -> dict:
  return {
      "W": jax.random.normal(key, (d, width), dtype) / np.sqrt(d).astype(dtype),
      "c": jnp.zeros(width, dtype),
      "v": jnp.zeros(width, dtype),
      "b": jnp.zeros((), dtype),
  }


def _represent(p: dict, x: jax.Array) -> jax.Array:
  return jnp.tanh(x @ p["W"] + p["c"][None, :])


def network_scores(params: dict, X) -> jax.Array:
  """Scores in [0, 1] of the network ``params`` on features ``X``."""
  z = _represent(params, jnp.asarray(X))
  return jax.nn.sigmoid(z @ params["v"] + params["b"])


def make_network_trainer(X, y, s, *, penalty: Callable, steps: int,
                         batch_size: int, width: int):
  """A pure ``train(strength, key) -> params`` for a penalised network.

  A tanh layer and a logistic head, minibatch Adam on the logistic loss plus
  ``strength * penalty(z, s_batch)`` of the representation ``z``. Pure and
  traced in ``strength``, so a sweep vmaps it.
  """
  X = jnp.asarray(X)
  yf, s = jnp.asarray(y, X.dtype), jnp.asarray(s)
  opt = optax.adam(1e-2)

  def train(strength, key):
    k_init, k_batch = jax.random.split(key)
    params = _init_network(k_init, X.shape[1], width, X.dtype)

    def loss(p, idx):
      z = _represent(p, X[idx])
      risk = optax.sigmoid_binary_cross_entropy(z @ p["v"] + p["b"], yf[idx])
      return risk.mean() + strength * penalty(z, s[idx])

    def step(carry, k):
      p, state = carry
      idx = jax.random.randint(k, (batch_size,), 0, X.shape[0])
      with jax.numpy_dtype_promotion("standard"):  # optax is not strict-clean
        updates, state = opt.update(jax.grad(loss)(p, idx), state)
      return (optax.apply_updates(p, updates), state), None

    keys = jax.random.split(k_batch, steps)
    (p, _), _ = fairjax.progress_scan(step, (params, opt.init(params)), keys)
    return p

  return train


def _mmd(z, s):
  return fairjax.mmd_penalty(z, sensitive_features=s, num_groups=2,
                             bandwidth="median")


def _sinkhorn(epsilon: float):
  def penalty(z, s):
    return fairjax.sinkhorn_penalty(z, sensitive_features=s, num_groups=2,
                                    epsilon=epsilon)
  return penalty


def _sweep(train, strengths, key, *, progress: bool = False):
  """Trains one model per strength with :func:`fairjax.sweep`.

  One seed shared by every strength (common random numbers: the same
  initialisation and batches), so the curve over strengths is not seed
  noise. ``progress`` draws the sweep's bar (on a terminal).
  """
  out = fairjax.sweep(train, jnp.asarray(strengths, jnp.float32), key=key,
                      num_seeds=1, progress=progress)
  return jax.tree.map(lambda a: a[:, 0], out)


# ------------------------------------------------------------ the demo


class Split(NamedTuple):
  """The demo's data: model rows, unlabeled calibration rows, test rows."""

  X: np.ndarray
  y: np.ndarray
  s: np.ndarray
  X_cal: np.ndarray
  s_cal: np.ndarray
  X_test: np.ndarray
  y_test: np.ndarray
  s_test: np.ndarray
  group_names: tuple[str, ...]


def load_split(settings: Settings) -> Split:
  """Loads the data set and splits its training rows 80/20 (fit / cal)."""
  loader = getattr(datasets, f"load_{settings.dataset}")
  kwargs = {"sensitive": SENSITIVE[settings.dataset]}
  if settings.dataset != "adult":
    kwargs["seed"] = settings.seed
  d = loader(**kwargs)
  rng = np.random.default_rng(settings.seed)
  order = rng.permutation(len(d.y_train))[:settings.max_train_rows]
  fit, cal = np.split(order, [int(0.8 * len(order))])
  test = rng.permutation(len(d.y_test))[:settings.max_test_rows]
  test.sort()
  return Split(d.X_train[fit], d.y_train[fit], d.s_train[fit],
               d.X_train[cal], d.s_train[cal], d.X_test[test],
               np.asarray(d.y_test)[test], np.asarray(d.s_test)[test],
               tuple(d.group_names))


def run_demo(settings: Settings, *, progress: Progress | None = None) -> dict:
  """Trains and evaluates every method; returns the report (a dict)."""
  progress = progress or Progress(6)
  data = load_split(settings)
  Xt, yt, st = data.X_test, data.y_test, data.s_test
  key = jax.random.key(settings.seed)
  k_eval, k_net, k_bary = jax.random.split(key, 3)
  rows, sweeps, scores = [], {}, {}

  def add(method, test_scores, seconds, **extra):
    rows.append(evaluate(method, test_scores, yt, st, seconds=seconds,
                         key=jax.random.fold_in(k_eval, len(rows)),
                         n_boot=settings.n_boot, **extra))
    scores[method] = np.asarray(test_scores, np.float32)

  def sweep_points(name, param, values, test_scores, target):
    points = [{param: float(v), **point_metrics(p, yt, st)}
              for v, p in zip(values, test_scores, strict=True)]
    front = fairjax.pareto_front(
        np.array([1 - p["accuracy"] for p in points], np.float32),
        np.array([p[target] for p in points], np.float32))
    for p, on in zip(points, np.asarray(front).tolist(), strict=True):
      p["on_pareto_front"] = bool(on)  # error against the target metric
    sweeps[name] = points

  # 1. Baseline.
  base, secs = _timed(fairjax.fit_logistic_regression, data.X, data.y,
                      l2=1e-4)
  add("logistic regression", _sigmoid_scores(base, Xt), secs)
  progress.step("baseline: logistic regression")

  # 2. FERM projection, and the eps-relaxed constraint as its sweep.
  def ferm_fit():
    proj = fairjax.fit_ferm_projection(data.X, data.y,
                                       sensitive_features=data.s,
                                       num_groups=2)
    return proj, fairjax.fit_logistic_regression(
        fairjax.apply_ferm_projection(proj, data.X), data.y, l2=1e-4)

  (proj, ferm), secs = _timed(ferm_fit)
  add("FERM projection", _sigmoid_scores(
      ferm, fairjax.apply_ferm_projection(proj, Xt)), secs,
      target="equal_opportunity_difference")
  u = fairjax.ferm_direction(data.X, data.y, sensitive_features=data.s,
                             num_groups=2)
  gap = float(jnp.max(jnp.abs(u @ base.weights)))
  eps_scores = [
      _sigmoid_scores(fairjax.fit_logistic_regression(
          data.X, data.y, l2=1e-4, constraint_directions=u, eps=f * gap), Xt)
      for f in settings.ferm_fractions]
  sweep_points("FERM projection", "eps_fraction", settings.ferm_fractions,
               eps_scores, "equal_opportunity_difference")
  progress.step("FERM: projection, and |<w, u>| <= eps over "
                f"{len(settings.ferm_fractions)} values of eps")

  # 3-4. Penalised networks: a sweep over strengths (one vmapped program);
  # the table shows the model at the demo's strength.
  for name, penalty, strength in (
      ("MMD penalty", _mmd, settings.mmd_strength),
      ("Sinkhorn penalty", _sinkhorn(settings.sinkhorn_epsilon),
       settings.sinkhorn_strength)):
    train = make_network_trainer(data.X, data.y, data.s, penalty=penalty,
                                 steps=settings.steps,
                                 batch_size=settings.batch_size,
                                 width=settings.width)
    strengths = settings.penalty_strengths
    swept, secs = _timed(_sweep, train, strengths, k_net,
                         progress=sys.stderr.isatty())
    test_scores = jax.vmap(network_scores, (0, None))(swept, jnp.asarray(Xt))
    add(name, test_scores[strengths.index(strength)], secs / len(strengths),
        strength=strength, target="demographic_parity_difference")
    sweep_points(name, "strength", strengths, test_scores,
                 "demographic_parity_difference")
    progress.step(f"{name}: {len(strengths)} networks, one per strength, "
                  "trained in one program (fairjax.sweep)")

  # 5. Logistic regression under a demographic-parity constraint (the
  # proxy-Lagrangian), and the bound as its sweep (one compiled program: the
  # bound is traced).
  def constrained(bound):
    return fairjax.fit_logistic_regression(
        data.X, data.y, l2=1e-4, sensitive_features=data.s, num_groups=2,
        constraint="demographic_parity", bound=bound)

  model, secs = _timed(constrained, settings.constraint_bound)
  add("DP constraint (Lagrangian)", _sigmoid_scores(model, Xt), secs,
      bound=settings.constraint_bound, target="demographic_parity_difference")
  bounds = settings.constraint_bounds
  sweep_points("DP constraint (Lagrangian)", "bound", bounds,
               [_sigmoid_scores(constrained(b), Xt) for b in bounds],
               "demographic_parity_difference")
  progress.step("logistic regression with demographic parity difference <= "
                f"bound on the training rows, {len(bounds)} bounds")

  # 6. Barycenter post-processing of the baseline's scores.
  k_fit, k_apply = jax.random.split(k_bary)
  base_cal = _sigmoid_scores(base, data.X_cal)
  state, secs = _timed(fairjax.fit_barycenter, base_cal,
                       sensitive_features=data.s_cal, num_groups=2, key=k_fit)
  base_test = scores["logistic regression"]

  def post(alpha):
    return fairjax.apply_barycenter(state, base_test, sensitive_features=st,
                                    key=k_apply, alpha=alpha)

  add("barycenter post-processing", post(1.0), secs,
      target="demographic_parity_difference")
  alphas = settings.barycenter_alphas
  sweep_points("barycenter post-processing", "alpha", alphas,
               jax.vmap(post)(jnp.asarray(alphas, jnp.float32)),
               "demographic_parity_difference")
  progress.step("barycenter post-processing, and alpha over "
                f"{len(alphas)} values")

  return {
      "dataset": settings.dataset,
      "sensitive": SENSITIVE[settings.dataset],
      "groups": list(data.group_names),
      "rows_fit": int(len(data.y)), "rows_calibration": int(len(data.s_cal)),
      "rows_test": int(len(yt)),
      "threshold": 0.5,
      "rows": rows,
      "sweeps": sweeps,
      "settings": settings._asdict(),
      "versions": versions(),
      "_scores": scores,  # for the plots; not written to report.json
      "_s_test": st,
  }


def versions() -> dict:
  """Versions of Python, the platform and the libraries the demo used."""
  from importlib.metadata import PackageNotFoundError, version

  out = {"python": platform.python_version(),
         "platform": platform.platform(),
         "device": str(jax.devices()[0])}
  for pkg in ("fairjax", "jax", "jaxlib", "optax", "ott-jax", "numpy"):
    try:
      out[pkg] = version(pkg)
    except PackageNotFoundError:
      out[pkg] = None
  return out


# ------------------------------------------------------------ output


def format_table(report: dict) -> str:
  """The results as an aligned text table, titled with data and attribute."""
  level = "95%"
  title = (f"fairjax demo: {report['dataset']} (sensitive attribute: "
           f"{report['sensitive']}, groups {', '.join(report['groups'])}); "
           f"test set, {report['rows_test']:,} rows; predictions thresholded "
           f"at {report['threshold']}")
  head = (f"{'method':<28}{'accuracy':>9}  {'demographic parity diff':<23}"
          f"  {'equal opportunity diff':<23}  {'KS distance':<23}"
          f"{'train s':>8}")
  lines = [title, "", head]
  for r in report["rows"]:
    cells = []
    for name in _CI_METRICS:
      lo, hi = r[f"{name}_ci"]
      cells.append(f"{r[name]:.4f} [{lo:.4f}, {hi:.4f}]")
    lines.append(f"{r['method']:<28}{r['accuracy']:>9.4f}  "
                 + "  ".join(f"{c:<23}" for c in cells)
                 + f"{r['train_seconds']:>8.1f}")
  lines += ["", f"[lower, upper]: {level} bootstrap interval "
            f"({report['settings']['n_boot']} resamples of the test set). "
            "train s: wall time of the fit, JIT compilation included; for "
            "the penalties, of the whole sweep divided by its number of "
            "strengths (one vmapped program trains them all).",
            "FERM targets equal opportunity; the penalties, the constraint "
            "and the barycenter target demographic parity."]
  return "\n".join(lines)


def write_plots(report: dict, out: pathlib.Path) -> list[pathlib.Path]:
  """Writes pareto.png and distributions.png; needs matplotlib."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  written = []
  base = report["rows"][0]
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
  for ax, metric, label in zip(
      axes, ("demographic_parity_difference", "equal_opportunity_difference"),
      ("demographic-parity difference", "equal-opportunity difference"),
      strict=True):
    for (name, points), marker in zip(report["sweeps"].items(), "osD^vP",
                                      strict=False):
      param = next(k for k in points[0] if k not in _POINT_KEYS)
      (line,) = ax.plot([p[metric] for p in points],
                        [1 - p["accuracy"] for p in points], marker=marker,
                        label=f"{name} (over {_PARAM_NAMES[param]})")
      last = points[-1]  # the strongest setting, labelled
      ax.annotate(f"{_PARAM_NAMES[param]} {last[param]:g}",
                  (last[metric], 1 - last["accuracy"]), fontsize=7,
                  color=line.get_color(), xytext=(4, 4),
                  textcoords="offset points")
    ax.plot(base[metric], 1 - base["accuracy"], "k*", markersize=12,
            label="baseline (logistic regression)")
    ax.set_xlabel(f"{label} (test)")
    ax.grid(alpha=0.3)
  axes[0].set_ylabel("test error (1 - accuracy)")
  axes[1].legend(fontsize=8)
  fig.suptitle(f"{report['dataset']}, sensitive attribute "
               f"{report['sensitive']}: error against unfairness across "
               "strengths")
  fig.tight_layout()
  path = out / "pareto.png"
  fig.savefig(path, dpi=120)
  plt.close(fig)
  written.append(path)

  s = np.asarray(report["_s_test"])
  fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
  by_method = {r["method"]: r for r in report["rows"]}
  for ax, method, label in zip(
      axes, ("logistic regression", "barycenter post-processing"),
      ("before: baseline scores", "after: barycenter post-processing"),
      strict=True):
    sc = report["_scores"][method]
    for g, gname in enumerate(report["groups"]):
      x = np.sort(sc[s == g])
      ax.step(np.concatenate([[0.0], x, [1.0]]),
              np.concatenate([[0.0], np.arange(1, x.size + 1) / x.size,
                              [1.0]]),
              where="post", linewidth=1.8,
              label=f"{report['sensitive']} = {gname} ({x.size:,} rows)")
    ax.set_title(f"{label}\nKS distance {by_method[method]['ks_distance']:.3f}"
                 ", DP difference "
                 f"{by_method[method]['demographic_parity_difference']:.3f}",
                 fontsize=10)
    ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("score (predicted probability); dotted: threshold 0.5")
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
  axes[0].set_ylabel("fraction of the group with a lower score (CDF)")
  fig.suptitle(f"{report['dataset']}: score distributions per group "
               "(test set)")
  fig.tight_layout()
  path = out / "distributions.png"
  fig.savefig(path, dpi=120)
  plt.close(fig)
  written.append(path)
  return written


def _have_matplotlib() -> bool:
  try:
    import matplotlib  # noqa: F401
  except ImportError:
    return False
  return True


def run_from_args(args) -> int:
  """Runs the demo for the ``fairjax demo`` command line."""
  from fairjax.cli import CommandError

  out = pathlib.Path(args.out)
  if out.exists() and not out.is_dir():
    raise CommandError(f"--out {out} exists and is not a directory")
  if args.n_boot is not None and args.n_boot < 2:
    raise CommandError(f"--n-boot must be >= 2 resamples, got {args.n_boot}")
  settings = settings_for(args.dataset, seed=args.seed, quick=args.quick,
                          n_boot=args.n_boot)
  plots = _have_matplotlib()
  out.mkdir(parents=True, exist_ok=True)
  t0 = time.perf_counter()
  progress = Progress(6 + plots)
  report = run_demo(settings, progress=progress)
  report["total_seconds"] = time.perf_counter() - t0
  written = []
  if plots:
    written = write_plots(report, out)
    progress.step("plots: " + ", ".join(p.name for p in written))
  public = {k: v for k, v in report.items() if not k.startswith("_")}
  with open(out / "report.json", "w") as f:
    json.dump(public, f, indent=2)
  print(format_table(report))
  print(f"\nwrote {out / 'report.json'}"
        + "".join(f", {p}" for p in written)
        + f" ({report['total_seconds']:.0f} s)")
  if not plots:
    print("note: matplotlib is not installed, so pareto.png and "
          "distributions.png were skipped (pip install \"fairjax[demo]\")")
  return 0
