r"""Shared pieces of the offline loaders: containers, vendored files, encoding.

Every loader reads gzip-compressed copies of the published raw files that ship
inside the package (``fairjax/datasets/data``, see the ``NOTICE`` there) with
:mod:`importlib.resources`; nothing touches the network. Parsing uses only the
standard library (:mod:`csv`, :mod:`gzip`) and numpy.

Parsed raw tables are cached (:func:`functools.lru_cache`) as read-only
arrays; every loader builds fresh arrays from them, so a user who changes a
returned array changes neither the cache nor the next load.

Feature encoding, shared by the tabular loaders:

* a numeric column stays one column; with ``standardize=True`` it becomes
  :math:`(x - \mu) / \sigma` with the mean and the population standard
  deviation (``ddof=0``) of the *training* rows, computed in float64 (a
  constant column is only centred);
* a categorical column becomes one indicator column per category, named
  ``"<column>=<category>"``, categories in sorted (code point) order; the
  indicators are never standardised. A test row whose category is not in the
  list has zeros in that column's indicators.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import numbers
from collections.abc import Sequence
from importlib import resources
from typing import NamedTuple

import numpy as np

DATA_PACKAGE = "fairjax.datasets"
DATA_DIR = "data"


class Dataset(NamedTuple):
  """A train/test split of a real data set with its sensitive attribute.

  Attributes:
    name: data set name, e.g. ``"adult"``.
    X_train: ``float32`` features of shape ``[n_train, d]``.
    y_train: ``int32`` labels in ``{0, 1}`` of shape ``[n_train]``
      (``float32`` targets for the regression data set, Crime).
    s_train: ``int32`` group ids in ``[0, num_groups)`` of shape ``[n_train]``.
    X_test: ``float32`` features of shape ``[n_test, d]``.
    y_test: labels or targets of shape ``[n_test]``, as ``y_train``.
    s_test: ``int32`` group ids of shape ``[n_test]``.
    feature_names: name of each of the ``d`` feature columns.
    group_names: ``group_names[g]`` names group id ``g``.
    num_groups: number of groups (``len(group_names)``).
  """

  name: str
  X_train: np.ndarray
  y_train: np.ndarray
  s_train: np.ndarray
  X_test: np.ndarray
  y_test: np.ndarray
  s_test: np.ndarray
  feature_names: tuple[str, ...]
  group_names: tuple[str, ...]
  num_groups: int


class MultitaskDataset(NamedTuple):
  """A train/test split with several binary targets on the same inputs.

  Every target is a column of the raw file that the inputs ``X`` leave out,
  with every column that determines it, so no task's own target is among
  the inputs of any task.

  Attributes:
    name: data set name, e.g. ``"adult-tasks"``.
    X_train: ``float32`` features of shape ``[n_train, d]``.
    Y_train: ``int32`` labels in ``{0, 1}`` of shape ``[n_train, T]``;
      column ``t`` is task ``task_names[t]``.
    s_train: ``int32`` group ids in ``[0, num_groups)`` of shape ``[n_train]``.
    X_test: ``float32`` features of shape ``[n_test, d]``.
    Y_test: ``int32`` labels of shape ``[n_test, T]``.
    s_test: ``int32`` group ids of shape ``[n_test]``.
    feature_names: name of each of the ``d`` feature columns.
    task_names: name of each of the ``T`` tasks.
    group_names: ``group_names[g]`` names group id ``g``.
    num_groups: number of groups (``len(group_names)``).
  """

  name: str
  X_train: np.ndarray
  Y_train: np.ndarray
  s_train: np.ndarray
  X_test: np.ndarray
  Y_test: np.ndarray
  s_test: np.ndarray
  feature_names: tuple[str, ...]
  task_names: tuple[str, ...]
  group_names: tuple[str, ...]
  num_groups: int

  def task(self, name: str) -> Dataset:
    """One task as a :class:`Dataset` (fresh copies of the arrays)."""
    if name not in self.task_names:
      raise ValueError(
          f"`name` must be one of {self.task_names}, got {name!r}."
      )
    t = self.task_names.index(name)
    return make_dataset(
        f"{self.name}:{name}", (self.X_train, self.X_test),
        (self.Y_train[:, t], self.Y_test[:, t]), (self.s_train, self.s_test),
        self.feature_names, self.group_names,
    )


class CrimeRFPredictions(NamedTuple):
  """The published random-forest predictions on the Crime split.

  Attributes:
    pred_train: ``float32`` predictions on the training rows, ``[1795]``.
    y_train: ``float32`` true targets of the training rows, ``[1795]``.
    s_train: ``int32`` group ids of the training rows, ``[1795]``.
    pred_test: ``float32`` predictions on the test rows, ``[199]``.
    y_test: ``float32`` true targets of the test rows, ``[199]``.
    s_test: ``int32`` group ids of the test rows, ``[199]``.
  """

  pred_train: np.ndarray
  y_train: np.ndarray
  s_train: np.ndarray
  pred_test: np.ndarray
  y_test: np.ndarray
  s_test: np.ndarray


# ---------------------------------------------------------------- files ----


def data_path(*parts: str):
  """The vendored file ``data/<parts...>`` as an importlib Traversable."""
  path = resources.files(DATA_PACKAGE) / DATA_DIR
  for part in parts:
    path = path / part
  return path


def read_text(folder: str, filename: str) -> str:
  """The text of raw file ``filename`` (``data/<folder>/<filename>.gz``)."""
  with data_path(folder, filename + ".gz").open("rb") as f:
    return gzip.decompress(f.read()).decode("ascii")


def read_rows(
    folder: str, filename: str, *, delimiter: str = ","
) -> list[list[str]]:
  """The non-empty rows of a vendored delimited text file.

  Blanks after a delimiter are skipped (Adult writes ``", "``).
  """
  reader = csv.reader(
      io.StringIO(read_text(folder, filename)), delimiter=delimiter,
      skipinitialspace=True,
  )
  return [row for row in reader if row]


def as_float(values: Sequence[str]) -> np.ndarray:
  """Parses decimal strings into a float64 array."""
  return np.fromiter(map(float, values), np.float64, count=len(values))


def as_codes(values: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
  """Integer codes of categorical strings, categories in sorted order.

  Returns:
    ``(codes, categories)`` with ``categories[codes[i]] == values[i]``.
  """
  categories = tuple(sorted(set(values)))
  index = {c: i for i, c in enumerate(categories)}
  codes = np.fromiter(map(index.__getitem__, values), np.int32,
                      count=len(values))
  return codes, categories


def frozen(array: np.ndarray) -> np.ndarray:
  """Marks a cached array read-only, so no caller can change the cache."""
  array.setflags(write=False)
  return array


# ----------------------------------------------------------- validation ----


def check_bool(value, name: str) -> bool:
  """Checks that ``value`` is a Python or numpy bool."""
  if not isinstance(value, (bool, np.bool_)):
    raise TypeError(f"`{name}` must be a bool, got {type(value).__name__}.")
  return bool(value)


def check_test_size(test_size, n: int) -> int:
  """Validates a test fraction in (0, 1); returns the number of test rows.

  As in scikit-learn's ``train_test_split``, the test part has
  ``ceil(test_size * n)`` rows.
  """
  if isinstance(test_size, (bool, np.bool_)) or not isinstance(
      test_size, numbers.Real
  ):
    raise TypeError(
        "`test_size` must be a float in (0, 1), got "
        f"{type(test_size).__name__}."
    )
  if not 0.0 < float(test_size) < 1.0:
    raise ValueError(f"`test_size` must lie in (0, 1), got {test_size!r}.")
  n_test = math.ceil(float(test_size) * n)
  if not 0 < n_test < n:
    raise ValueError(
        f"`test_size`={test_size!r} leaves an empty train or test part of "
        f"{n} rows."
    )
  return n_test


def check_seed(seed) -> int:
  """Validates a non-negative integer seed."""
  if isinstance(seed, (bool, np.bool_)) or not isinstance(
      seed, (int, np.integer)
  ):
    raise TypeError(
        f"`seed` must be a non-negative int, got {type(seed).__name__}."
    )
  if seed < 0:
    raise ValueError(f"`seed` must be a non-negative int, got {seed}.")
  return int(seed)


# ------------------------------------------------------------- encoding ----


def random_split(
    n: int, *, test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
  """Row indices of a random train/test split (not stratified).

  ``perm = np.random.default_rng(seed).permutation(n)``; the train rows are
  ``perm[:n - n_test]``, the test rows ``perm[n - n_test:]``, with
  ``n_test = ceil(test_size * n)``. Both keep the permuted order.
  """
  n_test = check_test_size(test_size, n)
  perm = np.random.default_rng(check_seed(seed)).permutation(n)
  return perm[: n - n_test], perm[n - n_test:]


def standardize_columns(
    train: np.ndarray, test: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
  """Standardises both parts with the training mean and (ddof=0) std."""
  train = np.asarray(train, np.float64)
  test = np.asarray(test, np.float64)
  mean = train.mean(axis=0)
  std = train.std(axis=0)
  scale = np.where(std > 0, std, 1.0)
  return (train - mean) / scale, (test - mean) / scale


class Column(NamedTuple):
  """One raw column of a table, before encoding.

  Attributes:
    name: column name used in ``feature_names``.
    values: float64 values (numeric column) or int32 codes into
      ``categories`` (categorical column), shape ``[n]``.
    categories: ``None`` for a numeric column; the sorted categories of a
      categorical one.
  """

  name: str
  values: np.ndarray
  categories: tuple[str, ...] | None = None


def encode_columns(
    columns: Sequence[Column],
    train: np.ndarray,
    test: np.ndarray,
    *,
    standardize: bool,
    categories_from_train: bool = False,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
  """Encodes raw columns into ``float32`` design matrices.

  Args:
    columns: raw columns, in output order.
    train: integer indices of the training rows.
    test: integer indices of the test rows.
    standardize: whether to standardise the numeric columns with the
      training mean and standard deviation.
    categories_from_train: one indicator per category that occurs in the
      training rows (else one per category of ``Column.categories``).

  Returns:
    ``(X_train, X_test, feature_names)``.
  """
  blocks_train, blocks_test, names = [], [], []
  for col in columns:
    v_train, v_test = col.values[train], col.values[test]
    if col.categories is not None:
      kept = np.arange(len(col.categories), dtype=np.int32)
      if categories_from_train:
        kept = np.unique(v_train)
      blocks_train.append(v_train[:, None] == kept[None, :])
      blocks_test.append(v_test[:, None] == kept[None, :])
      names += [f"{col.name}={col.categories[k]}" for k in kept]
    else:
      v_train = np.asarray(v_train, np.float64)[:, None]
      v_test = np.asarray(v_test, np.float64)[:, None]
      if standardize:
        v_train, v_test = standardize_columns(v_train, v_test)
      blocks_train.append(v_train)
      blocks_test.append(v_test)
      names.append(col.name)
  X_train = np.concatenate(
      [b.astype(np.float32) for b in blocks_train], axis=1
  )
  X_test = np.concatenate([b.astype(np.float32) for b in blocks_test], axis=1)
  return X_train, X_test, tuple(names)


def make_dataset(
    name: str,
    X: tuple[np.ndarray, np.ndarray],
    y: tuple[np.ndarray, np.ndarray],
    s: tuple[np.ndarray, np.ndarray],
    feature_names: Sequence[str],
    group_names: Sequence[str],
    *,
    y_dtype=np.int32,
) -> Dataset:
  """Assembles a :class:`Dataset` from fresh copies in the contract dtypes."""
  def fresh(a, dtype):
    return np.array(a, dtype=dtype, copy=True, order="C")

  return Dataset(
      name=name,
      X_train=fresh(X[0], np.float32),
      y_train=fresh(y[0], y_dtype),
      s_train=fresh(s[0], np.int32),
      X_test=fresh(X[1], np.float32),
      y_test=fresh(y[1], y_dtype),
      s_test=fresh(s[1], np.int32),
      feature_names=tuple(str(f) for f in feature_names),
      group_names=tuple(str(g) for g in group_names),
      num_groups=len(group_names),
  )


def make_multitask_dataset(
    name: str,
    X: tuple[np.ndarray, np.ndarray],
    Y: tuple[np.ndarray, np.ndarray],
    s: tuple[np.ndarray, np.ndarray],
    feature_names: Sequence[str],
    task_names: Sequence[str],
    group_names: Sequence[str],
) -> MultitaskDataset:
  """Assembles a :class:`MultitaskDataset` from fresh copies."""
  def fresh(a, dtype):
    return np.array(a, dtype=dtype, copy=True, order="C")

  return MultitaskDataset(
      name=name,
      X_train=fresh(X[0], np.float32),
      Y_train=fresh(Y[0], np.int32),
      s_train=fresh(s[0], np.int32),
      X_test=fresh(X[1], np.float32),
      Y_test=fresh(Y[1], np.int32),
      s_test=fresh(s[1], np.int32),
      feature_names=tuple(str(f) for f in feature_names),
      task_names=tuple(str(t) for t in task_names),
      group_names=tuple(str(g) for g in group_names),
      num_groups=len(group_names),
  )
