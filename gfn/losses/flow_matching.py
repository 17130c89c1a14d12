"""Flow matching (Bengio et al. 2021, "Flow network based generative models for non-iterative
diverse candidate generation", NeurIPS, arXiv 2106.04399, Eq. 12): for every visited state s′,

    L(s′) = (log(ε + Σ_{s→s′} F(s→s′)) − log(ε + R(s′)·[s′ terminal] + Σ_{s′→s″} F(s′→s″)))²,

edge flows F = exp(network output). The stop action leads to a terminal copy x⊤ of x whose
out-flow is R(x); those terms are weighted by the leaf coefficient (10 in the paper).
"""

from __future__ import annotations

import torch


def flow_matching_loss(
    log_inflow: torch.Tensor,
    log_outflow: torch.Tensor,
    is_terminal: torch.Tensor,
    epsilon: float,
    leaf_coef: float,
) -> torch.Tensor:
    """``log_inflow``/``log_outflow`` [N]: log Σ of the in/out edge flows (out includes R for the
    terminal copies). Mean over states, terminal ones weighted by ``leaf_coef``."""
    eps = torch.tensor(epsilon, device=log_inflow.device, dtype=log_inflow.dtype).log()
    lin = torch.logaddexp(log_inflow, eps)
    lout = torch.logaddexp(log_outflow, eps)
    err = (lin - lout).pow(2)
    w = torch.where(is_terminal, torch.full_like(err, leaf_coef), torch.ones_like(err))
    return (w * err).sum() / w.sum()
