"""The block DAG MDP: legal actions, step, parents, canonical keys and molecules (pure Python).

How the MDP keeps sampling proportional to the reward (see ../shared/NOTES.md):

* **Equivalent actions.** Attaching the same block to two symmetric stems (or by two symmetric
  anchor atoms) gives isomorphic children. States are identified by canonical key, and
  :meth:`BlockMDP.equivalent_actions` lists *every* action of a state that reaches the same child, so
  losses and the exact-distribution metric use P_F(s'|s) = Σ over those actions, never one action's
  probability. :meth:`BlockMDP.parents` groups leaf removals by the parent's key, so the uniform
  backward policy is over *distinct* parents; :meth:`BlockMDP.removable_leaves` gives the same
  grouping by leaf node, so a learned backward policy merges removals of equivalent leaves exactly
  as the forward policy merges equivalent actions.
* **Several decompositions.** A molecule that several distinct block trees build (e.g. chains tiled
  by C, CC, CCC) gets probability ∝ n(x)·R(x) from a sampler that is exact over block trees. The MDP
  does not hide this: :func:`gfn.mdp.enumerate.decomposition_report` counts n(x) exactly on
  enumerable libraries, and the exactness metric reports the error per block tree and per molecule.
"""

from __future__ import annotations

from collections import Counter
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


@dataclass(frozen=True)
class LeafGroup:
    """A distinct parent (by canonical key) and every leaf node of the child whose removal gives it."""

    key: str
    leaves: tuple[int, ...]


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
        # canonical states are unique, so (state key, action) determines the whole transition
        self._transition_cache: dict[tuple[str, Action], tuple[State, tuple[Action, ...], int]] = {}
        self._parents_cache: dict[str, tuple[Parent, ...]] = {}
        # by raw state: leaf numbers refer to the state's own node numbering
        self._leaf_groups_cache: dict[State, tuple[LeafGroup, ...]] = {}

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
        return self.canonical(
            State(
                state.frags + (t.fragment,),
                state.edges + ((action.node, action.atom, new, t.anchor),),
                tuple(new_stems),
            )
        )

    def canonical(self, state: State) -> State:
        """The canonical representative of ``state`` (see :func:`state_from_key`); every state the
        MDP hands out is one, so anything computed from a state's raw form (the policy) is a
        function of the canonical state."""
        key = self.key(state)
        out = state_from_key(key)
        out.key = key
        return out

    def equivalent_actions(self, state: State, action: Action) -> list[Action]:
        """All actions of ``state`` whose child has the same canonical key as ``action``'s child."""
        if action.kind == STOP:
            return [action]
        return list(self.transition(state, action)[1])

    def transition(self, state: State, action: Action) -> tuple[State, tuple[Action, ...], int]:
        """(child, every action of ``state`` reaching the child, number of distinct parents of child).

        Every way to reach the child from ``state`` is a leaf of the child whose removal gives a state
        isomorphic to ``state``; the stem it frees is mapped into ``state``'s numbering by its marked
        orbit label (equal labels ⇔ an isomorphism maps one slot onto the other). This covers
        symmetric stems and "twin" leaves that could swap places, with no trial steps.
        """
        cache_key = (self.key(state), action)
        hit = self._transition_cache.get(cache_key)
        if hit is not None:
            return hit
        result = self._transition(state, action)
        if len(self._transition_cache) >= 200_000:
            self._transition_cache.clear()
        self._transition_cache[cache_key] = result
        return result

    def _transition(self, state: State, action: Action) -> tuple[State, tuple[Action, ...], int]:
        child = self.step(state, action)
        into = self._leaf_removals(child)
        n_parents = len({k for k, _, _ in into})
        if action.kind == PLACE:
            return child, (Action(PLACE, block=action.block),), n_parents
        key = self.key(state)
        eq: set[Action] = set()
        for k, raw, raw_action in into:
            if k == key:
                eq.update(self._map_actions(raw, raw_action, state))
        return child, tuple(sorted(eq)), n_parents

    def _map_actions(self, raw: State, action: Action, target: State) -> list[Action]:
        """``raw`` ≅ ``target``: the actions of ``target`` equivalent to ``action`` of ``raw``."""
        if action.kind == PLACE:
            return [action]
        label = stem_orbits(raw, self.syms)[(action.node, action.atom)]
        return [
            Action(ATTACH, n, a, action.block) for (n, a), lab in stem_orbits(target, self.syms).items() if lab == label
        ]

    def _leaf_removals(self, state: State) -> list[tuple[str, State, Action]]:
        """(parent key, raw parent, re-adding action in the raw parent) for every valid leaf removal."""
        return [(k, raw, action) for _, k, raw, action in self._indexed_leaf_removals(state)]

    def _indexed_leaf_removals(self, state: State) -> list[tuple[int, str, State, Action]]:
        """As :meth:`_leaf_removals`, each preceded by the leaf node removed."""
        out = []
        for leaf in self.leaves(state):
            removed = self._remove_leaf(state, leaf)
            if removed is not None:
                out.append((leaf, self.key(removed[0]), removed[0], removed[1]))
        return out

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
        edges = tuple((remap[a], x, remap[b], y) for (a, x, b, y) in state.edges if a != leaf and b != leaf)
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
        return len({k for k, _, _ in self._leaf_removals(state)})

    def parents(self, state: State) -> list[Parent]:
        """Every distinct parent (canonical, by key) with all of its actions that lead to ``state``."""
        key = self.key(state)
        hit = self._parents_cache.get(key)
        if hit is None:
            if len(self._parents_cache) >= 100_000:
                self._parents_cache.clear()
            hit = self._parents_cache[key] = self._parents(state)
        return list(hit)

    def removable_leaves(self, state: State) -> list[LeafGroup]:
        """The leaves of ``state`` that can be removed, grouped by the distinct parent they give.

        Groups are in the order of :meth:`parents` (same keys); leaf numbers refer to ``state``'s own
        node numbering. A learned backward policy scores each leaf and gives parent s the summed
        probability of its group: removals reaching the same canonical parent are one transition.
        """
        hit = self._leaf_groups_cache.get(state)
        if hit is None:
            groups: dict[str, list[int]] = {}
            for leaf, k, _, _ in self._indexed_leaf_removals(state):
                groups.setdefault(k, []).append(leaf)
            hit = tuple(LeafGroup(k, tuple(leaves)) for k, leaves in groups.items())
            if len(self._leaf_groups_cache) >= 100_000:
                self._leaf_groups_cache.clear()
            self._leaf_groups_cache[state] = hit
        return list(hit)

    def _parents(self, state: State) -> tuple[Parent, ...]:
        groups: dict[str, list[tuple[State, Action]]] = {}
        for k, raw, action in self._leaf_removals(state):
            groups.setdefault(k, []).append((raw, action))
        out = []
        for k, items in groups.items():
            canon = state_from_key(k)
            canon.key = k
            actions: set[Action] = set()
            for raw, action in items:
                actions.update(self._map_actions(raw, action, canon))
            out.append(Parent(canon, tuple(sorted(actions))))
        return tuple(out)

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
