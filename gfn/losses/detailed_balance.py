"""Detailed balance (Bengio et al. 2023, "GFlowNet Foundations", JMLR, arXiv 2111.09266, Def. 21 /
Eq. 44): for every transition s → s′,

    L = (log F(s) + log P_F(s′|s) − log F(s′) − log P_B(s|s′))²,

with F(x) replaced by R(x) after the stop action (the terminal transition is x → x⊤ with
log P_B = 0), as in the reference implementations.
"""

from __future__ import annotations

import torch


def detailed_balance_loss(
    log_f_src: torch.Tensor,
    log_pf: torch.Tensor,
    log_f_dst: torch.Tensor,
    log_pb: torch.Tensor,
) -> torch.Tensor:
    """Mean DB loss over transitions; for stop transitions pass log R(x) as ``log_f_dst``."""
    return (log_f_src + log_pf - log_f_dst - log_pb).pow(2).mean()
