"""Registry cases for the rate states (fairjax/_rates.py)."""

import numpy as np
from registry import Case

import fairjax

N, G = 40, 3


def _make(rng, absent):
  s = rng.integers(0, G, N)
  if absent:
    s = np.where(s == G - 1, 0, s)
  y = rng.integers(0, 2, N)
  prob = rng.random(N).astype(np.float32)
  w = rng.random(N).astype(np.float32)
  return (y, prob, s, w), dict(num_groups=G)


def _state(y, prob, s, w, **static):
  return fairjax.rate_state(y, prob, sensitive_features=s, sample_weight=w,
                            **static)


def _audit(y, prob, s, w, **static):
  hard = (prob > 0.5).astype(np.int32)
  return fairjax.audit_from_state(fairjax.rate_state(
      y, hard, sensitive_features=s, sample_weight=w, **static))


def _rates(y, prob, s, w, **static):
  return fairjax.group_rates(_state(y, prob, s, w, **static))


def _gaps(notion, method):
  def fn(y, prob, s, w, **static):
    st = _state(y, prob, s, w, **static)
    return (fairjax.rate_gaps(st, notion=notion, method=method),
            fairjax.difference_from_state(st, notion=notion, method=method))
  return fn


CASES = [
    Case("rate_state", _state, _make, grad_argnums=(1, 3)),
    Case("audit_from_state", _audit, _make),
    Case("group_rates", _rates, _make, grad_argnums=(1,)),
    Case("rate_gaps_eodds_pairs", _gaps("equalized_odds", "between_groups"),
         _make, grad_argnums=(1,), check_grads=False),
    Case("rate_gaps_dp_pooled", _gaps("demographic_parity", "to_overall"),
         _make, grad_argnums=(1,), check_grads=False),
]
