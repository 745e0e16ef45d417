"""``python -m benchmarks --quick``: every wired workload runs, values agree."""

import pathlib
import re
import subprocess
import sys

from benchmarks.__main__ import agrees, discover, table

ROOT = pathlib.Path(__file__).parent.parent


def _row(value, peer_value, **kw):
  return dict(workload="w", n=10, fairjax_s=1.0, compile_s=None, peer="p",
              peer_s=2.0, value=value, peer_value=peer_value, rtol=1e-6,
              atol=1e-6, note="", **kw)


def test_agreement_is_checked():
  assert agrees(_row([1.0, 2.0], [1.0, 2.0])) is True
  assert agrees(_row(1.0, 1.1)) is False
  assert agrees(_row(None, 1.0)) is None
  assert "| **NO** |" in table([_row(1.0, 1.1)])
  assert "| 2x |" in table([_row(1.0, 1.0)])


def test_quick_run_covers_every_wired_module():
  wired, _ = discover()
  assert {"bench_metrics", "bench_mmd", "bench_barycenter", "bench_ferm",
          "bench_datasets"} <= set(wired)
  out = subprocess.run([sys.executable, "-m", "benchmarks", "--quick"],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
  for name in wired:
    m = re.search(rf"^{name}: (\d+) rows", out.stdout, re.M)
    assert m and int(m.group(1)) > 0, (name, out.stdout[-2000:])
  assert "| yes |" in out.stdout and "**NO**" not in out.stdout
