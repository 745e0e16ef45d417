"""The Flax NNX recipe: nnx.split, sweep (jax.vmap), nnx.merge inside."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fairjax

nnx = pytest.importorskip("flax.nnx")

_rng = np.random.default_rng(0)
X = jnp.asarray(_rng.normal(size=(64, 4)), jnp.float32)
S = jnp.asarray(_rng.integers(0, 2, 64), jnp.int32)
Y = jnp.asarray(_rng.integers(0, 2, 64), jnp.float32)


class MLP(nnx.Module):
  def __init__(self, rngs):
    self.hidden = nnx.Linear(4, 8, rngs=rngs)
    self.head = nnx.Linear(8, 1, rngs=rngs)

  def __call__(self, x):
    return self.head(nnx.relu(self.hidden(x)))[:, 0]


def make_train_fn(graphdef, state, traces):
  tx = optax.sgd(0.1, momentum=0.9)

  def train_fn(strength, key):
    traces.append(1)
    model = nnx.merge(graphdef, state)  # the same initial model every run
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
    b = fairjax.stratified_batches(key, S, 16, group_sizes=(8, 8))

    def step(model, opt, batch):
      idx, w = batch

      def loss(m):
        logit = m(X[idx])
        risk = jnp.sum(w * optax.sigmoid_binary_cross_entropy(logit, Y[idx]))
        gap = fairjax.mmd_penalty(logit, sensitive_features=S[idx],
                                  num_groups=2, sample_weight=w)
        return risk / jnp.sum(w) + strength * gap

      value, grads = nnx.value_and_grad(loss)(model)
      opt.update(model, grads)
      return value

    (model, _), losses = fairjax.nnx_scan(step, (model, opt),
                                          (b.indices, b.sample_weight))
    return nnx.state(model, nnx.Param), losses

  return train_fn


def test_nnx_sweep_runs_and_equals_separate_runs():
  graphdef, state = nnx.split(MLP(nnx.Rngs(0)))
  traces = []
  train_fn = make_train_fn(graphdef, state, traces)
  strengths = jnp.array([0.0, 1.0, 10.0])
  key = jax.random.key(0)
  states, losses = fairjax.sweep(train_fn, strengths, key=key)
  assert len(traces) == 1 and losses.shape == (3, 4)
  assert np.all(np.isfinite(np.asarray(losses)))
  single = jax.jit(train_fn)
  for i, (s, k) in enumerate(zip(strengths, jax.random.split(key, 3))):
    ref_state, ref_losses = single(s, k)
    np.testing.assert_allclose(losses[i], ref_losses, rtol=1e-5, atol=1e-6)
    model = nnx.merge(graphdef, jax.tree.map(lambda a, i=i: a[i], states))
    ref = nnx.merge(graphdef, ref_state)
    np.testing.assert_allclose(model(X), ref(X), rtol=1e-4, atol=1e-5)
  # the original model object is untouched by the sweep
  np.testing.assert_array_equal(nnx.merge(graphdef, state)(X),
                                MLP(nnx.Rngs(0))(X))


def test_nnx_scan_returns_trained_objects_eagerly():
  model = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
  opt = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
  x, y = jnp.ones((4, 2)), jnp.ones((4, 1))

  def step(model, opt, _):
    loss, g = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
    opt.update(model, g)
    return loss

  before = model(x)
  (trained, _), losses = fairjax.nnx_scan(step, (model, opt), length=30)
  assert losses.shape == (30,)
  np.testing.assert_allclose(trained(x), y, atol=1e-2)
  np.testing.assert_array_equal(model(x), before)  # inputs not mutated
