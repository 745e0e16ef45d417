r"""UCI Communities and Crime, as split by Chzhen et al. (2020).

The vendored files are the authors' 90/10 random split: ``train.csv`` (1,795
rows) and ``test.csv`` (199 rows), comma-separated, no header, 248 columns:

* 0..244: the normalised features (values in ``[0, 1]``);
* 245: proportion of Black residents (continuous sensitive attribute);
* 246: binary group, 1 if that proportion is at most 0.06 (the median);
* 247: the target, violent crimes per population, in ``[0, 1]``.

``RF_YLF.csv`` / ``RF_YTF.csv`` hold the predictions of a 500-tree random
forest (trained on columns 0..246) on the train / test rows, in row order;
``RF_YLT.csv`` / ``RF_YTT.csv`` the matching true targets.
"""

from __future__ import annotations

import functools
import io

import numpy as np

from fairjax.datasets._common import (
    CrimeRFPredictions,
    Dataset,
    check_bool,
    frozen,
    make_dataset,
    read_text,
    standardize_columns,
)

NUM_FEATURES = 245
SHARE_COLUMN = 245
GROUP_COLUMN = 246
TARGET_COLUMN = 247
NUM_COLUMNS = 248
FEATURE_NAMES = tuple(f"col{j}" for j in range(NUM_FEATURES))
SENSITIVE_NAMES = ("black_share", "black_share<=0.06")
GROUP_NAMES = ("black_share>0.06", "black_share<=0.06")


def _table(filename: str) -> np.ndarray:
  table = np.loadtxt(
      io.StringIO(read_text("crime", filename)), delimiter=",",
      dtype=np.float64, ndmin=2,
  )
  if table.shape[1] != NUM_COLUMNS:
    raise ValueError(
        f"Corrupt vendored file crime/{filename}: expected {NUM_COLUMNS} "
        f"columns, got {table.shape[1]}."
    )
  group = table[:, GROUP_COLUMN]
  if not np.isin(group, (0.0, 1.0)).all():
    raise ValueError(
        f"Corrupt vendored file crime/{filename}: column {GROUP_COLUMN} "
        "must hold 0/1 group ids."
    )
  return table


def _vector(filename: str, n: int) -> np.ndarray:
  vec = np.loadtxt(
      io.StringIO(read_text("crime", filename)), dtype=np.float64, ndmin=1
  )
  if vec.shape != (n,):
    raise ValueError(
        f"Corrupt vendored file crime/{filename}: expected {n} values, got "
        f"shape {vec.shape}."
    )
  return vec


@functools.lru_cache(maxsize=1)
def raw_crime() -> tuple[np.ndarray, np.ndarray]:
  """The train and test tables (float64, read-only), parsed once."""
  return frozen(_table("train.csv")), frozen(_table("test.csv"))


def load_crime(
    *, standardize: bool = False, include_sensitive: bool = False
) -> Dataset:
  r"""Loads Communities and Crime: regress the violent crime rate.

  The split is the authors' (1,795 train, 199 test rows, file order), so
  the published random-forest predictions
  (:func:`load_crime_rf_predictions`) line up with ``y_train`` and
  ``y_test``. ``y`` is the float32 target (column 247, in ``[0, 1]``); the
  group id ``s`` is column 246: group 1 if the share of Black residents is
  at most 0.06, group 0 otherwise (names ``("black_share>0.06",
  "black_share<=0.06")``).

  ``X`` holds columns 0..244 (names ``"col0"`` ... ``"col244"``, the
  authors' normalised features, in ``[0, 1]``). The sensitive columns 245
  (the share itself) and 246 (its binary group) are left out, so a model
  never sees the attribute; ``include_sensitive=True`` appends them
  (``"black_share"``, ``"black_share<=0.06"``), which gives the 247 inputs
  the published random forest was trained on. With ``standardize`` every
  column becomes :math:`(x - \mu_{\mathrm{train}}) / \sigma_{\mathrm{train}}`
  (``ddof=0``; a constant column is only centred).

  Args:
    standardize: whether to standardise the columns (off by default: the
      features are already normalised to ``[0, 1]``).
    include_sensitive: append columns 245 and 246 to the features.

  Returns:
    A :class:`Dataset` named ``"crime"`` with ``num_groups = 2``.

  References:
    Chzhen, Denis, Hebiri, Oneto and Pontil, `Fair regression with
    Wasserstein barycenters <https://arxiv.org/abs/2006.07286>`_, 2020;
    Redmond, `Communities and Crime <https://doi.org/10.24432/C53W3X>`_,
    UCI Machine Learning Repository, 2009 (CC BY 4.0).
  """
  standardize = check_bool(standardize, "standardize")
  include_sensitive = check_bool(include_sensitive, "include_sensitive")
  train, test = raw_crime()
  d = GROUP_COLUMN + 1 if include_sensitive else NUM_FEATURES
  X_train, X_test = train[:, :d], test[:, :d]
  if standardize:
    X_train, X_test = standardize_columns(X_train, X_test)
  names = FEATURE_NAMES + (SENSITIVE_NAMES if include_sensitive else ())
  return make_dataset(
      "crime", (X_train, X_test),
      (train[:, TARGET_COLUMN], test[:, TARGET_COLUMN]),
      (train[:, GROUP_COLUMN], test[:, GROUP_COLUMN]),
      names, GROUP_NAMES, y_dtype=np.float32,
  )


def load_crime_rf_predictions() -> CrimeRFPredictions:
  """Loads the published random-forest predictions on the Crime split.

  The predictions of a 500-tree random forest trained by Chzhen et al. on
  the 247 input columns of the training rows, on the training rows
  (``RF_YLF.csv``) and on the test rows (``RF_YTF.csv``), in the row order
  of :func:`load_crime`. ``y_train`` and ``y_test`` come from the authors'
  ``RF_YLT.csv`` and ``RF_YTT.csv``; they equal ``load_crime().y_train`` and
  ``y_test`` (checked by the tests), and ``s_train``, ``s_test`` are the
  group ids of :func:`load_crime`.

  Returns:
    A :class:`CrimeRFPredictions` of float32 predictions and targets and
    int32 group ids.

  References:
    Chzhen, Denis, Hebiri, Oneto and Pontil, `Fair regression with
    Wasserstein barycenters <https://arxiv.org/abs/2006.07286>`_, 2020.
  """
  train, test = raw_crime()
  n_train, n_test = train.shape[0], test.shape[0]
  return CrimeRFPredictions(
      pred_train=_vector("RF_YLF.csv", n_train).astype(np.float32),
      y_train=_vector("RF_YLT.csv", n_train).astype(np.float32),
      s_train=train[:, GROUP_COLUMN].astype(np.int32),
      pred_test=_vector("RF_YTF.csv", n_test).astype(np.float32),
      y_test=_vector("RF_YTT.csv", n_test).astype(np.float32),
      s_test=test[:, GROUP_COLUMN].astype(np.int32),
  )
