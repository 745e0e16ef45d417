"""Registry cases for FERM: direction, penalty, projections, feature maps.

The trainers are checked in test_linear.py instead: the full-batch (L-BFGS)
ones under jit/vmap, and the minibatch FERM SVM (ferm_direction + Adam) with
this registry's checks (jit equals eager, vmap equals a loop with an absent
group, no retrace), sharing that file's compiled float32 program: each
trainer compilation costs seconds, and the registry compiles a case 4-7
times. The random Fourier features are drawn in ``make`` (numpy, the
distribution of ``fit_random_fourier_features``): drawn inside the case,
every program would compile JAX's sampler again (~1.5 s each);
``fit_random_fourier_features`` itself is checked, eagerly and under jit, in
test_kernel_ferm.py.
"""

import jax
import numpy as np
from registry import Case

from fairjax._ferm import (
  apply_ferm_projection,
  ferm_direction,
  fit_ferm_projection,
  orthogonality_penalty,
)
from fairjax._kernel_ferm import (
  RandomFourierFeatures,
  apply_random_fourier_features,
)

N, D, G = 36, 4, 3
RFF_FEATURES = 8


def _problem(rng, absent, groups=G):
  s = np.arange(N) % groups
  y = (np.arange(N) // groups) % 2  # both labels in every group
  if absent:  # the last group has no member
    s = np.where(s == groups - 1, 0, s)
  X = (rng.normal(size=(N, D)) + 0.3 * s[:, None]).astype(np.float32)
  return X, y.astype(np.int32), s.astype(np.int32)


def _make(groups=G, extra=None, **static):
  def make(rng, absent):
    X, y, s = _problem(rng, absent, groups)
    arrays = (X, y, s)
    if extra == "weights":
      arrays += (rng.normal(size=(D, 2)).astype(np.float32),)
    elif extra == "rff":  # the distribution of fit_random_fourier_features
      gamma = 0.5
      arrays += (
          (np.sqrt(2 * gamma) * rng.normal(size=(D, RFF_FEATURES))
           ).astype(np.float32),
          rng.uniform(0, 2 * np.pi, RFF_FEATURES).astype(np.float32),
      )
    return arrays, dict(num_groups=groups, **static)
  return make


def _penalty(X, y, s, W, *, num_groups, notion):
  U = ferm_direction(X, y, sensitive_features=s, num_groups=num_groups,
                     notion=notion)
  return orthogonality_penalty(W, U)


def _direction(X, y, s, *, num_groups, notion):
  return ferm_direction(X, y, sensitive_features=s, num_groups=num_groups,
                        notion=notion)


def _fit_apply(X, y, s, *, num_groups, method):
  state = fit_ferm_projection(X, y, sensitive_features=s,
                              num_groups=num_groups, method=method)
  return apply_ferm_projection(state, X, sensitive_features=s)


# jitted so that an absent group is ignored (eagerly it is an error)
_project = jax.jit(_fit_apply, static_argnames=("num_groups", "method"))


def _rff(X, y, s, frequencies, phases, *, num_groups):
  del y, s, num_groups
  state = RandomFourierFeatures(frequencies, phases)
  return apply_random_fourier_features(state, X)


CASES = [
    Case("ferm_penalty_eo", _penalty,
         _make(extra="weights", notion="equal_opportunity"),
         grad_argnums=(0, 3)),
    Case("ferm_direction_eodds", _direction,
         _make(notion="equalized_odds"), grad_argnums=(0,)),
    Case("ferm_projection_orthogonal", _project, _make(method="orthogonal"),
         grad_argnums=(0,), rtol=1e-4, atol=1e-5),
    Case("ferm_projection_eliminate", _project, _make(method="eliminate"),
         grad_argnums=(0,), rtol=1e-4, atol=1e-5),
    Case("ferm_projection_shift", _project, _make(groups=2, method="shift"),
         grad_argnums=(0,)),
    Case("ferm_random_fourier_features", _rff, _make(extra="rff"),
         grad_argnums=(0, 3)),
]
