"""The registry of public functions checked by ``test_registry.py``.

Each module's cases live in ``tests/cases_<module>.py`` as a list ``CASES`` of
:class:`Case`; ``test_registry.py`` collects them all and checks, for every
case: jit equals eager, vmap over a batch of problems equals a loop, no
retrace for new data of the same shape, and (for differentiable cases) finite
gradients, also when one group is absent, plus ``check_grads`` in float64.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np


class Case(NamedTuple):
  """One public function under test.

  Attributes:
    name: test id.
    fn: ``fn(*arrays, **static)``; returns an array or a pytree of arrays.
    make: ``make(rng, absent) -> (arrays, static)``. ``arrays`` is a tuple of
      numpy arrays (float arrays in float32; the registry casts them to
      float64 for ``check_grads``); ``static`` holds hashable keyword
      arguments (num_groups, notion, ...). With ``absent=True`` one group must
      have no member. Shapes must not depend on the rng.
    grad_argnums: positions in ``arrays`` to differentiate; empty if the
      function is not differentiable.
    check_grads: whether to run ``jax.test_util.check_grads`` (float64).
    rtol: tolerance for jit/vmap comparisons.
  """

  name: str
  fn: Callable[..., Any]
  make: Callable[[np.random.Generator, bool], tuple[tuple, dict]]
  grad_argnums: tuple[int, ...] = ()
  check_grads: bool = True
  rtol: float = 1e-5
  atol: float = 1e-6
