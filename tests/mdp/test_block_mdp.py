"""The block DAG MDP: parents, canonical keys, equivalent actions, molecules, enumeration."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from gfn.chem.blocks import BlockLibrary, default_library, library_from_json, load_library
from gfn.mdp.block_mdp import BlockMDP
from gfn.mdp.enumerate import decomposition_report, enumerate_dag
from gfn.mdp.state import ATTACH, PLACE, STOP, Action, State

from ..conftest import shared_dir

_LIBS: dict[str, BlockLibrary] = {}


def _library(name: str) -> BlockLibrary:
    if name not in _LIBS:
        if name == "default":
            _LIBS[name] = default_library()
        else:
            path = shared_dir() / "data" / "blocks_PDB_105.json"
            if not path.is_file():
                pytest.skip(f"{path} not found (reference data absent)")
            _LIBS[name] = load_library(path)
    return _LIBS[name]


def _rollout(mdp: BlockMDP, rng: random.Random) -> list[tuple[State, Action]]:
    s = mdp.initial
    path = []
    while True:
        a = rng.choice(mdp.legal_actions(s))
        path.append((s, a))
        if a.kind == STOP:
            return path
        s = mdp.step(s, a)


LIB_NAMES = ["default", "pdb105"]


@pytest.mark.parametrize("lib_name", LIB_NAMES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_parents_contain_predecessor_and_step_back(lib_name: str, seed: int) -> None:
    mdp = BlockMDP(_library(lib_name), max_blocks=8)
    for s, a in _rollout(mdp, random.Random(seed)):
        if a.kind == STOP:
            assert mdp.can_stop(s)
            mol = mdp.to_mol(s)
            assert mol is not None and Chem.SanitizeMol(mol) == Chem.SanitizeFlags.SANITIZE_NONE
            continue
        child = mdp.step(s, a)
        parents = mdp.parents(child)
        keys = [mdp.key(p.state) for p in parents]
        assert len(keys) == len(set(keys)), "parents must be distinct states"
        matching = [p for p in parents if mdp.key(p.state) == mdp.key(s)]
        assert len(matching) == 1
        # the action taken is among the parent's actions, up to equivalence
        assert mdp.key(mdp.step(matching[0].state, matching[0].actions[0])) == mdp.key(child)
        for p in parents:
            for pa in p.actions:
                assert mdp.key(mdp.step(p.state, pa)) == mdp.key(child)
        assert mdp.n_parents(child) == len(parents)


@pytest.mark.parametrize("lib_name", LIB_NAMES)
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_equivalent_actions_match_brute_force(lib_name: str, seed: int) -> None:
    mdp = BlockMDP(_library(lib_name), max_blocks=4)
    for s, a in _rollout(mdp, random.Random(seed)):
        if a.kind == STOP:
            continue
        target = mdp.key(mdp.step(s, a))
        brute = {b for b in mdp.legal_actions(s) if b.kind != STOP and mdp.key(mdp.step(s, b)) == target}
        assert set(mdp.equivalent_actions(s, a)) == brute


@pytest.mark.parametrize("lib_name", LIB_NAMES)
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_reordered_construction_gives_same_key(lib_name: str, seed: int) -> None:
    """Rebuild the final tree along a random path back through parents (a random build order):
    same key and molecule; relabelling the nodes of the raw tree changes nothing either."""
    mdp = BlockMDP(_library(lib_name), max_blocks=7)
    rng = random.Random(seed)
    final = _rollout(mdp, rng)[-1][0]
    path: list[Action] = []
    s = final
    while s.n_blocks:
        p = rng.choice(mdp.parents(s))
        path.append(rng.choice(p.actions))
        s = p.state
    for a in reversed(path):
        s = mdp.step(s, a)
    assert mdp.key(s) == mdp.key(final)
    assert mdp.to_smiles(s) == mdp.to_smiles(final)
    assert mdp.key(final) == mdp.key(_permute_nodes(final, rng))
    assert mdp.to_smiles(final) == mdp.to_smiles(_permute_nodes(final, rng))


def _permute_nodes(s: State, rng: random.Random) -> State:
    perm = list(range(s.n_blocks))
    rng.shuffle(perm)
    frags = [0] * s.n_blocks
    stems: list[tuple[int, ...]] = [()] * s.n_blocks
    for old, new in enumerate(perm):
        frags[new] = s.frags[old]
        stems[new] = s.stems[old]
    edges = []
    for u, au, v, av in s.edges:
        e = (perm[u], au, perm[v], av)
        if rng.random() < 0.5:
            e = (e[2], e[3], e[0], e[1])
        edges.append(e)
    return State(tuple(frags), tuple(edges), tuple(stems))


def test_symmetric_stems_are_one_state(tiny_library: BlockLibrary) -> None:
    """Fluorobenzene built on any of benzene's six positions is one state."""
    mdp = BlockMDP(tiny_library, max_blocks=3)
    benz = [b for b in tiny_library.initial_blocks if tiny_library.fragments[b.fragment].smiles == "c1ccccc1"]
    s = mdp.step(mdp.initial, Action(PLACE, block=benz[0].index))
    f_type = next(t.index for t in tiny_library.block_types if tiny_library.fragments[t.fragment].smiles == "F")
    children = {mdp.key(mdp.step(s, Action(ATTACH, 0, atom, f_type))) for atom in range(6)}
    assert len(children) == 1
    eq = mdp.equivalent_actions(s, Action(ATTACH, 0, 0, f_type))
    assert len(eq) == 6
    # ortho, meta, para difluorobenzene: three distinct states
    fb = mdp.step(s, Action(ATTACH, 0, 0, f_type))
    ring = next(i for i, f in enumerate(fb.frags) if tiny_library.fragments[f].smiles == "c1ccccc1")
    free = sorted(set(fb.stems[ring]))
    assert len(free) == 5
    kids = {mdp.key(mdp.step(fb, Action(ATTACH, ring, atom, f_type))) for atom in free}
    assert len(kids) == 3
    assert len({mdp.to_smiles(mdp.step(fb, Action(ATTACH, ring, a, f_type))) for a in free}) == 3
    assert sorted(len(mdp.equivalent_actions(fb, Action(ATTACH, ring, a, f_type))) for a in free) == [1, 2, 2, 2, 2]


def _brute_force_molecules(lib: BlockLibrary, max_blocks: int) -> set[str]:
    """Every molecule buildable directly with RDKit: join blocks by single bonds at attachment atoms."""
    blocks = [(Chem.MolFromSmiles(s.smiles), Counter(s.attachments)) for s in lib.specs]
    out: set[str] = set()

    def grow(mol: Chem.RWMol, caps: dict[int, int], n: int) -> None:
        m = Chem.Mol(mol)
        Chem.SanitizeMol(m)
        out.add(Chem.MolToSmiles(m))
        if n == max_blocks:
            return
        for atom, cap in list(caps.items()):
            if cap <= 0:
                continue
            for bmol, bcaps in blocks:
                for anchor in bcaps:
                    new = Chem.RWMol(mol)
                    off = new.GetNumAtoms()
                    new.InsertMol(bmol)
                    new.AddBond(atom, off + anchor, Chem.BondType.SINGLE)
                    for k in (atom, off + anchor):
                        a = new.GetAtomWithIdx(k)
                        if a.GetNumExplicitHs():
                            a.SetNumExplicitHs(a.GetNumExplicitHs() - 1)
                    new_caps = dict(caps)
                    new_caps[atom] -= 1
                    for x, c in bcaps.items():
                        new_caps[off + x] = c - (x == anchor)
                    grow(new, new_caps, n + 1)

    for bmol, bcaps in blocks:
        grow(Chem.RWMol(bmol), dict(bcaps), 1)
    return out


def test_tiny_library_dag_matches_brute_force(tiny_library: BlockLibrary) -> None:
    mdp = BlockMDP(tiny_library, max_blocks=3)
    dag = enumerate_dag(mdp)
    mols = dag.terminal_molecules()
    assert set(mols) == _brute_force_molecules(tiny_library, 3)
    # recorded in BENCHMARKS.md
    assert (len(dag.states), dag.n_edges, len(mols)) == (406, 765, 405)
    report = decomposition_report(mdp)
    assert report.is_unique


def test_decomposition_report_finds_ambiguous_molecules() -> None:
    lib = library_from_json(
        {
            "blocks": [
                {"smiles": "C", "attachments": [0, 0]},
                {"smiles": "CC", "attachments": [0, 1]},
                {"smiles": "O", "attachments": [0]},
            ]
        }
    )
    report = decomposition_report(BlockMDP(lib, max_blocks=3))
    assert not report.is_unique
    assert report.ambiguous["CC"] == 2  # C–C (two blocks) or CC (one block)
    assert report.ambiguous["CCO"] >= 2


def test_original_library_restricted_anchors() -> None:
    """In the original format only block_r[0] joins a parent; leaf removals that would need another
    anchor are not parents."""
    lib = library_from_json(
        {
            "block_name": {"0": "A", "1": "B"},
            "block_smi": {"0": "C1=CCCCC1", "1": "O"},
            "block_r": {"0": [2, 0], "1": [0]},
        }
    )
    mdp = BlockMDP(lib, max_blocks=3)
    dag = enumerate_dag(mdp)
    for s in dag.states[1:]:
        assert mdp.is_reachable(s)
        for p in mdp.parents(s):
            assert mdp.is_reachable(p.state)
            for a in p.actions:
                assert a in mdp.legal_actions(p.state)


def test_min_and_max_blocks(tiny_library: BlockLibrary) -> None:
    mdp = BlockMDP(tiny_library, max_blocks=2, min_blocks=2)
    s = mdp.step(mdp.initial, Action(PLACE, block=0))
    assert not mdp.can_stop(s)
    s2 = mdp.step(s, next(a for a in mdp.legal_actions(s) if a.kind == ATTACH))
    assert mdp.legal_actions(s2) == [Action(STOP)]
    with pytest.raises(ValueError):
        BlockMDP(tiny_library, max_blocks=2, min_blocks=3)


def test_state_json_roundtrip(tiny_library: BlockLibrary) -> None:
    mdp = BlockMDP(tiny_library, max_blocks=4)
    s = _rollout(mdp, random.Random(3))[-1][0]
    assert State.from_json(s.to_json()) == s


def test_states_are_canonical_representatives(tiny_library: BlockLibrary) -> None:
    """Whatever the build order, the MDP hands out one raw form per canonical state."""
    mdp = BlockMDP(tiny_library, max_blocks=4)
    rng = random.Random(7)
    by_key: dict[str, State] = {}
    for _ in range(200):
        for s, a in _rollout(mdp, rng):
            if a.kind != STOP:
                child = mdp.step(s, a)
                assert by_key.setdefault(mdp.key(child), child) == child


def test_shared_path_helper_is_sane() -> None:
    assert isinstance(shared_dir(), Path)
