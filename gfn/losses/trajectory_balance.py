"""Trajectory balance (Malkin et al. 2022, "Trajectory balance: improved credit assignment in
GFlowNets", arXiv 2201.13259, Eq. 14): for a complete trajectory τ = (s₀ … x),

    L(τ) = (log Z + Σ_t log P_F(s_{t+1}|s_t) − log R(x) − Σ_t log P_B(s_t|s_{t+1}))².
"""

from __future__ import annotations

import torch


def trajectory_balance_loss(
    log_z: torch.Tensor, log_pf: torch.Tensor, log_pb: torch.Tensor, log_reward: torch.Tensor
) -> torch.Tensor:
    """Mean TB loss; ``log_pf``/``log_pb`` are per-trajectory sums [B], ``log_reward`` is [B]."""
    return (log_z + log_pf - log_reward - log_pb).pow(2).mean()
