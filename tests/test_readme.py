"""README is the front door: its commands, its API list and CI agree."""

import pathlib
import re

import jax

import fairjax
import fairjax.datasets

ROOT = pathlib.Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def _section(title):
  m = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
  assert m, f"README has no '## {title}' section"
  return m.group(1)


def _table_names(text):
  return {m.group(1) for m in re.finditer(r"^\| `(?:fairjax\.)?(?:datasets\.)?"
                                          r"([A-Za-z_]\w*)", text, re.M)}


def test_public_api_matches_readme():
  assert _table_names(_section("API")) == set(fairjax.__all__)


def test_datasets_api_matches_readme():
  assert _table_names(_section("Data sets")) >= set(
      n for n in fairjax.datasets.__all__ if n.startswith("load_"))


def test_every_exported_name_exists():
  for name in fairjax.__all__:
    assert hasattr(fairjax, name), name


def test_readme_opens_with_the_two_setup_commands_and_ci_runs_the_second():
  blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", README, re.S)
  first = [line for line in blocks[0].splitlines() if line.strip()]
  assert len(first) == 2, first
  assert "fairjax audit" in first[0] or "fairjax demo" in first[0]
  assert "pytest" in first[1]
  ci = (ROOT / ".ci" / "run").read_text()
  assert first[1].strip() in ci


def test_readme_python_snippets_run(tmp_path, monkeypatch):
  # README code is user code: JAX's default promotion rules, not the strict
  # ones the library itself is tested under (optax is not strict-clean).
  monkeypatch.chdir(tmp_path)
  blocks = re.findall(r"```python\n(.*?)```", README, re.S)
  with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
    for i, block in enumerate(blocks):
      exec(compile(block, f"README.md[python block {i}]", "exec"), {})


# jax of the hosted runtimes the README's "GPU and TPU" section names:
# Colab's CPU, GPU and TPU runtimes (googlecolab/backend-info, August 2026).
HOSTED_JAX = ("0.7.2", "0.5.3")  # current; the pinned 2025.10 runtime


def _core_requirements():
  try:
    import tomllib
  except ImportError:  # Python 3.10
    import pytest
    tomllib = pytest.importorskip("tomli")
  from packaging.requirements import Requirement
  meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
  return {r.name: r for r in map(Requirement, meta["project"]["dependencies"])}


def test_core_jax_range_keeps_a_hosted_runtimes_jax():
  # pip keeps an installed jax only if the declared range admits it.
  reqs = _core_requirements()
  section = _section("GPU and TPU")
  for name in ("jax", "jaxlib"):
    spec = reqs[name].specifier
    for version in HOSTED_JAX:
      assert spec.contains(version), (name, str(spec), version)
      assert f"jax {version}" in section
    assert spec.contains(jax.__version__), (name, str(spec), jax.__version__)
  (lower,) = [s.version for s in reqs["jax"].specifier if s.operator == ">="]
  assert f"`jax>={lower}`" in section
