"""Checkpoints: weights, optimiser, RNG and replay state, written atomically (tmp file + rename)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step_{step:09d}.pt"


def latest_checkpoint(run_dir: Path) -> Path | None:
    files = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    return files[-1] if files else None


def save_checkpoint(run_dir: Path, step: int, payload: dict[str, Any], keep: int = 3) -> Path:
    """Write ``payload`` for ``step``; a crash mid-write never leaves a truncated checkpoint."""
    path = checkpoint_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    for old in sorted(path.parent.glob("step_*.pt"))[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (tensors and plain data only)."""
    data: dict[str, Any] = torch.load(path, map_location=device, weights_only=True)
    return data
