"""Sampling from a trained run directory (the CLI's ``molgfn sample`` and the service's samples)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from gfn.build import build_mdp, build_model, build_reward
from gfn.chem.blocks import library_from_json
from gfn.errors import RunError
from gfn.featurize import Featurizer
from gfn.sampling.sampler import Sampler
from gfn.training.checkpoint import latest_checkpoint, load_checkpoint
from gfn.training.config import parse_training_config


class LoadedRun:
    """A run's MDP, model (newest checkpoint) and reward, ready to sample; reusable across calls."""

    def __init__(self, run_dir: Path, device: str | torch.device = "cpu") -> None:
        run_file = run_dir / "run.json"
        if not run_file.is_file():
            raise RunError("run", f"{run_dir} is not a molgfn run directory (no run.json)")
        ckpt = latest_checkpoint(run_dir)
        if ckpt is None:
            raise RunError("run", f"{run_dir} has no checkpoint yet")
        resolved = json.loads(run_file.read_text())
        self.cfg = parse_training_config(resolved["training"])
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        self.device = torch.device(device)
        lib = library_from_json(resolved["library"])
        if lib.content_hash != resolved["library_hash"]:
            raise RunError("run", "the stored block library does not match its recorded hash")
        self.mdp = build_mdp(lib, self.cfg)
        self.featurizer = Featurizer(self.mdp)
        self.model = build_model(self.featurizer, self.cfg, self.device)
        data = load_checkpoint(ckpt, self.device)
        self.model.load_state_dict(data["model"])
        self.model.eval()
        self.step = int(data["step"])
        self.checkpoint = ckpt
        self.reward_fn = build_reward(resolved["reward"])
        self.sampler = Sampler(self.mdp, self.featurizer, self.model, self.device)

    def sample(self, n: int, seed: int | None = None, batch_size: int = 256) -> list[Any]:
        """``n`` scored molecules from the policy (no exploration), repeats kept."""
        gen = torch.Generator()
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(seed)
        out: list[Any] = []
        while len(out) < n:
            trajs = self.sampler.sample(min(batch_size, n - len(out)), gen, for_training=False)
            smiles = [t.smiles for t in trajs if t.smiles is not None]
            out.extend(self.reward_fn(smiles))
        return out[:n]


def sample_run(run_dir: Path, n: int, *, seed: int | None = None) -> list[Any]:
    if n < 1:
        raise RunError("n", "must be at least 1")
    return LoadedRun(run_dir).sample(n, seed)
