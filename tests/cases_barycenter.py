"""Registry cases for the barycenter post-processing (fit and apply)."""

import numpy as np
from registry import Case

from fairjax._barycenter import (
  BarycenterState,
  apply_barycenter,
  fit_barycenter,
)

N_FIT, N_QUERY, G = 24, 10, 3


def _fit_data(rng):
  s = np.arange(N_FIT, dtype=np.int32) % G
  y = (rng.normal(size=N_FIT) + s).astype(np.float32)
  return y, s


def _make_fit(rng, absent):
  y, s = _fit_data(rng)
  if absent:
    s = np.where(s == 2, 0, s).astype(np.int32)
  key = np.array([0, rng.integers(1000)], np.uint32)
  return (y, s, key), {"num_groups": G}


def _fit(y, s, key, *, num_groups):
  return fit_barycenter(y, sensitive_features=s, key=key,
                        num_groups=num_groups)


def _make_apply(rng, absent):
  """A deterministic fit on a lattice; queries halfway between its points.

  Finite differences (eps 1e-4) then never cross a step of the map.
  """
  s_fit = np.arange(N_FIT, dtype=np.int32) % G
  y_fit = (0.1 * rng.permutation(N_FIT) + 0.01 * s_fit).astype(np.float32)
  state = fit_barycenter(y_fit, sensitive_features=s_fit, key=None,
                         jitter=0.0, split=False)
  s = rng.integers(0, 2 if absent else G, N_QUERY).astype(np.int32)
  y = (0.1 * rng.integers(-1, N_FIT + 1, N_QUERY) + 0.01 * s + 0.05)
  return (*map(np.asarray, state), y.astype(np.float32), s), {}


def _apply(*arrays, alpha=0.7, interpolation="linear"):
  state = BarycenterState(*arrays[:7])
  return apply_barycenter(state, arrays[7], sensitive_features=arrays[8],
                          alpha=alpha, interpolation=interpolation)


def _make_apply_key(rng, absent):
  arrays, _ = _make_apply(rng, absent)
  return (*arrays, np.array([0, rng.integers(1000)], np.uint32)), {}


def _apply_key(*arrays):
  state = BarycenterState(*arrays[:7])
  return apply_barycenter(state, arrays[7], sensitive_features=arrays[8],
                          key=arrays[9])


def _make_apply_alpha(rng, absent):
  arrays, _ = _make_apply(rng, absent)
  return (*arrays, np.float32(rng.uniform())), {}


def _apply_alpha(*arrays):
  return _apply(*arrays[:9], alpha=arrays[9],
                interpolation="relative_improvement")


CASES = [
    Case("barycenter_fit", _fit, _make_fit),
    Case("barycenter_apply", _apply, _make_apply, grad_argnums=(7,)),
    Case("barycenter_apply_jittered", _apply_key, _make_apply_key),
    Case("barycenter_apply_traced_alpha", _apply_alpha, _make_apply_alpha,
         grad_argnums=(7,)),
]
