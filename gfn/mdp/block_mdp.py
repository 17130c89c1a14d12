"""The block DAG MDP: legal actions, step, parents, canonical keys and molecules (pure Python).

How the MDP keeps sampling proportional to the reward (see ../shared/NOTES.md):

* **Equivalent actions.** Attaching the same block to two symmetric stems (or by two symmetric
  anchor atoms) gives isomorphic children. States are identified by canonical key, and
  :meth:`BlockMDP.equivalent_actions` lists *every* action of a state that reaches the same child, so
  losses and the exact-distribution metric use P_F(s'|s) = Σ over those actions, never one action's
  probability. :meth:`BlockMDP.parents` groups leaf removals by the parent's key, so the uniform
  backward policy is over *distinct* parents.
* **Several decompositions.** A molecule that several distinct block trees build (e.g. chains tiled
  by C, CC, CCC) gets probability ∝ n(x)·R(x) from a sampler that is exact over block trees. The MDP
  does not hide this: :func:`gfn.mdp.enumerate.decomposition_report` counts n(x) exactly on
  enumerable libraries, and the exactness metric reports the error per block tree and per molecule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from rdkit import Chem

from gfn.chem.blocks import BlockLibrary
from gfn.mdp.canonical import canonical_key, state_from_key, stem_orbits
from gfn.mdp.state import ATTACH, PLACE, STOP, STOP_ACTION, Action, State


@dataclass(frozen=True)
class Parent:
    """A distinct parent state and every action of it that leads to the child."""

    state: State
    actions: tuple[Action, ...]


class BlockMDP:
    """Block-tree MDP over a :class:`BlockLibrary` with ``min_blocks`` ≤ size ≤ ``max_blocks``."""

    def __init__(self, library: BlockLibrary, max_blocks: int = 8, min_blocks: int = 1) -> None:
        if max_blocks < 1:
            raise ValueError("max_blocks must be at least 1")
        if not 1 <= min_blocks <= max_blocks:
            raise ValueError("min_blocks must be between 1 and max_blocks")
        self.library = library
        self.max_blocks = max_blocks
        self.min_blocks = min_blocks
        self.syms = library.symmetries
        self.initial = State()
        self.initial.key = ""
        self._restricted = any(s.anchor is not None for s in library.specs)
        self._types_by_frag: dict[int, list[int]] = {}
        for t in library.block_types:
            self._types_by_frag.setdefault(t.fragment, []).append(t.index)
        self._smiles_cache: dict[str, str | None] = {}

    # ----------------------------------------------------------------- identity
    def key(self, state: State) -> str:
        """Canonical key (cached on the state)."""
        if state.key is None:
            state.key = canonical_key(state, self.syms)
        return state.key

    # ------------------------------------------------------------------ actions
    def stem_slots(self, state: State) -> list[tuple[int, int]]:
        """Distinct free stems (node, atom); copies of one atom are one slot (equivalent actions)."""
        return [(i, a) for i, stems in enumerate(state.stems) for a in sorted(set(stems))]

    def can_attach(self, state: State) -> bool:
        return 0 < state.n_blocks < self.max_blocks and any(state.stems)

    def can_stop(self, state: State) -> bool:
        """Stopping needs ≥ min_blocks, unless nothing else is possible (no free stem left)."""
        n = state.n_blocks
        return n >= 1 and (n >= self.min_blocks or not self.can_attach(state))

    def legal_actions(self, state: State) -> list[Action]:
        if state.n_blocks == 0:
            return [Action(PLACE, block=i) for i in range(self.library.n_initial)]
        actions = [STOP_ACTION] if self.can_stop(state) else []
        if self.can_attach(state):
            n_types = self.library.n_block_types
            for node, atom in self.stem_slots(state):
                actions.extend(Action(ATTACH, node, atom, t) for t in range(n_types))
        return actions

    def step(self, state: State, action: Action) -> State:
        """The child state (``action`` must not be STOP: stopping ends the episode at ``state``)."""
        if action.kind == PLACE:
            if state.n_blocks:
                raise ValueError("PLACE is only legal in the empty state")
            b = self.library.initial_blocks[action.block]
            return self.canonical(State((b.fragment,), (), (b.stems,)))
        if action.kind != ATTACH:
            raise ValueError(f"cannot step with {action!r}")
        if state.n_blocks >= self.max_blocks:
            raise ValueError("max_blocks reached")
        stems = list(state.stems[action.node])
        try:
            stems.remove(action.atom)
        except ValueError:
            raise ValueError(f"{action!r}: no free stem at that atom") from None
        t = self.library.block_types[action.block]
        new = state.n_blocks
        new_stems = list(state.stems)
        new_stems[action.node] = tuple(stems)
        new_stems.append(t.stems)
        return self.canonical(State(
            state.frags + (t.fragment,),
            state.edges + ((action.node, action.atom, new, t.anchor),),
            tuple(new_stems),
        ))

    def canonical(self, state: State) -> State:
        """The canonical representative of ``state`` (see :func:`state_from_key`); every state the
        MDP hands out is one, so anything computed from a state's raw form (the policy) is a
        function of the canonical state."""
        key = self.key(state)
        out = state_from_key(key)
        out.key = key
        return out

    def equivalent_actions(self, state: State, action: Action) -> list[Action]:
        """All actions of ``state`` whose child has the same canonical key as ``action``'s child.

        Only actions adding a block of the same fragment can qualify (isomorphic trees have the
        same multiset of fragments), which keeps this to a few key computations.
        """
        if action.kind == STOP:
            return [action]
        target = self.key(self.step(state, action))
        if action.kind == PLACE:
            frag = self.library.initial_blocks[action.block].fragment
            return [
                Action(PLACE, block=b.index)
                for b in self.library.initial_blocks
                if b.fragment == frag and self.key(self.step(state, Action(PLACE, block=b.index))) == target
            ]
        t = self.library.block_types[action.block]
        orbits = stem_orbits(state, self.syms)
        by_orbit: dict[str, list[tuple[int, int]]] = {}
        for slot, label in orbits.items():
            by_orbit.setdefault(label, []).append(slot)
        # Symmetric stems (one orbit) always give isomorphic children. Different orbits can only do
        # so when the state already holds a "twin" leaf of the same fragment that the new block
        # could swap places with; only then compare child keys.
        same = by_orbit[orbits[(action.node, action.atom)]]
        out = [Action(ATTACH, node, atom, action.block) for node, atom in same]
        if state.n_blocks == 1 or self._has_twin_leaf(state, t.fragment, len(t.stems)):
            # the twin may also be re-added through another block type of the same fragment
            for other in self._types_by_frag[t.fragment]:
                for slots in by_orbit.values():
                    if other == action.block and slots is same:
                        continue
                    node, atom = slots[0]
                    if self.key(self.step(state, Action(ATTACH, node, atom, other))) == target:
                        out.extend(Action(ATTACH, n, a, other) for n, a in slots)
        return out

    def _has_twin_leaf(self, state: State, frag: int, n_stems: int) -> bool:
        return any(
            state.frags[leaf] == frag and len(state.stems[leaf]) == n_stems for leaf in self.leaves(state)
        )

    # ------------------------------------------------------------------ parents
    def _remove_leaf(self, state: State, leaf: int) -> tuple[State, Action] | None:
        """Parent by removing ``leaf`` and the action that re-adds it, or None if no block type does."""
        lib = self.library
        if state.n_blocks == 1:
            idx = lib.initial_index.get((state.frags[0], state.stems[0]))
            return None if idx is None else (self.initial, Action(PLACE, block=idx))
        (edge,) = [e for e in state.edges if leaf in (e[0], e[2])]
        u, au, v, av = edge
        other, other_atom, leaf_atom = (u, au, av) if v == leaf else (v, av, au)
        t = lib.type_index.get((state.frags[leaf], leaf_atom, state.stems[leaf]))
        if t is None:
            return None
        remap = [i - (i > leaf) for i in range(state.n_blocks)]
        frags = tuple(f for i, f in enumerate(state.frags) if i != leaf)
        edges = tuple(
            (remap[a], x, remap[b], y) for (a, x, b, y) in state.edges if a != leaf and b != leaf
        )
        stems = [s for i, s in enumerate(state.stems) if i != leaf]
        o = remap[other]
        stems[o] = tuple(sorted(stems[o] + (other_atom,)))
        parent = State(frags, edges, tuple(stems))
        if self._restricted and not self.is_reachable(parent):
            return None
        # the re-adding action is expressed in the canonical parent by equivalence, in parents()
        return parent, Action(ATTACH, o, other_atom, t)

    def is_reachable(self, state: State) -> bool:
        """Whether some action sequence builds ``state`` (always, unless anchors are restricted)."""
        n = state.n_blocks
        if n == 0 or not self._restricted:
            return True
        lib = self.library
        nb = state.neighbors()
        full = [tuple(sorted(state.stems[i] + tuple(a for _, a, _ in nb[i]))) for i in range(n)]
        for root in range(n):
            if (state.frags[root], full[root]) not in lib.initial_index:
                continue
            ok = True
            stack = [(root, -1)]
            while stack and ok:
                x, px = stack.pop()
                for w, _ax, aw in nb[x]:
                    if w == px:
                        continue
                    rest = list(full[w])
                    rest.remove(aw)
                    if (state.frags[w], aw, tuple(rest)) not in lib.type_index:
                        ok = False
                        break
                    stack.append((w, x))
            if ok:
                return True
        return False

    def leaves(self, state: State) -> list[int]:
        if state.n_blocks <= 1:
            return list(range(state.n_blocks))
        deg = Counter([e[0] for e in state.edges] + [e[2] for e in state.edges])
        return [i for i in range(state.n_blocks) if deg[i] == 1]

    def n_parents(self, state: State) -> int:
        """Number of distinct parent states (the uniform backward policy is 1 / this)."""
        keys = set()
        for leaf in self.leaves(state):
            removed = self._remove_leaf(state, leaf)
            if removed is not None:
                keys.add(self.key(removed[0]))
        return len(keys)

    def parents(self, state: State) -> list[Parent]:
        """Every distinct parent (by canonical key) with all of its actions that lead to ``state``."""
        groups: dict[str, tuple[State, Action]] = {}
        for leaf in self.leaves(state):
            removed = self._remove_leaf(state, leaf)
            if removed is None:
                continue
            parent, action = removed
            groups.setdefault(self.key(parent), (parent, action))
        out = []
        for p, a in groups.values():
            canon = self.canonical(p)
            if canon == p:
                actions = self.equivalent_actions(p, a)
            else:  # the same stem in the canonical parent's numbering: equal marked-orbit label
                label = stem_orbits(p, self.syms)[(a.node, a.atom)]
                node, atom = next(sl for sl, lab in stem_orbits(canon, self.syms).items() if lab == label)
                actions = self.equivalent_actions(canon, Action(ATTACH, node, atom, a.block))
            out.append(Parent(canon, tuple(actions)))
        return out

    # --------------------------------------------------------------- molecules
    def to_mol(self, state: State) -> Chem.Mol | None:
        """The molecule (free stems become hydrogens); None if RDKit cannot sanitize it."""
        if state.n_blocks == 0:
            return None
        lib = self.library
        mol = Chem.RWMol()
        offsets = []
        for f in state.frags:
            offsets.append(mol.GetNumAtoms())
            mol.InsertMol(lib.fragment_mol(f))
        for u, au, v, av in state.edges:
            i, j = offsets[u] + au, offsets[v] + av
            mol.AddBond(i, j, Chem.BondType.SINGLE)
            for k in (i, j):
                atom = mol.GetAtomWithIdx(k)
                if atom.GetNumExplicitHs() > 0:
                    atom.SetNumExplicitHs(atom.GetNumExplicitHs() - 1)
        try:
            out = mol.GetMol()
            Chem.SanitizeMol(out)
        except Exception:  # noqa: BLE001 - RDKit raises several exception types on bad valence
            return None
        return out

    def to_smiles(self, state: State) -> str | None:
        """Canonical RDKit SMILES of the state's molecule (cached by canonical key)."""
        key = self.key(state)
        if key not in self._smiles_cache:
            if len(self._smiles_cache) > 500_000:
                self._smiles_cache.clear()
            mol = self.to_mol(state)
            self._smiles_cache[key] = None if mol is None else Chem.MolToSmiles(mol)
        return self._smiles_cache[key]

    # --------------------------------------------------------------- traversal
    def children(self, state: State) -> Iterator[tuple[Action, State]]:
        """(action, child) for every non-stop legal action."""
        for a in self.legal_actions(state):
            if a.kind != STOP:
                yield a, self.step(state, a)
