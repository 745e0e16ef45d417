"""Registry cases for FERM: direction, penalty, projections, trainers.

The full-batch (L-BFGS) trainers share one compiled program with the
minibatch case's loss; their jit/vmap behaviour is tested in test_linear.py
(each L-BFGS compilation costs seconds). The minibatch case uses the shapes
and static arguments of test_linear.py's float32 minibatch fit, so in one
session its eager program is compiled once. The random Fourier features are
drawn in ``make`` (numpy, same distribution): drawn inside the case, every
program would compile JAX's sampler again (~1.5 s each);
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
from fairjax._linear import fit_linear_svm

N, D, G = 36, 4, 3
N_SVM = 60  # test_linear.py's N (and D): the minibatch program is shared
RFF_FEATURES = 8


def _problem(rng, absent, groups=G, n=N):
  s = np.arange(n) % groups
  y = (np.arange(n) // groups) % 2  # both labels in every group
  if absent:  # the last group has no member
    s = np.where(s == groups - 1, 0, s)
  X = (rng.normal(size=(n, D)) + 0.3 * s[:, None]).astype(np.float32)
  return X, y.astype(np.int32), s.astype(np.int32)


def _make(groups=G, extra=None, n=N, **static):
  def make(rng, absent):
    X, y, s = _problem(rng, absent, groups, n)
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


def _svm_minibatch(X, y, s, *, num_groups):
  U = ferm_direction(X, y, sensitive_features=s, num_groups=num_groups)
  # batch_size and num_steps as in test_linear.py (static: one program)
  return fit_linear_svm(X, y, C=1.0, constraint_directions=U, batch_size=16,
                        num_steps=1500)


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
    Case("ferm_linear_svm_minibatch", _svm_minibatch, _make(groups=2, n=N_SVM),
         rtol=1e-3, atol=1e-4),
    Case("ferm_random_fourier_features", _rff, _make(extra="rff"),
         grad_argnums=(0, 3)),
]
