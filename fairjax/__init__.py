"""fairjax: differentiable fairness risks, transforms and audit metrics in JAX."""

from fairjax._barycenter import (
    BarycenterState,
    apply_barycenter,
    fit_barycenter,
)
from fairjax._bootstrap import BootstrapResult, bootstrap_ci
from fairjax._groups import GroupEncoding, encode_groups
from fairjax._state_io import load_state, save_state
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
    # Post-processing (Wasserstein barycenter)
    "fit_barycenter",
    "apply_barycenter",
    "BarycenterState",
    "save_state",
    "load_state",
    # Groups
    "encode_groups",
    "GroupEncoding",
)
