"""Categorical sensitive columns as integer group ids (host side).

The group core (:mod:`fairjax._groups`) sees groups as integer ids in
``[0, num_groups)``; :func:`encode_groups` builds them from the columns a
user has (strings, categories, several attributes at once for
intersectional groups) and keeps each id's original values as its name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class GroupEncoding(NamedTuple):
  """Integer group ids built from one or several sensitive columns.

  Attributes:
    ids: ``int32`` array of shape ``[n]`` with values in ``[0, num_groups)``.
    num_groups: number of distinct groups (combinations) found.
    names: for each id, the tuple of original values of each column.
  """

  ids: np.ndarray
  num_groups: int
  names: tuple[tuple, ...]


def _columns(columns) -> list[np.ndarray]:
  """Host columns from arrays, lists, pandas Series, Categoricals, DataFrames.

  Duck-typed (pandas is not imported): an object with ``.columns`` is a
  table, split into its columns; ``.to_numpy()`` reads a Series.
  """
  cols = []
  for c in columns:
    if hasattr(c, "columns") and hasattr(c, "__getitem__"):
      cols.extend(_columns([c[k] for k in c.columns]))
      continue
    if hasattr(c, "to_numpy"):
      c = c.to_numpy()
    elif not isinstance(c, np.ndarray) and hasattr(c, "__array__"):
      c = np.asarray(c)  # e.g. a pandas Categorical or a jax array
    else:
      c = np.asarray(c) if isinstance(c, np.ndarray) else np.asarray(
          list(c) if not np.isscalar(c) else c, dtype=object)
    cols.append(c)
  return cols


def _missing(c: np.ndarray) -> np.ndarray:
  """Rows holding a missing value: None, NaN (float or object), pandas NA."""
  if c.dtype.kind == "f":
    return np.isnan(c)
  if c.dtype != object:
    return np.zeros(c.shape, bool)
  return np.array([v is None or (isinstance(v, float) and v != v)
                   or type(v).__name__ in ("NAType", "NaTType") for v in c],
                  bool)


def _unique(c: np.ndarray, i: int):
  """Sorted distinct values and inverse codes of one column."""
  try:
    return np.unique(c, return_inverse=True)
  except TypeError as e:  # object column mixing incomparable types
    kinds = sorted({type(v).__name__ for v in c})
    raise TypeError(
        f"Column {i} of encode_groups mixes values of types {kinds} that "
        "cannot be sorted; convert it to one type (e.g. str) first."
    ) from e


def _plain(v):
  """A numpy scalar as the Python value (names of the groups)."""
  return v.item() if isinstance(v, np.generic) else v


def encode_groups(*columns: Sequence) -> GroupEncoding:
  """Encodes categorical sensitive columns as (intersectional) group ids.

  With one column, each distinct value becomes a group; with several (e.g.
  sex and race), each distinct combination that occurs becomes a group.
  Groups are numbered in sorted order of their values. Columns may be lists,
  numpy arrays (numbers, strings, objects), pandas Series or Categoricals,
  or a pandas DataFrame (each of its columns counts as one column); pandas
  is not needed. Runs on the host.

  Raises:
    ValueError: no column, columns of different lengths or ranks, or a
      missing value (None, NaN, pandas NA) in a column.
    TypeError: a column whose values cannot be sorted (mixed types).

  Examples:
    >>> enc = encode_groups(["F", "M", "F"], ["a", "a", "b"])
    >>> enc.ids.tolist(), enc.num_groups, enc.names
    ([0, 2, 1], 3, (('F', 'a'), ('F', 'b'), ('M', 'a')))
  """
  if not columns:
    raise ValueError("encode_groups needs at least one column.")
  cols = _columns(columns)
  if not cols:
    raise ValueError("encode_groups got a table without columns.")
  for i, c in enumerate(cols):
    if c.ndim != 1 or c.shape[0] != cols[0].shape[0]:
      raise ValueError(
          f"Every column must be a vector of the same length; column {i} has "
          f"shape {c.shape}, column 0 has shape {cols[0].shape}."
      )
    miss = _missing(c)
    if miss.any():
      rows = np.nonzero(miss)[0]
      raise ValueError(
          f"Column {i} of encode_groups has {rows.size} missing values "
          f"(first at row {rows[0]}); fill them (e.g. with 'unknown') or "
          "drop those rows first."
      )
  codes, uniques = [], []
  for i, c in enumerate(cols):
    u, inv = _unique(c, i)
    uniques.append(u)
    codes.append(inv.reshape(-1))
  combos, ids = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
  names = tuple(
      tuple(_plain(u[k]) for u, k in zip(uniques, row, strict=True))
      for row in combos
  )
  return GroupEncoding(ids.reshape(-1).astype(np.int32), len(names), names)
