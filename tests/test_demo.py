"""``fairjax demo --quick``: every method, its files and keys, its claims."""

import contextlib
import io
import json
import os

import pytest

from fairjax import cli, demo

ROW_KEYS = {"method", "accuracy", "demographic_parity_difference",
            "equal_opportunity_difference", "ks_distance", "train_seconds"}
# Each fairness method and the metric it targets.
TARGETS = {
    "FERM projection": "equal_opportunity_difference",
    "MMD penalty": "demographic_parity_difference",
    "Sinkhorn penalty": "demographic_parity_difference",
    "DP constraint (Lagrangian)": "demographic_parity_difference",
    "barycenter post-processing": "demographic_parity_difference",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """One quick demo run from an empty working directory."""
  cwd = tmp_path_factory.mktemp("cwd")
  out = tmp_path_factory.mktemp("report") / "out"
  here = os.getcwd()
  os.chdir(cwd)
  err, printed = io.StringIO(), io.StringIO()
  try:
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(printed):
      status = cli.main(["demo", "--quick", "--out", str(out)])
  finally:
    os.chdir(here)
  return status, cwd, out, printed.getvalue(), err.getvalue()


def test_writes_only_its_documented_files(run):
  status, cwd, out, _, _ = run
  assert status == 0
  assert list(cwd.iterdir()) == []  # nothing outside --out
  assert sorted(p.name for p in out.iterdir()) == [
      "distributions.png", "pareto.png", "report.json"]
  for png in ("distributions.png", "pareto.png"):
    assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_has_the_documented_keys(run):
  report = json.loads((run[2] / "report.json").read_text())
  assert report["dataset"] == "adult" and report["sensitive"] == "sex"
  assert {"jax", "fairjax", "optax", "ott-jax"} <= set(report["versions"])
  assert report["settings"]["quick"] is True
  methods = [r["method"] for r in report["rows"]]
  assert methods[0] == "logistic regression"
  assert set(TARGETS) <= set(methods)
  for row in report["rows"]:
    assert ROW_KEYS <= set(row), row["method"]
    for name in ("demographic_parity_difference",
                 "equal_opportunity_difference", "ks_distance"):
      lo, hi = row[f"{name}_ci"]
      assert lo <= row[name] + 1e-6 and row[name] <= hi + 1e-6, (row, name)
  assert set(report["sweeps"]) == set(TARGETS)
  for points in report["sweeps"].values():
    assert len(points) >= 3


def test_every_method_reduces_its_target_metric(run):
  report = json.loads((run[2] / "report.json").read_text())
  rows = {r["method"]: r for r in report["rows"]}
  base = rows["logistic regression"]
  assert 0.8 < base["accuracy"] < 0.9
  for method, metric in TARGETS.items():
    assert rows[method]["target"] == metric
    assert rows[method][metric] < 0.5 * base[metric], (method, metric)


def test_prints_one_titled_table_and_progress(run):
  _, _, _, printed, err = run
  title = printed.splitlines()[0]
  assert "adult" in title and "sensitive attribute: sex" in title
  for word in ("equal opportunity", "demographic parity", "KS", "train s",
               "bootstrap"):
    assert word in printed
  for method in TARGETS:
    assert sum(line.startswith(method) for line in printed.splitlines()) == 1
  steps = [line for line in err.splitlines() if line.startswith("[")]
  assert len(steps) == 7 and steps[-1].startswith("[7/7] plots")


def test_without_matplotlib_the_report_is_still_written(run, tmp_path,
                                                         monkeypatch, capsys):
  saved = json.loads((run[2] / "report.json").read_text())

  def fake_run(settings, progress=None):
    return {**saved, "_scores": {}, "_s_test": None}

  monkeypatch.setattr(demo, "run_demo", fake_run)
  monkeypatch.setattr(demo, "_have_matplotlib", lambda: False)
  assert cli.main(["demo", "--quick", "--out", str(tmp_path / "o")]) == 0
  assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["report.json"]
  out = capsys.readouterr().out
  assert "matplotlib is not installed" in out and "skipped" in out


def test_out_must_be_a_directory(tmp_path, capsys):
  f = tmp_path / "file"
  f.write_text("")
  assert cli.main(["demo", "--quick", "--out", str(f)]) == 1
  assert "not a directory" in capsys.readouterr().err


def test_quick_settings_are_smaller_and_seeded():
  full, quick = demo.settings_for("adult"), demo.settings_for(
      "adult", quick=True, seed=3)
  assert quick.seed == 3 and quick.steps < full.steps
  assert quick.n_boot < full.n_boot
  assert full.mmd_strength in full.penalty_strengths
  assert quick.sinkhorn_strength in quick.penalty_strengths
