r"""UCI Adult (Census Income): the official split and the FERM reference split.

The vendored files are ``adult.data`` (32,561 rows) and ``adult.test``
(16,281 rows) as read by the FERM reference code (no leading comment line in
``adult.test``, labels without a trailing dot; a comment line starting with
``|`` and trailing dots are handled anyway). Values are stripped of the
leading blank that follows each comma.
"""

from __future__ import annotations

import functools

import numpy as np

from fairjax._encoding import encode_groups
from fairjax._groups import check_choice
from fairjax.datasets._common import (
  Column,
  Dataset,
  MultitaskDataset,
  as_codes,
  as_float,
  check_bool,
  encode_columns,
  frozen,
  make_dataset,
  make_multitask_dataset,
  read_rows,
)

COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education-num",
    "marital-status", "occupation", "relationship", "race", "sex",
    "capital-gain", "capital-loss", "hours-per-week", "native-country",
    "income",
)
NUMERIC = frozenset({
    "age", "fnlwgt", "education-num", "capital-gain", "capital-loss",
    "hours-per-week",
})
MISSING = "?"
SENSITIVE = ("sex", "race", "race5", "sex_race")
SPLITS = ("official", "ferm")
SENSITIVE_COLUMNS = {
    "sex": ("sex",), "race": ("race",), "race5": ("race",),
    "sex_race": ("sex", "race"),
}
SEX_NAMES = ("Female", "Male")
RACE_NAMES = ("non-White", "White")
# The FERM reference's 13 inputs: every column but native-country and income.
FERM_COLUMNS = COLUMNS[:13]
# The targets of load_adult_tasks, and the columns withheld from its inputs
# (relationship too: its values Husband and Wife imply married).
TASKS = ("income", "hours>40", "prof_managerial", "married")
WITHHELD = ("marital-status", "occupation", "relationship", "hours-per-week")
HOURS_THRESHOLD = 40.0
PROF_MANAGERIAL = ("Exec-managerial", "Prof-specialty")
MARRIED = ("Married-AF-spouse", "Married-civ-spouse", "Married-spouse-absent")


@functools.lru_cache(maxsize=1)
def raw_adult() -> tuple[dict[str, Column], int]:
  """Parses both files once: ``(columns, n_data)``, train rows first.

  ``columns`` maps each name of :data:`COLUMNS` to a :class:`Column` over all
  48,842 rows (read-only float64 values, or int32 codes into the sorted
  categories, ``'?'`` included); ``n_data`` is the number of rows of
  ``adult.data`` (32,561).
  """
  rows_data = _parse("adult.data")
  rows_test = _parse("adult.test")
  fields = list(zip(*(rows_data + rows_test), strict=True))
  columns = {}
  for name, values in zip(COLUMNS, fields, strict=True):
    if name in NUMERIC:
      columns[name] = Column(name, frozen(as_float(values)))
    else:
      codes, categories = as_codes(values)
      columns[name] = Column(name, frozen(codes), categories)
  return columns, len(rows_data)


def _parse(filename: str) -> list[list[str]]:
  rows = []
  for row in read_rows("adult", filename):
    if row[0].startswith("|"):  # the official adult.test's comment line
      continue
    if len(row) != len(COLUMNS):
      raise ValueError(
          f"Corrupt vendored file adult/{filename}: expected "
          f"{len(COLUMNS)} fields per row, got {len(row)}: {row}."
      )
    row[-1] = row[-1].rstrip(".")  # '>50K.' in the official adult.test
    rows.append(row)
  return rows


def _is(column: Column, category: str) -> np.ndarray:
  """Whether each row of a categorical column holds ``category``."""
  if category not in column.categories:
    return np.zeros(column.values.shape, bool)
  return column.values == column.categories.index(category)


def _complete_rows(columns: dict[str, Column]) -> np.ndarray:
  """Whether a row has no ``'?'``.

  Only workclass, occupation and native-country have any.
  """
  ok = np.ones(columns["age"].values.shape, bool)
  for column in columns.values():
    if column.categories is not None:
      ok &= ~_is(column, MISSING)
  return ok


def _group_ids(
    columns: dict[str, Column], rows: np.ndarray, sensitive: str
) -> tuple[np.ndarray, tuple[str, ...]]:
  """Group ids of the given rows and the name of each id."""
  sex = _is(columns["sex"], "Male")[rows].astype(np.int32)
  white = _is(columns["race"], "White")[rows].astype(np.int32)
  if sensitive == "sex":
    return sex, SEX_NAMES
  if sensitive == "race":
    return white, RACE_NAMES
  race = columns["race"]
  if sensitive == "race5":
    present, ids = np.unique(race.values[rows], return_inverse=True)
    return (ids.reshape(-1).astype(np.int32),
            tuple(race.categories[k] for k in present))
  enc = encode_groups(sex, white)
  names = tuple(f"{SEX_NAMES[a]}/{RACE_NAMES[b]}" for a, b in enc.names)
  return enc.ids, names


def _official(columns, n_data, sensitive, include_sensitive, standardize):
  keep = _complete_rows(columns)
  index = np.arange(keep.shape[0])
  train = index[keep & (index < n_data)]
  test = index[keep & (index >= n_data)]
  drop = set() if include_sensitive else set(SENSITIVE_COLUMNS[sensitive])
  raw = [columns[name] for name in COLUMNS[:-1] if name not in drop]
  X_train, X_test, names = encode_columns(
      raw, train, test, standardize=standardize, categories_from_train=True
  )
  y = _is(columns["income"], ">50K").astype(np.int32)
  rows = np.concatenate([train, test])
  s, group_names = _group_ids(columns, rows, sensitive)
  n_train = train.shape[0]
  return make_dataset(
      "adult", (X_train, X_test), (y[train], y[test]),
      (s[:n_train], s[n_train:]), names, group_names,
  )


def _ferm(columns, n_data, sensitive, standardize):
  rows = np.flatnonzero(_complete_rows(columns))
  blocks = []
  for name in FERM_COLUMNS:
    values = columns[name].values[rows]
    if columns[name].categories is not None:
      # The rank of the category among those of the complete rows.
      values = np.unique(values, return_inverse=True)[1].reshape(-1)
    blocks.append(np.asarray(values, np.float64))
  X = np.stack(blocks, axis=1)
  if standardize:  # one scaler fit on all rows, train and test
    std = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
  y = _is(columns["income"], ">50K")[rows].astype(np.int32)
  s, group_names = _group_ids(columns, rows, sensitive)
  # The train size is fixed before the incomplete rows are dropped.
  train, test = slice(0, n_data), slice(n_data, None)
  return make_dataset(
      "adult-ferm", (X[train], X[test]), (y[train], y[test]),
      (s[train], s[test]), FERM_COLUMNS, group_names,
  )


def load_adult(
    *,
    sensitive: str = "sex",
    split: str = "official",
    standardize: bool = True,
    include_sensitive: bool | None = None,
) -> Dataset:
  r"""Loads UCI Adult: predict whether income exceeds 50K a year.

  ``y = 1`` for income ``>50K``. Rows with ``'?'`` (in workclass,
  occupation or native-country) are dropped: 45,222 of 48,842 rows remain.

  ``split="official"`` (default): train = the 30,162 complete rows of
  ``adult.data``, test = the 15,060 complete rows of ``adult.test``. The 14
  attributes are encoded in the file's column order: the six numeric ones
  (age, fnlwgt, education-num, capital-gain, capital-loss, hours-per-week)
  as one column each, standardised with the mean and (``ddof=0``) standard
  deviation of the train rows when ``standardize``,

  .. math::
    x \mapsto (x - \mu_{\mathrm{train}}) / \sigma_{\mathrm{train}},

  the eight categorical ones as indicator columns ``"workclass=Private"``,
  ..., one per category that occurs in the train rows, in sorted order
  (every test category also occurs in train). The sensitive attribute's
  columns (sex and/or race) are left out unless ``include_sensitive=True``:
  104 features with everything, 102 without sex.

  ``split="ferm"``: the preprocessing of the FERM reference code
  (``load_data.py`` of `fair_ERM <https://github.com/jmikko/fair_ERM>`_,
  used for the published numbers of Donini et al., `Empirical Risk
  Minimization under Fairness Constraints
  <https://arxiv.org/abs/1802.08626>`_, 2018). Both files are concatenated
  (48,842 rows), the train size is set to the length of ``adult.data``
  (32,561) *before* the incomplete rows are dropped, so train = the 30,162
  complete rows of ``adult.data`` plus the first 2,399 complete rows of
  ``adult.test``, and test = the last 12,661. The 13 inputs are the columns
  age ... hours-per-week (native-country is dropped, sex and race stay);
  each categorical becomes one integer code, its category's rank in sorted
  order among the 45,222 complete rows (like scikit-learn's
  ``LabelEncoder``; e.g. sex: Female 0, Male 1). With ``standardize`` every
  column, codes included, is standardised with the mean and ``ddof=0``
  standard deviation of *all* 45,222 rows, as the reference's
  ``StandardScaler`` fit on train and test together. The reference's
  marital-status binarisation matches no value (its values keep their
  leading blank), so marital-status keeps its 7 codes here too. Verified:
  the reference's pandas/scikit-learn pipeline run on the vendored files
  gives the same matrices (max abs difference below 1e-6 in float32) and
  the same labels (its ``-1/+1`` is ``2 y - 1``). ``include_sensitive`` does
  not apply (the reference's inputs are fixed).

  Args:
    sensitive: ``"sex"`` (groups ``("Female", "Male")``), ``"race"``
      (``("non-White", "White")``), ``"race5"`` (the five race values in
      sorted order: Amer-Indian-Eskimo, Asian-Pac-Islander, Black, Other,
      White) or ``"sex_race"`` (sex crossed with White/non-White via
      :func:`fairjax.encode_groups`: ``"Female/non-White"``,
      ``"Female/White"``, ``"Male/non-White"``, ``"Male/White"``).
    split: ``"official"`` or ``"ferm"``, see above.
    standardize: whether to standardise, see above.
    include_sensitive: official split only: keep the sensitive attribute's
      columns among the features (default ``False``).

  Returns:
    A :class:`Dataset` named ``"adult"`` (``"adult-ferm"`` for the FERM
    split): 30,162 + 15,060 rows (official) or 32,561 + 12,661 (ferm).

  References:
    Becker and Kohavi, `Adult <https://doi.org/10.24432/C5XW20>`_, UCI
    Machine Learning Repository, 1996 (CC BY 4.0).
  """
  check_choice(sensitive, "sensitive", SENSITIVE)
  check_choice(split, "split", SPLITS)
  standardize = check_bool(standardize, "standardize")
  columns, n_data = raw_adult()
  if split == "ferm":
    if include_sensitive is not None:
      raise ValueError(
          "`include_sensitive` applies to split='official' only: the FERM "
          "reference's 13 inputs always include sex and race. Leave it "
          f"unset, got {include_sensitive!r}."
      )
    return _ferm(columns, n_data, sensitive, standardize)
  include_sensitive = (
      False if include_sensitive is None
      else check_bool(include_sensitive, "include_sensitive")
  )
  return _official(
      columns, n_data, sensitive, include_sensitive, standardize
  )


def _task_labels(columns: dict[str, Column]) -> np.ndarray:
  """``[48842, 4]`` int32 labels of :data:`TASKS` over all rows."""
  def any_of(column, categories):
    return np.any([_is(column, c) for c in categories], axis=0)

  labels = (
      _is(columns["income"], ">50K"),
      columns["hours-per-week"].values > HOURS_THRESHOLD,
      any_of(columns["occupation"], PROF_MANAGERIAL),
      any_of(columns["marital-status"], MARRIED),
  )
  return np.stack(labels, axis=1).astype(np.int32)


def load_adult_tasks(
    *,
    sensitive: str = "sex",
    standardize: bool = True,
    include_sensitive: bool = False,
) -> MultitaskDataset:
  r"""Loads UCI Adult with four binary tasks on the same inputs.

  The rows and the split are those of ``load_adult()`` (the official split,
  30,162 train / 15,060 test rows). The tasks (columns of ``Y``, in this
  order):

  * ``"income"``: income ``>50K`` (``load_adult``'s ``y``; 24.9% of the
    training rows);
  * ``"hours>40"``: hours-per-week above 40 (30.5%);
  * ``"prof_managerial"``: occupation Exec-managerial or Prof-specialty
    (26.6%);
  * ``"married"``: marital-status Married-civ-spouse, Married-AF-spouse or
    Married-spouse-absent (47.9%).

  The inputs are ``load_adult``'s encoding of the remaining columns: every
  column that defines a task is withheld (hours-per-week, occupation,
  marital-status, and relationship, whose values Husband and Wife imply
  married; income is never an input), so no task sees its own target. With
  ``sex`` as the sensitive attribute that leaves 74 features: age,
  workclass, fnlwgt, education, education-num, race, capital-gain,
  capital-loss and native-country, numeric ones standardised with the
  training mean and (``ddof=0``) standard deviation when ``standardize``.
  Use it to train a representation on some tasks and test it on others
  (Oneto et al., 2020).

  Args:
    sensitive: as :func:`load_adult`: ``"sex"``, ``"race"``, ``"race5"`` or
      ``"sex_race"``.
    standardize: whether to standardise the numeric columns.
    include_sensitive: keep the sensitive attribute's columns among the
      features (default ``False``).

  Returns:
    A :class:`MultitaskDataset` named ``"adult-tasks"``; ``.task(name)``
    gives one task as a :class:`Dataset`.

  References:
    Becker and Kohavi, `Adult <https://doi.org/10.24432/C5XW20>`_, UCI
    Machine Learning Repository, 1996 (CC BY 4.0); Oneto, Donini, Luise,
    Ciliberto, Maurer and Pontil, `Exploiting MMD and Sinkhorn Divergences
    for Fair and Transferable Representation Learning
    <https://arxiv.org/abs/2010.01400>`_, NeurIPS 2020.
  """
  check_choice(sensitive, "sensitive", SENSITIVE)
  standardize = check_bool(standardize, "standardize")
  include_sensitive = check_bool(include_sensitive, "include_sensitive")
  columns, n_data = raw_adult()
  keep = _complete_rows(columns)
  index = np.arange(keep.shape[0])
  train = index[keep & (index < n_data)]
  test = index[keep & (index >= n_data)]
  drop = set(WITHHELD)
  if not include_sensitive:
    drop |= set(SENSITIVE_COLUMNS[sensitive])
  raw = [columns[name] for name in COLUMNS[:-1] if name not in drop]
  X_train, X_test, names = encode_columns(
      raw, train, test, standardize=standardize, categories_from_train=True
  )
  Y = _task_labels(columns)
  s, group_names = _group_ids(columns, np.concatenate([train, test]),
                              sensitive)
  n_train = train.shape[0]
  return make_multitask_dataset(
      "adult-tasks", (X_train, X_test), (Y[train], Y[test]),
      (s[:n_train], s[n_train:]), names, TASKS, group_names,
  )
