"""States and actions of the block MDP: immutable, hashable, cheap to create.

A state is a tree of placed blocks (every attachment joins a new leaf, so no cycles arise):
``frags[i]`` is node i's fragment, ``edges`` holds ``(u, atom_u, v, atom_v)`` — node v's atom
``atom_v`` is bonded to node u's atom ``atom_u`` — and ``stems[i]`` is node i's multiset of free
attachment atoms (sorted). Node numbering is the construction order; it is *not* part of a state's
identity, which is its canonical key (see :mod:`gfn.mdp.canonical`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

STOP, PLACE, ATTACH = 0, 1, 2


class Action(NamedTuple):
    """``kind`` STOP; PLACE initial block ``block``; ATTACH block type ``block`` to stem (node, atom)."""

    kind: int
    node: int = -1
    atom: int = -1
    block: int = -1

    def __repr__(self) -> str:
        if self.kind == STOP:
            return "Stop"
        if self.kind == PLACE:
            return f"Place({self.block})"
        return f"Attach(type={self.block} -> node {self.node} atom {self.atom})"


STOP_ACTION = Action(STOP)


class State:
    """A block graph; equality and hashing are on the raw representation (use ``key`` for identity)."""

    __slots__ = ("frags", "edges", "stems", "key", "_hash")

    frags: tuple[int, ...]
    edges: tuple[tuple[int, int, int, int], ...]
    stems: tuple[tuple[int, ...], ...]
    key: str | None

    def __init__(
        self,
        frags: tuple[int, ...] = (),
        edges: tuple[tuple[int, int, int, int], ...] = (),
        stems: tuple[tuple[int, ...], ...] = (),
    ) -> None:
        self.frags = frags
        self.edges = edges
        self.stems = stems
        self.key = None  # filled in by the MDP (canonical key)
        self._hash = hash((frags, edges, stems))

    @property
    def n_blocks(self) -> int:
        return len(self.frags)

    def neighbors(self) -> list[list[tuple[int, int, int]]]:
        """Per node: (neighbor, own atom, neighbor's atom)."""
        nb: list[list[tuple[int, int, int]]] = [[] for _ in self.frags]
        for u, au, v, av in self.edges:
            nb[u].append((v, au, av))
            nb[v].append((u, av, au))
        return nb

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, State)
            and self._hash == other._hash
            and self.frags == other.frags
            and self.edges == other.edges
            and self.stems == other.stems
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"State(frags={self.frags}, edges={self.edges}, stems={self.stems})"

    def to_json(self) -> dict[str, list[object]]:
        return {
            "frags": list(self.frags),
            "edges": [list(e) for e in self.edges],
            "stems": [list(s) for s in self.stems],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> State:
        """The inverse of :meth:`to_json`."""
        return cls(
            tuple(int(f) for f in data["frags"]),
            tuple((int(u), int(au), int(v), int(av)) for u, au, v, av in data["edges"]),
            tuple(tuple(int(x) for x in s) for s in data["stems"]),
        )
