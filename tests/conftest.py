"""Shared fixtures; JAX hardened as in equinox's test suite."""

import jax
import numpy as np
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture
def rng():
  return np.random.default_rng(0)


if not hasattr(jax, "enable_x64"):  # pragma: no cover - jax < 0.8
  # The declared floor (jax 0.5.3) has the context manager under
  # jax.experimental; the tests call jax.enable_x64 on every version.
  from jax.experimental import enable_x64 as _enable_x64

  jax.enable_x64 = _enable_x64


@pytest.fixture
def enable_x64():
  with jax.enable_x64(True):
    yield
