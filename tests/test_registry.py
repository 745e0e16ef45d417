"""Every public function: eager vs jit vs vmap, retracing, gradients."""

import functools
import importlib
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from registry import Case

CASES: list[Case] = []
for _path in sorted(pathlib.Path(__file__).parent.glob("cases_*.py")):
  CASES += importlib.import_module(_path.stem).CASES

_ids = [c.name for c in CASES]


def _assert_tree_close(a, b, case):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(la) == len(lb)
  for x, y in zip(la, lb, strict=True):
    np.testing.assert_allclose(
        np.asarray(x, np.float64), np.asarray(y, np.float64),
        rtol=case.rtol, atol=case.atol, equal_nan=True,
    )


def _scalar(out):
  return sum(jnp.sum(leaf) for leaf in jax.tree.leaves(out)
             if jnp.issubdtype(leaf.dtype, jnp.floating))


def _float64(arrays):
  return tuple(
      np.asarray(a, np.float64)
      if np.issubdtype(np.asarray(a).dtype, np.floating) else a
      for a in arrays
  )


def test_registry_is_populated():
  assert len(CASES) > 0


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_jit_matches_eager(case):
  arrays, static = case.make(np.random.default_rng(0), False)
  fn = functools.partial(case.fn, **static)
  _assert_tree_close(fn(*arrays), jax.jit(fn)(*arrays), case)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_vmap_matches_loop(case):
  problems = [case.make(np.random.default_rng(i), i == 1)[0] for i in range(3)]
  static = case.make(np.random.default_rng(0), False)[1]
  fn = functools.partial(case.fn, **static)
  batched = jax.tree.map(lambda *xs: np.stack(xs), *problems)
  out = jax.vmap(fn)(*batched)
  for i, p in enumerate(problems):
    _assert_tree_close(jax.tree.map(lambda x, i=i: x[i], out), fn(*p), case)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_no_retrace(case):
  traces = []
  static = case.make(np.random.default_rng(0), False)[1]

  @jax.jit
  def fn(*arrays):
    traces.append(1)
    return case.fn(*arrays, **static)

  for i in range(3):
    jax.block_until_ready(fn(*case.make(np.random.default_rng(i), False)[0]))
  assert len(traces) == 1


@pytest.mark.parametrize("absent", [False, True], ids=["all", "absent_group"])
@pytest.mark.parametrize(
    "case", [c for c in CASES if c.grad_argnums],
    ids=[c.name for c in CASES if c.grad_argnums])
def test_gradients_finite(case, absent):
  arrays, static = case.make(np.random.default_rng(0), absent)

  def loss(*diff):
    full = list(arrays)
    for i, d in zip(case.grad_argnums, diff, strict=True):
      full[i] = d
    return _scalar(case.fn(*full, **static))

  diff = [arrays[i] for i in case.grad_argnums]
  grads = jax.jit(jax.grad(loss, argnums=tuple(range(len(diff)))))(*diff)
  for g in grads:
    assert np.all(np.isfinite(np.asarray(g))), case.name


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.grad_argnums and c.check_grads],
    ids=[c.name for c in CASES if c.grad_argnums and c.check_grads])
def test_check_grads_float64(case, enable_x64):
  arrays, static = case.make(np.random.default_rng(0), False)
  arrays = _float64(arrays)

  def loss(*diff):
    full = list(arrays)
    for i, d in zip(case.grad_argnums, diff, strict=True):
      full[i] = d
    return _scalar(case.fn(*full, **static))

  diff = tuple(jnp.asarray(arrays[i]) for i in case.grad_argnums)
  check_grads(jax.jit(loss), diff, order=1, modes=("rev",), atol=1e-4,
              rtol=1e-4)
