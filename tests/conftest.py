"""Shared fixtures; JAX hardened as in equinox's test suite."""

import jax
import numpy as np
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture
def rng():
  return np.random.default_rng(0)


@pytest.fixture
def enable_x64():
  with jax.enable_x64(True):
    yield
