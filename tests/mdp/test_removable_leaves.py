"""BlockMDP.removable_leaves: leaf removals grouped by the distinct parent they give (learned P_B)."""

from __future__ import annotations

import random

import pytest

from gfn.chem.blocks import BlockLibrary, default_library, library_from_json
from gfn.mdp.block_mdp import BlockMDP
from gfn.mdp.enumerate import enumerate_dag
from gfn.mdp.state import ATTACH, PLACE, STOP, Action, State


def _remove(s: State, leaf: int) -> State:
    """Slow, obvious leaf removal: drop the node, renumber, give its bond atom back to the neighbour."""
    keep = [i for i in range(s.n_blocks) if i != leaf]
    new = {old: i for i, old in enumerate(keep)}
    stems = [list(s.stems[i]) for i in keep]
    edges = []
    for u, au, v, av in s.edges:
        if leaf in (u, v):
            other, atom = (u, au) if v == leaf else (v, av)
            stems[new[other]].append(atom)
        else:
            edges.append((new[u], au, new[v], av))
    return State(tuple(s.frags[i] for i in keep), tuple(edges), tuple(tuple(sorted(x)) for x in stems))


def _check(mdp: BlockMDP, s: State) -> None:
    groups = mdp.removable_leaves(s)
    parents = mdp.parents(s)
    # one group per distinct parent, same keys in the same order
    assert [g.key for g in groups] == [mdp.key(p.state) for p in parents]
    leaves = [leaf for g in groups for leaf in g.leaves]
    assert len(leaves) == len(set(leaves)) and set(leaves) <= set(mdp.leaves(s))
    for g in groups:
        assert g.leaves
        for leaf in g.leaves:
            assert mdp.key(_remove(s, leaf)) == g.key
    assert len(groups) == mdp.n_parents(s)


def _rollout_states(mdp: BlockMDP, rng: random.Random) -> list[State]:
    s = mdp.initial
    out: list[State] = []
    while True:
        a = rng.choice(mdp.legal_actions(s))
        if a.kind == STOP:
            return out
        s = mdp.step(s, a)
        out.append(s)


@pytest.mark.parametrize("seed", range(12))
def test_groups_equal_parents_default_library(seed: int) -> None:
    mdp = BlockMDP(default_library(), max_blocks=8)
    states = _rollout_states(mdp, random.Random(seed))
    assert states
    for s in states:
        _check(mdp, s)


def test_groups_equal_parents_on_enumerated_dag(tiny_library: BlockLibrary) -> None:
    mdp = BlockMDP(tiny_library, max_blocks=3)
    dag = enumerate_dag(mdp)
    merged = 0
    for s in dag.states[1:]:
        _check(mdp, s)
        merged += any(len(g.leaves) > 1 for g in mdp.removable_leaves(s))
    assert merged > 0  # symmetric leaves (e.g. para-difluorobenzene) do occur


def test_symmetric_leaves_are_one_parent(tiny_library: BlockLibrary) -> None:
    """p-difluorobenzene: removing either F gives fluorobenzene — one parent, two leaves."""
    lib = tiny_library
    mdp = BlockMDP(lib, max_blocks=3)
    benz = next(b for b in lib.initial_blocks if lib.fragments[b.fragment].smiles == "c1ccccc1")
    f_type = next(t.index for t in lib.block_types if lib.fragments[t.fragment].smiles == "F")
    s = mdp.step(mdp.initial, Action(PLACE, block=benz.index))
    s = mdp.step(s, Action(ATTACH, 0, 0, f_type))
    ring = next(i for i, f in enumerate(s.frags) if lib.fragments[f].smiles == "c1ccccc1")
    s = mdp.step(s, Action(ATTACH, ring, 3, f_type))
    groups = mdp.removable_leaves(s)
    assert len(groups) == 1 and len(groups[0].leaves) == 2
    single = mdp.step(mdp.initial, Action(PLACE, block=benz.index))
    assert [(g.key, g.leaves) for g in mdp.removable_leaves(single)] == [("", (0,))]


def test_restricted_anchors_leave_out_unremovable_leaves() -> None:
    lib = library_from_json(
        {
            "block_name": {"0": "A", "1": "B"},
            "block_smi": {"0": "C1=CCCCC1", "1": "O"},
            "block_r": {"0": [2, 0], "1": [0]},
        }
    )
    mdp = BlockMDP(lib, max_blocks=3)
    left_out = 0
    for s in enumerate_dag(mdp).states[1:]:
        _check(mdp, s)
        left_out += len(mdp.leaves(s)) > sum(len(g.leaves) for g in mdp.removable_leaves(s))
    assert left_out > 0
