"""Sub-trajectory balance (Madan et al. 2023, "Learning GFlowNets from partial episodes for improved
convergence and stability", ICML, arXiv 2209.12782, Eq. 8–9): for every sub-trajectory
s_i … s_j of a trajectory,

    L_ij = (log F(s_i) + Σ_{t=i}^{j−1} log P_F(s_{t+1}|s_t) − log F(s_j) − Σ_{t=i}^{j−1} log P_B(s_t|s_{t+1}))²,

weighted by λ^(j−i) and normalised by the sum of the weights; F at the final (post-stop) state is R(x).
"""

from __future__ import annotations

import torch


def subtrajectory_balance_loss(
    log_f: torch.Tensor,
    log_pf: torch.Tensor,
    log_pb: torch.Tensor,
    lengths: torch.Tensor,
    lam: float,
) -> torch.Tensor:
    """``log_f`` [B, L+1] (log F(s_0..s_L), entry ``lengths[b]`` = log R(x)), ``log_pf``/``log_pb``
    [B, L] per transition (padding beyond ``lengths`` ignored). Mean over trajectories."""
    b, l_max = log_pf.shape
    dev = log_pf.device
    t = torch.arange(l_max, device=dev)
    valid_t = t[None, :] < lengths[:, None]
    zero = torch.zeros(b, 1, device=dev, dtype=log_pf.dtype)
    cum_pf = torch.cat([zero, torch.cumsum(torch.where(valid_t, log_pf, 0.0), 1)], 1)  # [B, L+1]
    cum_pb = torch.cat([zero, torch.cumsum(torch.where(valid_t, log_pb, 0.0), 1)], 1)
    i = torch.arange(l_max + 1, device=dev)
    # residual[b, i, j] for i < j ≤ length
    res = (
        log_f[:, :, None]
        + cum_pf[:, None, :]
        - cum_pf[:, :, None]
        - log_f[:, None, :]
        - cum_pb[:, None, :]
        + cum_pb[:, :, None]
    )
    ii, jj = i[:, None], i[None, :]
    mask = (ii < jj)[None] & (jj[None] <= lengths[:, None, None])
    weight = torch.where(mask, torch.tensor(lam, device=dev, dtype=log_pf.dtype) ** (jj - ii).to(log_pf.dtype), 0.0)
    per_traj = (weight * torch.where(mask, res, 0.0).pow(2)).sum((1, 2)) / weight.sum((1, 2))
    return per_traj.mean()
