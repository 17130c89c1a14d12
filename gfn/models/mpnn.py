"""Flow estimator: an MPNN over the block graph with policy, state-flow and log Z heads, and optionally
a backward-policy head (a score per removable leaf block, see :func:`gfn.models.heads.backward_log_probs`).

The original GFlowNet molecule model used NNConv (edge-conditioned) messages with GRU updates; this
keeps that family — messages are conditioned on the attachment atoms at both ends of a bond, nodes
are updated by a GRU — but computes the message with an MLP on [h_src, slot_src, slot_dst] instead
of materialising a hidden×hidden matrix per edge (same expressiveness for one-hot slot ids, far
cheaper). ``message="bilinear"`` is that model's own message instead: NNConv with an identity edge
network on the outer product of two slot embeddings, i.e. h_j @ (a ⊗ b) = (h_j · a) b, a rank-1 matrix
per bond, plus NNConv's root term.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch_geometric.nn import MessagePassing

from gfn.featurize import GraphBatch


@dataclass(frozen=True)
class ModelConfig:
    n_fragments: int
    n_slots: int
    n_types: int
    n_initial: int
    hidden: int = 128
    layers: int = 3
    aggregation: str = "sum"  # or "mean", over a block's bonded neighbours
    message: str = "mlp"  # or "bilinear", the original model's rank-1 NNConv message
    backward_head: bool = False  # learned P_B: score each removable leaf of a state


def _mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, h), nn.LeakyReLU(), nn.Linear(h, h), nn.LeakyReLU(), nn.Linear(h, o))


class _EdgeConditioned(MessagePassing):
    """m_i = Σ_j MLP([h_j, slot_j, slot_i]) over bonds j→i (``aggregation`` "sum"), or the mean of the
    same terms ("mean", as the original model's NNConv). With ``message`` "bilinear" each term is
    (h_j · A slot_j) B slot_i and m_i also gets a root term W h_i + c, as NNConv with the original model's
    outer-product edge weights."""

    def __init__(self, hidden: int, aggregation: str = "sum", message: str = "mlp") -> None:
        if aggregation not in ("sum", "mean"):
            raise ValueError(f"aggregation must be 'sum' or 'mean', not {aggregation!r}")
        if message not in ("mlp", "bilinear"):
            raise ValueError(f"message must be 'mlp' or 'bilinear', not {message!r}")
        super().__init__(aggr="add" if aggregation == "sum" else "mean")
        self.hidden = hidden
        self.bilinear = message == "bilinear"
        if self.bilinear:
            self.src_proj = nn.Linear(hidden, hidden, bias=False)
            self.dst_proj = nn.Linear(hidden, hidden, bias=False)
            self.root = nn.Linear(hidden, hidden)
        else:
            self.msg = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.LeakyReLU(), nn.Linear(hidden, hidden))

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.propagate(edge_index, h=h, edge_attr=edge_attr)
        return out + self.root(h) if self.bilinear else out

    def message(self, h_j: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        if self.bilinear:
            a = self.src_proj(edge_attr[:, : self.hidden])
            b = self.dst_proj(edge_attr[:, self.hidden :])
            out: torch.Tensor = (h_j * a).sum(-1, keepdim=True) * b
            return out
        return self.msg(torch.cat([h_j, edge_attr], dim=-1))  # type: ignore[no-any-return]


class BlockGraphFlowNet(nn.Module):
    """Outputs per state: flat forward-action logits (see :mod:`gfn.featurize`) and log F(s); with
    ``cfg.backward_head``, also a backward score per removable leaf (:meth:`forward_with_backward`)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.frag_emb = nn.Embedding(cfg.n_fragments, h)
        self.slot_emb = nn.Embedding(cfg.n_slots, h)
        self.convs = nn.ModuleList([_EdgeConditioned(h, cfg.aggregation, cfg.message) for _ in range(cfg.layers)])
        self.gru = nn.GRUCell(h, h)
        self.readout = _mlp(h, h, h)
        self.empty_graph = nn.Parameter(torch.zeros(h))
        self.stem_head = _mlp(3 * h, h, cfg.n_types)
        self.graph_head = _mlp(h, h, 2)  # stop logit, log F(s)
        self.place_head = _mlp(h, h, cfg.n_initial)
        self.log_z = nn.Parameter(torch.zeros(()))
        # created last and only when asked, so the other weights (and old checkpoints) are unchanged
        self.backward_head: nn.Sequential | None = None
        if cfg.backward_head:
            self.backward_head = _mlp(2 * h, h, 1)
            last = self.backward_head[-1]
            assert isinstance(last, nn.Linear)
            nn.init.zeros_(last.weight)  # start from the uniform P_B over distinct parents
            nn.init.zeros_(last.bias)

    def forward(self, g: GraphBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """(flat logits with illegal stops at -inf, log F per state)."""
        h, graph = self._encode(g)
        return self._forward_heads(g, h, graph)

    def forward_with_backward(self, g: GraphBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(flat logits, log F per state, backward score per removable leaf [L]) in one pass; ``g``
        must be featurized with ``backward=True``."""
        if self.backward_head is None:
            raise ValueError("this model has no backward head (backward_policy is not 'learned')")
        h, graph = self._encode(g)
        logits, log_flow = self._forward_heads(g, h, graph)
        leaf_in = torch.cat([h[g.leaf_node], graph[g.leaf_batch]], -1)
        return logits, log_flow, self.backward_head(leaf_in).squeeze(-1)

    def _encode(self, g: GraphBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """(node embeddings [N, h], graph embeddings [B, h])."""
        h = self.frag_emb(g.node_frag)
        # every layer runs even without bonds (isolated nodes get zero messages), so a state's output
        # never depends on what else is in its batch
        edge_attr = torch.cat([self.slot_emb(g.edge_slots[:, 0]), self.slot_emb(g.edge_slots[:, 1])], -1)
        for conv in self.convs:
            h = self.gru(nn.functional.leaky_relu(conv(h, g.edge_index, edge_attr)), h)
        pooled = torch.zeros(g.n_states, h.shape[1], device=h.device, dtype=h.dtype)
        pooled = pooled.index_add(0, g.node_batch, h)
        graph = self.readout(pooled)
        graph = torch.where(g.empty[:, None], self.empty_graph.expand_as(graph), graph)
        return h, graph

    def _forward_heads(self, g: GraphBatch, h: torch.Tensor, graph: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.graph_head(graph)
        stop = out[:, 0].masked_fill(~g.stop_allowed, float("-inf"))
        log_flow = out[:, 1]
        parts = [stop]
        if g.n_empty:
            parts.append(self.place_head(graph[g.empty]).flatten())
        if g.stem_node.numel():
            stem_in = torch.cat([h[g.stem_node], self.slot_emb(g.stem_slot), graph[g.stem_batch]], -1)
            parts.append(self.stem_head(stem_in).flatten())
        return torch.cat(parts), log_flow
