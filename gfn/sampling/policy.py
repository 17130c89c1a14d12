"""The trained policy as plain log-probabilities per state (for exact metrics and tests)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from gfn.featurize import Featurizer
from gfn.mdp.state import Action, State
from gfn.models.heads import segment_log_softmax
from gfn.models.mpnn import BlockGraphFlowNet


def model_policy(
    model: BlockGraphFlowNet, featurizer: Featurizer, device: torch.device | str = "cpu"
) -> Callable[[Sequence[State]], list[Callable[[Sequence[Action]], list[float]]]]:
    """``policy(states)[i](actions)`` → log π(a|states[i]) for each action (exploration off)."""

    @torch.no_grad()
    def policy(states: Sequence[State]) -> list[Callable[[Sequence[Action]], list[float]]]:
        model.eval()
        batch = featurizer(states, device)
        logits, _ = model(batch)
        logp = segment_log_softmax(logits, batch.flat_owner(), batch.n_states).double().cpu().tolist()

        def make(b: int) -> Callable[[Sequence[Action]], list[float]]:
            return lambda actions: [logp[batch.action_index(b, a)] for a in actions]

        return [make(b) for b in range(len(states))]

    return policy
