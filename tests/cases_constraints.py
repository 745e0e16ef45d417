"""Registry cases for the training floor's constraints and candidates."""

import jax.numpy as jnp
import numpy as np
from registry import Case

import fairjax

N, G, T, M = 40, 3, 10, 2


def _make(rng, absent):
  s = rng.integers(0, G, N)
  if absent:
    s = np.where(s == G - 1, 0, s)
  y = rng.integers(0, 2, N)
  z = rng.normal(size=N).astype(np.float32)
  w = rng.random(N).astype(np.float32)
  return (y, z, s, w), dict(num_groups=G)


def _constraints(notion):
  def fn(y, z, s, w, **static):
    return fairjax.rate_constraints(y, z, sensitive_features=s,
                                    sample_weight=w, notion=notion,
                                    bound=0.05, **static)
  return fn


def _lagrangian(y, z, s, w, **static):
  c = _constraints("equalized_odds")(y, z, s, w, **static)
  lam = jnp.linspace(0.0, 1.0, c.proxy.shape[0])
  return fairjax.lagrangian(jnp.mean(z ** 2), c, lam, augmented=0.5)


def _candidates_make(rng, absent):
  del absent
  f = rng.random(T).astype(np.float32)
  g = (rng.normal(size=(T, M)) + 0.3).astype(np.float32)
  return (f, g), {}


def _index(f, g):
  return fairjax.find_best_candidate_index(f, g)


def _distribution(f, g):
  return fairjax.find_best_candidate_distribution(f, g)


CASES = [
    Case("rate_constraints_dp", _constraints("demographic_parity"), _make,
         grad_argnums=(1,), check_grads=False),
    Case("rate_constraints_eodds", _constraints("equalized_odds"), _make,
         grad_argnums=(1,), check_grads=False),
    Case("lagrangian_augmented", _lagrangian, _make, grad_argnums=(1,),
         check_grads=False),
    Case("find_best_candidate_index", _index, _candidates_make),
    Case("find_best_candidate_distribution", _distribution, _candidates_make,
         rtol=1e-4, atol=1e-5),
]
