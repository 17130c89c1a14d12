"""Metrics: exact terminal distribution on enumerable libraries, top-k, diversity, modes, scaffolds.

The exact distribution (../shared/NOTES.md): states in topological order, P(s₀) = 1,
P(s′) = Σ_s P(s)·P_F(s′|s) with P_F summed over every action of s that reaches s′; the terminal
probability of s is P(s)·π(stop|s), and of a molecule the sum over its block trees.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold

from gfn.mdp.enumerate import EnumeratedDAG
from gfn.mdp.state import STOP_ACTION, Action, State

# (states) -> per state, a function giving log π(a|s) for a list of actions
PolicyFn = Callable[[Sequence[State]], list[Callable[[Sequence[Action]], list[float]]]]


@dataclass(frozen=True)
class ExactResult:
    """Terminal probabilities per block tree (state id) and per molecule, and L1 errors."""

    p_state: dict[int, float]
    p_molecule: dict[str, float]
    l1_molecule: float
    l1_state: float
    l1_molecule_corrected: float | None  # target ∝ n(x)·R(x): what an exact block-tree sampler gives


def exact_terminal_distribution(dag: EnumeratedDAG, policy: PolicyFn, batch: int = 512) -> dict[int, float]:
    """P(terminal state) for every stoppable state of ``dag`` under ``policy`` (exact DP)."""
    n = len(dag.states)
    logpi: list[Callable[[Sequence[Action]], list[float]]] = []
    for i in range(0, n, batch):
        logpi.extend(policy(dag.states[i : i + batch]))
    reach = np.zeros(n)
    reach[0] = 1.0
    p_term: dict[int, float] = {}
    for i in range(n):  # BFS order is topological (children have one more block)
        if reach[i] == 0.0:
            continue
        f = logpi[i]
        if dag.can_stop[i]:
            p_term[i] = reach[i] * math.exp(f([STOP_ACTION])[0])
        for j, actions in dag.children[i].items():
            reach[j] += reach[i] * sum(math.exp(v) for v in f(actions))
    return p_term


def exact_l1(dag: EnumeratedDAG, p_term: dict[int, float], reward: dict[str, float]) -> ExactResult:
    """L1 = Σ_x |P(x) − R(x)/Z| per molecule, and per block tree (target R(mol(s))/Σ)."""
    mols = dag.terminal_molecules()
    p_mol = {smi: sum(p_term.get(i, 0.0) for i in ids) for smi, ids in mols.items()}
    z = sum(reward[s] for s in mols)
    l1_mol = sum(abs(p_mol[s] - reward[s] / z) for s in mols)
    z_state = sum(reward[s] * len(ids) for s, ids in mols.items())
    l1_state = sum(abs(p_term.get(i, 0.0) - reward[s] / z_state) for s, ids in mols.items() for i in ids)
    corrected = sum(abs(p_mol[s] - reward[s] * len(ids) / z_state) for s, ids in mols.items())
    return ExactResult(p_term, p_mol, l1_mol, l1_state, corrected)


# ------------------------------------------------------------------ sample-based metrics
_FPGEN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)


def fingerprints(smiles: Iterable[str]) -> list[DataStructs.ExplicitBitVect]:
    """Morgan r=2, 2048-bit fingerprints (invalid SMILES skipped)."""
    out = []
    for s in smiles:
        m = Chem.MolFromSmiles(s)
        if m is not None:
            out.append(_FPGEN.GetFingerprint(m))
    return out


def top_k_mean(values: Iterable[float], k: int) -> float:
    v = sorted(values, reverse=True)[:k]
    return float(np.mean(v)) if v else float("nan")


def mean_pairwise_similarity(smiles: Sequence[str]) -> float:
    """Mean Tanimoto over all pairs (lower is more diverse)."""
    fps = fingerprints(smiles)
    if len(fps) < 2:
        return float("nan")
    total, pairs = 0.0, 0
    for i in range(1, len(fps)):
        sims = DataStructs.BulkTanimotoSimilarity(fps[i], fps[:i])
        total += float(sum(sims))
        pairs += i
    return total / pairs


def top_k_diversity(scored: Sequence[tuple[str, float]], k: int) -> float:
    """1 − mean pairwise Tanimoto among the k best distinct molecules."""
    best = sorted(dict(scored).items(), key=lambda x: -x[1])[:k]
    return 1.0 - mean_pairwise_similarity([s for s, _ in best])


def count_modes(scored: Sequence[tuple[str, float]], threshold: float, max_similarity: float = 0.7) -> int:
    """Greedy by score: a molecule above ``threshold`` is a new mode if its Tanimoto to every earlier
    mode is below ``max_similarity`` (the paper's mode count)."""
    best = sorted(((s, v) for s, v in dict(scored).items() if v > threshold), key=lambda x: -x[1])
    modes: list[DataStructs.ExplicitBitVect] = []
    for s, _ in best:
        fp = fingerprints([s])
        if not fp:
            continue
        if not modes or max(DataStructs.BulkTanimotoSimilarity(fp[0], modes)) < max_similarity:
            modes.append(fp[0])
    return len(modes)


def scaffolds(smiles: Iterable[str]) -> set[str]:
    """Bemis–Murcko scaffolds (canonical SMILES)."""
    out = set()
    for s in smiles:
        m = Chem.MolFromSmiles(s)
        if m is not None:
            out.add(MurckoScaffold.MurckoScaffoldSmiles(mol=m))
    return out
