"""Reproducibility: the same job (spec, library, training config with a seed) run twice by a worker
gives bit-identical checkpoints (weights, optimiser, RNG, replay buffer, visited set), the same stored
molecules with the same counts, and the same first sample batch from the final checkpoint; another
seed differs (so the comparison can fail)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.db.models import Checkpoint, Job, Molecule
from app.db.session import Database
from app.settings import Settings
from app.worker import Worker
from tests.reliability.workers import TINY_TRAINING

pytestmark = pytest.mark.slow


def _same(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _checkpoints(settings: Settings, job_id: str) -> dict[int, dict[str, Any]]:
    from gfn.training.checkpoint import load_checkpoint

    folder = Path(settings.data_dir) / "jobs" / job_id / "checkpoints"
    return {int(p.stem.removeprefix("step_")): load_checkpoint(p) for p in sorted(folder.glob("step_*.pt"))}


def test_same_seed_same_checkpoints_and_samples(sqlite_url: str, settings_factory: Callable[..., Settings]) -> None:
    import torch

    torch.set_num_threads(1)
    from app.db.migrate import upgrade

    upgrade(sqlite_url)
    settings = settings_factory(sqlite_url, checkpoint_every_s=3600.0)
    db = Database(sqlite_url)
    training = TINY_TRAINING | {"steps": 12, "checkpoint_every": 4}
    ids = []
    for seed in (5, 5, 6):
        ids.append(_insert(db, training | {"seed": seed}))
    worker = Worker(settings, db=db)
    for _ in ids:
        assert worker.run_once()
    with db.read() as s:
        jobs = [s.get(Job, i) for i in ids]
        assert all(j is not None and j.status == "succeeded" for j in jobs), [j and j.error for j in jobs]
        ckpt_rows = [sorted(s.scalars(select(Checkpoint.step).where(Checkpoint.job_id == i))) for i in ids]
        mols = [
            sorted(
                s.execute(
                    select(Molecule.smiles, Molecule.times_sampled, Molecule.first_seen_step).where(
                        Molecule.job_id == i
                    )
                ).all()
            )
            for i in ids
        ]
    assert ckpt_rows[0] == ckpt_rows[1] and ckpt_rows[0][-1] == 12
    a, b, c = (_checkpoints(settings, i) for i in ids)
    assert a.keys() == b.keys() and len(a) >= 2
    for step in a:
        assert _same(a[step], b[step]), f"checkpoint at step {step} differs between identical runs"
    assert not _same(a[12]["model"], c[12]["model"]), "another seed gives other weights"
    assert mols[0] == mols[1] and mols[0] != mols[2]
    first_batch = [m for m in mols[0] if m[2] == 1]
    assert first_batch and first_batch == [m for m in mols[1] if m[2] == 1]

    from app.services import pool_tasks

    batches = [pool_tasks.sample(str(Path(settings.data_dir) / "jobs" / i), 16, seed=0)["molecules"] for i in ids[:2]]
    assert [(m["smiles"], m["count"]) for m in batches[0]] == [(m["smiles"], m["count"]) for m in batches[1]]
    db.dispose()


def _insert(db: Database, training: dict[str, Any]) -> str:
    from app.db.models import utcnow
    from app.services import libraries

    lib = libraries.ensure_default(db)
    with db.write() as s:
        job = Job(
            kind="gflownet",
            status="queued",
            reward_spec={"components": [{"name": "qed"}]},
            training_config=training,
            library_id=lib.id,
            library_hash=lib.content_hash,
            total_steps=int(training["steps"]),
            created_at=utcnow(),
        )
        s.add(job)
        s.flush()
        return job.id
