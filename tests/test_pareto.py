"""pareto_front against brute force, with ties and NaN; the plot helper."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fairjax


def brute_force(e, u):
  n = len(e)
  front = np.ones(n, bool)
  for i, j in itertools.product(range(n), range(n)):
    if np.isnan(e[i]) or np.isnan(u[i]):
      front[i] = False
    elif (not (np.isnan(e[j]) or np.isnan(u[j])) and e[j] <= e[i]
          and u[j] <= u[i] and (e[j] < e[i] or u[j] < u[i])):
      front[i] = False
  return front


@pytest.mark.parametrize("seed", range(5))
def test_random_points_match_brute_force(seed):
  rng = np.random.default_rng(seed)
  e, u = rng.random(50).astype(np.float32), rng.random(50).astype(np.float32)
  np.testing.assert_array_equal(fairjax.pareto_front(e, u), brute_force(e, u))


@pytest.mark.parametrize("seed", range(5))
def test_tied_points_match_brute_force(seed):
  rng = np.random.default_rng(seed)
  # Few distinct values: many ties in one coordinate and exact duplicates.
  e = rng.integers(0, 4, 40).astype(np.float32)
  u = rng.integers(0, 4, 40).astype(np.float32)
  np.testing.assert_array_equal(fairjax.pareto_front(e, u), brute_force(e, u))


def test_tie_rules():
  e = [0.1, 0.1, 0.1, 0.2, np.nan]
  u = [0.5, 0.5, 0.6, 0.1, 0.0]
  # duplicates both kept; a tie in error with worse unfairness is dominated;
  # NaN is off the front and dominates nothing.
  np.testing.assert_array_equal(fairjax.pareto_front(e, u),
                                [True, True, False, True, False])


def test_jit_and_vmap_over_seeds():
  rng = np.random.default_rng(0)
  e = rng.random((4, 16)).astype(np.float32)
  u = rng.random((4, 16)).astype(np.float32)
  out = jax.jit(jax.vmap(fairjax.pareto_front))(e, u)
  for i in range(4):
    np.testing.assert_array_equal(out[i], brute_force(e[i], u[i]))


def test_bad_input():
  with pytest.raises(ValueError, match="unfairness"):
    fairjax.pareto_front(jnp.ones(3), jnp.ones(4))
  with pytest.raises(ValueError, match="error"):
    fairjax.pareto_front(jnp.ones((3, 2)), jnp.ones(3))


def test_plot_marks_front_and_labels_strengths():
  matplotlib = pytest.importorskip("matplotlib")
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  e, u = [0.1, 0.2, 0.3, 0.2], [0.5, 0.2, 0.1, 0.3]
  ax = fairjax.plot_pareto_front(e, u, strengths=[0.0, 1.0, 3.0, 10.0])
  labels = sorted(t.get_text() for t in ax.texts)
  assert labels == ["0", "1", "10", "3"]
  front = ax.collections[1].get_offsets()
  assert len(front) == 3  # the three non-dominated points
  plt.close(ax.figure)
  with pytest.raises(ValueError, match="strengths"):
    fairjax.plot_pareto_front(e, u, strengths=[1.0])
