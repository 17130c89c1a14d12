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
    """A run's MDP, model and reward, ready to sample; reusable across calls.

    ``checkpoint`` picks the weights (default: the newest checkpoint of ``run_dir``); ``threads``
    overrides the run's torch thread setting (the service's sampling pool runs one thread per process
    and gets its parallelism from processes). torch's thread count is per process, so this sets it for
    the whole process.
    """

    def __init__(
        self,
        run_dir: Path,
        device: str | torch.device = "cpu",
        *,
        checkpoint: Path | None = None,
        threads: int | None = None,
    ) -> None:
        run_file = run_dir / "run.json"
        if not run_file.is_file():
            raise RunError("run", f"{run_dir} is not a molgfn run directory (no run.json)")
        ckpt = checkpoint if checkpoint is not None else latest_checkpoint(run_dir)
        if ckpt is None:
            raise RunError("run", f"{run_dir} has no checkpoint yet")
        resolved = json.loads(run_file.read_text())
        self.cfg = parse_training_config(resolved["training"])
        n_threads = self.cfg.threads if threads is None else threads
        if n_threads:
            torch.set_num_threads(n_threads)
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

    def sample_smiles(self, n: int, seed: int | None = None, batch_size: int = 256) -> list[str | None]:
        """``n`` molecules from the policy (no exploration), unscored: canonical SMILES per sample,
        repeats kept, None where RDKit cannot sanitize the molecule.

        The SMILES comes from the MDP's cache by canonical state key, so a state seen before costs no
        RDKit work.
        """
        return self._draw(n, _generator(seed), batch_size)

    def sample(self, n: int, seed: int | None = None, batch_size: int = 256) -> list[Any]:
        """``n`` scored molecules from the policy (no exploration), repeats kept; a molecule RDKit
        cannot sanitize is replaced by a further sample."""
        gen = _generator(seed)
        out: list[Any] = []
        while len(out) < n:
            smiles = [s for s in self._draw(n - len(out), gen, batch_size) if s is not None]
            out.extend(self.reward_fn(smiles))
        return out[:n]

    def _draw(self, n: int, gen: torch.Generator, batch_size: int) -> list[str | None]:
        """``n`` trajectories' SMILES, in batches of at most ``batch_size``, under
        ``torch.inference_mode`` (no autograd bookkeeping at all)."""
        out: list[str | None] = []
        with torch.inference_mode():
            while len(out) < n:
                trajs = self.sampler.sample(min(batch_size, n - len(out)), gen, for_training=False)
                out.extend(t.smiles for t in trajs)
        return out


def _generator(seed: int | None) -> torch.Generator:
    """A CPU generator seeded with ``seed``, or from OS entropy when None."""
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    return gen


def sample_run(run_dir: Path, n: int, *, seed: int | None = None) -> list[Any]:
    """``n`` scored molecules from the newest checkpoint of ``run_dir`` (see :meth:`LoadedRun.sample`)."""
    if n < 1:
        raise RunError("n", "must be at least 1")
    return LoadedRun(run_dir).sample(n, seed)
