"""Draws results/sweep/pareto_adult.png: the README's sweep, 12 strengths."""

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import optax  # noqa: E402

import fairjax  # noqa: E402
from fairjax.datasets import load_adult  # noqa: E402

d = load_adult()
X, y, s = (jnp.asarray(a[:4096]) for a in (d.X_train, d.y_train, d.s_train))


def train_fn(lam, key):
  params = {"W": 0.1 * jax.random.normal(key, (X.shape[1], 8)),
            "v": jnp.zeros(8)}
  opt = optax.adam(1e-2)

  def loss(params):
    z = jnp.tanh(X @ params["W"])
    risk = optax.sigmoid_binary_cross_entropy(z @ params["v"], y * 1.0).mean()
    return risk + lam * fairjax.mmd_penalty(z, sensitive_features=s,
                                            num_groups=2)

  def step(carry, _):
    params, state = carry
    updates, state = opt.update(jax.grad(loss)(params), state)
    return (optax.apply_updates(params, updates), state), None

  (params, _), _ = fairjax.progress_scan(step, (params, opt.init(params)),
                                         length=300)
  pred = (jnp.tanh(X @ params["W"]) @ params["v"] > 0).astype(jnp.int32)
  return {"error": jnp.mean(pred != y),
          "dp_gap": fairjax.demographic_parity_difference(
              y, pred, sensitive_features=s, num_groups=2)}


strengths = jnp.array([0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0,
                       50.0, 100.0])
out = fairjax.sweep(train_fn, strengths, key=jax.random.key(0))
ax = fairjax.plot_pareto_front(out["error"], out["dp_gap"],
                               strengths=strengths,
                               xlabel="training error (4,096 Adult rows)",
                               ylabel="demographic-parity difference")
ax.set_title("fairjax.sweep: 12 MMD strengths, one program", fontsize=9)
ax.figure.tight_layout()
ax.figure.savefig("results/sweep/pareto_adult.png", dpi=120)
for lam, e, g in zip(strengths, out["error"], out["dp_gap"]):
  print(f"{float(lam):6.1f} {float(e):.4f} {float(g):.4f}")
