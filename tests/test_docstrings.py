"""The examples in the docstrings run and print what they say."""

import doctest
import importlib
import pkgutil

import jax
import pytest

import fairjax

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(fairjax.__path__, "fairjax.")
    if not m.name.startswith("fairjax.reproductions")
    and m.name != "fairjax.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
  module = importlib.import_module(name)
  flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
  # Examples are user code: JAX's default promotion rules.
  with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
    result = doctest.testmod(module, optionflags=flags, verbose=False)
  assert result.failed == 0, f"{result.failed} docstring example(s) failed"
