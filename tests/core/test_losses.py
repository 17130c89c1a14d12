"""Vectorised losses against slow, obvious reference loops on the same trajectories."""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import SimpleNamespace

import pytest
import torch

from gfn.build import build_loss, build_model
from gfn.chem.blocks import BlockLibrary
from gfn.featurize import Featurizer
from gfn.mdp.block_mdp import BlockMDP
from gfn.mdp.state import STOP, Action, State
from gfn.models.heads import segment_log_softmax, segment_sample
from gfn.models.mpnn import BlockGraphFlowNet
from gfn.sampling.sampler import Sampler, Trajectory
from gfn.training.config import parse_training_config
from gfn.training.loop import score_trajectories
from gfn.training.objectives import compute_loss


def _reward(smiles: Sequence[str]) -> list[SimpleNamespace]:
    return [SimpleNamespace(reward=0.1 + (len(s) % 7) / 3.0, components={}) for s in smiles]


@pytest.fixture(scope="module")
def setup(request: pytest.FixtureRequest) -> tuple[BlockMDP, Featurizer, BlockGraphFlowNet, list[Trajectory]]:
    from gfn.chem.blocks import library_from_json
    from tests.mdp.conftest import TINY

    lib: BlockLibrary = library_from_json(TINY)
    mdp = BlockMDP(lib, max_blocks=4)
    fz = Featurizer(mdp)
    cfg = parse_training_config({"hidden": 32, "layers": 2, "max_blocks": 4})
    model = build_model(fz, cfg, torch.device("cpu")).double()
    with torch.no_grad():
        model.log_z.fill_(0.7)
    gen = torch.Generator()
    gen.manual_seed(1)
    trajs = Sampler(mdp, fz, model).sample(8, gen, exploration=0.3)
    score_trajectories(trajs, _reward)
    return mdp, fz, model, trajs


def _state_out(fz: Featurizer, model: torch.nn.Module, s: State) -> tuple[dict[Action, float], float]:
    """Slow reference: raw logits of every legal action of one state, and log F(s)."""
    batch = fz([s])
    logits, log_flow = model(batch)
    out = {}
    for a in fz.mdp.legal_actions(s):
        out[a] = float(logits[batch.action_index(0, a)])
    return out, float(log_flow[0])


def _log_pf(fz: Featurizer, model: torch.nn.Module, s: State, actions: tuple[Action, ...]) -> float:
    logits, _ = _state_out(fz, model, s)
    z = math.log(sum(math.exp(v) for v in logits.values()))
    return math.log(sum(math.exp(logits[a] - z) for a in actions))


def _reference(loss: str, mdp: BlockMDP, fz: Featurizer, model: BlockGraphFlowNet, trajs: list[Trajectory]) -> float:
    per: list[float] = []
    for t in trajs:
        lpf = [_log_pf(fz, model, s, eq) for s, eq in zip(t.states, t.equivalents, strict=False)]
        # the last action is STOP from the terminal state
        lpf.append(_log_pf(fz, model, t.states[-1], (Action(STOP),))) if len(lpf) < len(t.actions) else None
        lpb = [-math.log(mdp.n_parents(s)) for s in t.states[1:]] + [0.0]
        log_f = [_state_out(fz, model, s)[1] for s in t.states] + [t.log_reward]
        log_f[len(t.actions)] = t.log_reward
        if loss == "tb":
            per.append((float(model.log_z) + sum(lpf) - t.log_reward - sum(lpb)) ** 2)
        elif loss == "db":
            per.extend((log_f[i] + lpf[i] - log_f[i + 1] - lpb[i]) ** 2 for i in range(len(t.actions)))
        elif loss == "subtb":
            lam, num, den = 0.9, 0.0, 0.0
            n = len(t.actions)
            for i in range(n):
                for j in range(i + 1, n + 1):
                    r = log_f[i] + sum(lpf[i:j]) - log_f[j] - sum(lpb[i:j])
                    num += lam ** (j - i) * r * r
                    den += lam ** (j - i)
            per.append(num / den)
    return sum(per) / len(per)


@pytest.mark.parametrize("loss", ["tb", "db", "subtb"])
def test_trajectory_losses_match_reference(loss: str, setup: tuple) -> None:  # type: ignore[type-arg]
    mdp, fz, model, trajs = setup
    cfg = parse_training_config({"loss": loss, "subtb_lambda": 0.9, "max_blocks": 4})
    fast = float(compute_loss(build_loss(cfg), trajs, mdp, fz, model, torch.device("cpu")))
    assert fast == pytest.approx(_reference(loss, mdp, fz, model, trajs), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("balanced", [False, True])
def test_flow_matching_matches_reference(setup: tuple, balanced: bool) -> None:  # type: ignore[type-arg]
    mdp, fz, model, trajs = setup
    cfg = parse_training_config({"loss": "fm", "max_blocks": 4, "fm_balanced": balanced})
    fast = float(compute_loss(build_loss(cfg), trajs, mdp, fz, model, torch.device("cpu")))
    eps, leaf = cfg.fm_epsilon, cfg.fm_leaf_coef
    flow_errs: list[float] = []  # one per visited state
    term_errs: list[float] = []  # one per terminal copy x⊤
    for t in trajs:
        for s in t.states[1:]:
            inflow = 0.0
            for p in mdp.parents(s):
                logits, _ = _state_out(fz, model, p.state)
                inflow += sum(math.exp(logits[a]) for a in p.actions)
            out_logits, _ = _state_out(fz, model, s)
            outflow = sum(math.exp(v) for v in out_logits.values())
            flow_errs.append((math.log(eps + inflow) - math.log(eps + outflow)) ** 2)
        x_logits, _ = _state_out(fz, model, t.states[-1])
        term_errs.append((math.log(eps + math.exp(x_logits[Action(STOP)])) - math.log(eps + t.reward)) ** 2)
    if balanced:  # the paper's code: leaf_coef * term_loss + flow_loss, each a mean over its group
        expected = leaf * sum(term_errs) / len(term_errs) + sum(flow_errs) / len(flow_errs)
    else:
        expected = (sum(flow_errs) + leaf * sum(term_errs)) / (len(flow_errs) + leaf * len(term_errs))
    assert fast == pytest.approx(expected, rel=1e-6)


def test_balanced_flow_matching_of_an_empty_group_is_zero() -> None:
    from gfn.losses.flow_matching import flow_matching_loss

    lin, lout = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0])
    only_terminal = flow_matching_loss(lin, lout, torch.tensor([True, True]), 1e-30, 10.0, balanced=True)
    assert float(only_terminal) == pytest.approx(10.0 * 0.5, rel=1e-6)


def test_flow_matching_runs_the_network_once_per_distinct_state(setup: tuple) -> None:  # type: ignore[type-arg]
    """Visited states and their parents overlap (a state's predecessor is one of its parents): FM
    featurizes each distinct state once, which is what made its step ~2x cheaper."""
    mdp, fz, model, trajs = setup
    batches: list[list[State]] = []

    def spy(states: list[State], device: torch.device, **kwargs: object) -> object:
        batches.append(list(states))
        return fz(states, device, **kwargs)

    cfg = parse_training_config({"loss": "fm", "max_blocks": 4})
    compute_loss(build_loss(cfg), trajs, mdp, spy, model, torch.device("cpu"))  # type: ignore[arg-type]
    assert len(batches) == 1
    keys = [mdp.key(s) for s in batches[0]]
    visited = [s for t in trajs for s in t.states[1:]]
    expected = {mdp.key(s) for s in visited} | {mdp.key(p.state) for s in visited for p in mdp.parents(s)}
    assert len(keys) == len(set(keys)) and set(keys) == expected
    assert len(keys) < len(visited) + sum(len(mdp.parents(s)) for s in visited)


def test_segment_log_softmax_matches_per_state() -> None:
    logits = torch.tensor([0.5, -1.0, 2.0, float("-inf"), 0.3, 0.1])
    owner = torch.tensor([0, 0, 1, 1, 1, 2])
    out = segment_log_softmax(logits, owner, 3)
    assert torch.allclose(out[:2], torch.log_softmax(logits[:2], 0))
    assert torch.allclose(out[2:5][[0, 2]], torch.log_softmax(logits[[2, 4]], 0))
    assert out[3] == float("-inf") and out[5] == 0.0


def _sample_counts(
    logp: torch.Tensor, owner: torch.Tensor, draws: int, gen: torch.Generator, **kwargs: float
) -> torch.Tensor:
    """How often each flat action is drawn by ``draws`` calls of segment_sample (2 states)."""
    counts = torch.zeros(logp.shape[0])
    for _ in range(draws):
        counts[segment_sample(logp, owner, 2, gen, **kwargs)] += 1
    return counts


def test_segment_sample_frequencies() -> None:
    logp = torch.log(torch.tensor([0.2, 0.8, 0.5, 0.25, 0.25]))
    owner = torch.tensor([0, 0, 1, 1, 1])
    gen = torch.Generator()
    gen.manual_seed(0)
    freq = _sample_counts(logp, owner, 4000, gen) / 4000
    assert torch.allclose(freq, torch.tensor([0.2, 0.8, 0.5, 0.25, 0.25]), atol=0.03)
    # exploration 1.0: uniform over legal actions
    masked = torch.tensor([0.0, float("-inf"), 0.0, 0.0, 0.0])
    counts = _sample_counts(masked, owner, 3000, gen, exploration=1.0)
    assert counts[1] == 0
    assert torch.allclose(counts[2:] / 3000, torch.full((3,), 1 / 3), atol=0.04)


def test_segment_sample_temperature_sharpens_each_state_to_softmax_of_logp_over_t() -> None:
    """T 0.5 samples from p^2 renormalised per state: 0.2/0.8 -> 1/17, 16/17; 0.5/0.25/0.25 -> 2/3, 1/6, 1/6."""
    logp = torch.log(torch.tensor([0.2, 0.8, 0.5, 0.25, 0.25]))
    owner = torch.tensor([0, 0, 1, 1, 1])
    gen = torch.Generator()
    gen.manual_seed(1)
    counts = _sample_counts(logp, owner, 4000, gen, temperature=0.5)
    expected = torch.tensor([1 / 17, 16 / 17, 2 / 3, 1 / 6, 1 / 6])
    assert torch.allclose(counts / 4000, expected, atol=0.03)
