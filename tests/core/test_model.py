"""The flow network's message aggregation: sum (default) or mean over a block's bonded neighbours."""

from __future__ import annotations

import pytest
import torch

from gfn.build import build_model
from gfn.chem.blocks import library_from_json
from gfn.errors import ConfigError
from gfn.featurize import Featurizer
from gfn.mdp.block_mdp import BlockMDP
from gfn.mdp.state import STOP
from gfn.models.mpnn import _EdgeConditioned
from gfn.training.config import parse_training_config
from tests.mdp.conftest import TINY


def test_mean_aggregation_divides_each_blocks_message_sum_by_its_degree() -> None:
    torch.manual_seed(0)
    add, mean = _EdgeConditioned(8, "sum"), _EdgeConditioned(8, "mean")
    mean.load_state_dict(add.state_dict())
    h = torch.randn(5, 8)
    # a star 0-1, 0-2, 0-3 (both directions); block 4 has no bond
    src = torch.tensor([1, 2, 3, 0, 0, 0])
    dst = torch.tensor([0, 0, 0, 1, 2, 3])
    edge_attr = torch.randn(6, 16)
    summed = add(h, torch.stack([src, dst]), edge_attr)
    averaged = mean(h, torch.stack([src, dst]), edge_attr)
    assert torch.allclose(averaged[0], summed[0] / 3)
    assert torch.allclose(averaged[1:4], summed[1:4])  # one neighbour each
    assert torch.equal(averaged[4], torch.zeros(8)) and torch.equal(summed[4], torch.zeros(8))


def test_aggregation_setting_reaches_the_model_and_rejects_unknown_values() -> None:
    mdp = BlockMDP(library_from_json(TINY), max_blocks=3)
    fz = Featurizer(mdp)
    cfg = parse_training_config({"hidden": 16, "layers": 2, "aggregation": "mean"})
    model = build_model(fz, cfg, torch.device("cpu"))
    assert all(conv.aggr == "mean" for conv in model.convs)
    assert all(
        conv.aggr == "add" for conv in build_model(fz, parse_training_config({"hidden": 16}), torch.device("cpu")).convs
    )
    with pytest.raises(ConfigError, match="aggregation"):
        parse_training_config({"aggregation": "max"})
    with pytest.raises(ValueError, match="aggregation"):
        _EdgeConditioned(8, "max")


def test_bilinear_message_is_a_rank_one_matrix_per_bond_plus_a_root_term() -> None:
    """NNConv with W(e) = a ⊗ b: m_i = W_root h_i + c + Σ_j h_j @ (A s_j ⊗ B s_i), computed by hand."""
    torch.manual_seed(0)
    conv = _EdgeConditioned(8, "sum", "bilinear")
    h = torch.randn(4, 8)
    src = torch.tensor([1, 2, 0, 0])
    dst = torch.tensor([0, 0, 1, 2])
    slots = torch.randn(4, 16)  # (sender slot, receiver slot) embeddings per directed bond
    out = conv(h, torch.stack([src, dst]), slots)
    expected = conv.root(h)
    for e in range(4):
        w = torch.outer(conv.src_proj(slots[e, :8]), conv.dst_proj(slots[e, 8:]))  # [in, out]
        expected = expected.index_add(0, dst[e : e + 1], (h[src[e]] @ w)[None])
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.allclose(out[3], conv.root(h[3]))  # no bond: the root term only


def test_message_setting_reaches_the_model_and_rejects_unknown_values() -> None:
    mdp = BlockMDP(library_from_json(TINY), max_blocks=3)
    fz = Featurizer(mdp)
    model = build_model(fz, parse_training_config({"hidden": 16, "message": "bilinear"}), torch.device("cpu"))
    assert all(conv.bilinear and not hasattr(conv, "msg") for conv in model.convs)
    s1 = mdp.step(mdp.initial, mdp.legal_actions(mdp.initial)[0])
    s2 = mdp.step(s1, next(a for a in mdp.legal_actions(s1) if a.kind != STOP))
    g = fz([mdp.initial, s1, s2])
    assert g.edge_index.shape[1] == 2  # s2 has one bond, both directions
    logits, log_flow = model(g)  # runs end to end
    assert torch.isfinite(log_flow).all() and logits.shape[0] > 3
    with pytest.raises(ConfigError, match="message"):
        parse_training_config({"message": "attention"})
    with pytest.raises(ValueError, match="message"):
        _EdgeConditioned(8, "sum", "attention")
