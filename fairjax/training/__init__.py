"""The training floor: constraints, rate states in training loops, sweeps.

Users import these names from ``fairjax``; this package groups the modules
that sit on top of the risks and metrics (see ``../shared/design.md``).
"""

# --- constraints (Lagrangian, candidate selection) ---
from fairjax.training._candidates import (
    find_best_candidate_distribution,
    find_best_candidate_index,
)
from fairjax.training._constraints import (
    ConstrainedOptimizer,
    ConstraintValues,
    LagrangianState,
    MultiplierState,
    StepInfo,
    bound_constraint,
    concatenate_constraints,
    constrained_optimizer,
    init_multipliers,
    lagrangian,
    rate_constraints,
    update_multipliers,
)

# --- sweeps (sweep, pareto_front, stratified_batches, NNX, progress) ---
from fairjax.training._batches import StratifiedBatches, stratified_batches
from fairjax.training._nnx import nnx_scan
from fairjax.training._pareto import pareto_front, plot_pareto_front
from fairjax.training._progress import progress_bar, progress_scan
from fairjax.training._sweep import SweepPlan, sweep, sweep_plan
