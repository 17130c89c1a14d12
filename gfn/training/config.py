"""Training configuration (the CONFIG of ``molgfn train`` and of ``POST /jobs``): no torch import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gfn.errors import ConfigError

LossName = Literal["tb", "fm", "db", "subtb"]
BackwardPolicy = Literal["uniform", "learned"]
Aggregation = Literal["sum", "mean"]
Message = Literal["mlp", "bilinear"]


class TrainingConfig(BaseModel):
    """How to train: objective, budget, MDP size, exploration, optimiser; unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    loss: LossName = Field(
        "tb", description="Objective: trajectory balance, flow matching, detailed or sub-trajectory balance."
    )
    backward_policy: BackwardPolicy = Field(
        "uniform",
        description="Backward policy P_B of TB, DB and SubTB: uniform over the distinct parents of a "
        "state, or learned (a head scoring each removable leaf block, removals giving the same parent "
        "merged; starts uniform). Flow matching has no P_B and ignores it.",
    )
    steps: int = Field(1000, ge=1, le=10_000_000, description="Optimiser steps.")
    batch_size: int = Field(64, ge=1, le=4096, description="Trajectories sampled per step.")
    max_blocks: int = Field(8, ge=1, le=40, description="Largest molecule, in blocks.")
    min_blocks: int = Field(1, ge=1, le=40, description="Smallest molecule that may stop, in blocks.")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Seed of every random generator.")
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:\d+)?)$", description="cpu or cuda[:N].")
    lr: float = Field(5e-4, gt=0, le=1.0, description="Adam learning rate of the policy.")
    lr_logz: float = Field(5e-2, gt=0, le=10.0, description="Learning rate of log Z (TB).")
    exploration: float = Field(0.05, ge=0, le=1, description="ε of ε-uniform exploration.")
    temperature: float = Field(
        1.0,
        gt=0,
        le=100,
        description="Temperature of the training sampler (logits / T). Below 1 training visits higher-reward "
        "molecules; TB, DB and SubTB learn off-policy, so the trained policy (sampled at T 1) still follows R.",
    )
    replay_fraction: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Fraction of each batch replayed from the buffer of high-reward trajectories (off-policy).",
    )
    replay_capacity: int = Field(1000, ge=1, le=1_000_000, description="Replay buffer size.")
    updates_per_batch: int = Field(
        1,
        ge=1,
        le=16,
        description="Optimiser updates per sampled batch: each reuses the batch's fresh trajectories "
        "with a new draw of replayed ones (more learning per molecule visited, at the cost of time).",
    )
    local_search_rounds: int = Field(
        0,
        ge=0,
        le=16,
        description="Rounds of local search per step (0: off): each sampled molecule is taken back "
        "local_search_depth blocks by the uniform backward policy (also when P_B is learned) and rebuilt "
        "by the forward policy, the better molecule going on to the next round; every rebuilt trajectory "
        "is scored, visited and trained on (off-policy), so a round adds one molecule per fresh trajectory.",
    )
    local_search_depth: int = Field(
        2, ge=1, le=40, description="Blocks removed and rebuilt per local-search round (at least one block is kept)."
    )
    subtb_lambda: float = Field(0.9, gt=0, le=10, description="λ of sub-trajectory balance.")
    fm_epsilon: float = Field(2.5e-5, gt=0, description="ε inside the logs of flow matching.")
    fm_leaf_coef: float = Field(10.0, gt=0, description="Weight of terminal states in flow matching.")
    fm_balanced: bool = Field(
        False,
        description="Flow matching as the paper's code weights it: fm_leaf_coef × the mean over terminal states "
        "+ the mean over the others (false: one mean over all states, terminal ones counted fm_leaf_coef times).",
    )
    hidden: int = Field(128, ge=8, le=2048, description="Width of the flow network.")
    layers: int = Field(3, ge=1, le=12, description="Message-passing layers.")
    aggregation: Aggregation = Field(
        "sum",
        description="How a block combines its bonded neighbours' messages: sum, or mean (the paper's network).",
    )
    message: Message = Field(
        "mlp",
        description="Message along a bond: mlp of the sender's state and both attachment slots, or bilinear "
        "(the paper's network: a rank-1 matrix per bond from the two slots, plus a root term).",
    )
    grad_clip: float = Field(10.0, gt=0, description="Gradient norm clip.")
    checkpoint_every: int = Field(0, ge=0, description="Also checkpoint every N steps (0: by time only).")
    lr_half_life: int = Field(0, ge=0, description="Halve both learning rates every N steps (0: constant).")
    threads: int = Field(
        1,
        ge=0,
        le=256,
        description="Torch CPU threads for this run (0: torch's default). One is fastest when workers share a machine.",
    )

    def model_post_init(self, __context: Any) -> None:
        if self.min_blocks > self.max_blocks:
            raise ValueError("min_blocks must not exceed max_blocks")


def parse_training_config(obj: Mapping[str, Any] | None) -> TrainingConfig:
    """Validate a CONFIG mapping; raise :class:`ConfigError` naming the first bad field."""
    if obj is None:
        obj = {}
    if not isinstance(obj, Mapping):
        raise ConfigError("training", "must be a JSON object")
    try:
        return TrainingConfig.model_validate(dict(obj))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "training"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        raise ConfigError(field, msg) from None
