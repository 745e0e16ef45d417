r"""ProPublica COMPAS: two-year recidivism of defendants in Broward County.

The vendored file is ProPublica's ``compas-scores-two-years.csv`` (7,214
rows, 45 columns; the identifying columns were removed before vendoring, see
the ``NOTICE``). ProPublica's analysis keeps the rows with
``days_b_screening_arrest`` in ``[-30, 30]`` (an empty value fails the test,
as ``NA`` does in their R filter), ``is_recid != -1``,
``c_charge_degree != 'O'`` and ``score_text != 'N/A'``: 6,172 rows.
"""

from __future__ import annotations

import functools

import numpy as np

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
    random_split,
    read_rows,
)

NUMERIC = (
    "age", "priors_count", "juv_fel_count", "juv_misd_count",
    "juv_other_count",
)
CATEGORICAL = ("c_charge_degree", "sex", "age_cat", "race", "score_text")
FILTER = ("days_b_screening_arrest", "is_recid", "score_text")
TARGET = "two_year_recid"
# The targets of load_compas_tasks; c_charge_degree (a target there) is
# withheld from its inputs.
TASKS = ("two_year_recid", "violent_recid", "felony", "medium_high_score")
VIOLENT = "is_violent_recid"
SENSITIVE = ("race", "race_caucasian", "sex")
SENSITIVE_COLUMN = {"race": "race", "race_caucasian": "race", "sex": "sex"}
GROUP_NAMES = {
    "race": ("other", "African-American"),
    "race_caucasian": ("Caucasian", "African-American"),
    "sex": ("Female", "Male"),
}
SCREENING_WINDOW = 30.0


def _keep(row: dict[str, str]) -> bool:
  """ProPublica's filter of one row."""
  days = row["days_b_screening_arrest"]
  return (
      days != ""
      and -SCREENING_WINDOW <= float(days) <= SCREENING_WINDOW
      and int(row["is_recid"]) != -1
      and row["c_charge_degree"] != "O"
      and row["score_text"] != "N/A"
  )


@functools.lru_cache(maxsize=1)
def raw_compas() -> tuple[dict[str, Column], np.ndarray]:
  """The 6,172 rows that pass ProPublica's filter, parsed once.

  Returns:
    ``(columns, target)``: read-only :class:`Column` s for the numeric and
    categorical columns used (categories: the values that occur among the
    filtered rows, sorted; ``is_violent_recid`` as a float column) and
    ``two_year_recid`` as int32.
  """
  rows = read_rows("compas", "compas-scores-two-years.csv")
  header, body = rows[0], rows[1:]
  needed = NUMERIC + CATEGORICAL + FILTER + (TARGET, VIOLENT)
  missing = [name for name in needed if name not in header]
  if missing or any(len(row) != len(header) for row in body):
    raise ValueError(
        "Corrupt vendored file compas/compas-scores-two-years.csv: missing "
        f"columns {missing} or rows of the wrong length."
    )
  records = [dict(zip(header, row, strict=True)) for row in body]
  kept = [r for r in records if _keep(r)]
  columns = {}
  for name in NUMERIC + (VIOLENT,):
    columns[name] = Column(name, frozen(as_float([r[name] for r in kept])))
  for name in CATEGORICAL:
    codes, categories = as_codes([r[name] for r in kept])
    columns[name] = Column(name, frozen(codes), categories)
  target = frozen(np.array([int(r[TARGET]) for r in kept], np.int32))
  return columns, target


def _is(column: Column, category: str) -> np.ndarray:
  return column.values == column.categories.index(category)


def _split_rows(race, n: int, sensitive: str, test_size, seed):
  """Train and test row indices: the random split of the rows in scope."""
  if sensitive == "race_caucasian":
    rows = np.flatnonzero(
        _is(race, "African-American") | _is(race, "Caucasian")
    )
  else:
    rows = np.arange(n)
  train_pos, test_pos = random_split(
      rows.shape[0], test_size=test_size, seed=seed
  )
  return rows[train_pos], rows[test_pos]


def load_compas(
    *,
    sensitive: str = "race",
    test_size: float = 0.3,
    seed: int = 0,
    standardize: bool = True,
    include_sensitive: bool = False,
) -> Dataset:
  r"""Loads ProPublica's COMPAS data: predict two-year recidivism.

  ``y = two_year_recid`` (1 = arrested again within two years; 45.5% of the
  6,172 rows kept by ProPublica's filter, see the module docstring).

  Features: the numeric columns age, priors_count, juv_fel_count,
  juv_misd_count and juv_other_count, standardised with the mean and
  (``ddof=0``) standard deviation of the train rows when ``standardize``,

  .. math::
    x \mapsto (x - \mu_{\mathrm{train}}) / \sigma_{\mathrm{train}},

  then indicator columns of c_charge_degree (F, M), sex (Female, Male) and
  age_cat (25 - 45, Greater than 45, Less than 25), in sorted order: 12
  columns. Race is not a feature; the sensitive attribute's columns are
  left out (sex for ``sensitive="sex"``: 10 columns) unless
  ``include_sensitive=True``, which keeps sex or appends the race
  indicators (6 values, or 2 for ``"race_caucasian"``). COMPAS's own
  scores (decile_score, score_text) are never features.

  Split: random and not stratified; with
  ``perm = np.random.default_rng(seed).permutation(n)`` and
  ``n_test = ceil(test_size * n)``, train = ``perm[:n - n_test]`` and
  test = ``perm[n - n_test:]``.

  Args:
    sensitive: ``"race"`` (group 1 = African-American, group 0 = every
      other race; ``("other", "African-American")``), ``"race_caucasian"``
      (**only** the 5,278 African-American and Caucasian rows, so
      ``n = 5278``; ``("Caucasian", "African-American")``) or ``"sex"``
      (``("Female", "Male")``).
    test_size: fraction of rows in the test part, in ``(0, 1)``.
    seed: non-negative seed of the permutation.
    standardize: whether to standardise the numeric columns.
    include_sensitive: keep the sensitive attribute among the features.

  Returns:
    A :class:`Dataset` named ``"compas"`` with ``num_groups = 2``.

  References:
    Angwin, Larson, Mattu and Kirchner, `Machine Bias
    <https://www.propublica.org/article/machine-bias-risk-assessments-in-criminal-sentencing>`_,
    ProPublica, 2016; Larson, Mattu, Kirchner and Angwin, `How We Analyzed
    the COMPAS Recidivism Algorithm
    <https://www.propublica.org/article/how-we-analyzed-the-compas-recidivism-algorithm>`_,
    ProPublica, 2016. Data: https://github.com/propublica/compas-analysis.
  """
  check_choice(sensitive, "sensitive", SENSITIVE)
  standardize = check_bool(standardize, "standardize")
  include_sensitive = check_bool(include_sensitive, "include_sensitive")
  columns, target = raw_compas()
  race = columns["race"]
  train, test = _split_rows(race, target.shape[0], sensitive, test_size,
                            seed)

  if sensitive == "sex":
    s = _is(columns["sex"], "Male")
  else:
    s = _is(race, "African-American")
  s = s.astype(np.int32)

  names = NUMERIC + ("c_charge_degree", "sex", "age_cat")
  if not include_sensitive:
    names = tuple(n for n in names if n != SENSITIVE_COLUMN[sensitive])
  raw = [columns[name] for name in names]
  if include_sensitive and SENSITIVE_COLUMN[sensitive] == "race":
    # Only the race values of the rows in use (two for race_caucasian).
    present = np.unique(race.values[np.concatenate([train, test])])
    remap = np.full(len(race.categories), -1, np.int32)
    remap[present] = np.arange(present.shape[0], dtype=np.int32)
    raw.append(Column(
        "race", remap[race.values], tuple(race.categories[k] for k in present)
    ))
  X_train, X_test, feature_names = encode_columns(
      raw, train, test, standardize=standardize
  )
  return make_dataset(
      "compas", (X_train, X_test), (target[train], target[test]),
      (s[train], s[test]), feature_names, GROUP_NAMES[sensitive],
  )


def load_compas_tasks(
    *,
    sensitive: str = "race",
    test_size: float = 0.3,
    seed: int = 0,
    standardize: bool = True,
    include_sensitive: bool = False,
) -> MultitaskDataset:
  r"""Loads ProPublica's COMPAS data with four binary tasks on the same inputs.

  The rows and the split are those of :func:`load_compas` with the same
  ``sensitive``, ``test_size`` and ``seed``. The tasks (columns of ``Y``, in
  this order; shares of the 6,172 rows):

  * ``"two_year_recid"``: arrested again within two years
    (``load_compas``'s ``y``; 45.5%);
  * ``"violent_recid"``: ``is_violent_recid``, a violent offence after the
    screening (11.2%);
  * ``"felony"``: the charge of the screening arrest is a felony
    (``c_charge_degree == "F"``; 64.3%);
  * ``"medium_high_score"``: COMPAS rated the recidivism risk Medium or
    High (``score_text``, i.e. decile score 5 or more; 44.6%).

  The inputs are :func:`load_compas`'s without c_charge_degree (a target
  here): age, priors_count, juv_fel_count, juv_misd_count and
  juv_other_count (standardised with the training mean and ``ddof=0``
  standard deviation when ``standardize``), then the sex and age_cat
  indicators: 10 columns (8 for ``sensitive="sex"``, whose column is left
  out unless ``include_sensitive``; race indicators are appended only with
  ``include_sensitive`` and a race attribute). COMPAS's scores and every
  recidivism column are never inputs.

  Args:
    sensitive: as :func:`load_compas`: ``"race"``, ``"race_caucasian"`` or
      ``"sex"``.
    test_size: fraction of rows in the test part, in ``(0, 1)``.
    seed: non-negative seed of the permutation.
    standardize: whether to standardise the numeric columns.
    include_sensitive: keep the sensitive attribute among the features.

  Returns:
    A :class:`MultitaskDataset` named ``"compas-tasks"``; ``.task(name)``
    gives one task as a :class:`Dataset`.

  References:
    Angwin, Larson, Mattu and Kirchner, `Machine Bias
    <https://www.propublica.org/article/machine-bias-risk-assessments-in-criminal-sentencing>`_,
    ProPublica, 2016; Oneto, Donini, Luise, Ciliberto, Maurer and Pontil,
    `Exploiting MMD and Sinkhorn Divergences for Fair and Transferable
    Representation Learning <https://arxiv.org/abs/2010.01400>`_, NeurIPS
    2020.
  """
  base = load_compas(
      sensitive=sensitive, test_size=test_size, seed=seed,
      standardize=standardize, include_sensitive=include_sensitive,
  )
  columns, target = raw_compas()
  race = columns["race"]
  train, test = _split_rows(race, target.shape[0], sensitive, test_size,
                            seed)
  score = columns["score_text"]
  Y = np.stack([
      target,
      columns[VIOLENT].values == 1.0,
      _is(columns["c_charge_degree"], "F"),
      _is(score, "Medium") | _is(score, "High"),
  ], axis=1).astype(np.int32)
  keep = [j for j, name in enumerate(base.feature_names)
          if not name.startswith("c_charge_degree=")]
  return make_multitask_dataset(
      "compas-tasks", (base.X_train[:, keep], base.X_test[:, keep]),
      (Y[train], Y[test]), (base.s_train, base.s_test),
      [base.feature_names[j] for j in keep], TASKS, base.group_names,
  )
