"""``fairjax demo``: the library's three methods side by side, on real data.

On a vendored data set (default: UCI Adult, sensitive attribute sex), trains
on 80% of the training rows

1. a logistic-regression **baseline** (Optax L-BFGS);
2. the same model on features with the **FERM projection** applied (Donini et
   al., 2018): every linear model on them has equal mean decision values
   across groups among the positives;
3. the baseline's scores **post-processed** to the Wasserstein barycenter of
   the groups' score laws (Chzhen et al., 2020), fitted on the baseline's
   scores of the other 20% (unlabeled: their labels are not used);
4. a one-hidden-layer network whose representation is pulled together across
   groups by an **MMD penalty** (Oneto et al., 2020), trained on minibatches
   with Optax;

then reports test accuracy, demographic-parity difference and equal
opportunity difference (predictions thresholded at 0.5) and the KS distance
between the groups' score laws.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fairjax
from fairjax import datasets


class DemoRow(NamedTuple):
  """Test-set results of one method."""

  method: str
  accuracy: float
  demographic_parity_difference: float
  equal_opportunity_difference: float
  ks_distance: float


def evaluate(method: str, scores, y, s) -> DemoRow:
  """Accuracy and fairness of scores in [0, 1] thresholded at 0.5."""
  scores = np.asarray(scores, np.float32)
  pred = (scores >= 0.5).astype(np.int32)
  rates = fairjax.audit(y, pred, sensitive_features=s, num_groups=2)
  return DemoRow(
      method,
      float(np.mean(pred == y)),
      float(rates.demographic_parity_difference),
      float(rates.equal_opportunity_difference),
      float(fairjax.ks_distance(y, scores, sensitive_features=s,
                                num_groups=2)),
  )


def _sigmoid_scores(model, X) -> np.ndarray:
  return np.asarray(jax.nn.sigmoid(fairjax.decision_function(model, X)))


def train_mmd_network(X, y, s, *, strength: float, key: jax.Array,
                      steps: int = 400, batch_size: int = 512,
                      width: int = 16):
  """A tanh layer and a logistic head, with ``strength * MMD^2(z | s)``.

  Minibatch Adam; the Gaussian MMD of the representation ``z`` between the
  two groups uses the batch's median distance as bandwidth. Returns a
  function from features to scores in [0, 1].
  """
  X, y, s = jnp.asarray(X), jnp.asarray(y, X.dtype), jnp.asarray(s)
  k_init, k_batch = jax.random.split(key)
  params = {
      "W": jax.random.normal(k_init, (X.shape[1], width), X.dtype)
      / np.sqrt(X.shape[1]),
      "c": jnp.zeros(width, X.dtype),
      "v": jnp.zeros(width, X.dtype),
      "b": jnp.zeros((), X.dtype),
  }

  def represent(p, x):
    return jnp.tanh(x @ p["W"] + p["c"][None, :])

  def loss(p, idx):
    z = represent(p, X[idx])
    risk = optax.sigmoid_binary_cross_entropy(z @ p["v"] + p["b"], y[idx])
    penalty = fairjax.mmd_penalty(z, sensitive_features=s[idx], num_groups=2,
                                  bandwidth="median")
    return risk.mean() + strength * penalty

  opt = optax.adam(1e-2)

  @jax.jit
  def fit(params):
    def step(carry, k):
      p, state = carry
      idx = jax.random.randint(k, (batch_size,), 0, X.shape[0])
      with jax.numpy_dtype_promotion("standard"):  # optax is not strict-clean
        updates, state = opt.update(jax.grad(loss)(p, idx), state)
      return (optax.apply_updates(p, updates), state), None

    keys = jax.random.split(k_batch, steps)
    (p, _), _ = jax.lax.scan(step, (params, opt.init(params)), keys)
    return p

  fitted = fit(params)
  return lambda x: jax.nn.sigmoid(represent(fitted, x) @ fitted["v"]
                                  + fitted["b"])


def run_demo(dataset: str = "adult", *, seed: int = 0, steps: int = 400,
             strength: float = 10.0) -> list[DemoRow]:
  """Runs the four methods on ``dataset``; returns one row per method."""
  loader = getattr(datasets, f"load_{dataset}")
  d = loader() if dataset == "adult" else loader(seed=seed)
  y_test, s_test = np.asarray(d.y_test), np.asarray(d.s_test)
  # Models are fitted on `fit`; the post-processing on the unlabeled `cal`.
  order = np.random.default_rng(seed).permutation(len(d.y_train))
  fit, cal = np.split(order, [int(0.8 * len(order))])
  X, y, s = d.X_train[fit], d.y_train[fit], d.s_train[fit]
  key = jax.random.key(seed)
  rows = []

  base = fairjax.fit_logistic_regression(X, y, l2=1e-4)
  base_test = _sigmoid_scores(base, d.X_test)
  rows.append(evaluate("logistic regression", base_test, y_test, s_test))

  proj = fairjax.fit_ferm_projection(X, y, sensitive_features=s, num_groups=2)
  ferm = fairjax.fit_logistic_regression(
      fairjax.apply_ferm_projection(proj, X), y, l2=1e-4)
  rows.append(evaluate(
      "+ FERM projection (in-processing)",
      _sigmoid_scores(ferm, fairjax.apply_ferm_projection(proj, d.X_test)),
      y_test, s_test))

  fit_key, apply_key, net_key = jax.random.split(key, 3)
  state = fairjax.fit_barycenter(_sigmoid_scores(base, d.X_train[cal]),
                                 sensitive_features=d.s_train[cal],
                                 num_groups=2, key=fit_key)
  rows.append(evaluate(
      "+ barycenter (post-processing)",
      fairjax.apply_barycenter(state, base_test, sensitive_features=s_test,
                               key=apply_key),
      y_test, s_test))

  for lam in (0.0, strength):
    net = train_mmd_network(X, y, s, strength=lam, key=net_key, steps=steps)
    rows.append(evaluate(f"network, MMD penalty {lam:g}",
                         net(jnp.asarray(d.X_test)), y_test, s_test))
  return rows


def format_rows(rows: list[DemoRow], title: str) -> str:
  """The results as an aligned text table."""
  lines = [title, "",
           f"{'method':<36}{'ACC':>8}{'DP diff':>9}{'EO diff':>9}{'KS':>8}"]
  lines += [f"{r.method:<36}{r.accuracy:>8.4f}"
            f"{r.demographic_parity_difference:>9.4f}"
            f"{r.equal_opportunity_difference:>9.4f}{r.ks_distance:>8.4f}"
            for r in rows]
  return "\n".join(lines)


def run_from_args(args) -> int:
  """Runs the demo for the ``fairjax demo`` command line."""
  import json
  import pathlib
  import time

  t0 = time.perf_counter()
  rows = run_demo(args.dataset, seed=args.seed,
                  steps=60 if args.quick else 400)
  print(format_rows(rows, f"fairjax demo on {args.dataset} (test set; "
                    "predictions thresholded at 0.5)"))
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  with open(out / "report.json", "w") as f:
    json.dump({"dataset": args.dataset, "seed": args.seed,
               "rows": [r._asdict() for r in rows]}, f, indent=2)
  print(f"\nwrote {out / 'report.json'} ({time.perf_counter() - t0:.1f} s)")
  return 0
