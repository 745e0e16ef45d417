r"""Fair and transferable representations (Oneto et al., NeurIPS 2020).

A Flax NNX encoder :math:`h` (an MLP, ``tanh`` representation
:math:`z = h(x) \in [-1, 1]^8`) with one logistic head per *training* task is
trained jointly on

.. math::
  \frac1T \sum_{t=1}^T L_t(w_t \circ h) + \lambda\, D(h_\# P_0, h_\# P_1),

with :math:`D` = ``fairjax.mmd_penalty`` (Gaussian MMD^2) or
``fairjax.sinkhorn_penalty`` (debiased Sinkhorn divergence) on each
minibatch's representation, demographic parity by default
(``--notion equal_opportunity`` matches the groups within each training
task's positives instead). Then transfer: the encoder is frozen and a fresh
head (``fairjax.fit_logistic_regression`` on :math:`z`) is fitted on a
*held-out* task that never trained the encoder; accuracy, the demographic
parity gap (DDP) and the equal opportunity gap of its test predictions are
reported. Tasks come from ``load_adult_tasks`` (sex; training tasks married
and professional/managerial occupation, held out income and hours > 40) and
``load_compas_tasks`` (race; training tasks felony charge and a Medium/High
COMPAS score, held out two-year and violent recidivism). No input column
holds any task's target.

Every (seed, strength) run of one penalty is one compiled program: the
training function is ``jax.vmap``-ped over the strengths and the seeds. The
strength reported for each penalty is chosen on validation rows (20% of the
training rows, per seed) of the *training* tasks, never on a held-out task:
**the largest strength whose validation accuracy, averaged over the training
tasks and the seeds, is within 1 point of the unpenalised encoder's** (the
smallest strength if none is). The LAFTR-style protocol (Madras et al.,
2018: frozen encoder, fresh head, DDP against strength) is the curve of
every strength, written to ``laftr_curve.png`` and ``curves.json``.

Run: ``fairjax reproduce representation [--quick] [--out DIR]
[--seeds N] [--notion demographic_parity|equal_opportunity]``.
"""

from __future__ import annotations

import argparse
import functools
import json
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

PENALTIES = ("none", "mmd", "sinkhorn")
METRICS = ("accuracy", "demographic_parity_difference",
           "equal_opportunity_difference")
SETUPS = {  # dataset: (loader name, sensitive, training tasks, held out)
    "adult": ("load_adult_tasks", "sex", ("married", "prof_managerial"),
              ("income", "hours>40")),
    "compas": ("load_compas_tasks", "race", ("felony", "medium_high_score"),
               ("two_year_recid", "violent_recid")),
}
GRID = (0.5, 1.0, 2.0, 4.0, 8.0)
FULL = dict(seeds=5, steps=1000, batch=128,
            strengths={"mmd": GRID, "sinkhorn": GRID})
QUICK = dict(seeds=2, steps=150, batch=128, max_train=3000,
             datasets=("compas",), strengths={
                 "mmd": (1.0, 10.0), "sinkhorn": (1.0, 10.0)})
HIDDEN, D_REP = 64, 8
LEARNING_RATE = 3e-3
BANDWIDTH = 1.0  # Gaussian MMD bandwidth, in units of z
EPSILON = 0.5  # Sinkhorn entropic regularisation, in squared units of z
THRESHOLD = 1e-2  # Sinkhorn marginal tolerance while training
HEAD_L2 = 1e-3  # L2 of the fresh logistic heads
VALIDATION = 0.2
ACCURACY_BUDGET = 0.01  # the selection rule's 1 point
VACUOUS_DDP = 0.01  # below this unpenalised DDP, halving it means nothing


# ------------------------------------------------------------------ model


def _encoder_class():
  from flax import nnx

  class MultitaskEncoder(nnx.Module):
    """x -> z = tanh(MLP(x)) in [-1, 1]^d_rep, and one logit per task."""

    def __init__(self, d_in: int, num_tasks: int, *, rngs: nnx.Rngs):
      self.hidden = nnx.Linear(d_in, HIDDEN, rngs=rngs)
      self.rep = nnx.Linear(HIDDEN, D_REP, rngs=rngs)
      self.heads = nnx.Linear(D_REP, num_tasks, rngs=rngs)

    def represent(self, x):
      """The representation z = h(x), ``[n, d_rep]``."""
      return jnp.tanh(self.rep(nnx.relu(self.hidden(x))))

    def __call__(self, x):
      """The training tasks' logits, ``[n, T]``."""
      return self.heads(self.represent(x))

  return MultitaskEncoder


def init_params(d_in: int, num_tasks: int, seeds: int):
  """``(graphdef, params)``: the encoder's structure, parameters per seed.

  Seed ``i`` initialises with ``nnx.Rngs(jax.random.key(i))``; one
  vmapped program initialises every seed.
  """
  from flax import nnx

  cls = _encoder_class()

  def init(key):
    return nnx.split(cls(d_in, num_tasks, rngs=nnx.Rngs(key)))[1]

  keys = jax.vmap(jax.random.key)(jnp.arange(seeds))
  graphdef = nnx.graphdef(cls(d_in, num_tasks, rngs=nnx.Rngs(0)))
  return graphdef, jax.jit(jax.vmap(init))(keys)


def penalty_fn(name: str, notion: str):
  """``D(z, s, Y)`` of a penalty, ``Y`` the ``[n, T]`` training labels."""
  import fairjax

  if name == "none":
    return lambda z, s, Y: jnp.zeros((), z.dtype)
  if name == "mmd":
    base = functools.partial(fairjax.mmd_penalty, bandwidth=BANDWIDTH)
  else:
    base = functools.partial(fairjax.sinkhorn_penalty, epsilon=EPSILON,
                             threshold=THRESHOLD)

  def dp(z, s, Y):
    return base(z, sensitive_features=s, num_groups=2)

  def eo(z, s, Y):  # mean over the training tasks of the EO divergence
    per_task = [base(z, sensitive_features=s, num_groups=2, labels=Y[:, t],
                     notion="equal_opportunity") for t in range(Y.shape[1])]
    return sum(per_task) / len(per_task)

  return dp if notion == "demographic_parity" else eo


def make_trainer(graphdef, penalty, *, steps: int, batch: int):
  """Training of one encoder, vmapped over strengths, then over seeds.

  The returned ``train(params, key, strengths, X, Y, s, rows)`` takes the
  per-seed parameters, keys, features ``[seeds, n, d]``, training labels
  ``[seeds, n, T]``, groups ``[seeds, n]`` and the rows to train on
  ``[seeds, m]``; ``strengths`` ``[S]`` share each seed's initialisation
  and minibatches. It returns the parameters ``[seeds, S, ...]``.
  """
  import optax
  from flax import nnx

  opt = optax.adam(LEARNING_RATE)

  def loss_fn(params, strength, x, y, s):
    model = nnx.merge(graphdef, params)
    z = model.represent(x)
    risk = optax.sigmoid_binary_cross_entropy(
        model.heads(z), y.astype(z.dtype)).mean()
    return risk + strength * penalty(z, s, y)

  def train_one(params, key, strength, X, Y, s, rows):
    def step(carry, k):
      p, state = carry
      take = rows[jax.random.randint(k, (batch,), 0, rows.shape[0])]
      grads = jax.grad(loss_fn)(p, strength, X[take], Y[take], s[take])
      with jax.numpy_dtype_promotion("standard"):  # optax's int counters
        updates, state = opt.update(grads, state, p)
      return (optax.apply_updates(p, updates), state), None

    keys = jax.random.split(key, steps)
    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), keys)
    return params

  over_strengths = jax.vmap(train_one, in_axes=(None, None, 0) + (None,) * 4)
  return jax.jit(jax.vmap(over_strengths, in_axes=(0, 0, None, 0, 0, 0, 0)))


def fit_head(z, y, *, l2: float = HEAD_L2, iterations: int = 25):
  r"""L2 logistic regression on a frozen representation, by Newton's method.

  Minimises :math:`\frac1n \sum_i \log(1 + e^{-\tilde y_i (\langle w,
  z_i\rangle + b)}) + \frac{\lambda}{2}\|w\|^2` (the objective of
  ``fairjax.fit_logistic_regression``; the tests check both give the same
  predictions) with ``iterations`` Newton steps from 0: on a few
  representation dimensions this is exact to float32 and, unlike L-BFGS,
  one small program that ``vmap`` runs for every encoder at once.

  Returns:
    ``theta = (w, b)``, shape ``[d + 1]``.
  """
  n, d = z.shape
  A = jnp.concatenate([z, jnp.ones((n, 1), z.dtype)], axis=1)
  y = y.astype(z.dtype)
  reg = jnp.diag(jnp.append(jnp.full((d,), l2, z.dtype),
                            jnp.zeros((1,), z.dtype)))
  ridge = 1e-6 * jnp.eye(d + 1, dtype=z.dtype)

  def newton(theta, _):
    p = jax.nn.sigmoid(A @ theta)
    grad = A.T @ (p - y) / n + reg @ theta
    hess = (A.T * (p * (1 - p))[None, :]) @ A / n + reg + ridge
    return theta - jnp.linalg.solve(hess, grad), None

  theta, _ = jax.lax.scan(newton, jnp.zeros((d + 1,), z.dtype), None,
                          iterations)
  return theta


def make_evaluator(graphdef, t_train, t_held):
  """Predictions of every trained encoder, in one program.

  ``evaluate(params [seeds, S], X, Y, s, fit, val, X_test)`` (data per
  seed, ``Y`` with every task) returns the validation accuracy on the
  training tasks ``[seeds, S]`` and the test predictions ``[seeds, S,
  n_test, T_train + T_held]``: first the trained heads', then those of
  fresh heads (:func:`fit_head`) fitted on the frozen representation of the
  fit rows, one per held-out task.
  """
  from flax import nnx

  def one(params, X, Y, s, fit, val, Xt):
    model = nnx.merge(graphdef, params)
    z, zt = model.represent(X), model.represent(Xt)
    val_pred = model.heads(z[val]) > 0
    val_acc = jnp.mean((val_pred == (Y[val][:, t_train] == 1))
                       .astype(jnp.float32))
    logits = [model.heads(zt)]
    for t in t_held:
      theta = fit_head(z[fit], Y[fit, t])
      logits.append((zt @ theta[:-1] + theta[-1])[:, None])
    return val_acc, jnp.concatenate(logits, axis=1) > 0

  over_strengths = jax.vmap(one, in_axes=(0,) + (None,) * 6)
  return jax.jit(jax.vmap(over_strengths))


def scores(y, pred, s) -> tuple[float, float, float]:
  """Accuracy, DDP and EO gap of hard predictions (fairjax's metrics)."""
  import fairjax

  kw = dict(sensitive_features=s, num_groups=2)
  return (float(np.mean(pred == y)),
          float(fairjax.demographic_parity_difference(y, pred, **kw)),
          float(fairjax.equal_opportunity_difference(y, pred, **kw)))


# ------------------------------------------------------------------- data


def load_splits(dataset: str, seeds: int, max_train: int | None = None):
  """Per seed: features, labels, groups, train/validation rows, test part.

  Adult keeps its official test rows for every seed; COMPAS uses its
  loader's random 70/30 split with ``seed``. In both the training rows are
  split again, per seed, into 80% fit and 20% validation rows.
  """
  from fairjax import datasets

  loader, sensitive, _, _ = SETUPS[dataset]
  parts = []
  for seed in range(seeds):
    kw = {} if dataset == "adult" else {"seed": seed}
    d = getattr(datasets, loader)(sensitive=sensitive, **kw)
    n = d.X_train.shape[0] if max_train is None else min(
        max_train, d.X_train.shape[0])
    perm = np.random.default_rng(1000 + seed).permutation(d.X_train.shape[0])
    perm = perm[:n]
    n_val = int(round(VALIDATION * n))
    parts.append(dict(X=d.X_train, Y=d.Y_train, s=d.s_train,
                      fit=np.sort(perm[n_val:]), val=np.sort(perm[:n_val]),
                      X_test=d.X_test, Y_test=d.Y_test, s_test=d.s_test))
  stacked = {k: np.stack([p[k] for p in parts]) for k in parts[0]}
  stacked["task_names"] = d.task_names
  return stacked


# -------------------------------------------------------------------- run


def run_dataset(dataset: str, cfg: dict, notion: str, log=print) -> dict:
  """Trains every penalty and strength; scores training and held-out tasks.

  The unpenalised encoder is the strength-0 lane of the MMD program (the
  same initialisation and minibatches as every MMD strength). Returns
  ``{penalty: {"strengths", "val_accuracy" [seeds, S], "train" [seeds, S,
  T_train, 3], "held_out" [seeds, S, T_held, 3], "seconds"}}`` (metrics:
  accuracy, DDP, EO gap on the test part) and ``"tasks"``.
  """
  _, _, train_tasks, held_tasks = SETUPS[dataset]
  data = load_splits(dataset, cfg["seeds"], cfg.get("max_train"))
  names = data["task_names"]
  t_train = [names.index(t) for t in train_tasks]
  t_held = [names.index(t) for t in held_tasks]
  seeds = cfg["seeds"]
  graphdef, params = init_params(data["X"].shape[-1], len(t_train), seeds)
  keys = jax.random.split(jax.random.key(0), seeds)
  arrays = {k: jnp.asarray(v) for k, v in data.items() if k != "task_names"}
  Y_train = arrays["Y"][..., jnp.asarray(t_train)]
  lanes = {"mmd": (0.0,) + tuple(cfg["strengths"]["mmd"]),
           "sinkhorn": tuple(cfg["strengths"]["sinkhorn"])}
  trained, seconds = [], {}
  for name, strengths in lanes.items():
    trainer = make_trainer(graphdef, penalty_fn(name, notion),
                           steps=cfg["steps"], batch=cfg["batch"])
    start = time.perf_counter()
    trained.append(jax.block_until_ready(trainer(
        params, keys, jnp.asarray(strengths, jnp.float32), arrays["X"],
        Y_train, arrays["s"], arrays["fit"])))
    seconds[name] = time.perf_counter() - start
    log(f"  {dataset} {name}: {seeds} seeds x {len(strengths)} strengths "
        f"trained in {seconds[name]:.1f} s (one program, compile included)")
  # Every encoder of both penalties scored by one program.
  start = time.perf_counter()
  every = jax.tree.map(lambda *a: jnp.concatenate(a, axis=1), *trained)
  val_acc, pred = jax.device_get(make_evaluator(graphdef, t_train, t_held)(
      every, *(arrays[k] for k in ("X", "Y", "s", "fit", "val", "X_test"))))
  metrics = np.zeros(pred.shape[:2] + (pred.shape[-1], 3))
  for i in range(seeds):
    for j in range(pred.shape[1]):
      for k, t in enumerate(t_train + t_held):
        metrics[i, j, k] = scores(data["Y_test"][i][:, t],
                                  pred[i, j][:, k].astype(np.int32),
                                  data["s_test"][i])
  log(f"  {dataset}: fresh heads and scores of every encoder in "
      f"{time.perf_counter() - start:.1f} s")
  T = len(t_train)
  out, j = {}, 0
  split = (("none", (0.0,), "mmd"), ("mmd", lanes["mmd"][1:], "mmd"),
           ("sinkhorn", lanes["sinkhorn"], "sinkhorn"))
  for name, strengths, program in split:
    lane = slice(j, j + len(strengths))
    out[name] = dict(strengths=strengths, val_accuracy=val_acc[:, lane],
                     train=metrics[:, lane, :T], held_out=metrics[:, lane, T:],
                     seconds=seconds[program])
    j += len(strengths)
  out["tasks"] = dict(train=train_tasks, held_out=held_tasks)
  return out


def choose_strength(res: dict, name: str) -> int:
  """The selection rule's index into ``res[name]["strengths"]``.

  Largest strength whose validation accuracy on the training tasks (mean
  over tasks and seeds) is within :data:`ACCURACY_BUDGET` of the
  unpenalised encoder's; the smallest if none is.
  """
  ref = res["none"]["val_accuracy"].mean()
  acc = res[name]["val_accuracy"].mean(axis=0)
  ok = np.flatnonzero(acc >= ref - ACCURACY_BUDGET)
  return int(ok.max()) if ok.size else 0


def result_rows(dataset: str, res: dict) -> list[dict]:
  """The ``results.json`` rows of one data set: chosen strength per penalty."""
  rows = []
  for name in PENALTIES:
    j = 0 if name == "none" else choose_strength(res, name)
    for part, held in (("train", False), ("held_out", True)):
      for k, task in enumerate(res["tasks"][part]):
        m = res[name][part][:, j, k]  # [seeds, 3]
        row = dict(dataset=dataset, task=task, held_out=held, penalty=name,
                   strength=float(res[name]["strengths"][j]))
        for q, metric in enumerate(METRICS):
          row[metric] = float(m[:, q].mean())
          row[metric + "_std"] = float(m[:, q].std())
        row["seeds"] = int(m.shape[0])
        rows.append(row)
  return rows


def curve_rows(dataset: str, res: dict) -> list[dict]:
  """Every strength on the held-out tasks: the LAFTR-style curve."""
  rows = []
  for name in PENALTIES:
    for j, lam in enumerate(res[name]["strengths"]):
      for k, task in enumerate(res["tasks"]["held_out"]):
        m = res[name]["held_out"][:, j, k]
        row = dict(dataset=dataset, task=task, penalty=name,
                   strength=float(lam),
                   val_accuracy_train_tasks=float(
                       res[name]["val_accuracy"][:, j].mean()))
        for q, metric in enumerate(METRICS):
          row[metric] = float(m[:, q].mean())
          row[metric + "_std"] = float(m[:, q].std())
        rows.append(row)
  return rows


def goal_check(rows: list[dict]) -> list[dict]:
  """Per held-out task and penalty: DDP ratio and accuracy cost vs none.

  ``meets_goal`` (DDP at most half the unpenalised encoder's, at most 2
  points of accuracy lost) is ``None`` where the unpenalised DDP is below
  :data:`VACUOUS_DDP` (nothing to halve).
  """
  base = {(r["dataset"], r["task"]): r for r in rows
          if r["held_out"] and r["penalty"] == "none"}
  checks = []
  for r in rows:
    if not r["held_out"] or r["penalty"] == "none":
      continue
    b = base[(r["dataset"], r["task"])]
    base_ddp = b["demographic_parity_difference"]
    ratio = r["demographic_parity_difference"] / max(base_ddp, 1e-12)
    cost = b["accuracy"] - r["accuracy"]
    vacuous = base_ddp < VACUOUS_DDP
    checks.append(dict(
        dataset=r["dataset"], task=r["task"], penalty=r["penalty"],
        ddp_none=base_ddp, ddp_ratio=None if vacuous else ratio,
        accuracy_cost=cost,
        meets_goal=None if vacuous else bool(ratio <= 0.5 and cost <= 0.02)))
  return checks


# ----------------------------------------------------------------- output


def table(rows: list[dict]) -> str:
  """The results as a markdown table."""
  lines = ["| dataset | task | held out | penalty | strength | accuracy | "
           "DDP | EO gap |", "|---|---|---|---|---|---|---|---|"]
  for r in rows:
    cell = [f"{r[m]:.4f} +- {r[m + '_std']:.4f}" for m in METRICS]
    lines.append(f"| {r['dataset']} | {r['task']} | "
                 f"{'yes' if r['held_out'] else 'no'} | {r['penalty']} | "
                 f"{r['strength']:g} | " + " | ".join(cell) + " |")
  return "\n".join(lines)


def goal_table(checks: list[dict]) -> str:
  """The goal per held-out task: DDP ratio <= 0.5 at <= 2 points."""
  lines = ["| dataset | held-out task | penalty | DDP(none) | "
           "DDP / DDP(none) | accuracy cost (points) | goal met |",
           "|---|---|---|---|---|---|---|"]
  for c in checks:
    ratio = "n/a" if c["ddp_ratio"] is None else f"{c['ddp_ratio']:.2f}"
    met = {None: "n/a (no gap to halve)", True: "yes", False: "no"}[
        c["meets_goal"]]
    lines.append(f"| {c['dataset']} | {c['task']} | {c['penalty']} | "
                 f"{c['ddp_none']:.4f} | {ratio} | "
                 f"{100 * c['accuracy_cost']:.2f} | {met} |")
  return "\n".join(lines)


def plot_curves(curves: list[dict], path: pathlib.Path) -> bool:
  """DDP and accuracy of the fresh heads against strength (PNG)."""
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError:
    return False
  panels = sorted({(c["dataset"], c["task"]) for c in curves})
  fig, axes = plt.subplots(2, len(panels), figsize=(3.6 * len(panels), 6),
                           squeeze=False)
  for col, (dataset, task) in enumerate(panels):
    for row, metric, label in ((0, "demographic_parity_difference", "DDP"),
                               (1, "accuracy", "accuracy")):
      ax = axes[row, col]
      for name, color in (("mmd", "C0"), ("sinkhorn", "C1")):
        pts = [c for c in curves if c["dataset"] == dataset
               and c["task"] == task and c["penalty"] == name]
        lam = [c["strength"] for c in pts]
        ax.errorbar(lam, [c[metric] for c in pts],
                    yerr=[c[metric + "_std"] for c in pts], color=color,
                    marker="o", capsize=3, label=name)
      none = [c for c in curves if c["dataset"] == dataset
              and c["task"] == task and c["penalty"] == "none"][0]
      ax.axhline(none[metric], color="k", ls="--", label="no penalty")
      ax.set_xscale("log")
      ax.minorticks_off()
      ax.set_xticks(lam, [f"{v:g}" for v in lam])
      ax.set_xlabel("penalty strength")
      ax.set_ylabel(f"held-out {label} (test)")
      ax.set_title(f"{dataset}: {task}", fontsize=10)
      ax.legend(fontsize=8)
  fig.suptitle("Frozen encoder, fresh logistic head on a held-out task")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return True


def main(argv: list[str] | None = None) -> int:
  """Runs the reproduction; writes results.json and more to ``--out``."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true",
                      help="reduced run for CI: COMPAS only, 2 seeds, 2 "
                      "strengths, 150 steps on 3,000 training rows")
  parser.add_argument("--out", default="results/representation")
  parser.add_argument("--seeds", type=int, default=None)
  parser.add_argument("--steps", type=int, default=None)
  parser.add_argument("--datasets", nargs="+", choices=tuple(SETUPS),
                      default=None, help="default: both (quick: compas)")
  parser.add_argument("--notion", default="demographic_parity",
                      choices=("demographic_parity", "equal_opportunity"))
  args = parser.parse_args(argv)
  cfg = dict(QUICK if args.quick else FULL)
  if args.seeds is not None:
    cfg["seeds"] = args.seeds
  if args.steps is not None:
    cfg["steps"] = args.steps
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  given = sys.argv[1:] if argv is None else argv
  command = " ".join(["fairjax reproduce representation", *given])
  start = time.perf_counter()
  rows, curves = [], []
  for dataset in args.datasets or cfg.get("datasets", tuple(SETUPS)):
    res = run_dataset(dataset, cfg, args.notion,
                      log=functools.partial(print, flush=True))
    rows += result_rows(dataset, res)
    curves += curve_rows(dataset, res)
    (out / "results_partial.json").write_text(json.dumps(rows, indent=1))
  checks = goal_check(rows)
  seconds = time.perf_counter() - start
  (out / "results.json").write_text(json.dumps(rows, indent=1))
  (out / "results_partial.json").unlink(missing_ok=True)
  (out / "curves.json").write_text(json.dumps(curves, indent=1))
  meta = dict(command=command, notion=args.notion, seconds=seconds,
              config={k: v for k, v in cfg.items()},
              encoder=dict(hidden=HIDDEN, d_rep=D_REP, lr=LEARNING_RATE,
                           mmd_bandwidth=BANDWIDTH, sinkhorn_epsilon=EPSILON,
                           sinkhorn_threshold=THRESHOLD, head_l2=HEAD_L2),
              selection_rule=choose_strength.__doc__.split("\n\n")[1].strip(),
              goal=checks)
  (out / "run.json").write_text(json.dumps(meta, indent=1))
  plotted = plot_curves(curves, out / "laftr_curve.png")
  md = "\n".join([
      f"Command: `{command}` ({seconds:.0f} s)", "",
      f"Means +- std over {cfg['seeds']} seeds; test part.", "",
      table(rows), "", "Goal on the held-out tasks:", "", goal_table(checks),
      "", "LAFTR-style curve: " + ("laftr_curve.png" if plotted
                                   else "(matplotlib missing)"), ""])
  (out / "results.md").write_text(md)
  print(md)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
