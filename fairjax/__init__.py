"""fairjax: differentiable fairness risks, transforms and audit metrics."""

from fairjax._barycenter import (
    BarycenterState,
    apply_barycenter,
    fit_barycenter,
)
from fairjax._bootstrap import BootstrapResult, bootstrap_ci
from fairjax._ferm import (
    CoordinateElimination,
    GroupShift,
    OrthogonalProjection,
    apply_ferm_projection,
    ferm_direction,
    fit_ferm_projection,
    orthogonality_penalty,
)
from fairjax._encoding import GroupEncoding, encode_groups
from fairjax._groups import checked
from fairjax._kernel_ferm import (
    KernelSVM,
    NystroemFeatures,
    RandomFourierFeatures,
    apply_nystroem,
    apply_random_fourier_features,
    fit_kernel_ferm,
    fit_nystroem,
    fit_random_fourier_features,
    kernel_decision_function,
    rbf_kernel,
)
from fairjax._linear import (
    LinearModel,
    decision_function,
    fit_linear_svm,
    fit_logistic_regression,
)
from fairjax._metrics import (
    AuditResult,
    GroupStatistics,
    audit,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    group_statistics,
    ks_distance,
    mean_gap_penalty,
)
from fairjax._mmd import mmd_penalty
from fairjax._sinkhorn import (
    SinkhornConvergenceWarning,
    SinkhornDiagnostics,
    sinkhorn_penalty,
)
from fairjax._state_io import load_state, save_state

# --- rate states (fairjax/_rates.py) ---
from fairjax._rates import (
    GroupRates,
    RateState,
    audit_from_state,
    combine_rate_states,
    difference_from_state,
    group_rates,
    num_rate_gaps,
    rate_gaps,
    rate_state,
)

# --- training floor: constraints (fairjax/training) ---
from fairjax.training import (
    ConstrainedOptimizer,
    ConstraintValues,
    LagrangianState,
    MultiplierState,
    StepInfo,
    bound_constraint,
    concatenate_constraints,
    constrained_optimizer,
    find_best_candidate_distribution,
    find_best_candidate_index,
    init_multipliers,
    lagrangian,
    rate_constraints,
    update_multipliers,
)

# --- training floor: sweeps (fairjax/training) ---
from fairjax.training import (
    StratifiedBatches,
    SweepPlan,
    nnx_scan,
    pareto_front,
    plot_pareto_front,
    progress_bar,
    progress_scan,
    stratified_batches,
    sweep,
    sweep_plan,
)

__version__ = "0.1.0"

__all__ = (
    # Audit metrics
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "ks_distance",
    "group_statistics",
    "GroupStatistics",
    "audit",
    "AuditResult",
    "bootstrap_ci",
    "BootstrapResult",
    # Penalties
    "mean_gap_penalty",
    "mmd_penalty",
    "sinkhorn_penalty",
    "SinkhornDiagnostics",
    "SinkhornConvergenceWarning",
    # In-processing: the linear orthogonality constraint (FERM)
    "ferm_direction",
    "orthogonality_penalty",
    "fit_ferm_projection",
    "apply_ferm_projection",
    "OrthogonalProjection",
    "CoordinateElimination",
    "GroupShift",
    "fit_kernel_ferm",
    "kernel_decision_function",
    "KernelSVM",
    "rbf_kernel",
    "fit_random_fourier_features",
    "apply_random_fourier_features",
    "RandomFourierFeatures",
    "fit_nystroem",
    "apply_nystroem",
    "NystroemFeatures",
    # Linear classifiers trained with Optax
    "fit_logistic_regression",
    "fit_linear_svm",
    "decision_function",
    "LinearModel",
    # Post-processing (Wasserstein barycenter)
    "fit_barycenter",
    "apply_barycenter",
    "BarycenterState",
    "save_state",
    "load_state",
    # Groups
    "encode_groups",
    "GroupEncoding",
    "checked",
    # --- rate states ---
    "rate_state",
    "RateState",
    "combine_rate_states",
    "audit_from_state",
    "difference_from_state",
    "group_rates",
    "GroupRates",
    "rate_gaps",
    "num_rate_gaps",
    # --- training floor: constraints ---
    "constrained_optimizer",
    "ConstrainedOptimizer",
    "LagrangianState",
    "StepInfo",
    "rate_constraints",
    "bound_constraint",
    "concatenate_constraints",
    "ConstraintValues",
    "lagrangian",
    "init_multipliers",
    "update_multipliers",
    "MultiplierState",
    "find_best_candidate_index",
    "find_best_candidate_distribution",
    # --- training floor: sweeps ---
    "sweep",
    "sweep_plan",
    "SweepPlan",
    "pareto_front",
    "plot_pareto_front",
    "stratified_batches",
    "StratifiedBatches",
    "nnx_scan",
    "progress_scan",
    "progress_bar",
)
