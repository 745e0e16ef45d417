"""The fairjax command: audit on a CSV and on a vendored data set."""

import json
import subprocess
import sys

import numpy as np
import pytest

from fairjax import cli


def _write_csv(path, rng, n=300):
  s = rng.choice(["a", "b"], n)
  y = rng.integers(0, 2, n)
  score = np.clip(rng.random(n) * 0.6 + 0.3 * y + 0.1 * (s == "a"), 0, 1)
  with open(path, "w") as f:
    f.write("label,score,grp\n")
    for row in zip(y, score, s, strict=True):
      f.write(f"{row[0]},{row[1]:.6f},{row[2]}\n")
  return y, score, s


def test_audit_csv_writes_report_matching_the_library(tmp_path, capsys):
  import fairjax
  y, score, s = _write_csv(tmp_path / "p.csv", np.random.default_rng(0))
  out = tmp_path / "r.json"
  assert cli.main(["audit", "--csv", str(tmp_path / "p.csv"), "--target",
                   "label", "--pred", "score", "--sensitive", "grp",
                   "--n-boot", "20", "--json", str(out)]) == 0
  report = json.loads(out.read_text())
  printed = capsys.readouterr().out
  assert "demographic_parity_difference" in printed and "95%" in printed
  ids = fairjax.encode_groups(s).ids
  hard = (score.astype(np.float32) >= 0.5).astype(int)
  want = fairjax.equalized_odds_difference(y, hard, sensitive_features=ids)
  got = report["metrics"]["equalized_odds_difference"]
  np.testing.assert_allclose(got["value"], float(want), rtol=1e-6)
  assert got["lower"] <= got["value"] <= got["upper"]
  assert [g["group"] for g in report["groups"]] == ["a", "b"]
  assert report["rows"] == 300


def test_audit_dataset_runs(tmp_path, capsys):
  out = tmp_path / "r.json"
  assert cli.main(["audit", "--dataset", "german", "--n-boot", "20",
                   "--json", str(out)]) == 0
  report = json.loads(out.read_text())
  assert 0.6 < report["accuracy"] <= 1
  assert set(report["metrics"]) >= {"demographic_parity_difference",
                                    "ks_distance"}


@pytest.mark.parametrize("argv,match", [
    (["audit"], "either --dataset or --csv"),
    (["audit", "--csv", "x.csv"], "--target"),
])
def test_audit_usage_errors(argv, match):
  with pytest.raises(SystemExit, match=match):
    cli.main(argv)


def test_audit_csv_missing_column(tmp_path):
  _write_csv(tmp_path / "p.csv", np.random.default_rng(1), 10)
  with pytest.raises(SystemExit, match="not in"):
    cli.main(["audit", "--csv", str(tmp_path / "p.csv"), "--target", "nope",
              "--pred", "score", "--sensitive", "grp"])


def test_reproduce_list(capsys):
  assert cli.main(["reproduce", "--list"]) == 0
  assert "available reproductions" in capsys.readouterr().out


def test_module_entry_point():
  r = subprocess.run([sys.executable, "-m", "fairjax", "--help"],
                     capture_output=True, text=True, check=True)
  assert "audit" in r.stdout


def test_demo_compares_the_methods(tmp_path, capsys):
  out = tmp_path / "d.json"
  assert cli.main(["demo", "--dataset", "compas", "--steps", "30",
                   "--json", str(out)]) == 0
  rows = {r["method"]: r for r in json.loads(out.read_text())["rows"]}
  assert "FERM" in capsys.readouterr().out
  base = rows["logistic regression"]
  assert 0.6 < base["accuracy"] < 0.75
  # Each fairness method lowers the demographic-parity gap of the baseline.
  for name, row in rows.items():
    if name.startswith("+"):
      assert row["demographic_parity_difference"] < (
          0.5 * base["demographic_parity_difference"]), name
