"""The training floor: constraints, rate states in training loops, sweeps.

Users import these names from ``fairjax``; this package groups the modules
that sit on top of the risks and metrics (see ``../shared/design.md``).
"""

# --- constraints (Lagrangian, candidate selection) ---

# --- sweeps (sweep, pareto_front, stratified_batches, NNX, progress) ---
