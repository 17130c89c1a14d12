"""The one place where names in a spec become objects: library, MDP, featurizer, model, reward."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from gfn.chem.blocks import BlockLibrary, load_library
from gfn.featurize import Featurizer
from gfn.mdp.block_mdp import BlockMDP
from gfn.models.mpnn import BlockGraphFlowNet, ModelConfig
from gfn.training.config import TrainingConfig
from gfn.training.objectives import LossSettings


def build_library(library: str | Path | BlockLibrary) -> BlockLibrary:
    return library if isinstance(library, BlockLibrary) else load_library(library)


def build_mdp(library: BlockLibrary, cfg: TrainingConfig) -> BlockMDP:
    return BlockMDP(library, max_blocks=cfg.max_blocks, min_blocks=cfg.min_blocks)


def build_model(featurizer: Featurizer, cfg: TrainingConfig, device: torch.device) -> BlockGraphFlowNet:
    """A fresh model, initialised from ``cfg.seed`` without touching the global RNG."""
    mc = ModelConfig(
        n_fragments=featurizer.n_fragments,
        n_slots=featurizer.n_slots,
        n_types=featurizer.n_types,
        n_initial=featurizer.n_initial,
        hidden=cfg.hidden,
        layers=cfg.layers,
        aggregation=cfg.aggregation,
        message=cfg.message,
        backward_head=cfg.backward_policy == "learned" and cfg.loss != "fm",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = BlockGraphFlowNet(mc)
    return model.to(device)


def build_loss(cfg: TrainingConfig) -> LossSettings:
    return LossSettings(
        name=cfg.loss,
        subtb_lambda=cfg.subtb_lambda,
        fm_epsilon=cfg.fm_epsilon,
        fm_leaf_coef=cfg.fm_leaf_coef,
        fm_balanced=cfg.fm_balanced,
        backward_policy=cfg.backward_policy,
    )


def build_reward(spec: Mapping[str, Any]) -> Any:
    """The reward callable of a RewardSpec (see :mod:`gfn.rewards.compose`)."""
    from gfn.rewards.compose import build_reward as _build

    return _build(dict(spec))


def resolve_device(name: str) -> torch.device:
    from gfn.errors import ConfigError

    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "CUDA requested but not available on this machine")
    return dev
