"""Offline loaders for the standard real data sets of the fairness literature.

The published raw files ship inside the package, gzip-compressed
(``fairjax/datasets/data``; sources, licences and changes in
``data/NOTICE``), and are parsed with the standard library and numpy only:
no download, no network, no pandas. Every loader returns numpy arrays in a
:class:`Dataset` (feed them to JAX as they are) and is deterministic.

What each loader returns with its defaults:

* :func:`load_adult`: UCI Adult, 45,222 rows (official split, 30,162 train /
  15,060 test), 102 features, ``y``: income > 50K; sensitive ``"sex"``,
  ``"race"``, ``"race5"``, ``"sex_race"``. ``split="ferm"``: the FERM
  reference's split (32,561 / 12,661) and 13 integer-coded inputs.
* :func:`load_german`: Statlog German Credit, 1,000 rows (random 700 / 300 by
  ``seed``), 57 features, ``y``: good credit; sensitive
  ``"foreign_worker"``, ``"age"``, ``"sex"``.
* :func:`load_compas`: ProPublica COMPAS, 6,172 rows (random 4,320 / 1,852 by
  ``seed``), 12 features, ``y``: two-year recidivism; sensitive ``"race"``,
  ``"race_caucasian"``, ``"sex"``.
* :func:`load_crime`: Communities and Crime, 1,994 rows (the authors'
  1,795 / 199 split), 245 features, ``y``: violent crime rate (float);
  group: share of Black residents <= 0.06.
* :func:`load_crime_rf_predictions`: the published random-forest
  predictions on that split.
* :func:`load_adult_tasks`, :func:`load_compas_tasks`: several binary tasks
  on the same inputs (a :class:`MultitaskDataset`, ``Y`` of shape
  ``[n, T]``), the columns that define any task withheld from the inputs;
  Adult: income, hours-per-week > 40, professional/managerial occupation,
  married; COMPAS: two-year recidivism, violent recidivism, felony charge,
  a Medium/High COMPAS score.

Examples:
  >>> from fairjax.datasets import load_adult
  >>> data = load_adult(sensitive="sex")
  >>> data.X_train.shape, data.group_names
  ((30162, 102), ('Female', 'Male'))
"""

from fairjax.datasets._adult import load_adult, load_adult_tasks
from fairjax.datasets._common import (
    CrimeRFPredictions,
    Dataset,
    MultitaskDataset,
)
from fairjax.datasets._compas import load_compas, load_compas_tasks
from fairjax.datasets._crime import load_crime, load_crime_rf_predictions
from fairjax.datasets._german import load_german

__all__ = (
    "CrimeRFPredictions",
    "Dataset",
    "MultitaskDataset",
    "load_adult",
    "load_adult_tasks",
    "load_compas",
    "load_compas_tasks",
    "load_crime",
    "load_crime_rf_predictions",
    "load_german",
)
