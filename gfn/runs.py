"""The few functions the service and the CLI call: train a run, sample from it, inspect it.

Importing this module is cheap (no torch); the heavy modules are imported inside the functions, so
the API process can import it for validation without pulling in torch.

A *run directory* holds ``run.json`` (the full resolved spec: reward, training config, library JSON
and its content hash), ``library.json`` and ``checkpoints/step_*.pt`` (weights, optimiser, RNG
states). Training resumes from the newest checkpoint to the identical state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gfn.chem.blocks import BlockLibrary


@dataclass(frozen=True)
class VisitedMolecule:
    """A terminal molecule seen during training (canonical SMILES)."""

    smiles: str
    reward: float
    components: dict[str, float]
    step: int  # first step at which it was seen
    count: int = 1  # times sampled since the previous progress report


@dataclass(frozen=True)
class Progress:
    """Reported every few seconds during training (and at the end)."""

    step: int
    total_steps: int
    loss: float
    log_z: float | None
    mean_reward: float
    unique_molecules: int
    trajectories_per_s: float
    new_molecules: tuple[VisitedMolecule, ...] = ()
    checkpoint_step: int | None = None  # set when a checkpoint was saved right before this report
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSummary:
    steps_done: int
    stopped: bool  # True when should_stop() ended training early (after a checkpoint)
    checkpoint: Path | None


def train_run(
    reward_spec: Mapping[str, Any],
    training: Mapping[str, Any],
    library: str | Path | BlockLibrary,
    run_dir: str | Path,
    *,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress_every_s: float = 2.0,
    checkpoint_every_s: float = 30.0,
) -> RunSummary:
    """Train (or resume) the run in ``run_dir``; see :func:`gfn.training.loop.train_run`."""
    from gfn.training.loop import train_run as _train_run

    return _train_run(
        reward_spec,
        training,
        library,
        Path(run_dir),
        progress=progress,
        should_stop=should_stop,
        progress_every_s=progress_every_s,
        checkpoint_every_s=checkpoint_every_s,
    )


def sample_run(run_dir: str | Path, n: int, *, seed: int | None = None) -> list[Any]:
    """``n`` molecules sampled from the run's newest checkpoint, scored with the run's reward.

    Returns :class:`gfn.rewards.compose.ScoredMolecule` items (one per sample, repeats kept).
    """
    from gfn.sampling.run import sample_run as _sample_run

    return _sample_run(Path(run_dir), n, seed=seed)


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether the run directory holds a checkpoint to sample from or resume."""
    d = Path(run_dir) / "checkpoints"
    return d.is_dir() and any(d.glob("step_*.pt"))
