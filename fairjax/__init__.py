"""fairjax: differentiable fairness risks, transforms and audit metrics in JAX."""

from fairjax._groups import GroupEncoding, encode_groups

__version__ = "0.1.0"

__all__ = (
    "GroupEncoding",
    "encode_groups",
)
