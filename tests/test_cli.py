"""The fairjax command: audit on a CSV and on a vendored data set; errors."""

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
  assert "undefined" not in printed and "warning" not in printed
  assert report["rows"] == 300


def test_audit_dataset_runs(tmp_path, capsys):
  out = tmp_path / "r.json"
  assert cli.main(["audit", "--dataset", "german", "--n-boot", "20",
                   "--json", str(out)]) == 0
  report = json.loads(out.read_text())
  assert 0.6 < report["accuracy"] <= 1
  assert set(report["metrics"]) >= {"demographic_parity_difference",
                                    "ks_distance"}


def test_reproduce_list(capsys):
  assert cli.main(["reproduce", "--list"]) == 0
  assert "available reproductions" in capsys.readouterr().out


def test_module_entry_point():
  r = subprocess.run([sys.executable, "-m", "fairjax", "--help"],
                     capture_output=True, text=True, check=True)
  assert "audit" in r.stdout


def _csv(path, text):
  path.write_text(text)
  return str(path)


def _error(argv, capsys, match):
  """Runs the command; it must fail with status 1 and one line, no trace."""
  assert cli.main(argv) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: ") and err.count("\n") == 1, err
  assert "Traceback" not in err
  assert match in err, err
  return err


def test_missing_file(tmp_path, capsys):
  _error(["audit", "--csv", str(tmp_path / "nope.csv"), "--target", "y",
          "--pred", "p", "--sensitive", "s"], capsys,
         "No such file or directory")


def test_header_only_csv(tmp_path, capsys):
  f = _csv(tmp_path / "h.csv", "y,p,s\n")
  _error(["audit", "--csv", f, "--target", "y", "--pred", "p",
          "--sensitive", "s"], capsys, "no data rows")


def test_empty_file(tmp_path, capsys):
  f = _csv(tmp_path / "e.csv", "")
  _error(["audit", "--csv", f, "--target", "y", "--pred", "p",
          "--sensitive", "s"], capsys, "is empty")


def test_missing_column(tmp_path, capsys):
  _write_csv(tmp_path / "p.csv", np.random.default_rng(1), 10)
  _error(["audit", "--csv", str(tmp_path / "p.csv"), "--target", "nope",
          "--pred", "score", "--sensitive", "grp"], capsys, "not in")


@pytest.mark.parametrize("argv,match", [
    (["audit"], "either --dataset or --csv"),
    (["audit", "--csv", "x.csv"], "--target"),
    (["audit", "--dataset", "german", "--level", "95"], "--level"),
    (["audit", "--dataset", "german", "--n-boot", "0"], "--n-boot"),
    (["audit", "--dataset", "german", "--threshold", "nan"], "--threshold"),
    (["audit", "--dataset", "german", "--sensitive", "nope"],
     "--sensitive 'nope' is not an attribute of --dataset german"),
    (["reproduce", "nope"], "unknown reproduction"),
])
def test_bad_values_exit_1_in_one_line(argv, match, capsys):
  _error(argv, capsys, match)


def test_unwritable_json_is_checked_before_the_audit(tmp_path, capsys,
                                                     monkeypatch):
  _write_csv(tmp_path / "p.csv", np.random.default_rng(1), 10)
  ran = []
  monkeypatch.setattr(cli, "run_audit", lambda *a, **k: ran.append(1))
  base = ["audit", "--csv", str(tmp_path / "p.csv"), "--target", "label",
          "--pred", "score", "--sensitive", "grp", "--json"]
  _error(base + [str(tmp_path / "no" / "r.json")], capsys, "does not exist")
  _error(base + [str(tmp_path)], capsys, "is a directory")
  assert not ran


@pytest.mark.parametrize("argv", [
    ["audit", "--bogus"],
    ["audit", "--n-boot", "many"],
    ["demo", "--dataset", "german"],
    ["nope"],
    [],
])
def test_bad_syntax_exits_2(argv, capsys):
  with pytest.raises(SystemExit) as e:
    cli.main(argv)
  assert e.value.code == 2
  assert "usage:" in capsys.readouterr().err


def test_library_value_errors_are_one_line(tmp_path, capsys, monkeypatch):
  def boom(*a, **k):
    raise ValueError("`x` must be positive, got -1.\nsecond line")
  monkeypatch.setattr(cli, "run_audit", boom)
  _write_csv(tmp_path / "p.csv", np.random.default_rng(1), 10)
  _error(["audit", "--csv", str(tmp_path / "p.csv"), "--target", "label",
          "--pred", "score", "--sensitive", "grp", "--json",
          str(tmp_path / "r.json")], capsys, "`x` must be positive, got -1.")


def test_non_numeric_and_missing_scores_name_the_lines(tmp_path, capsys):
  f = _csv(tmp_path / "m.csv", "y,p,s\n1,0.5,a\n0,,b\n1,0.2,a\n0,NA,b\n")
  argv = ["audit", "--csv", f, "--target", "y", "--pred", "p",
          "--sensitive", "s"]
  err = _error(argv, capsys, "line(s) 3, 5")
  assert "--drop-missing" in err and "['p']" in err
  f = _csv(tmp_path / "t.csv", "y,p,s\n1,0.5,a\n0,high,b\n")
  _error(["audit", "--csv", f, "--target", "y", "--pred", "p",
          "--sensitive", "s"], capsys, "'high' on line(s) 3")


def test_intersection_drop_missing_and_out_of_range_warning(tmp_path,
                                                            capsys):
  rows = ["y,p,sex,race"]
  rng = np.random.default_rng(0)
  for i in range(40):
    sex, race = "FM"[i % 2], "xy"[(i // 2) % 2]
    rows.append(f"{i % 3 % 2},{rng.random() * 1.2:.3f},{sex},{race}")
  rows.append("1,,F,x")  # a missing score
  f = _csv(tmp_path / "i.csv", "\n".join(rows) + "\n")
  out = tmp_path / "r.json"
  assert cli.main(["audit", "--csv", f, "--target", "y", "--pred", "p",
                   "--sensitive", "sex", "--sensitive", "race",
                   "--drop-missing", "--n-boot", "10", "--json",
                   str(out)]) == 0
  captured = capsys.readouterr()
  assert "dropped 1 row(s)" in captured.err
  assert "warning:" in captured.err and "outside [0, 1]" in captured.err
  report = json.loads(out.read_text())
  assert report["rows"] == 40 and report["dropped_rows"] == 1
  assert [g["group"] for g in report["groups"]] == [
      "sex=F, race=x", "sex=F, race=y", "sex=M, race=x", "sex=M, race=y"]
  assert "intersection of sex, race" in captured.out


def test_group_without_positives_is_undefined_not_zero(tmp_path, capsys):
  f = _csv(tmp_path / "u.csv", "y,p,s\n1,0.9,a\n0,0.6,b\n1,0.8,a\n"
           "0,0.2,b\n0,0.4,a\n0,0.1,b\n")
  out = tmp_path / "r.json"
  assert cli.main(["audit", "--csv", f, "--target", "y", "--pred", "p",
                   "--sensitive", "s", "--n-boot", "10", "--json",
                   str(out)]) == 0
  printed = capsys.readouterr().out
  line = next(x for x in printed.splitlines()
              if x.startswith("equal_opportunity_difference"))
  assert "undefined" in line and "0.0000" not in line
  assert "note: equal_opportunity_difference is undefined" in printed
  assert "['b'] have no positives" in printed
  m = json.loads(out.read_text())["metrics"]["equal_opportunity_difference"]
  assert m["value"] is None and "no positives" in m["undefined"]


def test_version(capsys):
  import fairjax
  with pytest.raises(SystemExit) as e:
    cli.main(["--version"])
  assert e.value.code == 0
  assert capsys.readouterr().out.strip() == f"fairjax {fairjax.__version__}"


def _subparsers():
  parser = cli.build_parser()
  action = next(a for a in parser._actions
                if isinstance(a, __import__("argparse")._SubParsersAction))
  return parser, action.choices


def test_help_has_no_rest_markup_and_every_option_is_explained():
  parser, subs = _subparsers()
  text = parser.format_help()
  for markup in ("``", ":func:", ":class:", ".. "):
    assert markup not in text
  for name, sub in subs.items():
    for action in sub._actions:
      if action.option_strings and action.dest != "help":
        assert action.help, (name, action.dest)
        if action.default not in (None, False):
          assert "%(default)s" in action.help, (name, action.dest)


def test_reproduce_help_shows_the_reproductions_options(capsys):
  with pytest.raises(SystemExit) as e:
    cli.main(["reproduce", "ferm", "--help"])
  assert e.value.code == 0
  out = capsys.readouterr().out
  assert "--with-sensitive" in out and "fairjax reproduce ferm" in out
  assert cli.main(["reproduce", "--help"]) == 0
  assert "NAME" in capsys.readouterr().out
