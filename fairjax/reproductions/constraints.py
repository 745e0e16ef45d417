"""Rate constraints on Adult, COMPAS and German: unconstrained vs constrained.

For each data set a logistic regression and a one-hidden-layer MLP (64
tanh units) are trained full-batch with Adam, once without constraint and
once under "demographic parity difference <= 0.02" and "equal opportunity
difference <= 0.03" on the training data, with fairjax's proxy-Lagrangian
(``fairjax.constrained_optimizer``: sigmoid proxy rates in the primal step,
hard-prediction violations in the dual step, every ordered pair of groups
constrained; 1,500 steps, Adam at 0.01 cosine-decayed to 1e-4, augmented
term rho = 1, dual step ``10 lr / m``, or ``40 lr / m`` for COMPAS's
``m = 12`` pair constraints). The table reports the last iterate's accuracy
and gap (hard predictions at logit 0) on train and test, the largest train
gap over the last 10% of steps, and the multipliers' final values.
``--mlp-stride k`` trains the MLP on every k-th training row (CPU time).

Data: Adult (sex, official split), COMPAS with four race groups
(African-American, Caucasian, Hispanic, other; race not an input), German
credit (age > 25). Run: ``fairjax reproduce constraints [--quick] [--out
DIR]``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

RACE4 = ("African-American", "Caucasian", "Hispanic", "other")
CONSTRAINTS = (("demographic_parity", 0.02), ("equal_opportunity", 0.03))


def compas_race4(seed: int = 0):
  """COMPAS with four race groups; race is not among the inputs.

  Returns:
    ``(X_train, y_train, s_train, X_test, y_test, s_test)`` with ``s`` in
    ``{0: African-American, 1: Caucasian, 2: Hispanic, 3: other}``.
  """
  from fairjax.datasets import load_compas

  ds = load_compas(sensitive="race", include_sensitive=True, seed=seed)
  names = list(ds.feature_names)
  race = [i for i, n in enumerate(names) if n.startswith("race=")]
  code = {n: min(k, 3) for k, n in enumerate(
      ["race=" + r for r in RACE4[:3]])}

  def split(X):
    col = np.argmax(X[:, race], 1)
    s = np.array([code.get(names[race[c]], 3) for c in col], np.int32)
    keep = [i for i in range(X.shape[1]) if i not in race]
    return np.asarray(X[:, keep], np.float32), s

  Xtr, s_tr = split(ds.X_train)
  Xte, s_te = split(ds.X_test)
  return Xtr, ds.y_train, s_tr, Xte, ds.y_test, s_te


def load(name: str):
  """``(X_train, y_train, s_train, X_test, y_test, s_test, num_groups)``."""
  from fairjax.datasets import load_adult, load_german

  if name == "compas":
    return (*compas_race4(), 4)
  ds = load_adult(sensitive="sex") if name == "adult" else load_german(
      sensitive="age")
  return (np.asarray(ds.X_train, np.float32), ds.y_train, ds.s_train,
          np.asarray(ds.X_test, np.float32), ds.y_test, ds.s_test,
          ds.num_groups)


def init_model(kind: str, d: int, key):
  """Parameters of a linear model or an MLP (64 tanh units)."""
  if kind == "linear":
    return {"w": jnp.zeros((d,)), "b": jnp.zeros(())}
  k1, k2 = jax.random.split(key)
  return {"W1": jax.random.normal(k1, (d, 64)) / np.sqrt(d),
          "b1": jnp.zeros((64,)),
          "w2": jax.random.normal(k2, (64,)) / 8.0, "b2": jnp.zeros(())}


def logits(params, X):
  """Decision values of either model."""
  if "w" in params:
    return X @ params["w"] + params["b"]
  return jnp.tanh(X @ params["W1"] + params["b1"]) @ params["w2"] + params[
      "b2"]


def dual_learning_rate(learning_rate, num_groups, m):
  """Cooper's ``10 lr / m``; 4x that with more than two groups (m >= 6)."""
  return (10 if num_groups == 2 else 40) * learning_rate / m


def train(params, X, y, s, *, notion, bound, num_groups, num_steps,
          learning_rate, constrained=True):
  """Full-batch constrained (or plain) training; returns params and logs."""
  import fairjax

  yf = jnp.asarray(y, jnp.float32)

  def fun(p):
    z = logits(p, X)
    loss = optax.sigmoid_binary_cross_entropy(z, yf).mean()
    cons = fairjax.rate_constraints(
        y, z, sensitive_features=s, notion=notion, bound=bound,
        num_groups=num_groups)
    if not constrained:
      cons = cons._replace(proxy=cons.proxy * 0)
    return loss, cons

  m = fairjax.num_rate_gaps(num_groups, notion=notion)
  schedule = optax.cosine_decay_schedule(learning_rate, num_steps, alpha=0.01)
  opt = fairjax.constrained_optimizer(
      optax.adam(schedule), augmented=1.0 if constrained else 0.0,
      dual_learning_rate=dual_learning_rate(learning_rate, num_groups, m)
      if constrained else 0.0)

  @jax.jit
  def run(params):
    def step(carry, _):
      p, st = carry
      p, st, info = opt.update(fun, p, st)
      return (p, st), info
    return jax.lax.scan(step, (params, opt.init(params, m)), None,
                        length=num_steps)

  (params, state), infos = run(params)
  return params, state, infos


def _gap(notion, y, pred, s, G):
  import fairjax
  st = fairjax.rate_state(y, pred, sensitive_features=s, num_groups=G)
  return float(fairjax.difference_from_state(st, notion=notion))


def run_dataset(name: str, quick: bool, mlp_stride: int = 1,
                progress=lambda rows: None) -> list[dict]:
  """Unconstrained and constrained rows for one data set."""
  data = load(name)
  rows = []
  for kind in ("linear", "mlp"):
    Xtr, ytr, str_, Xte, yte, ste, G = data
    if quick and name == "adult":
      Xtr, ytr, str_ = Xtr[:8000], ytr[:8000], str_[:8000]
    if kind == "mlp" and mlp_stride > 1:  # CPU time: every k-th train row
      Xtr, ytr, str_ = Xtr[::mlp_stride], ytr[::mlp_stride], str_[
          ::mlp_stride]
    Xtr_j, Xte_j = jnp.asarray(Xtr), jnp.asarray(Xte)
    steps = 300 if quick else 1500
    lr = 0.01
    for notion, bound in CONSTRAINTS:
      for constrained in (False, True):
        t = time.perf_counter()
        p0 = init_model(kind, Xtr.shape[1], jax.random.key(0))
        p, state, infos = train(
            p0, Xtr_j, ytr, str_, notion=notion, bound=bound, num_groups=G,
            num_steps=steps, learning_rate=lr, constrained=constrained)
        ptr = np.asarray(logits(p, Xtr_j) > 0).astype(np.int32)
        pte = np.asarray(logits(p, Xte_j) > 0).astype(np.int32)
        tail = np.asarray(infos.strict_violation)[-max(steps // 10, 1):]
        row = dict(
            dataset=name, groups=G, model=kind, constraint=notion,
            train_rows=int(Xtr.shape[0]),
            bound=bound if constrained else None, steps=steps,
            train_acc=float(np.mean(ptr == ytr)),
            test_acc=float(np.mean(pte == yte)),
            train_gap=_gap(notion, ytr, ptr, str_, G),
            test_gap=_gap(notion, yte, pte, ste, G),
            last10_max_train_gap=float(tail.max() + bound),
            multipliers=np.round(np.asarray(state.dual.multipliers), 4)
            .tolist() if constrained else None,
            seconds=time.perf_counter() - t)
        rows.append(row)
        progress(rows)
        print(f"  {name:6s} {kind:6s} {notion:18s} "
              f"{'<= ' + str(bound) if constrained else 'none':8s} "
              f"acc {row['train_acc']:.4f}/{row['test_acc']:.4f} gap "
              f"{row['train_gap']:.4f}/{row['test_gap']:.4f} "
              f"({row['seconds']:.1f} s)", flush=True)
  return rows


def table(rows: list[dict]) -> str:
  """Markdown table of the rows."""
  head = ("| data (groups) | model | constraint | bound | train acc | test acc "
          "| train gap | test gap | max train gap, last 10% | multipliers "
          "(final) |")
  lines = [head, "|" + "---|" * 10]
  for r in rows:
    mult = "" if r["multipliers"] is None else (
        f"max {max(r['multipliers']):.3f}, "
        f"{sum(x > 0 for x in r['multipliers'])}/{len(r['multipliers'])} > 0")
    lines.append(
        f"| {r['dataset']} ({r['groups']}) | {r['model']} "
        f"({r['train_rows']} rows) | "
        f"{r['constraint']} | {r['bound'] if r['bound'] is not None else '-'}"
        f" | {r['train_acc']:.4f} | {r['test_acc']:.4f} | "
        f"{r['train_gap']:.4f} | {r['test_gap']:.4f} | "
        f"{r['last10_max_train_gap']:.4f} | {mult} |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  """Runs the reproduction; writes constraints.md and constraints.json."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true",
                      help="short runs (300 steps; Adult on 8,000 rows)")
  parser.add_argument("--out", default="results/constraints")
  parser.add_argument("--datasets", default="adult,compas,german")
  parser.add_argument("--mlp-stride", type=int, default=1,
                      help="train the MLP on every k-th training row")
  args = parser.parse_args(argv)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  given = sys.argv[1:] if argv is None else argv
  rows = []
  for name in args.datasets.split(","):
    print(f"{name}:", flush=True)
    done = list(rows)
    rows = done + run_dataset(
        name, args.quick, args.mlp_stride,
        lambda new, done=done: _write(out, given, done + new))
  md = _write(out, given, rows)
  print(md)
  return 0


def _write(out, given, rows) -> str:
  """Writes constraints.md and constraints.json; returns the markdown."""
  md = ("# Rate constraints: unconstrained vs constrained (last iterate)\n\n"
        f"Command: `fairjax reproduce constraints {' '.join(given)}`\n\n"
        "Gap = the constraint's metric (max - min over groups) of hard "
        "predictions; unconstrained rows report the same metric.\n\n"
        + table(rows) + "\n")
  (out / "constraints.md").write_text(md)
  (out / "constraints.json").write_text(json.dumps(
      {"command": " ".join(["fairjax reproduce constraints", *given]),
       "rows": rows}, indent=1))
  return md


if __name__ == "__main__":
  raise SystemExit(main())
