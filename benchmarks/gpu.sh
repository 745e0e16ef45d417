#!/usr/bin/env bash
# The fairjax side of every benchmark at accelerator-sized inputs: one table.
#
#   bash benchmarks/gpu.sh              # on the accelerator machine
#   bash benchmarks/gpu.sh --download   # beforehand, on a machine with network
#
# Run from a checkout on a machine where jax with CUDA (or TPU) support,
# optax and flax are installed. fairjax itself is imported from the checkout
# (PYTHONPATH), not installed. What else it needs (ott-jax and its own
# dependencies) is installed with --no-deps, so the accelerator's jax is never
# replaced: from benchmarks/wheels/ when that folder exists (fill it with
# --download and ship it with the checkout; the accelerator machine needs no
# network then), else from the package index. lineax is held at 0.1.0
# (jax >= 0.6.1), the newest release that admits jax < 0.10 (0.1.1 requires
# jax >= 0.10).
#
# The run (python -m benchmarks --accelerator) prints the device name, the
# versions and one markdown table; each module's run("accelerator") sizes its
# inputs to finish the whole run in under 8 minutes on one GPU (compile time
# included, reported in its own column). Record the device with the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."

deps=("ott-jax==0.6.0" "lineax==0.1.0" "equinox>=0.11.10" "jaxopt>=0.8"
      "jaxtyping>=0.2.24" "wadler-lindig>=0.1.3")

if [[ "${1:-}" == "--download" ]]; then
  python -m pip download --quiet --no-deps --only-binary=:all: \
    -d benchmarks/wheels "${deps[@]}"
  ls benchmarks/wheels
  exit 0
fi

python - <<'EOF'
import jax
print(f"jax {jax.__version__}, backend {jax.default_backend()}, "
      f"devices {jax.devices()}")
if jax.default_backend() == "cpu":
  print("WARNING: no accelerator visible to jax; the numbers are CPU numbers")
EOF

if ! python -c "import ott" 2>/dev/null; then
  if [[ -d benchmarks/wheels ]]; then
    python -m pip install --quiet --no-deps --no-index \
      --find-links benchmarks/wheels "${deps[@]}"
  else
    python -m pip install --quiet --no-deps "${deps[@]}"
  fi
fi

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # measure, do not hog the card
timeout 480 python -m benchmarks --accelerator
