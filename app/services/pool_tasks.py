"""Functions run inside the sampling pool's child processes (where torch may be imported).

This module itself imports nothing heavy, so the API process can reference these functions (to
pickle them by name) without importing torch. Results are plain dicts and lists.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import Counter, OrderedDict
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
    """Loaded runs (model, MDP, reward) kept warm in a pool child, reloaded when another checkpoint is
    asked for or a newer one appears (the job may still be training); the least recently used is
    dropped beyond ``max_runs``. Reward functions of runs only scored here (not sampled) are kept too,
    without loading the model."""

    def __init__(self, max_runs: int = 8) -> None:
        self.max_runs = max_runs
        self._runs: OrderedDict[str, Any] = OrderedDict()
        self._rewards: OrderedDict[str, Any] = OrderedDict()

    def get(self, run_dir: str, checkpoint: str | None = None) -> Any:
        """The run loaded at ``checkpoint`` (a file name in its ``checkpoints/``; the newest when None
        or when that file is gone), torch limited to one thread: the pool's parallelism is processes."""
        from gfn.sampling.run import LoadedRun
        from gfn.training.checkpoint import latest_checkpoint

        want = Path(run_dir) / "checkpoints" / checkpoint if checkpoint else None
        if want is None or not want.is_file():
            want = latest_checkpoint(Path(run_dir))
        run = self._runs.get(run_dir)
        if run is None or (want is not None and want != run.checkpoint):
            run = LoadedRun(Path(run_dir), checkpoint=want, threads=1)
        _put(self._runs, run_dir, run, self.max_runs)
        return run

    def reward(self, run_dir: str) -> Any:
        """The run's reward function (shared with its loaded run when there is one)."""
        run = self._runs.get(run_dir)
        if run is not None:
            return run.reward_fn
        fn = self._rewards.get(run_dir)
        if fn is None:
            from gfn.errors import RunError
            from gfn.rewards.compose import build_reward

            run_file = Path(run_dir) / "run.json"
            if not run_file.is_file():
                raise RunError("run", f"{run_dir} is not a molgfn run directory (no run.json)")
            fn = build_reward(json.loads(run_file.read_text())["reward"])
        _put(self._rewards, run_dir, fn, self.max_runs)
        return fn


def _put(cache: OrderedDict[str, Any], key: str, value: Any, max_size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > max_size:
        cache.popitem(last=False)


_RUNS = _RunCache()


def sample_molecules(run_dir: str, n: int, checkpoint: str | None = None, seed: int | None = None) -> dict[str, Any]:
    """Phase 1 of a fresh batch: ``n`` trajectories from the run's policy, not yet scored.

    Returns ``{"checkpoint_step", "n_sampled", "n_invalid", "counts": {smiles: times sampled},
    "cpu_s"}`` with the MDP's canonical SMILES (``cpu_s``: this task's CPU time, for the caller's
    timing log). Scoring is a separate task (:func:`describe_molecules`) so that the caller can skip
    molecules it already has scores for and spread the rest over the pool.
    """
    from gfn.errors import RunError

    if n < 1:
        raise RunError("n", "must be at least 1")
    cpu = time.process_time()
    run = _RUNS.get(run_dir, checkpoint)
    drawn = run.sample_smiles(n, seed)
    counts = Counter(s for s in drawn if s)
    return {
        "checkpoint_step": int(run.step),
        "n_sampled": len(drawn),
        "n_invalid": len(drawn) - sum(counts.values()),
        "counts": dict(counts),
        "cpu_s": time.process_time() - cpu,
    }


def describe_molecules(run_dir: str, score: Sequence[str], fingerprint: Sequence[str] = ()) -> dict[str, Any]:
    """Phase 2 of a fresh batch: the per-molecule RDKit work, kept off the API process.

    Each SMILES is parsed once. ``score``: new molecules, scored with the run's reward and described
    by canonical SMILES (the storage key), InChIKey and Morgan fingerprint (binary) — returned as
    ``"scored": [{"input", "smiles", "reward", "components", "valid", "inchikey", "fp"}]`` (``smiles``,
    ``inchikey`` and ``fp`` None when invalid). ``fingerprint``: molecules whose stored score is
    reused, fingerprinted only — returned as ``"fps": {smiles: fp}`` (unparsable ones left out).
    ``"cpu_s"``: this task's CPU time.
    """
    from app.services import chem

    cpu = time.process_time()
    reward_fn = _RUNS.reward(run_dir) if score else None
    mols = [chem.mol_from_smiles(s) for s in score]
    scored: list[dict[str, Any]] = []
    if reward_fn is not None:
        # fingerprint and InChIKey before scoring: they must see the molecule as parsed
        extra = [_describe_mol(m) for m in mols]
        for text, result, info in zip(score, reward_fn.score_mols(mols), extra, strict=True):
            entry = scored_to_dict(result)
            if info is None or not entry["valid"] or not entry["smiles"]:
                entry.update(valid=False, smiles=None, inchikey=None, fp=None)
            else:
                entry.update(info)
            entry["input"] = text
            scored.append(entry)
    fps: dict[str, bytes] = {}
    for text in fingerprint:
        mol = chem.mol_from_smiles(text)
        if mol is not None:
            fps[text] = chem.mol_fingerprint(mol).ToBinary()
    return {"scored": scored, "fps": fps, "cpu_s": time.process_time() - cpu}


def _describe_mol(mol: Any) -> dict[str, Any] | None:
    """InChIKey and Morgan fingerprint (binary) of a parsed molecule; None if not parsed."""
    from app.services import chem

    if mol is None:
        return None
    return {"inchikey": chem.mol_inchikey(mol), "fp": chem.mol_fingerprint(mol).ToBinary()}


def sample(run_dir: str, n: int, seed: int | None = None) -> dict[str, Any]:
    """``n`` trajectories sampled from the run's newest checkpoint, scored and described (both phases
    of a fresh batch in one task, no stored scores reused).

    Returns ``{"checkpoint_step", "n_sampled", "n_invalid", "molecules": [{"smiles", "reward",
    "components", "valid", "count", "inchikey", "fp"}]}``, one entry per distinct valid molecule.
    """
    drawn = sample_molecules(run_dir, n, seed=seed)
    counts: dict[str, int] = drawn["counts"]
    invalid = int(drawn["n_invalid"])
    molecules: dict[str, dict[str, Any]] = {}
    for entry in describe_molecules(run_dir, list(counts))["scored"]:
        count = counts[entry.pop("input")]
        if not entry["valid"]:
            invalid += count
        elif entry["smiles"] in molecules:  # two spellings of one molecule
            molecules[entry["smiles"]]["count"] += count
        else:
            molecules[entry["smiles"]] = dict(entry, count=count)
    return {
        "checkpoint_step": drawn["checkpoint_step"],
        "n_sampled": drawn["n_sampled"],
        "n_invalid": invalid,
        "molecules": list(molecules.values()),
    }


def score(spec: Mapping[str, Any], smiles: Sequence[str]) -> list[dict[str, Any]]:
    """Score SMILES with ``gfn.rewards.compose.score_smiles`` (for specs whose components need torch)."""
    from gfn.rewards.compose import score_smiles
    from gfn.rewards.spec import parse_reward_spec

    return [scored_to_dict(m) for m in score_smiles(parse_reward_spec(spec), list(smiles))]
