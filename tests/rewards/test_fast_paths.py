"""The optimised sEH proxy paths give the reference values.

* ``seh_proxy`` runs its GRU block by block with gate-major weights (equal to a plain per-edge
  float64 implementation of the network, whatever the block size);
* ``compose`` flags the first atom of the canonical SMILES instead of renumbering the molecule.

Molecules: amides enumerated here (always available) and a few edge cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem, rdBase
from rdkit.Chem import rdChemReactions

from gfn.rewards import seh_proxy as P
from gfn.rewards.compose import build_reward

_ACIDS = [
    "OC(=O)c1ccccc1", "OC(=O)c1ccc(Cl)cc1", "OC(=O)c1cccnc1", "OC(=O)c1ccc(O)cc1", "OC(=O)c1cc2ccccc2[nH]1",
    "OC(=O)C1CCCCC1", "OC(=O)CC1CCCC1", "OC(=O)c1ccc(C(F)(F)F)cc1", "OC(=O)c1cccs1", "OC(=O)c1ccco1",
    "OC(=O)C1CCN(C(=O)C)CC1", "OC(=O)c1ccc2OCOc2c1", "OC(=O)c1ccc(S(N)(=O)=O)cc1", "OC(=O)C=Cc1ccccc1",
    "OC(=O)C12CC3CC(CC(C3)C1)C2", "OC(=O)c1c(C)noc1C", "OC(=O)CC(O)C(=O)O", "OC(=O)c1ccc(B(O)O)cc1",
    "OC(=O)c1ccc([N+](=O)[O-])cc1", "OC(=O)C(C)(C)OC1=CC=CC1",
]  # fmt: skip
_AMINES = [
    "NC1CCCCC1", "Nc1ccccc1", "NCc1ccc(Cl)cc1Cl", "N1CCOCC1", "N1CCN(C)CC1", "NC12CC3CC(CC(C3)C1)C2",
    "NCCc1c[nH]c2ccccc12", "N1CCCCC1", "Nc1ccc(F)cc1", "NC1CC1", "Nc1nccs1", "NC(C)c1ccccc1",
    "N1CCC(O)(Cc2ccccc2)CC1", "NCC1CCCO1", "NC1CCN(C(=O)C(F)(F)F)CC1", "NCCN1CCOCC1", "NOC",
    "Nc1ccc(N2CCOCC2)cc1", "NC(CO)C(=O)O", "NCCS",
]  # fmt: skip


def _amides() -> list[str]:
    """400 amides (acids x amines): varied rings, heteroatoms and hydroxyl types, no data needed."""
    rxn = rdChemReactions.ReactionFromSmarts("[C:1](=O)[OH].[N;!H0:2]>>[C:1](=O)[N:2]")
    out: set[str] = set()
    with rdBase.BlockLogs():
        for acid in _ACIDS:
            for amine in _AMINES:
                for (product,) in rxn.RunReactants((Chem.MolFromSmiles(acid), Chem.MolFromSmiles(amine))):
                    try:
                        Chem.SanitizeMol(product)
                    except Exception:  # noqa: BLE001
                        continue
                    out.add(Chem.MolToSmiles(product))
    return sorted(out)


def _mols(smiles: list[str]) -> Iterator[tuple[str, Chem.Mol]]:
    with rdBase.BlockLogs():
        for s in smiles:
            mol = Chem.MolFromSmiles(s)
            if mol is not None and mol.GetNumAtoms():
                yield s, mol


# --------------------------------------------------------------------------------------------------
# seh_proxy: the blocked, gate-major forward pass is the network
# --------------------------------------------------------------------------------------------------


def _plain_forward(weights: dict[str, np.ndarray], g: P.GraphBatch) -> np.ndarray:
    """The network written out literally in float64: per-edge W(e) from the edge network, mean
    aggregation with np.add.at, PyTorch's GRU and LSTM equations, Set2Set with a softmax per molecule."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}

    def leaky(x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x, 0.01 * x)

    def sigmoid(x: np.ndarray) -> np.ndarray:
        y: np.ndarray = 1.0 / (1.0 + np.exp(-x))
        return y

    n = g.x.shape[0]
    feats = np.zeros((len(g.src), 4))
    real = g.edge_type < 4
    feats[np.nonzero(real)[0], g.edge_type[real]] = 1.0
    edge_w = leaky(feats @ w["conv.nn.0.weight"].T + w["conv.nn.0.bias"]) @ w["conv.nn.2.weight"].T
    edge_w = (edge_w + w["conv.nn.2.bias"]).reshape(-1, 64, 64)  # (edges, in, out)
    deg = np.bincount(g.dst, minlength=n).astype(np.float64)
    h = leaky(g.x @ w["lin0.weight"].T + w["lin0.bias"])
    for _ in range(P.N_CONV_STEPS):
        agg = np.zeros((n, 64))
        np.add.at(agg, g.dst, np.einsum("ei,eio->eo", h[g.src], edge_w))
        agg /= np.maximum(deg, 1.0)[:, None]
        m = leaky(agg + h @ w["conv.root"] + w["conv.bias"])
        gi = m @ w["gru.weight_ih_l0"].T + w["gru.bias_ih_l0"]
        gh = h @ w["gru.weight_hh_l0"].T + w["gru.bias_hh_l0"]
        r = sigmoid(gi[:, :64] + gh[:, :64])
        z = sigmoid(gi[:, 64:128] + gh[:, 64:128])
        cand = np.tanh(gi[:, 128:] + r * gh[:, 128:])
        h = (1 - z) * cand + z * h
    batch = np.repeat(np.arange(g.n_mols), g.n_atoms)
    q_star = np.zeros((g.n_mols, 128))
    hs = np.zeros((g.n_mols, 64))
    cs = np.zeros((g.n_mols, 64))
    for _ in range(P.N_SET2SET_STEPS):
        gates = q_star @ w["set2set.lstm.weight_ih_l0"].T + w["set2set.lstm.bias_ih_l0"]
        gates += hs @ w["set2set.lstm.weight_hh_l0"].T + w["set2set.lstm.bias_hh_l0"]
        i, f, o = sigmoid(gates[:, :64]), sigmoid(gates[:, 64:128]), sigmoid(gates[:, 192:])
        cs = f * cs + i * np.tanh(gates[:, 128:192])
        hs = o * np.tanh(cs)
        e = (h * hs[batch]).sum(axis=1)
        a = np.exp(e - np.array([e[batch == k].max() for k in range(g.n_mols)])[batch])
        a /= np.bincount(batch, weights=a)[batch]
        r_vec = np.zeros((g.n_mols, 64))
        np.add.at(r_vec, batch, a[:, None] * h)
        q_star = np.concatenate([hs, r_vec], axis=1)
    out: np.ndarray = (q_star @ w["lin3.weight"].T + w["lin3.bias"])[:, 0]
    return out


def _proxy_molecules() -> list[Chem.Mol]:
    smiles = _amides()[::8] + ["C", "[Na+].[Cl-]", "C#N", "c1ccncc1O", "[NH3]->[Cu+2]", "O=C=O"]
    return [m for _, m in _mols(smiles)]


def test_seh_forward_equals_plain_implementation(seh_weights: Path) -> None:
    with np.load(seh_weights) as data:
        weights = {k: data[k] for k in data.files}
    mols = _proxy_molecules()
    g = P.featurize(mols)
    expected = _plain_forward(weights, g)
    assert np.abs(P.SEHProxy(weights, dtype=np.float64).forward(g) - expected).max() < 1e-9
    assert np.abs(P.SEHProxy(weights, dtype=np.float32).forward(g) - expected).max() < 1e-4


@pytest.mark.parametrize("block_rows", [1, 7, 64, 100_000])
def test_seh_forward_does_not_depend_on_block_size(
    seh_weights: Path, monkeypatch: pytest.MonkeyPatch, block_rows: int
) -> None:
    model = P.load_seh_proxy(seh_weights, dtype=np.float64)
    g = P.featurize(_proxy_molecules())
    expected = model.forward(g)
    monkeypatch.setattr(P, "BLOCK_ROWS", block_rows)
    assert np.abs(model.forward(g) - expected).max() < 1e-12


def test_compose_flags_the_first_atom_of_the_canonical_smiles(seh_weights: Path) -> None:
    """Flagging canonical atom 0 in the given atom order = scoring the canonical SMILES as parsed."""
    fn = build_reward({"components": [{"name": "seh_proxy", "params": {"weights": str(seh_weights)}}]})
    model = P.load_seh_proxy(seh_weights)
    spellings = ["OCC(N)c1ccccc1", "c1ccccc1C(N)CO", "[Cl-].C[NH3+]", "C[NH3+].[Cl-]", "O=C(O)c1ccncc1"]
    scored = fn(spellings)
    direct = model.score_smiles([r.smiles or "" for r in scored])  # canonical SMILES, atom 0 flagged
    got = np.array([r.components["seh_proxy"] for r in scored])
    assert np.abs(got - direct).max() < 1e-5
    assert got[0] == pytest.approx(got[1], abs=1e-5) and got[2] == pytest.approx(got[3], abs=1e-5)
