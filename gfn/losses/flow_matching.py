"""Flow matching (Bengio et al. 2021, "Flow network based generative models for non-iterative
diverse candidate generation", NeurIPS, arXiv 2106.04399, Eq. 12): for every visited state s′,

    L(s′) = (log(ε + Σ_{s→s′} F(s→s′)) − log(ε + R(s′)·[s′ terminal] + Σ_{s′→s″} F(s′→s″)))²,

edge flows F = exp(network output). The stop action leads to a terminal copy x⊤ of x whose
out-flow is R(x); those terms are weighted by the leaf coefficient (10 in the paper). Two weightings:
``balanced`` is the paper's code (``leaf_coef · mean over x⊤ + mean over the other states``, so the
terminal share does not shrink as trajectories grow); otherwise one mean over all states, each x⊤
counted ``leaf_coef`` times.
"""

from __future__ import annotations

import torch


def flow_matching_loss(
    log_inflow: torch.Tensor,
    log_outflow: torch.Tensor,
    is_terminal: torch.Tensor,
    epsilon: float,
    leaf_coef: float,
    balanced: bool = False,
) -> torch.Tensor:
    """``log_inflow``/``log_outflow`` [N]: log Σ of the in/out edge flows (out includes R for the
    terminal copies). ``balanced``: ``leaf_coef`` × mean over terminal states + mean over the rest;
    otherwise one mean over states, terminal ones weighted by ``leaf_coef``."""
    eps = torch.tensor(epsilon, device=log_inflow.device, dtype=log_inflow.dtype).log()
    lin = torch.logaddexp(log_inflow, eps)
    lout = torch.logaddexp(log_outflow, eps)
    err = (lin - lout).pow(2)
    if balanced:
        term = is_terminal.to(err.dtype)
        # clamp: a group with no states contributes 0, as in the paper's code (its sum / (count + 1e-20))
        term_mean = (err * term).sum() / term.sum().clamp(min=1)
        flow_mean = (err * (1 - term)).sum() / (1 - term).sum().clamp(min=1)
        return leaf_coef * term_mean + flow_mean
    w = torch.where(is_terminal, torch.full_like(err, leaf_coef), torch.ones_like(err))
    return (w * err).sum() / w.sum()
