"""fairjax: differentiable fairness risks, transforms and audit metrics in JAX."""

from fairjax._bootstrap import BootstrapResult, bootstrap_ci
from fairjax._groups import GroupEncoding, encode_groups
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
    # Groups
    "encode_groups",
    "GroupEncoding",
)
