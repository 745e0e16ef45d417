"""fairjax.sweep: one trace, per-run results equal separate runs, chunking."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fairjax
from fairjax.training import progress_bar, progress_scan, sweep_plan

# vmapped and single runs differ only by the order of float32 reductions.
RTOL, ATOL = 1e-5, 1e-6

N, D = 48, 3
_rng = np.random.default_rng(0)
X = jnp.asarray(_rng.normal(size=(N, D)), jnp.float32)
S = jnp.asarray(_rng.integers(0, 2, N), jnp.int32)
Y = jnp.asarray((_rng.random(N) < 0.5 + 0.3 * np.asarray(S)), jnp.float32)


def make_train_fn(counter, steps=20):
  opt = optax.sgd(0.5, momentum=0.9)

  def train_fn(strength, key):
    counter.append(1)
    w = 0.1 * jax.random.normal(key, (D,))

    def loss(w):
      p = jax.nn.sigmoid(X @ w)
      risk = optax.sigmoid_binary_cross_entropy(X @ w, Y).mean()
      return risk + strength * fairjax.mean_gap_penalty(
          p, sensitive_features=S, num_groups=2)

    def step(carry, _):
      w, st = carry
      value, g = jax.value_and_grad(loss)(w)
      u, st = opt.update(g, st, w)
      return (optax.apply_updates(w, u), st), value

    (w, _), losses = progress_scan(step, (w, opt.init(w)), None, steps)
    return {"w": w, "loss": losses[-1]}

  return train_fn


def separate_runs(train_fn, strengths, keys):
  single = jax.jit(train_fn)
  return jax.tree.map(lambda *a: np.stack(a),
                      *[single(s, k) for s, k in zip(strengths, keys)])


def assert_close(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=RTOL,
                               atol=ATOL)


def test_one_trace_for_32_strengths_and_no_retrace_on_repeat():
  traces = []
  train_fn = make_train_fn(traces)
  key = jax.random.key(0)
  out = fairjax.sweep(train_fn, jnp.linspace(0, 3, 32), key=key)
  assert len(traces) == 1
  assert out["w"].shape == (32, D)
  fairjax.sweep(train_fn, jnp.linspace(1, 5, 32), key=jax.random.key(1))
  fairjax.sweep(train_fn, jnp.linspace(1, 5, 32), key=key, progress=True)
  assert len(traces) == 1


@pytest.mark.parametrize("chunk_size", [None, 1, 5, 32])
def test_runs_equal_separate_runs(chunk_size):
  train_fn = make_train_fn([])
  strengths = jnp.linspace(0, 3, 12)
  key = jax.random.key(3)
  out = fairjax.sweep(train_fn, strengths, key=key, chunk_size=chunk_size)
  ref = separate_runs(train_fn, strengths, jax.random.split(key, 12))
  assert_close(out, ref)


def test_seed_grid_shares_keys_across_strengths():
  train_fn = make_train_fn([])
  strengths = jnp.array([0.0, 1.0, 4.0])
  key = jax.random.key(5)
  out = fairjax.sweep(train_fn, strengths, key=key, num_seeds=4,
                      chunk_size=5)
  assert out["w"].shape == (3, 4, D)
  seeds = jax.random.split(key, 4)
  for i, s in enumerate(strengths):
    assert_close(jax.tree.map(lambda a, i=i: a[i], out),
                 separate_runs(train_fn, [s] * 4, seeds))


def test_pytree_of_strengths():
  def train_fn(h, key):
    return h["a"] * jax.random.uniform(key) + h["b"]

  hp = {"a": jnp.arange(4.0), "b": jnp.ones(4)}
  out = fairjax.sweep(train_fn, hp, key=jax.random.key(0))
  keys = jax.random.split(jax.random.key(0), 4)
  ref = [train_fn({"a": hp["a"][i], "b": 1.0}, keys[i]) for i in range(4)]
  np.testing.assert_allclose(out, ref, rtol=1e-6)


def test_plan_chunks_large_runs_and_256_strengths_fit():
  def big(strength, key):  # a run-dependent 4 MiB intermediate
    z = jax.random.normal(key, (1024, 1024)) * strength
    return jnp.sum(jnp.tanh(z))

  plan = sweep_plan(big, jnp.zeros(256), key=jax.random.key(0))
  assert plan.largest_bytes == 4 << 20 and 1 <= plan.chunk_size < 256
  plan = sweep_plan(big, jnp.zeros(256), key=jax.random.key(0),
                    memory_bytes=1)
  assert plan.chunk_size == 1
  out = fairjax.sweep(big, jnp.linspace(0, 1, 256), key=jax.random.key(0))
  assert out.shape == (256,) and np.all(np.isfinite(np.asarray(out)))


def test_shared_data_favours_wide_vmaps():
  data = jnp.ones((4096, 64))  # read whole by every run: shared

  def run(strength, key):
    del key
    return jnp.sum(data @ jnp.full((64,), strength))

  plan = sweep_plan(run, jnp.zeros(32), key=jax.random.key(0))
  assert plan.shared_bytes >= data.nbytes and plan.chunk_size == 32


def test_progress_bar_reports_without_changing_results(capsys):
  train_fn = make_train_fn([])
  strengths = jnp.linspace(0, 1, 6)
  quiet = fairjax.sweep(train_fn, strengths, key=jax.random.key(0),
                        chunk_size=4)
  shown = fairjax.sweep(train_fn, strengths, key=jax.random.key(0),
                        chunk_size=4, progress=True)
  assert_close(quiet, shown)
  assert "sweep" in capsys.readouterr().err
  with progress_bar("train", enabled=False):  # a silent session
    jax.jit(train_fn)(1.0, jax.random.key(0))["w"].block_until_ready()
  assert capsys.readouterr().err == ""


def test_bad_arguments():
  train_fn = make_train_fn([])
  key = jax.random.key(0)
  with pytest.raises(TypeError, match="train_fn"):
    fairjax.sweep(3, jnp.zeros(2), key=key)
  with pytest.raises(ValueError, match="strengths"):
    fairjax.sweep(train_fn, jnp.float32(1.0), key=key)
  with pytest.raises(ValueError, match="strengths"):
    fairjax.sweep(train_fn, {"a": jnp.zeros(2), "b": jnp.zeros(3)}, key=key)
  with pytest.raises(TypeError, match="key"):
    fairjax.sweep(train_fn, jnp.zeros(2), key=0)
  with pytest.raises(ValueError, match="chunk_size"):
    fairjax.sweep(train_fn, jnp.zeros(2), key=key, chunk_size=0)
  with pytest.raises(ValueError, match="num_seeds"):
    fairjax.sweep(train_fn, jnp.zeros(2), key=key, num_seeds=0)
  with pytest.raises(ValueError, match="single PRNG key"):
    fairjax.sweep(train_fn, jnp.zeros(2), key=jax.random.split(key, 2))


def test_a_list_of_numbers_is_one_run_per_number():
  train_fn = make_train_fn([])
  key = jax.random.key(0)
  got = fairjax.sweep(train_fn, [0.0, 1, 10.0], key=key)
  want = fairjax.sweep(train_fn, jnp.array([0.0, 1.0, 10.0]), key=key)
  assert_close(got, want)
  assert fairjax.sweep_plan(train_fn, (0.0, 1.0), key=key).num_runs == 2
