"""Evaluate a loss on sampled trajectories: featurize once, one forward pass, then the pure loss.

P_F(s′|s) is always the sum of the policy's probabilities over *all* actions of s that reach s′
(``Trajectory.equivalents``), and P_B is over distinct parents — the two conditions for sampling in
proportion to the reward on a DAG with symmetric states. P_B is uniform (``backward_policy`` "uniform",
log P_B = −log n_parents) or learned ("learned": the model's backward head, leaf removals that give the
same parent merged, see :func:`gfn.models.heads.backward_log_probs`), trained jointly by TB, DB and
SubTB (Malkin et al. 2022, arXiv 2201.13259, §3); FM has no P_B.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from gfn.featurize import Featurizer, GraphBatch
from gfn.losses.detailed_balance import detailed_balance_loss
from gfn.losses.flow_matching import flow_matching_loss
from gfn.losses.subtb import subtrajectory_balance_loss
from gfn.losses.trajectory_balance import trajectory_balance_loss
from gfn.mdp.block_mdp import BlockMDP
from gfn.mdp.state import STOP, State
from gfn.models.heads import backward_log_probs, segment_log_softmax, segment_logsumexp
from gfn.models.mpnn import BlockGraphFlowNet
from gfn.sampling.sampler import Trajectory


@dataclass(frozen=True)
class LossSettings:
    name: str  # tb | fm | db | subtb
    subtb_lambda: float = 0.9
    fm_epsilon: float = 2.5e-5
    fm_leaf_coef: float = 10.0
    fm_balanced: bool = False
    backward_policy: Literal["uniform", "learned"] = "uniform"


@dataclass
class TransitionTensors:
    """Per transition (trajectory-major): log P_F, log P_B, and which trajectory/position it is."""

    log_pf: torch.Tensor
    log_pb: torch.Tensor
    log_flow_src: torch.Tensor
    traj: torch.Tensor
    pos: torch.Tensor
    is_stop: torch.Tensor
    log_flow_states: torch.Tensor  # log F of every featurized state (trajectory-major)
    state_offset: list[int]


def transition_tensors(
    trajs: Sequence[Trajectory],
    featurizer: Featurizer,
    model: BlockGraphFlowNet,
    device: torch.device,
    learned_pb: bool = False,
) -> TransitionTensors:
    """One forward pass over every state of every trajectory; log P_F summed over equivalent actions;
    log P_B uniform over distinct parents, or from the model's backward head with ``learned_pb``."""
    # States are canonical representatives, so equal keys mean equal inputs: evaluate each distinct
    # state once (the empty start state and common early states recur across a batch).
    states: list[State] = []
    offsets: list[int] = []
    unique: dict[str, int] = {}
    position: list[int] = []  # trajectory-major position → row of the distinct state
    for t in trajs:
        offsets.append(len(position))
        for s in t.states:
            skey = featurizer.mdp.key(s)  # replayed states restored from JSON carry no cached key
            if skey not in unique:
                unique[skey] = len(states)
                states.append(s)
            position.append(unique[skey])
    batch = featurizer(states, device, backward=learned_pb)
    if learned_pb:
        logits, log_flow_unique, leaf_scores = model.forward_with_backward(batch)
        log_pb_groups = backward_log_probs(
            leaf_scores, batch.leaf_batch, batch.leaf_group, batch.n_states, batch.n_groups
        )
    else:
        logits, log_flow_unique = model(batch)
    logp = segment_log_softmax(logits, batch.flat_owner(), batch.n_states)
    log_flow = log_flow_unique[torch.tensor(position, device=device)]
    flat_idx: list[int] = []
    flat_owner: list[int] = []
    log_pb: list[float] = []
    traj_id: list[int] = []
    pos: list[int] = []
    src: list[int] = []
    is_stop: list[bool] = []
    pb_transition: list[int] = []  # learned P_B: non-stop transitions and the parent row of each
    pb_group: list[int] = []
    mdp = featurizer.mdp
    k = 0
    for ti, t in enumerate(trajs):
        for p, (a, eq) in enumerate(zip(t.actions, t.equivalents, strict=True)):
            b = position[offsets[ti] + p]
            for e in eq:
                flat_idx.append(batch.action_index(b, e))
                flat_owner.append(k)
            stop = a.kind == STOP
            if learned_pb:
                log_pb.append(0.0)
                if not stop:  # P_B(s_p | s_{p+1}): s_{p+1}'s parent row keyed by s_p
                    pb_transition.append(k)
                    pb_group.append(batch.parent_index(position[offsets[ti] + p + 1], mdp.key(t.states[p])))
            else:
                log_pb.append(0.0 if stop else -math.log(t.n_parents[p]))
            traj_id.append(ti)
            pos.append(p)
            src.append(offsets[ti] + p)
            is_stop.append(stop)
            k += 1
    idx = torch.tensor(flat_idx, device=device)
    own = torch.tensor(flat_owner, device=device)
    log_pf = segment_logsumexp(logp[idx], own, k)
    log_pb_t = torch.tensor(log_pb, device=device, dtype=log_pf.dtype)
    if learned_pb:  # the stop transition x → x⊤ keeps log P_B = 0
        log_pb_t = log_pb_t.index_put(
            (torch.tensor(pb_transition, device=device, dtype=torch.long),),
            log_pb_groups[torch.tensor(pb_group, device=device, dtype=torch.long)],
        )
    return TransitionTensors(
        log_pf=log_pf,
        log_pb=log_pb_t,
        log_flow_src=log_flow[torch.tensor(src, device=device)],
        traj=torch.tensor(traj_id, device=device),
        pos=torch.tensor(pos, device=device),
        is_stop=torch.tensor(is_stop, device=device),
        log_flow_states=log_flow,
        state_offset=offsets,
    )


def compute_loss(
    settings: LossSettings,
    trajs: Sequence[Trajectory],
    mdp: BlockMDP,
    featurizer: Featurizer,
    model: BlockGraphFlowNet,
    device: torch.device,
    rewards_ready: Callable[[], object] | None = None,
) -> torch.Tensor:
    """The configured objective on ``trajs``. Rewards are read only after the forward pass, once
    ``rewards_ready()`` returns, so scoring can run concurrently with the network."""
    if settings.name == "fm":
        return _flow_matching(settings, trajs, mdp, featurizer, model, device, rewards_ready)
    tt = transition_tensors(trajs, featurizer, model, device, settings.backward_policy == "learned")
    if rewards_ready is not None:
        rewards_ready()
    n = len(trajs)
    log_r = torch.tensor([t.log_reward for t in trajs], device=device, dtype=tt.log_pf.dtype)
    if settings.name == "tb":
        zeros = torch.zeros(n, device=device, dtype=tt.log_pf.dtype)
        sum_pf = zeros.index_add(0, tt.traj, tt.log_pf)
        sum_pb = zeros.index_add(0, tt.traj, tt.log_pb)
        return trajectory_balance_loss(model.log_z, sum_pf, sum_pb, log_r)
    # log F of the destination: next state's flow, or R(x) after the stop action
    offs = torch.tensor(tt.state_offset, device=device)
    dst_state = offs[tt.traj] + tt.pos + 1
    dst_state = torch.where(tt.is_stop, torch.zeros_like(dst_state), dst_state)
    log_f_dst = torch.where(tt.is_stop, log_r[tt.traj], tt.log_flow_states[dst_state])
    if settings.name == "db":
        return detailed_balance_loss(tt.log_flow_src, tt.log_pf, log_f_dst, tt.log_pb)
    if settings.name == "subtb":
        lengths = torch.tensor([t.length for t in trajs], device=device)
        l_max = int(lengths.max())
        log_pf = torch.zeros(n, l_max, device=device, dtype=tt.log_pf.dtype)
        log_pb = torch.zeros_like(log_pf)
        log_f = torch.zeros(n, l_max + 1, device=device, dtype=tt.log_pf.dtype)
        log_pf = log_pf.index_put((tt.traj, tt.pos), tt.log_pf)
        log_pb = log_pb.index_put((tt.traj, tt.pos), tt.log_pb)
        log_f = log_f.index_put((tt.traj, tt.pos), tt.log_flow_src)
        log_f = log_f.index_put((torch.arange(n, device=device), lengths), log_r)
        return subtrajectory_balance_loss(log_f, log_pf, log_pb, lengths, settings.subtb_lambda)
    raise ValueError(f"unknown loss {settings.name!r}")


def _flow_matching(
    settings: LossSettings,
    trajs: Sequence[Trajectory],
    mdp: BlockMDP,
    featurizer: Featurizer,
    model: BlockGraphFlowNet,
    device: torch.device,
    rewards_ready: Callable[[], object] | None = None,
) -> torch.Tensor:
    """In-flow from every distinct parent (summing its equivalent actions) vs out-flow (+ R at x⊤).

    The network runs once per distinct state of the batch (by canonical key): a state's predecessor
    on its trajectory is one of its parents, and short states recur across trajectories, so the
    visited states and their parents overlap heavily. Same loss and gradients as one row per use.
    """
    visited: list[State] = []
    for t in trajs:
        visited.extend(t.states[1:])
    parents_of = [mdp.parents(s) for s in visited]
    row_of: dict[str, int] = {}
    unique: list[State] = []

    def row(state: State) -> int:
        key = mdp.key(state)
        r = row_of.get(key)
        if r is None:
            r = row_of[key] = len(unique)
            unique.append(state)
        return r

    visited_rows = [row(s) for s in visited]
    parent_rows = [[row(p.state) for p in ps] for ps in parents_of]
    batch: GraphBatch = featurizer(unique, device)
    logits, _ = model(batch)
    nv = len(visited)
    owner = batch.flat_owner()
    # out-flow of each distinct state: all its legal edge flows, including the stop edge
    log_out_all = segment_logsumexp(logits, owner, batch.n_states)
    idx: list[int] = []
    own: list[int] = []
    for vi, (ps, rows) in enumerate(zip(parents_of, parent_rows, strict=True)):
        for p, b in zip(ps, rows, strict=True):
            for a in p.actions:
                idx.append(batch.action_index(b, a))
                own.append(vi)
    log_in = segment_logsumexp(logits[torch.tensor(idx, device=device)], torch.tensor(own, device=device), nv)
    # terminal copies x⊤: in-flow is x's stop edge, out-flow is R(x)
    term_rows = []
    k = 0
    for t in trajs:
        k += len(t.states) - 1
        term_rows.append(visited_rows[k - 1])
    stop_logits = logits[torch.tensor(term_rows, device=device)]  # flat index of STOP for state b is b
    if rewards_ready is not None:
        rewards_ready()
    log_r = torch.tensor([t.log_reward for t in trajs], device=device, dtype=logits.dtype)
    log_inflow = torch.cat([log_in, stop_logits])
    log_outflow = torch.cat([log_out_all[torch.tensor(visited_rows, device=device)], log_r])
    is_terminal = torch.cat(
        [torch.zeros(nv, dtype=torch.bool, device=device), torch.ones(len(trajs), dtype=torch.bool, device=device)]
    )
    return flow_matching_loss(
        log_inflow, log_outflow, is_terminal, settings.fm_epsilon, settings.fm_leaf_coef, settings.fm_balanced
    )
