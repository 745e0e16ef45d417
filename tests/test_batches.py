"""stratified_batches: fixed shapes, coverage, composition, padding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fairjax


def _data(rng, n=203, shares=(0.6, 0.25, 0.15)):
  s = rng.choice(len(shares), n, p=shares).astype(np.int32)
  y = rng.integers(0, 2, n).astype(np.int32)
  return s, y


@pytest.mark.parametrize("seed", range(3))
def test_epoch_mode_covers_each_row_once_with_fixed_shapes(seed):
  rng = np.random.default_rng(seed)
  s, y = _data(rng)
  b = fairjax.stratified_batches(jax.random.key(seed), s, 32, labels=y)
  assert b.indices.shape == b.sample_weight.shape == (7, 32)
  idx, w = np.asarray(b.indices).ravel(), np.asarray(b.sample_weight).ravel()
  np.testing.assert_array_equal(np.sort(idx[w > 0]), np.arange(len(s)))
  assert w.sum() == len(s) and np.all(w[len(s):] == 0)  # padding at the end


@pytest.mark.parametrize("seed", range(3))
def test_every_group_has_at_least_b_over_2g_per_batch(seed):
  rng = np.random.default_rng(seed)
  s, y = _data(rng, n=512, shares=(0.5, 0.3, 0.2))
  batch, groups = 64, 3
  b = fairjax.stratified_batches(jax.random.key(seed), s, batch, labels=y)
  for idx, w in zip(np.asarray(b.indices), np.asarray(b.sample_weight)):
    live = idx[w > 0]
    if len(live) < batch:
      continue  # the padded last batch
    counts = np.bincount(s[live], minlength=groups)
    assert counts.min() >= batch / (2 * groups), counts
    # systematic sampling: within 1 of the proportional count per stratum
    strata = np.bincount(2 * s[live] + y[live], minlength=2 * groups)
    expected = batch * np.bincount(2 * s + y, minlength=2 * groups) / len(s)
    assert np.all(np.abs(strata - expected) < 2), (strata, expected)


def test_fixed_composition_is_exact_and_contiguous():
  rng = np.random.default_rng(0)
  s, y = _data(rng, n=300, shares=(0.8, 0.15, 0.05))
  sizes = (6, 5, 5)
  b = fairjax.stratified_batches(jax.random.key(1), s, 16, labels=y,
                                 group_sizes=sizes, num_batches=12)
  assert b.indices.shape == (12, 16)
  layout = np.repeat(np.arange(3), sizes)
  for row in np.asarray(b.indices):
    np.testing.assert_array_equal(s[row], layout)
  n_g = np.bincount(s, minlength=3)
  np.testing.assert_allclose(np.asarray(b.sample_weight)[0],
                             np.repeat(n_g * 16 / (300 * np.array(sizes)),
                                       sizes), rtol=1e-6)
  # each group's rows are drawn without replacement before any repeats
  g2 = np.asarray(b.indices)[:, 11:].ravel()
  assert len(np.unique(g2[:n_g[2]])) == n_g[2]
  # weighted means estimate the population mean
  w = np.asarray(b.sample_weight)
  np.testing.assert_allclose((w * s[np.asarray(b.indices)]).sum() / w.sum(),
                             s.mean(), rtol=1e-5)


def test_fixed_mode_with_an_absent_group():
  s = np.array([0] * 10 + [1] * 6, np.int32)
  b = fairjax.stratified_batches(jax.random.key(0), s, 6, num_groups=3,
                                 group_sizes=(2, 2, 2))
  assert b.indices.shape == (3, 6)
  np.testing.assert_array_equal(np.asarray(b.sample_weight)[:, 4:], 0)


def test_jit_and_vmap_over_keys():
  rng = np.random.default_rng(0)
  s, y = _data(rng, n=64)

  def draw(key):
    return fairjax.stratified_batches(key, s, 16, labels=y, num_groups=3)

  keys = jax.random.split(jax.random.key(0), 3)
  out = jax.jit(jax.vmap(draw))(keys)
  for i in range(3):
    ref = draw(keys[i])
    np.testing.assert_array_equal(out.indices[i], ref.indices)
  assert not np.array_equal(out.indices[0], out.indices[1])


def test_bad_arguments():
  s = jnp.array([0, 1, 0, 1])
  key = jax.random.key(0)
  with pytest.raises(ValueError, match="batch_size"):
    fairjax.stratified_batches(key, s, 0)
  with pytest.raises(ValueError, match="group_sizes"):
    fairjax.stratified_batches(key, s, 4, group_sizes=(3, 2))
  with pytest.raises(TypeError, match="group_sizes"):
    fairjax.stratified_batches(key, s, 4, group_sizes=4)
  with pytest.raises(ValueError, match="num_batches"):
    fairjax.stratified_batches(key, s, 2, num_batches=1)
  # More batches than one epoch needs would be all padding (weights sum 0).
  with pytest.raises(ValueError, match="num_batches=3"):
    fairjax.stratified_batches(key, s, 2, num_batches=3)
  with pytest.raises(TypeError, match="`key` must be a PRNG key"):
    fairjax.stratified_batches(0, s, 2)
  with pytest.raises(ValueError, match="single PRNG key"):
    fairjax.stratified_batches(jax.random.split(key, 2), s, 2)
  with pytest.raises(ValueError, match="labels"):
    fairjax.stratified_batches(key, s, 2, labels=jnp.array([0, 2, 0, 1]))
