"""Learned backward policy (``backward_policy: "learned"``): normalised over distinct parents, uniform
when the head outputs zero, TB/DB/SubTB against a slow reference, exactness, checkpoints."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from gfn.build import build_loss, build_model, build_reward
from gfn.chem.blocks import default_library, library_from_json
from gfn.featurize import Featurizer
from gfn.mdp.block_mdp import BlockMDP
from gfn.mdp.enumerate import enumerate_dag
from gfn.mdp.state import STOP, Action, State
from gfn.metrics import exact_l1, exact_terminal_distribution
from gfn.models.heads import backward_log_probs, segment_log_softmax, segment_logsumexp
from gfn.models.mpnn import BlockGraphFlowNet
from gfn.runs import sample_run, train_run
from gfn.sampling.policy import model_policy
from gfn.sampling.sampler import Sampler, Trajectory
from gfn.training.checkpoint import latest_checkpoint, load_checkpoint
from gfn.training.config import parse_training_config
from gfn.training.loop import score_trajectories, train
from gfn.training.objectives import compute_loss, transition_tensors
from tests.mdp.conftest import TINY

CPU = torch.device("cpu")


def _reward(smiles: Sequence[str]) -> list[SimpleNamespace]:
    return [SimpleNamespace(reward=0.1 + (len(s) % 7) / 3.0, components={}) for s in smiles]


def _learned_model(fz: Featurizer, seed: int = 0, hidden: int = 32) -> BlockGraphFlowNet:
    cfg = parse_training_config({"backward_policy": "learned", "hidden": hidden, "layers": 2, "seed": seed})
    return build_model(fz, cfg, CPU)


def _randomise_backward_head(model: BlockGraphFlowNet, seed: int) -> None:
    """The head starts at zero output (uniform P_B); give it arbitrary weights."""
    assert model.backward_head is not None
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.backward_head.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _random_states(mdp: BlockMDP, n: int, seed: int) -> list[State]:
    rng = random.Random(seed)
    out: list[State] = []
    while len(out) < n:
        s = mdp.initial
        while True:
            acts = mdp.legal_actions(s)
            a = rng.choice(acts)
            if a.kind == STOP:
                break
            s = mdp.step(s, a)
            if rng.random() < 0.3:
                out.append(s)
    return out


def _batched_log_pb(fz: Featurizer, model: BlockGraphFlowNet, states: list[State]) -> list[dict[str, float]]:
    """log P_B(parent | s) per state, by parent key, from one batched forward pass."""
    batch = fz(states, backward=True)
    with torch.no_grad():
        _, _, scores = model.forward_with_backward(batch)
    lp = backward_log_probs(scores, batch.leaf_batch, batch.leaf_group, batch.n_states, batch.n_groups)
    return [
        {g.key: float(lp[batch.parent_index(b, g.key)]) for g in fz.mdp.removable_leaves(s)}
        for b, s in enumerate(states)
    ]


def _reference_log_pb(fz: Featurizer, model: BlockGraphFlowNet, s: State) -> dict[str, float]:
    """Slow, obvious: one state alone; P_B(group) ∝ Σ_{leaf ∈ group} exp(score(leaf)) / |group|."""
    batch = fz([s], backward=True)
    with torch.no_grad():
        _, _, scores = model.forward_with_backward(batch)
    score = {int(n): float(v) for n, v in zip(batch.leaf_node.tolist(), scores, strict=True)}
    mass = {g.key: sum(math.exp(score[leaf]) for leaf in g.leaves) / len(g.leaves) for g in fz.mdp.removable_leaves(s)}
    total = sum(mass.values())
    return {k: math.log(m / total) for k, m in mass.items()}


def test_learned_pb_is_normalised_over_distinct_parents() -> None:
    mdp = BlockMDP(default_library(), max_blocks=8)
    fz = Featurizer(mdp)
    model = _learned_model(fz).double()
    _randomise_backward_head(model, 0)
    states = _random_states(mdp, 40, seed=1)
    batch = fz(states, backward=True)
    with torch.no_grad():
        _, _, scores = model.forward_with_backward(batch)
    lp = backward_log_probs(scores, batch.leaf_batch, batch.leaf_group, batch.n_states, batch.n_groups)
    total = segment_logsumexp(lp, batch.group_batch, batch.n_states)
    assert torch.allclose(total, torch.zeros_like(total), atol=1e-12)
    # groups are the distinct parents; some states have several, so P_B is not trivially 1
    assert [int(c) for c in torch.bincount(batch.group_batch, minlength=len(states))] == [
        len(mdp.parents(s)) for s in states
    ]
    assert any(len(mdp.parents(s)) > 1 for s in states)
    assert float(lp.min()) < math.log(0.99)
    # batched equals each state alone
    for s, got in zip(states[:10], _batched_log_pb(fz, model, states[:10]), strict=True):
        ref = _reference_log_pb(fz, model, s)
        assert got.keys() == ref.keys()
        for k in ref:
            assert got[k] == pytest.approx(ref[k], abs=1e-9)


def test_zero_head_is_uniform_over_distinct_parents() -> None:
    mdp = BlockMDP(library_from_json(TINY), max_blocks=3)
    fz = Featurizer(mdp)
    model = _learned_model(fz)
    assert model.backward_head is not None
    with torch.no_grad():
        last = model.backward_head[-1]
        assert isinstance(last, torch.nn.Linear)
        assert not last.weight.any() and not last.bias.any()  # a fresh head starts uniform
    states = enumerate_dag(mdp).states[1:]
    for s, got in zip(states, _batched_log_pb(fz, model, states), strict=True):
        assert set(got) == {mdp.key(p.state) for p in mdp.parents(s)}
        for v in got.values():
            assert v == pytest.approx(-math.log(mdp.n_parents(s)), abs=1e-6)
    # states with symmetric leaves (several leaves, one parent) occur, so the merge is exercised
    assert any(len(g.leaves) > 1 for s in states for g in mdp.removable_leaves(s))


@pytest.fixture(scope="module")
def sampled() -> tuple[BlockMDP, Featurizer, BlockGraphFlowNet, list[Trajectory]]:
    mdp = BlockMDP(library_from_json(TINY), max_blocks=4)
    fz = Featurizer(mdp)
    model = _learned_model(fz).double()
    with torch.no_grad():
        model.log_z.fill_(0.7)
    gen = torch.Generator().manual_seed(1)
    trajs = Sampler(mdp, fz, model).sample(12, gen, exploration=0.3)
    score_trajectories(trajs, _reward)
    return mdp, fz, model, trajs


@pytest.mark.parametrize("loss", ["tb", "db", "subtb"])
def test_zero_head_losses_equal_uniform(loss: str, sampled: tuple) -> None:  # type: ignore[type-arg]
    mdp, fz, model, trajs = sampled
    uniform = parse_training_config({"loss": loss, "max_blocks": 4})
    learned = parse_training_config({"loss": loss, "max_blocks": 4, "backward_policy": "learned"})
    a = compute_loss(build_loss(uniform), trajs, mdp, fz, model, CPU).item()
    b = compute_loss(build_loss(learned), trajs, mdp, fz, model, CPU).item()
    assert b == pytest.approx(a, rel=1e-9, abs=1e-12)


@torch.no_grad()
def _reference(loss: str, mdp: BlockMDP, fz: Featurizer, model: BlockGraphFlowNet, trajs: list[Trajectory]) -> float:
    """Slow reference of TB / DB / SubTB (λ = 0.9) with the learned P_B, state by state."""

    def state_out(s: State) -> tuple[list[float], float]:
        logits, log_flow = model(fz([s]))
        return logits.tolist(), float(log_flow[0])

    def log_pf(s: State, actions: tuple[Action, ...]) -> float:
        batch = fz([s])
        logits, _ = model(batch)
        lp = torch.log_softmax(logits, 0)
        return math.log(sum(math.exp(float(lp[batch.action_index(0, a)])) for a in actions))

    per: list[float] = []
    for t in trajs:
        n = len(t.actions)
        lpf = [log_pf(s, eq) for s, eq in zip(t.states, t.equivalents, strict=False)]
        if len(lpf) < n:
            lpf.append(log_pf(t.states[-1], (Action(STOP),)))
        lpb = [_reference_log_pb(fz, model, t.states[i + 1])[mdp.key(t.states[i])] for i in range(n - 1)] + [0.0]
        log_f = [state_out(s)[1] for s in t.states][:n] + [t.log_reward]
        if loss == "tb":
            per.append((model.log_z.item() + sum(lpf) - t.log_reward - sum(lpb)) ** 2)
        elif loss == "db":
            per.extend((log_f[i] + lpf[i] - log_f[i + 1] - lpb[i]) ** 2 for i in range(n))
        else:
            num = den = 0.0
            for i in range(n):
                for j in range(i + 1, n + 1):
                    r = log_f[i] + sum(lpf[i:j]) - log_f[j] - sum(lpb[i:j])
                    num += 0.9 ** (j - i) * r * r
                    den += 0.9 ** (j - i)
            per.append(num / den)
    return sum(per) / len(per)


@pytest.mark.parametrize("loss", ["tb", "db", "subtb"])
def test_learned_losses_match_reference(loss: str, sampled: tuple) -> None:  # type: ignore[type-arg]
    mdp, fz, model, trajs = sampled
    _randomise_backward_head(model, 3)
    try:
        cfg = parse_training_config({"loss": loss, "max_blocks": 4, "backward_policy": "learned", "subtb_lambda": 0.9})
        fast = compute_loss(build_loss(cfg), trajs, mdp, fz, model, CPU).item()
        assert fast == pytest.approx(_reference(loss, mdp, fz, model, trajs), rel=1e-6, abs=1e-8)
    finally:
        with torch.no_grad():
            assert model.backward_head is not None
            for p in model.backward_head[-1].parameters():
                p.zero_()


def test_learned_pb_receives_gradients(sampled: tuple) -> None:  # type: ignore[type-arg]
    mdp, fz, model, trajs = sampled
    model.zero_grad()
    tt = transition_tensors(trajs, fz, model, CPU, learned_pb=True)
    assert tt.log_pb.requires_grad
    assert bool((tt.log_pb[tt.is_stop] == 0).all())
    cfg = parse_training_config({"loss": "tb", "max_blocks": 4, "backward_policy": "learned"})
    compute_loss(build_loss(cfg), trajs, mdp, fz, model, CPU).backward()  # type: ignore[no-untyped-call]
    assert model.backward_head is not None
    grad = model.backward_head[-1].weight.grad
    assert grad is not None and bool(grad.abs().sum() > 0)
    model.zero_grad()


def test_uniform_default_is_unchanged() -> None:
    """The head exists only when asked and is created last: the other weights (and so every default
    result and old checkpoint) are the same, and the forward pass is identical."""
    mdp = BlockMDP(library_from_json(TINY), max_blocks=3)
    fz = Featurizer(mdp)
    cfg = parse_training_config({"hidden": 32, "layers": 2})
    assert cfg.backward_policy == "uniform" and build_loss(cfg).backward_policy == "uniform"
    uniform = build_model(fz, cfg, CPU)
    learned = _learned_model(fz)
    assert uniform.backward_head is None
    assert not any(k.startswith("backward_head") for k in uniform.state_dict())
    lsd = learned.state_dict()
    for k, v in uniform.state_dict().items():
        assert torch.equal(v, lsd[k]), k
    states = enumerate_dag(mdp).states[:50]
    a, fa = uniform(fz(states))
    b, fb, _ = learned.forward_with_backward(fz(states, backward=True))
    assert torch.equal(a, b) and torch.equal(fa, fb)
    with pytest.raises(ValueError):
        uniform.forward_with_backward(fz(states, backward=True))
    # flow matching has no P_B: no head even if asked
    fm = parse_training_config({"loss": "fm", "backward_policy": "learned", "hidden": 32, "layers": 2})
    assert build_model(fz, fm, CPU).backward_head is None


@pytest.mark.slow
def test_tb_learned_pb_samples_in_proportion_to_reward_on_tiny_library() -> None:
    """The bound of the uniform-P_B test in test_training (exact L1 on the enumerated library)."""
    lib = library_from_json(TINY)  # the blocks of benchmarks/exactness.py LIBRARY
    mdp = BlockMDP(lib, max_blocks=2)
    dag = enumerate_dag(mdp)
    reward_fn = build_reward({"components": [{"name": "qed"}], "beta": 4})
    rewards = {s.smiles: s.reward for s in reward_fn(list(dag.terminal_molecules()))}
    cfg = parse_training_config(
        {
            "loss": "tb",
            "steps": 250,
            "batch_size": 32,
            "max_blocks": 2,
            "lr": 3e-3,
            "lr_logz": 0.1,
            "hidden": 64,
            "backward_policy": "learned",
        }
    )
    fz = Featurizer(mdp)
    model = build_model(fz, cfg, CPU)
    gen = torch.Generator()
    gen.manual_seed(0)
    train(mdp, fz, model, reward_fn, build_loss(cfg), cfg, generator=gen, device=CPU)
    res = exact_l1(dag, exact_terminal_distribution(dag, model_policy(model, fz)), rewards)
    assert len(rewards) > 30
    assert res.l1_molecule < 0.15
    # the backward head was trained (it started at zero output)
    assert model.backward_head is not None
    last = model.backward_head[-1]
    assert isinstance(last, torch.nn.Linear)
    assert bool(last.weight.abs().sum() > 0)
    # and P_B is still a distribution over distinct parents
    states = dag.states[1:]
    batch = fz(states, backward=True)
    _, _, scores = model.forward_with_backward(batch)
    lp = backward_log_probs(scores, batch.leaf_batch, batch.leaf_group, batch.n_states, batch.n_groups)
    total = segment_logsumexp(lp, batch.group_batch, batch.n_states)
    assert torch.allclose(total, torch.zeros_like(total), atol=1e-5)


SPEC = {"components": [{"name": "qed"}]}
CONFIG = {
    "loss": "tb",
    "steps": 6,
    "batch_size": 8,
    "max_blocks": 3,
    "hidden": 32,
    "layers": 2,
    "replay_fraction": 0.25,
    "seed": 3,
    "backward_policy": "learned",
}


@pytest.mark.parametrize("loss", ["tb", "db", "subtb"])
def test_resume_restores_backward_head(tmp_path: Path, loss: str) -> None:
    lib = library_from_json(TINY)
    config = {**CONFIG, "loss": loss}
    train_run(SPEC, config, lib, tmp_path / "a")
    calls: list[int] = []

    def stop_after_3() -> bool:
        calls.append(1)
        return len(calls) > 3

    summary = train_run(SPEC, config, lib, tmp_path / "b", should_stop=stop_after_3)
    assert summary.stopped and summary.steps_done == 3
    mid = load_checkpoint(latest_checkpoint(tmp_path / "b"))  # type: ignore[arg-type]
    assert any(k.startswith("backward_head.") for k in mid["model"])
    final = train_run(SPEC, config, lib, tmp_path / "b")
    assert final.steps_done == 6 and not final.stopped
    a = load_checkpoint(latest_checkpoint(tmp_path / "a"))  # type: ignore[arg-type]
    b = load_checkpoint(latest_checkpoint(tmp_path / "b"))  # type: ignore[arg-type]
    heads = [k for k in a["model"] if k.startswith("backward_head.")]
    assert heads and set(a["model"]) == set(b["model"])
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert torch.equal(a["optimizer"]["state"][0]["exp_avg"], b["optimizer"]["state"][0]["exp_avg"])
    # the head moved from its zero start, and the run samples (strict weight loading)
    assert bool(a["model"]["backward_head.4.weight"].abs().sum() > 0)
    assert len(sample_run(tmp_path / "b", 5, seed=1)) == 5


def test_segment_helpers_used_by_backward_policy() -> None:
    """backward_log_probs on hand-made groups: state 0 has leaves {a, a'} → parent 0 and {b} → 1."""
    scores = torch.tensor([0.0, math.log(3.0), math.log(2.0), 5.0])
    leaf_batch = torch.tensor([0, 0, 0, 1])
    leaf_group = torch.tensor([0, 0, 1, 2])
    lp = backward_log_probs(scores, leaf_batch, leaf_group, 2, 3)
    # masses: group 0 (1 + 3) / 2 = 2, group 1: 2 / 1 = 2 → one half each; state 1: one parent
    assert torch.allclose(lp, torch.log(torch.tensor([0.5, 0.5, 1.0])))
    assert torch.allclose(segment_log_softmax(scores[:3], leaf_batch[:3], 1).exp().sum(), torch.tensor(1.0))
