"""Every notebook starts on a hosted runtime and runs top to bottom (quick).

The first cells are checked as a hosted runtime (Colab) sees them: a title
with a Colab badge that opens this very file, then a code cell that installs
fairjax where it is missing and prints ``jax.devices()``, then the settings,
which ``FAIRJAX_QUICK=1`` shrinks. The committed outputs show that the
notebook was executed (the device printout included). Execution runs the
code cells in-process, in quick mode, from an empty directory (no local path
a pip install does not provide), with JAX's default promotion rules (notebook
code is user code, like the README's).
"""

import contextlib
import io
import json
import pathlib
import re

import jax
import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = pathlib.Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# test_training_example.py runs notebook 01 in quick mode and checks its
# results; running it here again adds nothing.
TRAINING_EXAMPLE = "01_penalty_training_loop"

INSTALL_CELL = """\
# Install fairjax where it is missing (a hosted runtime), then show the devices.
# The runtime's own jax (with its GPU or TPU support) is kept as it is.
import importlib.metadata, importlib.util, subprocess, sys
if importlib.util.find_spec("fairjax") is None:
  keep = ([f"jax=={importlib.metadata.version('jax')}"]
          if importlib.util.find_spec("jax") else [])
  subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *keep,
                         "fairjax[demo] @ git+https://github.com/fairjax/fairjax"])
import jax
print(jax.devices())"""
BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/"
         "colab-badge.svg)](https://colab.research.google.com/github/fairjax/"
         "fairjax/blob/main/notebooks/{name})")
QUICK_LINE = 'QUICK = os.environ.get("FAIRJAX_QUICK") == "1"'
DEVICES = re.compile(r"^\[(\w*Device\(id=\d+[^)]*\)(, )?)+\]$")


def _cells(path):
  return json.loads(path.read_text())["cells"]


def _source(cell):
  return "".join(cell["source"])


def _code(path):
  return [_source(c) for c in _cells(path) if c["cell_type"] == "code"]


def test_the_notebooks_are_numbered():
  names = [p.stem for p in NOTEBOOKS]
  assert names, "no notebooks"
  assert all(re.fullmatch(r"\d\d_[a-z0-9_]+", n) for n in names), names
  assert TRAINING_EXAMPLE in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_first_cells_install_and_show_the_devices(path):
  cells = _cells(path)
  title = cells[0]
  assert title["cell_type"] == "markdown"
  assert _source(title).startswith("# "), "first cell: a markdown title"
  assert BADGE.format(name=path.name) in _source(title), (
      "the Colab badge must open this notebook")
  code = [c for c in cells if c["cell_type"] == "code"]
  assert _source(code[0]) == INSTALL_CELL
  printed = "".join("".join(o.get("text", "")) for o in code[0]["outputs"]
                    if o["output_type"] == "stream")
  assert DEVICES.match(printed.strip()), (
      f"committed output of the install cell: {printed!r}")
  assert QUICK_LINE in _source(code[1]), "second code cell: the settings"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_outputs_are_committed_and_plots_are_labelled(path):
  code = [c for c in _cells(path) if c["cell_type"] == "code"]
  assert all(c["execution_count"] is not None for c in code), (
      "execute the notebook and commit its outputs")
  assert not [o for c in code for o in c["outputs"]
              if o["output_type"] == "error"]
  src = "\n".join(_code(path))
  images = sum("image/png" in o.get("data", {}) for c in code
               for o in c["outputs"])
  figures = src.count("plt.subplots(") + src.count("plt.figure(")
  assert images >= figures >= 1, "every figure's image is committed"
  for call in ("xlabel", "ylabel", "legend"):  # ax.set_xlabel(...), xlabel=
    assert len(re.findall(call + r"[(=]", src)) >= figures, (
        f"each figure needs its {call}")
  assert not re.search(r"""["'](\.\./|/work|/home|/tmp)""", src), (
      "no local paths: data come from fairjax.datasets")


@pytest.mark.parametrize(
    "path", [p for p in NOTEBOOKS if p.stem != TRAINING_EXAMPLE],
    ids=[p.stem for p in NOTEBOOKS if p.stem != TRAINING_EXAMPLE])
def test_notebook_runs_in_quick_mode(path, monkeypatch, tmp_path):
  out = run_notebook(path, monkeypatch, tmp_path)
  assert out["devices"] == str(jax.devices())


def run_notebook(path, monkeypatch, tmp_path, namespace=None):
  """Executes the code cells in quick mode; returns the namespace.

  ``namespace["devices"]`` holds what the install cell printed.
  """
  monkeypatch.setenv("FAIRJAX_QUICK", "1")
  monkeypatch.chdir(tmp_path)
  monkeypatch.setattr(plt, "show", lambda *a, **k: plt.close("all"))
  namespace = {"__name__": "__main__", **(namespace or {})}
  code = _code(path)
  with jax.numpy_dtype_promotion("standard"), \
      jax.numpy_rank_promotion("allow"):
    for i, src in enumerate(code):
      printed = io.StringIO()
      with contextlib.redirect_stdout(printed):
        exec(compile(src, f"{path.name}[cell {i}]", "exec"), namespace)
      if i == 0:
        devices = printed.getvalue().strip()
  plt.close("all")
  namespace["devices"] = devices
  return namespace


def test_install_cell_keeps_the_runtime_jax(monkeypatch):
  # As on a hosted runtime: fairjax missing, an accelerator jax installed.
  import importlib.metadata
  import importlib.util
  import subprocess

  calls = []
  real_find_spec = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: (
      None if name == "fairjax" else real_find_spec(name, *a)))
  monkeypatch.setattr(subprocess, "check_call", calls.append)
  with contextlib.redirect_stdout(io.StringIO()) as printed:
    exec(compile(INSTALL_CELL, "install cell", "exec"), {})
  (cmd,) = calls
  assert cmd[1:5] == ["-m", "pip", "install", "-q"]
  assert f"jax=={importlib.metadata.version('jax')}" in cmd
  assert cmd[-1] == "fairjax[demo] @ git+https://github.com/fairjax/fairjax"
  assert printed.getvalue().strip() == str(jax.devices())
