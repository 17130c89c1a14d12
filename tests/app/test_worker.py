"""The worker on real databases: progress written, cancellation within seconds, graceful release on
shutdown, failures recorded, lost jobs abandoned.

The trainer here is a small deterministic stand-in passed through ``Worker(train_fn=...)`` (the
constructor's composition point) so that these queue semantics are tested in a second; the real
trainer runs in the end-to-end tests (test_e2e.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from app.db.models import Checkpoint, Job, JobMetric, Molecule, utcnow
from app.db.session import Database
from app.settings import Settings
from app.worker import Worker
from gfn.errors import SpecError
from gfn.runs import Progress, RunSummary, VisitedMolecule

MOLS = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "c1ccncc1", "CCOC"]


class FakeTrainer:
    """Steps through ``training['steps']`` with a delay, reporting progress and molecules every step,
    checkpointing (an empty ``step_N.pt``) every other step and on stop; resumes from the newest."""

    def __init__(self, step_s: float = 0.02, fail_at: int | None = None, exc: Exception | None = None) -> None:
        self.step_s = step_s
        self.fail_at = fail_at
        self.exc = exc or RuntimeError("boom")
        self.started_from: list[int] = []

    def __call__(
        self,
        reward_spec: Mapping[str, Any],
        training: Mapping[str, Any],
        library: Any,
        run_dir: Path,
        *,
        progress: Callable[[Progress], None],
        should_stop: Callable[[], bool],
        progress_every_s: float,
        checkpoint_every_s: float,
    ) -> RunSummary:
        ckpts = run_dir / "checkpoints"
        ckpts.mkdir(parents=True, exist_ok=True)
        done = [int(p.stem.split("_")[1]) for p in ckpts.glob("step_*.pt")]
        step = max(done, default=0)
        self.started_from.append(step)
        total = int(training["steps"])
        last: Path | None = None
        while step < total:
            if should_stop():
                last = ckpts / f"step_{step}.pt"
                last.touch()
                return RunSummary(steps_done=step, stopped=True, checkpoint=last)
            time.sleep(self.step_s)
            step += 1
            if self.fail_at == step:
                raise self.exc
            saved = None
            if step % 2 == 0:
                last = ckpts / f"step_{step}.pt"
                last.touch()
                saved = step
            smi = MOLS[step % len(MOLS)]
            progress(
                Progress(
                    step=step,
                    total_steps=total,
                    loss=1.0 / step,
                    log_z=0.5,
                    mean_reward=0.1,
                    unique_molecules=min(step, len(MOLS)),
                    trajectories_per_s=100.0,
                    new_molecules=(VisitedMolecule(smi, 0.1 * (step % 7), {"qed": 0.3}, step, 2),),
                    checkpoint_step=saved,
                    metrics={"loss": 1.0 / step},
                )
            )
        last = ckpts / f"step_{step}.pt"
        last.touch()
        return RunSummary(steps_done=step, stopped=False, checkpoint=last)


def _job(db: Database, job_id: str) -> Job:
    with db.read() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def _wait(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_runs_job_to_success(db: Database, settings: Settings, make_job: Callable[..., Any]) -> None:
    job = make_job(training_config={"steps": 12, "batch_size": 2}, total_steps=12)
    trainer = FakeTrainer()
    worker = Worker(settings, db=db, train_fn=trainer)
    assert worker.run_once() is True
    row = _job(db, job.id)
    assert row.status == "succeeded" and row.progress == 1.0 and row.step == 12
    assert row.checkpoint_step == 12 and row.worker_id is None and row.finished_at is not None
    with db.read() as s:
        mols = s.scalars(select(Molecule).where(Molecule.job_id == job.id)).all()
        assert sorted(m.smiles for m in mols) == sorted(MOLS)
        assert sum(m.times_sampled for m in mols) == 24  # 12 reports x count 2
        assert all(m.inchikey for m in mols)
        assert len(s.scalars(select(JobMetric).where(JobMetric.job_id == job.id)).all()) == 12
        assert 12 in s.scalars(select(Checkpoint.step).where(Checkpoint.job_id == job.id)).all()
    assert (Path(settings.data_dir) / "jobs" / job.id / "checkpoints" / "step_12.pt").is_file()
    assert worker.run_once() is False


def test_cancel_running_job_within_seconds(db: Database, settings: Settings, make_job: Callable[..., Any]) -> None:
    from app.services.jobs import cancel_job

    job = make_job(training_config={"steps": 100000, "batch_size": 2}, total_steps=100000)
    worker = Worker(settings, db=db, train_fn=FakeTrainer(step_s=0.01))
    t = threading.Thread(target=worker.run_once)
    t.start()
    _wait(lambda: _job(db, job.id).step > 3)
    t0 = time.monotonic()
    cancel_job(db, job.id)
    t.join(timeout=20)
    assert not t.is_alive()
    assert time.monotonic() - t0 < 3.0
    row = _job(db, job.id)
    assert row.status == "cancelled" and row.checkpoint_step is not None and row.checkpoint_step > 0


def test_shutdown_releases_job_and_another_worker_resumes(
    db: Database, settings: Settings, make_job: Callable[..., Any]
) -> None:
    job = make_job(training_config={"steps": 60, "batch_size": 2}, total_steps=60)
    trainer = FakeTrainer(step_s=0.02)
    stop = threading.Event()
    first = Worker(settings, db=db, stop=stop, train_fn=trainer, worker_id="first")
    t = threading.Thread(target=first.run)
    t.start()
    _wait(lambda: _job(db, job.id).step >= 5)
    stop.set()  # what SIGTERM does
    t.join(timeout=20)
    row = _job(db, job.id)
    assert row.status == "queued" and row.worker_id is None and row.checkpoint_step is not None
    stopped_at = row.checkpoint_step
    second = Worker(settings, db=db, train_fn=trainer, worker_id="second")
    assert second.run_once()
    assert _job(db, job.id).status == "succeeded"
    assert trainer.started_from == [0, stopped_at]


def test_failures_are_recorded(db: Database, settings: Settings, make_job: Callable[..., Any]) -> None:
    job = make_job(training_config={"steps": 10, "batch_size": 2}, total_steps=10)
    Worker(settings, db=db, train_fn=FakeTrainer(fail_at=3)).run_once()
    row = _job(db, job.id)
    assert row.status == "failed" and row.error == "RuntimeError: boom" and row.worker_id is None
    job2 = make_job(training_config={"steps": 10, "batch_size": 2}, total_steps=10)
    Worker(settings, db=db, train_fn=FakeTrainer(fail_at=1, exc=SpecError("components[0]", "bad"))).run_once()
    assert _job(db, job2.id).error == "components[0]: bad"


def test_worker_that_lost_its_job_stops(db: Database, settings: Settings, make_job: Callable[..., Any]) -> None:
    job = make_job(training_config={"steps": 100000, "batch_size": 2}, total_steps=100000)
    worker = Worker(settings, db=db, train_fn=FakeTrainer(step_s=0.01), worker_id="slow")
    t = threading.Thread(target=worker.run_once)
    t.start()
    _wait(lambda: _job(db, job.id).step > 2)
    with db.write() as s:  # another worker reclaimed it
        s.execute(update(Job).where(Job.id == job.id).values(worker_id="other", heartbeat_at=utcnow()))
    t.join(timeout=20)
    assert not t.is_alive()
    row = _job(db, job.id)
    assert row.status == "running" and row.worker_id == "other"


@pytest.mark.parametrize("timeout_s", [1.0])
def test_dead_worker_job_resumed_by_another(
    db: Database, settings_factory: Callable[..., Settings], make_job: Callable[..., Any], timeout_s: float
) -> None:
    settings = settings_factory(db.url, heartbeat_timeout_s=timeout_s)
    job = make_job(
        status="running",
        worker_id="dead",
        attempts=1,
        started_at=utcnow(),
        heartbeat_at=utcnow() - timedelta(seconds=10),
        training_config={"steps": 6},
        total_steps=6,
    )
    ckpts = Path(settings.data_dir) / "jobs" / job.id / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / "step_4.pt").touch()
    trainer = FakeTrainer()
    assert Worker(settings, db=db, train_fn=trainer).run_once()
    assert trainer.started_from == [4]
    row = _job(db, job.id)
    assert row.status == "succeeded" and row.attempts == 2
