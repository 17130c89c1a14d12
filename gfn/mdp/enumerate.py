"""Exhaustive enumeration of a small block MDP: the DAG of canonical states, exactly.

Used by tests, the library decomposition check and the exact-distribution metric. Every action's
child is keyed independently here (no orbit shortcuts), so this is also the slow, obvious
reference the fast paths of :class:`BlockMDP` are tested against.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from gfn.mdp.block_mdp import BlockMDP
from gfn.mdp.state import STOP, Action, State


@dataclass
class EnumeratedDAG:
    """States in topological order (by size); ``children[i]`` maps child id → actions reaching it."""

    states: list[State] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    children: list[dict[int, list[Action]]] = field(default_factory=list)
    can_stop: list[bool] = field(default_factory=list)
    smiles: list[str | None] = field(default_factory=list)

    @property
    def n_edges(self) -> int:
        return sum(len(c) for c in self.children)

    def terminal_states(self) -> list[int]:
        return [i for i, ok in enumerate(self.can_stop) if ok]

    def terminal_molecules(self) -> dict[str, list[int]]:
        """Canonical SMILES → the terminal states (block trees) that are that molecule."""
        out: dict[str, list[int]] = defaultdict(list)
        for i in self.terminal_states():
            smi = self.smiles[i]
            if smi is not None:
                out[smi].append(i)
        return dict(out)


def enumerate_dag(mdp: BlockMDP, max_states: int = 200_000) -> EnumeratedDAG:
    """Breadth-first over canonical states; raises if the DAG exceeds ``max_states``."""
    dag = EnumeratedDAG()

    def add(s: State) -> int:
        k = mdp.key(s)
        if k not in dag.index:
            if len(dag.states) >= max_states:
                raise ValueError(f"more than {max_states} states: library too large to enumerate")
            dag.index[k] = len(dag.states)
            dag.states.append(s)
            dag.children.append({})
            dag.can_stop.append(mdp.can_stop(s))
            dag.smiles.append(mdp.to_smiles(s) if s.n_blocks else None)
        return dag.index[k]

    add(mdp.initial)
    i = 0
    while i < len(dag.states):  # states are appended level by level: BFS order is topological
        s = dag.states[i]
        for a in mdp.legal_actions(s):
            if a.kind == STOP:
                continue
            j = add(mdp.step(s, a))
            dag.children[i].setdefault(j, []).append(a)
        i += 1
    return dag


@dataclass(frozen=True)
class DecompositionReport:
    """Molecules that more than one distinct block tree builds (n(x) > 1)."""

    n_molecules: int
    n_terminal_states: int
    ambiguous: dict[str, int]  # SMILES → number of distinct block trees

    @property
    def is_unique(self) -> bool:
        return not self.ambiguous


def decomposition_report(mdp: BlockMDP, max_states: int = 200_000) -> DecompositionReport:
    """Exact by enumeration: which molecules have several decompositions into library blocks."""
    dag = enumerate_dag(mdp, max_states)
    mols = dag.terminal_molecules()
    return DecompositionReport(
        n_molecules=len(mols),
        n_terminal_states=len(dag.terminal_states()),
        ambiguous={s: len(ids) for s, ids in mols.items() if len(ids) > 1},
    )
