"""Functions run inside the sampling pool's child processes (where torch may be imported).

This module itself imports nothing heavy, so the API process can reference these functions (to
pickle them by name) without importing torch. Results are plain dicts and lists.
"""

from __future__ import annotations

import logging
import math
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def init_child() -> None:
    """Pool initializer: log warnings to stderr with the child's pid."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s [pool %(process)d] %(name)s: %(message)s")


def warm() -> int:
    """Import the heavy modules (torch, the sampler) so the first real task is fast; returns the pid."""
    import gfn.sampling.run  # noqa: F401

    return os.getpid()


def finite(value: Any) -> float | None:
    """``value`` as a float, or None when missing, NaN or infinite (JSON has no NaN)."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def scored_to_dict(m: Any) -> dict[str, Any]:
    """A ``ScoredMolecule`` as plain data (non-finite numbers become None)."""
    comps = getattr(m, "components", None) or {}
    reward = finite(getattr(m, "reward", None))
    return {
        "smiles": getattr(m, "smiles", None),
        "reward": reward,
        "components": {str(k): finite(v) for k, v in dict(comps).items()},
        "valid": bool(getattr(m, "valid", True)) and reward is not None,
    }


class _RunCache:
    """Loaded runs (model, MDP, reward) kept warm in a pool child, reloaded when a newer checkpoint
    appears (the job may still be training); the least recently used is dropped beyond ``max_runs``."""

    def __init__(self, max_runs: int = 8) -> None:
        self.max_runs = max_runs
        self._runs: OrderedDict[str, Any] = OrderedDict()

    def get(self, run_dir: str) -> Any:
        from gfn.sampling.run import LoadedRun
        from gfn.training.checkpoint import latest_checkpoint

        run = self._runs.get(run_dir)
        newest = latest_checkpoint(Path(run_dir))
        if run is None or (newest is not None and newest != run.checkpoint):
            run = LoadedRun(Path(run_dir))
        self._runs[run_dir] = run
        self._runs.move_to_end(run_dir)
        while len(self._runs) > self.max_runs:
            self._runs.popitem(last=False)
        return run


_RUNS = _RunCache()


def sample(run_dir: str, n: int, seed: int | None = None) -> dict[str, Any]:
    """``n`` molecules sampled from the run's newest checkpoint and scored with the run's reward.

    The per-molecule RDKit work is done here too, once per distinct molecule, to keep it off the
    API process: canonical SMILES (the storage key), InChIKey and Morgan fingerprint (binary text).
    Returns ``{"checkpoint_step", "n_sampled", "n_invalid", "molecules": [{"smiles", "reward",
    "components", "count", "inchikey", "fp"}]}``. The loaded run stays warm for the next call.
    """
    from gfn.errors import RunError

    if n < 1:
        raise RunError("n", "must be at least 1")
    run = _RUNS.get(run_dir)
    scored = [scored_to_dict(m) for m in run.sample(n, seed)]
    distinct: dict[str, dict[str, Any]] = {}
    invalid = 0
    for m in scored:
        if not m["valid"] or not m["smiles"]:
            invalid += 1
            continue
        entry = distinct.get(m["smiles"])
        if entry is None:
            entry = distinct[m["smiles"]] = dict(m, count=0)
        entry["count"] += 1
    molecules: dict[str, dict[str, Any]] = {}
    for smiles, m in distinct.items():
        info = describe(smiles)
        if info is None:
            invalid += m["count"]
            continue
        key = info["smiles"]
        if key in molecules:  # two spellings of one molecule
            molecules[key]["count"] += m["count"]
            continue
        molecules[key] = {**m, **info}
    return {
        "checkpoint_step": int(run.step),
        "n_sampled": len(scored),
        "n_invalid": invalid,
        "molecules": list(molecules.values()),
    }


def describe(smiles: str) -> dict[str, Any] | None:
    """Canonical SMILES, InChIKey and Morgan fingerprint (binary text) of a SMILES; None if invalid."""
    from rdkit import Chem

    from app.services import chem

    mol = chem.mol_from_smiles(smiles)
    if mol is None:
        return None
    return {
        "smiles": Chem.MolToSmiles(mol),
        "inchikey": chem.mol_inchikey(mol),
        "fp": chem.mol_fingerprint(mol).ToBinary(),
    }


def score(spec: Mapping[str, Any], smiles: Sequence[str]) -> list[dict[str, Any]]:
    """Score SMILES with ``gfn.rewards.compose.score_smiles`` (for specs whose components need torch)."""
    from gfn.rewards.compose import score_smiles
    from gfn.rewards.spec import parse_reward_spec

    return [scored_to_dict(m) for m in score_smiles(parse_reward_spec(spec), list(smiles))]
