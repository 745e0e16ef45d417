"""The offline loaders, checked against independent pandas/numpy parsing."""

import csv
import gzip
import hashlib
import importlib.resources
import io
import math
import pathlib
import socket

import numpy as np
import pandas as pd
import pytest

import fairjax.datasets as fds
from fairjax.datasets import (
    CrimeRFPredictions,
    Dataset,
    MultitaskDataset,
    load_adult,
    load_adult_tasks,
    load_compas,
    load_compas_tasks,
    load_crime,
    load_crime_rf_predictions,
    load_german,
)
from fairjax.datasets._adult import raw_adult
from fairjax.datasets._compas import raw_compas
from fairjax.datasets._crime import raw_crime
from fairjax.datasets._german import raw_german

ADULT_NAMES = [
    "age", "workclass", "fnlwgt", "education", "education-num",
    "marital-status", "occupation", "relationship", "race", "sex",
    "capital-gain", "capital-loss", "hours-per-week", "native-country",
    "income",
]
ADULT_NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain",
                 "capital-loss", "hours-per-week"]
GERMAN_NUMERIC = [1, 4, 7, 10, 12, 15, 17]  # 0-based attribute positions
COMPAS_NUMERIC = ["age", "priors_count", "juv_fel_count", "juv_misd_count",
                  "juv_other_count"]

LOADERS = {
    "adult": load_adult,
    "adult_ferm": lambda **kw: load_adult(split="ferm", **kw),
    "german": load_german,
    "compas": load_compas,
    "crime": load_crime,
}
CACHES = (raw_adult, raw_german, raw_compas, raw_crime)


# ------------------------------------------------------- independent I/O ----


def _vendored(path):
  """Bytes of a vendored file, read without the loaders' code."""
  ref = importlib.resources.files("fairjax.datasets") / "data" / (path + ".gz")
  return gzip.decompress(ref.read_bytes())


def _csv(path, **kw):
  return pd.read_csv(io.BytesIO(_vendored(path)), **kw)


@pytest.fixture(scope="module")
def adult_frames():
  """Complete rows of adult.data and adult.test, via pandas."""
  kw = dict(header=None, names=ADULT_NAMES, skipinitialspace=True)
  train, test = _csv("adult/adult.data", **kw), _csv("adult/adult.test", **kw)
  def clean(df):
    return df[~(df == "?").any(axis=1)].reset_index(drop=True)
  return clean(train), clean(test)


@pytest.fixture(scope="module")
def compas_frame():
  df = _csv("compas/compas-scores-two-years.csv")
  keep = (
      df.days_b_screening_arrest.between(-30, 30)
      & (df.is_recid != -1) & (df.c_charge_degree != "O")
      & (df.score_text != "N/A")
  )
  return df[keep].reset_index(drop=True)


def _notice_digests():
  text = (importlib.resources.files("fairjax.datasets") / "data" / "NOTICE"
          ).read_text()
  rows = [line.split() for line in text.splitlines()]
  return [(r[0], int(r[1]), r[2]) for r in rows
          if len(r) == 3 and len(r[0]) == 64]


# ------------------------------------------------------------- contract ----


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_contract(name):
  d = LOADERS[name]()
  assert isinstance(d, Dataset)
  y_dtype = np.float32 if name == "crime" else np.int32
  n_features = len(d.feature_names)
  for X, y, s in ((d.X_train, d.y_train, d.s_train),
                  (d.X_test, d.y_test, d.s_test)):
    assert X.dtype == np.float32 and X.ndim == 2 and X.shape[1] == n_features
    assert y.dtype == y_dtype and y.shape == (X.shape[0],)
    assert s.dtype == np.int32 and s.shape == (X.shape[0],)
    assert np.isfinite(X).all() and np.isfinite(y).all()
    assert set(np.unique(s)) == set(range(d.num_groups))
    if name != "crime":
      assert set(np.unique(y)) == {0, 1}
  assert d.num_groups == len(d.group_names)
  assert len(set(d.feature_names)) == n_features
  assert all(isinstance(f, str) for f in d.feature_names + d.group_names)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_deterministic(name):
  a, b = LOADERS[name](), LOADERS[name]()
  for x, y in zip(a, b, strict=True):
    if isinstance(x, np.ndarray):
      np.testing.assert_array_equal(x, y)
    else:
      assert x == y


def _standardised_and_onehot(d, numeric_names):
  names = np.array(d.feature_names)
  num = np.isin(names, numeric_names)
  assert num.sum() == len(numeric_names)
  Xn = d.X_train[:, num].astype(np.float64)
  np.testing.assert_allclose(Xn.mean(0), 0.0, atol=1e-5)
  np.testing.assert_allclose(Xn.std(0), 1.0, atol=1e-5)
  prefixes = sorted({f.split("=")[0] for f in names[~num]})
  for X in (d.X_train, d.X_test):
    onehot = X[:, ~num]
    assert set(np.unique(onehot)) <= {0.0, 1.0}
    for p in prefixes:
      block = np.char.startswith(names.astype(str), p + "=")
      np.testing.assert_array_equal(X[:, block].sum(1), 1.0)


# ---------------------------------------------------------------- Adult ----


def test_adult_official_sizes_and_groups(adult_frames):
  train, test = adult_frames
  d = load_adult()
  assert d.X_train.shape[0] + d.X_test.shape[0] == 45_222
  assert (d.X_train.shape[0], d.X_test.shape[0]) == (len(train), len(test))
  assert d.group_names == ("Female", "Male")
  # Independent count with the csv module on the raw bytes.
  rows = csv.reader(io.StringIO(_vendored("adult/adult.data").decode()),
                    skipinitialspace=True)
  female = sum(1 for r in rows if r and "?" not in r and r[9] == "Female")
  assert (d.s_train == 0).sum() == female == 9_782
  assert (d.s_test == 0).sum() == (test.sex == "Female").sum()
  np.testing.assert_array_equal(d.y_train, (train.income == ">50K"))
  np.testing.assert_array_equal(d.y_test,
                                test.income.str.rstrip(".") == ">50K")


def test_adult_official_matches_pandas_encoding(adult_frames):
  train, test = adult_frames
  d = load_adult(include_sensitive=True)
  cols = []
  for name in ADULT_NAMES[:-1]:
    if name in ADULT_NUMERIC:
      mu, sd = train[name].mean(), train[name].std(ddof=0)
      cols.append((name, (train[name] - mu) / sd, (test[name] - mu) / sd))
    else:
      for c in sorted(train[name].unique()):
        cols.append((f"{name}={c}", train[name] == c, test[name] == c))
  assert d.feature_names == tuple(c[0] for c in cols)
  np.testing.assert_allclose(
      d.X_train, np.stack([c[1] for c in cols], 1).astype(float), atol=1e-5)
  np.testing.assert_allclose(
      d.X_test, np.stack([c[2] for c in cols], 1).astype(float), atol=1e-5)
  _standardised_and_onehot(d, ADULT_NUMERIC)


@pytest.mark.parametrize("sensitive,dropped", [
    ("sex", ("sex",)), ("race", ("race",)), ("race5", ("race",)),
    ("sex_race", ("sex", "race")),
])
def test_adult_sensitive_options(adult_frames, sensitive, dropped):
  train, test = adult_frames
  d = load_adult(sensitive=sensitive)
  assert not any(f.split("=")[0] in dropped for f in d.feature_names)
  both = pd.concat([train, test])
  white = np.where(both.race == "White", "White", "non-White")
  expected = {
      "sex": both.sex, "race": white, "race5": both.race,
      "sex_race": both.sex + "/" + white,
  }[sensitive]
  names = np.array(d.group_names)[np.concatenate([d.s_train, d.s_test])]
  np.testing.assert_array_equal(names, np.asarray(expected, str))
  assert d.group_names == {
      "sex": ("Female", "Male"), "race": ("non-White", "White"),
      "race5": ("Amer-Indian-Eskimo", "Asian-Pac-Islander", "Black", "Other",
                "White"),
      "sex_race": ("Female/non-White", "Female/White", "Male/non-White",
                   "Male/White"),
  }[sensitive]


def test_adult_ferm_split_matches_reference_preprocessing(adult_frames):
  train, test = adult_frames
  d = load_adult(split="ferm")
  assert (d.X_train.shape, d.X_test.shape) == ((32_561, 13), (12_661, 13))
  assert d.X_train.shape[0] == len(train) + 2_399
  assert "sex" in d.feature_names and "native-country" not in d.feature_names
  both = pd.concat([train, test], ignore_index=True)
  mat = np.stack([
      both[c].to_numpy(float) if c in ADULT_NUMERIC
      else pd.Categorical(both[c]).codes.astype(float)  # sorted categories
      for c in ADULT_NAMES[:13]
  ], 1)
  mat = (mat - mat.mean(0)) / mat.std(0)
  np.testing.assert_allclose(d.X_train, mat[:32_561], atol=1e-5)
  np.testing.assert_allclose(d.X_test, mat[32_561:], atol=1e-5)
  y = (both.income == ">50K").to_numpy()
  np.testing.assert_array_equal(np.concatenate([d.y_train, d.y_test]), y)
  np.testing.assert_array_equal(np.concatenate([d.s_train, d.s_test]),
                                both.sex == "Male")
  raw = load_adult(split="ferm", standardize=False)
  np.testing.assert_array_equal(raw.X_train[:len(train), 0], train.age)
  np.testing.assert_array_equal(raw.X_train[len(train):, 0],
                                test.age[:2_399])


# --------------------------------------------------------------- German ----


def _german_raw():
  text = _vendored("german/german.data").decode()
  return np.array([line.split() for line in text.splitlines() if line])


@pytest.mark.parametrize("sensitive", ["foreign_worker", "age", "sex"])
def test_german_split_labels_groups(sensitive):
  raw = _german_raw()
  assert raw.shape == (1000, 21)
  d = load_german(sensitive=sensitive, seed=3, standardize=False,
                  include_sensitive=True)
  perm = np.random.default_rng(3).permutation(1000)
  train, test = perm[:700], perm[700:]
  assert (d.X_train.shape[0], d.X_test.shape[0]) == (700, 300)
  y = (raw[:, 20] == "1").astype(int)  # label 1 = good credit
  np.testing.assert_array_equal(d.y_train, y[train])
  np.testing.assert_array_equal(d.y_test, y[test])
  s = {
      "foreign_worker": raw[:, 19] == "A201",
      "age": raw[:, 12].astype(float) > 25,
      "sex": ~np.isin(raw[:, 8], ["A92", "A95"]),
  }[sensitive]
  np.testing.assert_array_equal(d.s_train, s[train])
  np.testing.assert_array_equal(d.s_test, s[test])
  numeric = [f for f in d.feature_names if "=" not in f]
  assert len(numeric) == len(GERMAN_NUMERIC)
  X = np.concatenate([d.X_train, d.X_test])[np.argsort(perm)]
  for f, j in zip(numeric, GERMAN_NUMERIC, strict=True):
    np.testing.assert_array_equal(X[:, d.feature_names.index(f)],
                                  raw[:, j].astype(float))


def test_german_encoding_and_exclusion():
  d = load_german()
  assert not any(f.startswith("foreign_worker") for f in d.feature_names)
  assert load_german(sensitive="sex").feature_names.count("age") == 1
  assert "age" not in load_german(sensitive="age").feature_names
  assert not any(f.startswith("personal_status")
                 for f in load_german(sensitive="sex").feature_names)
  numeric = [f for f in d.feature_names if "=" not in f]
  _standardised_and_onehot(d, numeric)
  # Columns do not depend on the seed.
  assert load_german(seed=1).feature_names == d.feature_names


def test_german_attribute_9_as_vendored():
  # The vendored copy has only A91 (every male code) and A92 in attribute 9
  # (see data/NOTICE); if the file is replaced, update NOTICE and docs.
  codes, counts = np.unique(_german_raw()[:, 8], return_counts=True)
  assert dict(zip(codes, counts, strict=True)) == {"A91": 690, "A92": 310}
  d = load_german(include_sensitive=True, sensitive="sex")
  block = [f for f in d.feature_names if f.startswith("personal_status")]
  assert block == ["personal_status_sex=A91", "personal_status_sex=A92"]


def test_german_seed_and_test_size():
  a, b, c = load_german(seed=0), load_german(seed=0), load_german(seed=1)
  np.testing.assert_array_equal(a.X_test, b.X_test)
  assert not np.array_equal(a.y_test, c.y_test)
  for t in (0.25, 0.123, 0.5):
    d = load_german(test_size=t)
    assert d.X_test.shape[0] == math.ceil(t * 1000)
    assert d.X_train.shape[0] + d.X_test.shape[0] == 1000


# --------------------------------------------------------------- COMPAS ----


def test_compas_filter_labels_features(compas_frame):
  df = compas_frame
  assert len(df) == 6_172
  d = load_compas(seed=5, standardize=False)
  n_test = math.ceil(0.3 * 6_172)
  perm = np.random.default_rng(5).permutation(6_172)
  train, test = perm[:-n_test], perm[-n_test:]
  assert (d.X_train.shape[0], d.X_test.shape[0]) == (6_172 - n_test, n_test)
  np.testing.assert_array_equal(d.y_train, df.two_year_recid.iloc[train])
  aa = (df.race == "African-American").to_numpy()
  np.testing.assert_array_equal(d.s_test, aa[test])
  assert d.group_names == ("other", "African-American")
  assert np.concatenate([d.s_train, d.s_test]).sum() == aa.sum() == 3_175
  assert not any(f.startswith("race") for f in d.feature_names)
  dummies = pd.get_dummies(df[["c_charge_degree", "sex", "age_cat"]],
                           prefix_sep="=")
  expected = pd.concat([df[COMPAS_NUMERIC], dummies], axis=1).astype(float)
  assert d.feature_names == tuple(expected.columns)
  np.testing.assert_array_equal(d.X_train, expected.to_numpy()[train])
  _standardised_and_onehot(load_compas(), COMPAS_NUMERIC)


def test_compas_other_sensitive_options(compas_frame):
  df = compas_frame
  d = load_compas(sensitive="race_caucasian")
  sub = df[df.race.isin(["African-American", "Caucasian"])]
  assert d.X_train.shape[0] + d.X_test.shape[0] == len(sub) == 5_278
  assert d.group_names == ("Caucasian", "African-American")
  s = np.concatenate([d.s_train, d.s_test])
  assert s.sum() == (sub.race == "African-American").sum()
  e = load_compas(sensitive="race_caucasian", include_sensitive=True)
  assert e.feature_names[-2:] == ("race=African-American", "race=Caucasian")
  np.testing.assert_array_equal(e.X_test[:, -2], e.s_test)
  x = load_compas(sensitive="sex")
  assert x.group_names == ("Female", "Male")
  assert not any(f.startswith("sex") for f in x.feature_names)
  assert np.concatenate([x.s_train, x.s_test]).sum() == (df.sex == "Male").sum()


# ---------------------------------------------------------------- Crime ----


def test_crime_split_and_columns():
  train = _csv("crime/train.csv", header=None).to_numpy()
  test = _csv("crime/test.csv", header=None).to_numpy()
  d = load_crime()
  assert (d.X_train.shape, d.X_test.shape) == ((1_795, 245), (199, 245))
  np.testing.assert_array_equal(d.X_train, train[:, :245].astype(np.float32))
  np.testing.assert_array_equal(d.y_test, test[:, 247].astype(np.float32))
  np.testing.assert_array_equal(d.s_train, train[:, 246])
  np.testing.assert_array_equal(d.s_train, train[:, 245] <= 0.06)
  np.testing.assert_array_equal(d.s_test, test[:, 245] <= 0.06)
  e = load_crime(include_sensitive=True, standardize=True)
  assert e.X_train.shape[1] == 247
  mu, sd = train[:, :247].mean(0), train[:, :247].std(0)
  expected = (test[:, :247] - mu) / np.where(sd > 0, sd, 1.0)
  np.testing.assert_allclose(e.X_test, expected, atol=1e-5)


def test_crime_rf_predictions_line_up():
  d, rf = load_crime(), load_crime_rf_predictions()
  assert isinstance(rf, CrimeRFPredictions)
  assert rf.pred_train.dtype == rf.y_test.dtype == np.float32
  assert rf.s_test.dtype == np.int32
  # The authors' true targets are our split's targets, in the same order.
  np.testing.assert_array_equal(rf.y_train, d.y_train)
  np.testing.assert_array_equal(rf.y_test, d.y_test)
  np.testing.assert_array_equal(rf.s_train, d.s_train)
  np.testing.assert_array_equal(rf.s_test, d.s_test)
  # Published target (papers.md): RF test MSE 0.0141.
  mse = np.mean((rf.pred_test.astype(float) - rf.y_test) ** 2)
  assert abs(mse - 0.0141) < 5e-5


# ---------------------------------------------------------- multitask ----


def _check_multitask(d, num_tasks):
  assert isinstance(d, MultitaskDataset)
  assert len(d.task_names) == num_tasks
  for X, Y, s in ((d.X_train, d.Y_train, d.s_train),
                  (d.X_test, d.Y_test, d.s_test)):
    assert X.dtype == np.float32 and X.shape[1] == len(d.feature_names)
    assert Y.dtype == np.int32 and Y.shape == (X.shape[0], num_tasks)
    assert s.dtype == np.int32 and s.shape == (X.shape[0],)
    for t in range(num_tasks):
      assert set(np.unique(Y[:, t])) == {0, 1}


def test_adult_tasks_labels_from_pandas(adult_frames):
  train, test = adult_frames
  d = load_adult_tasks()
  _check_multitask(d, 4)
  assert d.task_names == ("income", "hours>40", "prof_managerial", "married")
  for df, Y in ((train, d.Y_train), (test, d.Y_test)):
    expected = np.stack([
        df.income.str.rstrip(".").eq(">50K"),
        df["hours-per-week"] > 40,
        df.occupation.isin(["Exec-managerial", "Prof-specialty"]),
        df["marital-status"].str.startswith("Married"),
    ], axis=1).astype(np.int32)
    np.testing.assert_array_equal(Y, expected)
  base = load_adult()
  np.testing.assert_array_equal(d.task("income").y_test, base.y_test)
  np.testing.assert_array_equal(d.s_train, base.s_train)


@pytest.mark.parametrize("sensitive", ["sex", "race"])
def test_adult_tasks_withhold_every_target_column(sensitive):
  d = load_adult_tasks(sensitive=sensitive)
  withheld = ("hours-per-week", "occupation", "marital-status",
              "relationship", "income", sensitive)
  prefixes = {f.split("=")[0] for f in d.feature_names}
  assert not prefixes & set(withheld)
  base = load_adult(sensitive=sensitive)
  for j, name in enumerate(d.feature_names):  # the same encoded columns
    k = base.feature_names.index(name)
    np.testing.assert_array_equal(d.X_train[:, j], base.X_train[:, k])
    np.testing.assert_array_equal(d.X_test[:, j], base.X_test[:, k])
  assert len(base.feature_names) - len(d.feature_names) == 1 + 14 + 7 + 6
  kept = load_adult_tasks(sensitive=sensitive, include_sensitive=True)
  assert sensitive in {f.split("=")[0] for f in kept.feature_names}


def test_compas_tasks_labels_from_pandas(compas_frame):
  df = compas_frame
  for sensitive in ("race", "race_caucasian", "sex"):
    d = load_compas_tasks(sensitive=sensitive, seed=3)
    _check_multitask(d, 4)
    base = load_compas(sensitive=sensitive, seed=3)
    np.testing.assert_array_equal(d.s_test, base.s_test)
    np.testing.assert_array_equal(d.task("two_year_recid").y_train,
                                  base.y_train)
    assert not any(f.startswith("c_charge_degree") for f in d.feature_names)
    keep = [base.feature_names.index(f) for f in d.feature_names]
    np.testing.assert_array_equal(d.X_train, base.X_train[:, keep])
  d = load_compas_tasks(seed=3)
  assert d.task_names == ("two_year_recid", "violent_recid", "felony",
                          "medium_high_score")
  assert d.feature_names == (
      "age", "priors_count", "juv_fel_count", "juv_misd_count",
      "juv_other_count", "sex=Female", "sex=Male", "age_cat=25 - 45",
      "age_cat=Greater than 45", "age_cat=Less than 25")
  n_test = math.ceil(0.3 * 6_172)
  test = np.random.default_rng(3).permutation(6_172)[-n_test:]
  expected = np.stack([
      df.two_year_recid, df.is_violent_recid, df.c_charge_degree.eq("F"),
      df.score_text.isin(["Medium", "High"]),
  ], axis=1).astype(np.int32)[test]
  np.testing.assert_array_equal(d.Y_test, expected)
  np.testing.assert_array_equal(
      expected[:, 3], (df.decile_score.to_numpy()[test] >= 5))


def test_multitask_task_view_and_errors():
  d = load_compas_tasks()
  one = d.task("felony")
  assert isinstance(one, Dataset) and one.name == "compas-tasks:felony"
  np.testing.assert_array_equal(one.y_train, d.Y_train[:, 2])
  one.X_train[0, 0] = 99.0  # a fresh copy
  assert d.X_train[0, 0] != 99.0
  with pytest.raises(ValueError, match="`name`.*felony"):
    d.task("income")
  with pytest.raises(ValueError, match="`sensitive`"):
    load_adult_tasks(sensitive="age")
  with pytest.raises(TypeError, match="`include_sensitive`"):
    load_adult_tasks(include_sensitive=1)
  with pytest.raises(ValueError, match="`sensitive`"):
    load_compas_tasks(sensitive="age")


# ------------------------------------------------------------ arguments ----


@pytest.mark.parametrize("fn,kwargs,err,match", [
    (load_adult, dict(sensitive="gender"), ValueError, "`sensitive`"),
    (load_adult, dict(split="random"), ValueError, "`split`.*official"),
    (load_adult, dict(standardize=1), TypeError, "`standardize`"),
    (load_adult, dict(split="ferm", include_sensitive=True), ValueError,
     "`include_sensitive`"),
    (load_german, dict(sensitive="race"), ValueError, "foreign_worker"),
    (load_german, dict(test_size=1.0), ValueError, "`test_size`"),
    (load_german, dict(test_size=0), ValueError, "`test_size`"),
    (load_german, dict(test_size="0.3"), TypeError, "`test_size`"),
    (load_german, dict(seed=-1), ValueError, "`seed`"),
    (load_german, dict(seed=1.5), TypeError, "`seed`"),
    (load_compas, dict(sensitive="age"), ValueError, "race_caucasian"),
    (load_compas, dict(test_size=0.99999999), ValueError,
     "empty train"),
    (load_compas, dict(include_sensitive="yes"), TypeError,
     "`include_sensitive`"),
    (load_crime, dict(standardize=None), TypeError, "`standardize`"),
])
def test_bad_arguments_raise(fn, kwargs, err, match):
  with pytest.raises(err, match=match):
    fn(**kwargs)


def test_arguments_are_keyword_only():
  with pytest.raises(TypeError):
    load_adult("sex")  # pylint: disable=too-many-function-args
  with pytest.raises(TypeError):
    load_crime(True)  # pylint: disable=too-many-function-args


# --------------------------------------------------- isolation, package ----


def test_no_network(monkeypatch):
  def refuse(*args, **kwargs):
    raise AssertionError("a loader tried to use the network")
  for name in ("socket", "create_connection", "getaddrinfo"):
    monkeypatch.setattr(socket, name, refuse)
  for cache in CACHES:
    cache.cache_clear()
  for name in sorted(LOADERS):
    LOADERS[name]()
  load_crime_rf_predictions()


def test_user_mutation_does_not_reach_the_cache():
  for load in (*LOADERS.values(), load_crime_rf_predictions):
    first = load()
    pristine = [np.copy(a) for a in first if isinstance(a, np.ndarray)]
    for a in first:
      if isinstance(a, np.ndarray):
        assert a.flags.writeable and a.flags.owndata
        a[...] = 7
    again = [a for a in load() if isinstance(a, np.ndarray)]
    for a, b in zip(pristine, again, strict=True):
      np.testing.assert_array_equal(a, b)


def test_cached_raw_arrays_are_read_only():
  columns, _ = raw_adult()
  with pytest.raises(ValueError):
    columns["age"].values[0] = 0
  with pytest.raises(ValueError):
    raw_crime()[0][0, 0] = 0


def test_data_files_are_package_data_with_notice_digests():
  package = pathlib.Path(fds.__file__).parent
  digests = _notice_digests()
  assert len(digests) == 10
  for sha, size, path in digests:
    ref = importlib.resources.files("fairjax.datasets") / "data" / (
        path + ".gz")
    assert ref.is_file()
    assert pathlib.Path(str(ref)).resolve().is_relative_to(package.resolve())
    raw = _vendored(path)
    assert len(raw) == size and hashlib.sha256(raw).hexdigest() == sha
  assert (package / "data" / "NOTICE").is_file()


def _shared_data():
  for parent in pathlib.Path(__file__).resolve().parents:
    candidate = parent / "shared" / "data"
    if candidate.is_dir():
      return candidate
  return None


@pytest.mark.skipif(_shared_data() is None, reason="no shared/data copy")
def test_vendored_bytes_equal_the_shared_raw_files():
  shared = _shared_data()
  for _, _, path in _notice_digests():
    assert _vendored(path) == (shared / path).read_bytes(), path
