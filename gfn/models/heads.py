"""Turning flat logits into per-state distributions: segment log-softmax and batched sampling."""

from __future__ import annotations

import torch


def segment_logsumexp(values: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
    """log Σ exp(values) per owner segment; -inf for empty segments."""
    neg_inf = torch.full((n,), float("-inf"), device=values.device, dtype=values.dtype)
    m = neg_inf.scatter_reduce(0, owner, values, reduce="amax", include_self=True)
    safe_m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    s = torch.zeros(n, device=values.device, dtype=values.dtype).index_add(0, owner, torch.exp(values - safe_m[owner]))
    return torch.log(s) + safe_m


def segment_log_softmax(logits: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
    """Per-state log-probabilities over each state's legal actions (illegal ones are -inf)."""
    return logits - segment_logsumexp(logits, owner, n)[owner]


def segment_sample(
    log_probs: torch.Tensor,
    owner: torch.Tensor,
    n: int,
    generator: torch.Generator,
    exploration: float = 0.0,
    temperature: float = 1.0,
) -> torch.Tensor:
    """One flat index per state: from softmax(log_probs / T), or with probability ε uniform over legal
    actions (Gumbel-max within each segment)."""
    legal = torch.isfinite(log_probs)
    scores = log_probs / temperature
    if exploration > 0:
        explore = torch.rand(n, generator=generator, device=generator.device).to(log_probs.device) < exploration
        scores = torch.where(explore[owner], torch.zeros_like(scores), scores)
    u = torch.rand(log_probs.shape, generator=generator, device=generator.device).to(log_probs.device)
    u = u.clamp_(1e-20, 1.0)
    noisy = torch.where(legal, scores - torch.log(-torch.log(u)), torch.full_like(scores, float("-inf")))
    best = torch.full((n,), float("-inf"), device=noisy.device, dtype=noisy.dtype).scatter_reduce(
        0, owner, noisy, reduce="amax", include_self=True
    )
    hit = (noisy == best[owner]) & legal
    idx = torch.nonzero(hit, as_tuple=False).flatten()
    # keep the first hit per state (ties have probability zero with continuous noise)
    chosen = torch.full((n,), -1, dtype=torch.long, device=noisy.device)
    chosen.scatter_reduce_(0, owner[idx].flip(0), idx.flip(0), reduce="amin", include_self=False)
    return chosen


def backward_log_probs(
    leaf_scores: torch.Tensor, leaf_batch: torch.Tensor, leaf_group: torch.Tensor, n_states: int, n_groups: int
) -> torch.Tensor:
    """Learned backward policy, log P_B(s|s′) for every distinct parent row [G].

    Each removable leaf ℓ of s′ gets the logit ``score(ℓ) − log |group(ℓ)|`` and P_B(s|s′) is the
    softmax probability summed over the leaves whose removal gives s — removals reaching the same
    canonical parent are one transition, as equivalent forward actions are (NOTES.md). The offset
    spans the same distributions over distinct parents and makes all-equal scores the uniform
    P_B = 1 / (number of distinct parents) of Malkin et al. 2022 (arXiv 2201.13259, §3).
    """
    size = torch.bincount(leaf_group, minlength=n_groups).to(leaf_scores.dtype)
    logits = leaf_scores - torch.log(size)[leaf_group]
    return segment_logsumexp(segment_log_softmax(logits, leaf_batch, n_states), leaf_group, n_groups)
