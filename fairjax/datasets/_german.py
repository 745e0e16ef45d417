r"""UCI Statlog German Credit: good or bad credit risk of 1,000 applicants.

The vendored file is ``german.data``: 20 whitespace-separated attributes
(13 categorical with codes such as ``A11``, 7 numeric) and the label
(1 = good, 2 = bad). The codes are explained in ``german.names`` of the UCI
repository.

This copy differs from the UCI file in attribute 9 (personal status and
sex): all male codes (A91, A93, A94 in UCI's file) read A91, so only A91
(male, 690 rows) and A92 (female, 310 rows) occur; the ``data/NOTICE`` says
more. Sex is unaffected; the ``personal_status_sex`` indicators carry sex
only.
"""

from __future__ import annotations

import functools

import numpy as np

from fairjax._groups import check_choice
from fairjax.datasets._common import (
    Column,
    Dataset,
    as_codes,
    as_float,
    check_bool,
    encode_columns,
    frozen,
    make_dataset,
    random_split,
    read_text,
)

# (name, is categorical) of attributes 1..20, in file order.
ATTRIBUTES = (
    ("checking_status", True), ("duration_months", False),
    ("credit_history", True), ("purpose", True), ("credit_amount", False),
    ("savings", True), ("employment_since", True),
    ("installment_rate", False), ("personal_status_sex", True),
    ("other_debtors", True), ("residence_since", False), ("property", True),
    ("age", False), ("other_installment_plans", True), ("housing", True),
    ("existing_credits", False), ("job", True), ("people_liable", False),
    ("telephone", True), ("foreign_worker", True),
)
SENSITIVE = ("foreign_worker", "age", "sex")
SENSITIVE_COLUMN = {
    "foreign_worker": "foreign_worker", "age": "age",
    "sex": "personal_status_sex",
}
GROUP_NAMES = {
    "foreign_worker": ("non-foreign", "foreign"),
    "age": ("age<=25", "age>25"),
    "sex": ("Female", "Male"),
}
FEMALE_STATUS = ("A92", "A95")  # female: divorced/separated/married, single
FOREIGN = "A201"  # foreign worker: yes
AGE_THRESHOLD = 25.0


@functools.lru_cache(maxsize=1)
def raw_german() -> tuple[dict[str, Column], np.ndarray]:
  """Parses ``german.data`` once: ``(columns, label)``.

  ``columns`` maps each attribute name to a read-only :class:`Column`
  (categories: the codes that occur in the file, sorted); ``label`` holds
  the raw labels (1 = good, 2 = bad).
  """
  rows = [line.split() for line in read_text("german", "german.data")
          .splitlines() if line.strip()]
  width = len(ATTRIBUTES) + 1
  bad = [row for row in rows if len(row) != width]
  if bad:
    raise ValueError(
        f"Corrupt vendored file german/german.data: expected {width} fields "
        f"per row, got {len(bad[0])}: {bad[0]}."
    )
  fields = list(zip(*rows, strict=True))
  columns = {}
  for (name, categorical), values in zip(ATTRIBUTES, fields[:-1], strict=True):
    if categorical:
      codes, categories = as_codes(values)
      columns[name] = Column(name, frozen(codes), categories)
    else:
      columns[name] = Column(name, frozen(as_float(values)))
  label = frozen(np.array([int(v) for v in fields[-1]], np.int32))
  return columns, label


def _in(column: Column, categories) -> np.ndarray:
  """Whether each row holds one of ``categories``."""
  codes = [column.categories.index(c) for c in categories
           if c in column.categories]
  return np.isin(column.values, codes)


def _group_ids(columns: dict[str, Column], sensitive: str) -> np.ndarray:
  if sensitive == "foreign_worker":
    member = _in(columns["foreign_worker"], (FOREIGN,))
  elif sensitive == "age":
    member = columns["age"].values > AGE_THRESHOLD
  else:
    member = ~_in(columns["personal_status_sex"], FEMALE_STATUS)
  return member.astype(np.int32)


def load_german(
    *,
    sensitive: str = "foreign_worker",
    test_size: float = 0.3,
    seed: int = 0,
    standardize: bool = True,
    include_sensitive: bool = False,
) -> Dataset:
  r"""Loads UCI Statlog German Credit: predict a good credit risk.

  ``y = 1`` for **good** credit (raw label 1; 700 of 1,000 rows), ``y = 0``
  for bad (raw label 2).

  Split: random and not stratified; with
  ``perm = np.random.default_rng(seed).permutation(1000)`` and
  ``n_test = ceil(test_size * 1000)`` (300 by default), train =
  ``perm[:1000 - n_test]`` and test = ``perm[1000 - n_test:]``, in that
  order. The same ``seed`` gives the same split.

  Features, in file order: the 7 numeric attributes (duration_months,
  credit_amount, installment_rate, residence_since, age, existing_credits,
  people_liable) as one column each, standardised with the mean and
  (``ddof=0``) standard deviation of the train rows when ``standardize``,

  .. math::
    x \mapsto (x - \mu_{\mathrm{train}}) / \sigma_{\mathrm{train}};

  the 13 categorical ones as indicator columns named by their UCI code
  (``"checking_status=A11"``), one per code that occurs in the whole file, in
  sorted order, so the columns do not depend on ``seed`` (the code list is
  the file's schema, not a statistic of the test rows). The sensitive
  attribute's column (foreign_worker, age, or personal_status_sex for sex) is
  left out unless ``include_sensitive=True``: 59 features
  with everything, 57 without foreign_worker.

  Args:
    sensitive: ``"foreign_worker"`` (attribute 20: group 1 = foreign worker,
      code A201; names ``("non-foreign", "foreign")``), ``"age"`` (group 1 =
      older than 25; ``("age<=25", "age>25")``) or ``"sex"`` (from attribute
      9, personal status and sex: A92 and A95 are female, A91, A93 and A94
      male; ``("Female", "Male")``).
    test_size: fraction of rows in the test part, in ``(0, 1)``.
    seed: non-negative seed of the permutation.
    standardize: whether to standardise the numeric columns.
    include_sensitive: keep the sensitive attribute's column among the
      features.

  Returns:
    A :class:`Dataset` named ``"german"`` with ``num_groups = 2``.

  References:
    Hofmann, `Statlog (German Credit Data)
    <https://doi.org/10.24432/C5NC77>`_, UCI Machine Learning Repository,
    1994 (CC BY 4.0).
  """
  check_choice(sensitive, "sensitive", SENSITIVE)
  standardize = check_bool(standardize, "standardize")
  include_sensitive = check_bool(include_sensitive, "include_sensitive")
  columns, label = raw_german()
  train, test = random_split(label.shape[0], test_size=test_size, seed=seed)
  drop = () if include_sensitive else (SENSITIVE_COLUMN[sensitive],)
  raw = [columns[name] for name, _ in ATTRIBUTES if name not in drop]
  X_train, X_test, names = encode_columns(
      raw, train, test, standardize=standardize
  )
  y = (label == 1).astype(np.int32)
  s = _group_ids(columns, sensitive)
  return make_dataset(
      "german", (X_train, X_test), (y[train], y[test]), (s[train], s[test]),
      names, GROUP_NAMES[sensitive],
  )
