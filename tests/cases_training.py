"""Registry cases for the sweep helpers: pareto_front, stratified_batches."""

import jax
import numpy as np
from registry import Case

import fairjax

N, G = 30, 3


def _pareto_make(rng, absent):
  del absent  # no groups
  # Rounded to force exact ties in one or both coordinates.
  e = np.round(rng.random(N), 1).astype(np.float32)
  u = np.round(rng.random(N), 1).astype(np.float32)
  return (e, u), {}


def _batches_make(rng, absent):
  s = rng.integers(0, G, N)
  if absent:
    s = np.where(s == G - 1, 0, s)
  y = rng.integers(0, 2, N)
  key = np.asarray(jax.random.key_data(jax.random.key(int(rng.integers(99)))))
  return (key, s, y), dict(num_groups=G)


def _epoch(key, s, y, **static):
  return fairjax.stratified_batches(key, s, 8, labels=y, **static)


def _fixed(key, s, y, **static):
  return fairjax.stratified_batches(key, s, 9, labels=y, group_sizes=(4, 3, 2),
                                    num_batches=5, **static)


CASES = [
    Case("pareto_front", fairjax.pareto_front, _pareto_make),
    Case("stratified_batches_epoch", _epoch, _batches_make),
    Case("stratified_batches_fixed", _fixed, _batches_make),
]
