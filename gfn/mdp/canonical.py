"""Canonical keys of block trees, up to isomorphism *and* fragment symmetry.

Two states get the same key iff some tree isomorphism, combined with per-node fragment automorphisms
(those that preserve the library's block types, see ``BlockLibrary.symmetries``), maps one onto the
other: same fragments, same bonds between the same (symmetry-equivalent) attachment atoms, same free
stems. That is AHU tree canonisation: a rooted subtree's code is the minimum, over the fragment's
symmetries g, of (fragment, g(atom to parent), g(free stems), sorted (g(atom to child), child code));
the tree's code is the minimum over its one or two centres. Codes are strings built so that
distinct structures never print alike, so string order is a valid total order.
"""

from __future__ import annotations

from collections.abc import Sequence

from gfn.mdp.state import State

Symmetries = Sequence[Sequence[Sequence[int]]]


def _centers(n: int, nb: list[list[tuple[int, int, int]]]) -> list[int]:
    if n <= 2:
        return list(range(n))
    degree = [len(x) for x in nb]
    leaves = [i for i in range(n) if degree[i] <= 1]
    remaining = n
    while remaining > 2:
        remaining -= len(leaves)
        new_leaves = []
        for leaf in leaves:
            for w, _, _ in nb[leaf]:
                degree[w] -= 1
                if degree[w] == 1:
                    new_leaves.append(w)
            degree[leaf] = 0
        leaves = new_leaves
    return leaves


def _code(
    v: int, parent: int, parent_atom: int, state: State, nb: list[list[tuple[int, int, int]]], syms: Symmetries
) -> str:
    children = [(av, _code(w, v, aw, state, nb, syms)) for w, av, aw in nb[v] if w != parent]
    return _min_code(state.frags[v], parent_atom, state.stems[v], children, syms, -1)


def stem_orbits(state: State, syms: Symmetries) -> dict[tuple[int, int], str]:
    """A label per free stem slot (node, atom): equal labels iff some automorphism of the state maps
    one slot onto the other. One memoised pass: the code of the tree rooted at the slot's node with
    the slot's atom marked."""
    nb = state.neighbors()
    memo: dict[tuple[int, int], str] = {}

    def sub(w: int, p: int, aw: int) -> str:
        k = (w, p)
        if k not in memo:
            kids = [(a, sub(x, w, ax)) for x, a, ax in nb[w] if x != p]
            memo[k] = _min_code(state.frags[w], aw, state.stems[w], kids, syms, -1)
        return memo[k]

    out: dict[tuple[int, int], str] = {}
    for v, stems in enumerate(state.stems):
        if not stems:
            continue
        kids = [(a, sub(x, v, ax)) for x, a, ax in nb[v]]
        for atom in set(stems):
            out[(v, atom)] = _min_code(state.frags[v], -1, stems, kids, syms, atom)
    return out


def _min_code(
    frag: int,
    parent_atom: int,
    stems: Sequence[int],
    kids: list[tuple[int, str]],
    syms: Symmetries,
    marked: int,
) -> str:
    group = syms[frag]
    if len(group) == 1:  # no symmetry: the identity is the only candidate
        k = sorted(f"{a}>{c}" for a, c in kids)
        return (
            f"({frag}|{parent_atom if parent_atom >= 0 else '-'}|{sorted(stems)}|{','.join(k)}"
            f"{'|*' + str(marked) if marked >= 0 else ''})"
        )
    best = None
    for g in group:
        k = sorted(f"{g[a]}>{c}" for a, c in kids)
        s = sorted(g[x] for x in stems)
        code = (
            f"({frag}|{g[parent_atom] if parent_atom >= 0 else '-'}|{s}|{','.join(k)}"
            f"{'|*' + str(g[marked]) if marked >= 0 else ''})"
        )
        if best is None or code < best:
            best = code
    assert best is not None
    return best


def canonical_key(state: State, syms: Symmetries) -> str:
    """The canonical key of ``state``; ``""`` for the empty state."""
    n = len(state.frags)
    if n == 0:
        return ""
    nb = state.neighbors()
    return min(_code(c, -1, -1, state, nb, syms) for c in _centers(n, nb))


def state_from_key(key: str) -> State:
    """The canonical representative of a key: nodes in the code's depth-first order, atoms as the
    minimising symmetry mapped them. Every state with this key gets exactly this representation, so a
    policy evaluated on it is a function of the canonical state (no dependence on build order)."""
    if not key:
        return State()
    frags: list[int] = []
    stems: list[tuple[int, ...]] = []
    edges: list[tuple[int, int, int, int]] = []
    pos = 0

    def node(parent: int, parent_side_atom: int) -> None:
        nonlocal pos
        assert key[pos] == "("
        end = key.index("|", pos)
        frag = int(key[pos + 1 : end])
        p2 = key.index("|", end + 1)
        own_parent_atom = key[end + 1 : p2]
        p3 = key.index("]", p2 + 1)
        stem_text = key[p2 + 2 : p3]
        me = len(frags)
        frags.append(frag)
        stems.append(tuple(int(x) for x in stem_text.split(", ")) if stem_text else ())
        if parent >= 0:
            edges.append((parent, parent_side_atom, me, int(own_parent_atom)))
        pos = p3 + 2  # skip "]|"
        while key[pos] != ")":
            if key[pos] == ",":
                pos += 1
            arrow = key.index(">", pos)
            atom = int(key[pos:arrow])
            pos = arrow + 1
            node(me, atom)
        pos += 1

    node(-1, -1)
    return State(tuple(frags), tuple(edges), tuple(stems))
