"""A worker SIGKILLed mid-training on PostgreSQL: the job is reclaimed after the heartbeat timeout,
resumes from its last committed checkpoint (not step 0), finishes, and its molecules are neither
lost nor counted twice: the stored (smiles, times_sampled) equal those of the same job (same seed)
run without a crash."""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db.migrate import upgrade
from app.db.models import Checkpoint, Job, JobMetric, Molecule, utcnow
from app.db.session import Database
from app.main import create_app
from app.schemas.libraries import EXAMPLE_LIBRARY
from app.settings import Settings
from tests.reliability.workers import TINY_TRAINING, start_worker, stop, wait_until, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SPEC = {"components": [{"name": "qed"}]}
STEPS, EVERY = 120, 5


def _job(db: Database, job_id: str) -> Job:
    with db.read() as s:
        job = s.get(Job, job_id)
    assert job is not None
    return job


def _molecules(db: Database, job_id: str) -> dict[str, int]:
    with db.read() as s:
        rows = s.execute(select(Molecule.smiles, Molecule.times_sampled).where(Molecule.job_id == job_id)).all()
    out = {smi: n for smi, n in rows}
    assert len(out) == len(rows), "one row per (job, smiles)"
    return out


def test_sigkilled_worker_job_resumes_from_checkpoint_without_loss_or_duplicates(
    pg_url: str, tmp_path: Path, settings_factory: Callable[..., Settings]
) -> None:
    upgrade(pg_url)
    # a report every step: with one every 0.2 s, a step of ~40 ms (a quiet machine) phase-locks the
    # reports to the checkpoints every 5 steps, and "past the last checkpoint" is never seen
    env = worker_env(tmp_path, pg_url, MOLGFN_PROGRESS_EVERY_S="0.001")
    db = Database(pg_url)
    app = create_app(settings_factory(pg_url, data_dir=tmp_path / "data"))
    training = TINY_TRAINING | {"steps": STEPS, "seed": 7, "checkpoint_every": EVERY}
    first = start_worker(env, tmp_path / "w1.log")
    second = None
    try:
        with TestClient(app) as client:
            lib = client.post("/libraries", json={"name": "tiny", "library": EXAMPLE_LIBRARY}).json()["id"]
            body = {"reward": SPEC, "library": lib, "training": training}
            r = client.post("/jobs", json=body)
            assert r.status_code == 202, r.text
            job_id = r.json()["id"]

            # kill between two checkpoints, after at least two of them
            def mid_interval() -> Job | None:
                j = _job(db, job_id)
                # progress lands every few steps, so ask only for "past the last checkpoint"
                ok = j.checkpoint_step is not None and j.checkpoint_step >= 2 * EVERY and j.step > j.checkpoint_step
                return j if ok else None

            wait_until(mid_interval, 420, "two checkpoints and a step past the next", every=0.01)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            killed_at: datetime = utcnow()
            at_kill = _job(db, job_id)
            mols_at_kill = _molecules(db, job_id)
            assert at_kill.status == "running" and at_kill.step < STEPS
            committed = at_kill.checkpoint_step
            assert committed is not None and at_kill.step > committed
            with db.read() as s:
                ckpt_rows = set(s.scalars(select(Checkpoint.step).where(Checkpoint.job_id == job_id)))
            assert committed in ckpt_rows

            second = start_worker(env, tmp_path / "w2.log")
            done = wait_until(
                lambda: (j := _job(db, job_id)).status in ("succeeded", "failed") and j, 180, "the resumed job"
            )
            assert done.status == "succeeded", done.error
            assert done.attempts == 2 and done.step == STEPS and done.checkpoint_step == STEPS

            # resumed from the committed checkpoint: the new attempt's first report is past it, none before
            with db.read() as s:
                resumed_steps = list(
                    s.scalars(
                        select(JobMetric.step)
                        .where(JobMetric.job_id == job_id, JobMetric.created_at > killed_at)
                        .order_by(JobMetric.id)
                    )
                )
            assert resumed_steps and min(resumed_steps) > committed, (committed, resumed_steps[:5])
            assert min(resumed_steps) <= committed + EVERY
            log2 = (tmp_path / "w2.log").read_text()
            assert f"claimed job {job_id}" in log2

            # nothing lost: every molecule stored at the kill is still there, with at least its count
            mols = _molecules(db, job_id)
            assert all(mols.get(smi, 0) >= n for smi, n in mols_at_kill.items())

            # nothing counted twice: identical to the same job run once, uninterrupted, by worker 2
            r = client.post("/jobs", json=body)
            ref_id = r.json()["id"]
            ref = wait_until(
                lambda: (j := _job(db, ref_id)).status in ("succeeded", "failed") and j, 180, "the reference job"
            )
            assert ref.status == "succeeded" and ref.attempts == 1
            ref_mols = _molecules(db, ref_id)
            assert mols == ref_mols
            assert sum(mols.values()) <= STEPS * TINY_TRAINING["batch_size"]
            with db.read() as s:
                dups = s.execute(
                    select(Molecule.job_id, Molecule.smiles)
                    .group_by(Molecule.job_id, Molecule.smiles)
                    .having(func.count() > 1)
                ).all()
            assert dups == []
    finally:
        for proc in (first, second):
            if proc is not None:
                stop(proc)
        db.dispose()
