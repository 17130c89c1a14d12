"""The only bridge from MDP states to tensors: a batch of states → a block-graph batch.

Nodes are blocks (fragment id); each directed edge carries the attachment atom on each side as
"slot" ids (one id per (fragment, atom)); each free stem slot is a row of ``stem_*``. Every state's
forward actions live in one flat logit vector, laid out as

    [stop of state 0..B-1] [place 0..I-1 of each empty state] [T block types of each stem slot]

so that a per-state log-softmax is a scatter over ``owner`` and an action maps to a flat index with
:meth:`GraphBatch.action_index`.

With ``backward=True`` the batch also carries each state's backward choices (for a learned P_B): one
``leaf_*`` row per removable leaf block, grouped into one row per *distinct* parent (the groups of
:meth:`BlockMDP.removable_leaves`); a parent maps to its group row with :meth:`GraphBatch.parent_index`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from gfn.mdp.block_mdp import BlockMDP
from gfn.mdp.state import ATTACH, PLACE, STOP, Action, State


@dataclass
class GraphBatch:
    n_states: int
    node_frag: torch.Tensor  # [N] fragment id
    node_batch: torch.Tensor  # [N] state of each node
    edge_index: torch.Tensor  # [2, E] both directions
    edge_slots: torch.Tensor  # [E, 2] (slot at source, slot at target)
    stem_node: torch.Tensor  # [S] node of each free stem slot
    stem_slot: torch.Tensor  # [S] slot id
    stem_batch: torch.Tensor  # [S] state of each stem slot
    empty: torch.Tensor  # [B] bool: the initial state
    stop_allowed: torch.Tensor  # [B] bool
    n_types: int
    n_initial: int
    # python-side lookups for action → flat index
    _stem_pos: list[dict[tuple[int, int], int]]
    _empty_pos: list[int]
    _stem_info: list[tuple[int, int]]  # (node, atom) of each stem row
    _n_empty: int
    # backward choices, filled only with ``Featurizer(..., backward=True)``
    leaf_node: torch.Tensor = field(default_factory=lambda: _empty_long())  # [L] node of each removable leaf
    leaf_batch: torch.Tensor = field(default_factory=lambda: _empty_long())  # [L] state of each leaf
    leaf_group: torch.Tensor = field(default_factory=lambda: _empty_long())  # [L] its distinct-parent row
    group_batch: torch.Tensor = field(default_factory=lambda: _empty_long())  # [G] state of each parent row
    _group_pos: list[dict[str, int]] | None = None  # per state: parent key → parent row

    def to(self, device: torch.device | str) -> GraphBatch:
        for name in (
            "node_frag",
            "node_batch",
            "edge_index",
            "edge_slots",
            "stem_node",
            "stem_slot",
            "stem_batch",
            "empty",
            "stop_allowed",
            "leaf_node",
            "leaf_batch",
            "leaf_group",
            "group_batch",
        ):
            setattr(self, name, getattr(self, name).to(device))
        return self

    @property
    def n_empty(self) -> int:
        return self._n_empty

    @property
    def n_groups(self) -> int:
        """Distinct parents over all states (rows of the backward log-probabilities)."""
        return int(self.group_batch.shape[0])

    def parent_index(self, b: int, parent_key: str) -> int:
        """Row of the distinct parent with canonical key ``parent_key`` of state ``b`` (needs a batch
        featurized with ``backward=True``)."""
        if self._group_pos is None:
            raise ValueError("batch was featurized without backward choices (backward=False)")
        return self._group_pos[b][parent_key]

    def action_index(self, b: int, action: Action) -> int:
        """Flat logit index of ``action`` in state ``b``."""
        if action.kind == STOP:
            return b
        if action.kind == PLACE:
            return self.n_states + self._empty_pos[b] * self.n_initial + action.block
        base = self.n_states + self.n_empty * self.n_initial
        return base + self._stem_pos[b][(action.node, action.atom)] * self.n_types + action.block

    def flat_owner(self) -> torch.Tensor:
        """The state owning each flat logit."""
        dev = self.node_frag.device
        empty_idx = torch.nonzero(self.empty, as_tuple=False).flatten()
        return torch.cat(
            [
                torch.arange(self.n_states, device=dev),
                empty_idx.repeat_interleave(self.n_initial),
                self.stem_batch.repeat_interleave(self.n_types),
            ]
        )


def _empty_long() -> torch.Tensor:
    return torch.zeros(0, dtype=torch.long)


class Featurizer:
    """Turns lists of states of one :class:`BlockMDP` into :class:`GraphBatch` es."""

    def __init__(self, mdp: BlockMDP) -> None:
        self.mdp = mdp
        lib = mdp.library
        self.slot_offset: list[int] = []
        total = 0
        for f in lib.fragments:
            self.slot_offset.append(total)
            total += f.n_atoms
        self.n_slots = total
        self.n_fragments = len(lib.fragments)
        self.n_types = lib.n_block_types
        self.n_initial = lib.n_initial
        # the block type's own slot (its anchor), used to embed block types by their attachment
        self.type_frag = torch.tensor([t.fragment for t in lib.block_types], dtype=torch.long)
        self.type_slot = torch.tensor(
            [self.slot_offset[t.fragment] + t.anchor for t in lib.block_types], dtype=torch.long
        )

    def __call__(
        self, states: Sequence[State], device: torch.device | str = "cpu", backward: bool = False
    ) -> GraphBatch:
        """Featurize ``states``; ``backward`` adds the removable leaves grouped by distinct parent."""
        node_frag: list[int] = []
        node_batch: list[int] = []
        src: list[int] = []
        dst: list[int] = []
        slot_src: list[int] = []
        slot_dst: list[int] = []
        stem_node: list[int] = []
        stem_slot: list[int] = []
        stem_batch: list[int] = []
        empty: list[bool] = []
        stop_ok: list[bool] = []
        stem_pos: list[dict[tuple[int, int], int]] = []
        empty_pos: list[int] = []
        stem_info: list[tuple[int, int]] = []
        leaf_node: list[int] = []
        leaf_batch: list[int] = []
        leaf_group: list[int] = []
        group_batch: list[int] = []
        group_pos: list[dict[str, int]] = []
        off = self.slot_offset
        mdp = self.mdp
        n_empty = 0
        for b, s in enumerate(states):
            base = len(node_frag)
            frags = s.frags
            node_frag.extend(frags)
            node_batch.extend([b] * len(frags))
            for u, au, v, av in s.edges:
                su, sv = off[frags[u]] + au, off[frags[v]] + av
                src += (base + u, base + v)
                dst += (base + v, base + u)
                slot_src += (su, sv)
                slot_dst += (sv, su)
            pos: dict[tuple[int, int], int] = {}
            if mdp.can_attach(s):
                for node, stems in enumerate(s.stems):
                    for atom in sorted(set(stems)):
                        pos[(node, atom)] = len(stem_node)
                        stem_info.append((node, atom))
                        stem_node.append(base + node)
                        stem_slot.append(off[frags[node]] + atom)
                        stem_batch.append(b)
            stem_pos.append(pos)
            is_empty = not frags
            empty.append(is_empty)
            empty_pos.append(n_empty if is_empty else -1)
            n_empty += is_empty
            stop_ok.append(mdp.can_stop(s))
            if backward:
                gpos: dict[str, int] = {}
                for group in mdp.removable_leaves(s):
                    gpos[group.key] = len(group_batch)
                    n = len(group.leaves)
                    leaf_node.extend(base + leaf for leaf in group.leaves)
                    leaf_batch.extend([b] * n)
                    leaf_group.extend([len(group_batch)] * n)
                    group_batch.append(b)
                group_pos.append(gpos)
        long = torch.long
        return GraphBatch(
            n_states=len(states),
            node_frag=torch.tensor(node_frag, dtype=long, device=device),
            node_batch=torch.tensor(node_batch, dtype=long, device=device),
            edge_index=torch.tensor([src, dst], dtype=long, device=device).view(2, -1),
            edge_slots=torch.tensor([slot_src, slot_dst], dtype=long, device=device).view(2, -1).t(),
            stem_node=torch.tensor(stem_node, dtype=long, device=device),
            stem_slot=torch.tensor(stem_slot, dtype=long, device=device),
            stem_batch=torch.tensor(stem_batch, dtype=long, device=device),
            empty=torch.tensor(empty, dtype=torch.bool, device=device),
            stop_allowed=torch.tensor(stop_ok, dtype=torch.bool, device=device),
            n_types=self.n_types,
            n_initial=self.n_initial,
            _stem_pos=stem_pos,
            _empty_pos=empty_pos,
            _stem_info=stem_info,
            _n_empty=n_empty,
            leaf_node=torch.tensor(leaf_node, dtype=long, device=device),
            leaf_batch=torch.tensor(leaf_batch, dtype=long, device=device),
            leaf_group=torch.tensor(leaf_group, dtype=long, device=device),
            group_batch=torch.tensor(group_batch, dtype=long, device=device),
            _group_pos=group_pos if backward else None,
        )

    def decode(self, batch: GraphBatch, flat: int) -> Action:
        """The action of state ``b`` at flat index ``flat`` (inverse of ``action_index``)."""
        if flat < batch.n_states:
            return Action(STOP)
        flat -= batch.n_states
        n_place = batch.n_empty * batch.n_initial
        if flat < n_place:
            return Action(PLACE, block=flat % batch.n_initial)
        flat -= n_place
        stem, t = divmod(flat, batch.n_types)
        node, atom = batch._stem_info[stem]
        return Action(ATTACH, node, atom, t)
