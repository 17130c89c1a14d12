"""The job queue: the jobs table, claimed atomically by workers.

* **Claim** (:func:`claim_next`): the oldest claimable job — a ``queued`` one, or a ``running`` one
  whose heartbeat is older than the timeout (its worker died; it resumes from its last checkpoint).
  PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent workers never wait on, or take, the
  same row. SQLite: the whole claim is one ``BEGIN IMMEDIATE`` transaction (a single writer).
  A stale job with ``cancel_requested`` is cancelled instead; one claimed ``max_attempts`` times
  already is failed instead (it keeps killing its workers).
* **Ownership**: every later write of a worker (:func:`heartbeat`, :func:`record_progress`,
  :func:`finish`, :func:`release`) is conditional on ``status = 'running' AND worker_id = me``; a worker
  that lost its job (reclaimed after a long stall) learns it from the return value and stops.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from app.db.models import BlockLibraryRow, Checkpoint, Job, JobMetric, ProxyModel, utcnow
from app.db.molecules import MoleculeRecord, upsert_molecules
from app.db.session import immediate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    """A job now owned by a worker, with what it needs to run."""

    job_id: str
    kind: str
    reward_spec: dict[str, Any] | None
    training_config: dict[str, Any]
    library_name: str | None
    library_data: dict[str, Any] | None
    attempts: int
    resumed: bool  # reclaimed from a dead worker (or released), not a first start
    checkpoint_step: int | None = None  # newest checkpoint committed to the database


@dataclass(frozen=True)
class Beat:
    """Result of a heartbeat."""

    owned: bool
    cancel_requested: bool


@dataclass
class ProgressRecord:
    """One progress report, written in one transaction."""

    step: int
    total_steps: int
    unique_molecules: int
    metrics: dict[str, Any]
    loss: float | None = None
    log_z: float | None = None
    mean_reward: float | None = None
    trajectories_per_s: float | None = None
    extra: dict[str, float] = field(default_factory=dict)
    molecules: list[MoleculeRecord] = field(default_factory=list)
    checkpoint_step: int | None = None
    checkpoint_path: str | None = None
    checkpoint_steps_on_disk: list[int] | None = None  # rows of pruned checkpoint files are deleted


def _rowcount(result: Any) -> int:
    """Rows matched by an UPDATE (``CursorResult.rowcount``)."""
    return int(result.rowcount)


def _owned(job_id: str, worker_id: str) -> Any:
    return (Job.id == job_id) & (Job.worker_id == worker_id) & (Job.status == "running")


def claim_next(engine: Engine, worker_id: str, *, heartbeat_timeout_s: float, max_attempts: int = 3) -> Claim | None:
    """Atomically take the oldest claimable job for ``worker_id`` (None when there is none)."""
    while True:
        with immediate(engine) as session:
            job = _lock_candidate(session, heartbeat_timeout_s)
            if job is None:
                return None
            now = utcnow()
            stale = job.status == "running"
            if stale and job.cancel_requested:
                _set_final(job, "cancelled", None)
                log.info("job %s: cancelled (its worker %s died)", job.id, job.worker_id)
                continue
            if stale and job.attempts >= max_attempts:
                _set_final(job, "failed", f"abandoned: its worker stopped responding {job.attempts} times")
                log.warning("job %s: failed after %d lost workers", job.id, job.attempts)
                continue
            resumed = stale or job.attempts > 0
            if stale:
                log.warning("job %s: reclaiming from %s (heartbeat %s)", job.id, job.worker_id, job.heartbeat_at)
            job.status = "running"
            job.worker_id = worker_id
            job.heartbeat_at = now
            job.attempts += 1
            job.started_at = job.started_at or now
            job.updated_at = now
            lib = session.get(BlockLibraryRow, job.library_id) if job.library_id else None
            return Claim(
                job_id=job.id,
                kind=job.kind,
                reward_spec=job.reward_spec,
                training_config=dict(job.training_config),
                library_name=lib.name if lib else None,
                library_data=lib.data if lib else None,
                attempts=job.attempts,
                resumed=resumed,
                checkpoint_step=job.checkpoint_step,
            )


def _lock_candidate(session: Session, heartbeat_timeout_s: float) -> Job | None:
    cutoff = utcnow() - timedelta(seconds=heartbeat_timeout_s)
    stale = (
        select(Job)
        .where(Job.status == "running", Job.heartbeat_at < cutoff)
        .order_by(Job.created_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    job = session.scalars(stale).first()
    if job is not None:
        return job
    queued = (
        select(Job)
        .where(Job.status == "queued")
        .order_by(Job.created_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(queued).first()


def _set_final(job: Job, status: str, error: str | None) -> None:
    now = utcnow()
    job.status = status
    job.error = error
    job.worker_id = None
    job.finished_at = now
    job.updated_at = now


def heartbeat(engine: Engine, job_id: str, worker_id: str) -> Beat:
    """Refresh the heartbeat of an owned job; tell whether it is still owned and whether to cancel."""
    with immediate(engine) as session:
        row = session.execute(
            update(Job).where(_owned(job_id, worker_id)).values(heartbeat_at=utcnow()).returning(Job.cancel_requested)
        ).first()
    if row is None:
        return Beat(owned=False, cancel_requested=False)
    return Beat(owned=True, cancel_requested=bool(row[0]))


def record_progress(engine: Engine, job_id: str, worker_id: str, rec: ProgressRecord) -> bool:
    """Write a progress report: the job's progress, a metrics row, the new molecules (upserted) and the
    checkpoint, all in one transaction. False (and nothing written) when the job is no longer owned."""
    now = utcnow()
    total = max(rec.total_steps, 1)
    values: dict[str, Any] = {
        "step": rec.step,
        "total_steps": rec.total_steps,
        "progress": min(1.0, rec.step / total),
        "unique_molecules": rec.unique_molecules,
        "latest_metrics": rec.metrics,
        "heartbeat_at": now,
        "updated_at": now,
    }
    if rec.checkpoint_step is not None:
        values["checkpoint_step"] = rec.checkpoint_step
    with immediate(engine) as session:
        owned = _rowcount(session.execute(update(Job).where(_owned(job_id, worker_id)).values(**values)))
        if not owned:
            return False
        session.add(
            JobMetric(
                job_id=job_id,
                step=rec.step,
                loss=rec.loss,
                log_z=rec.log_z,
                mean_reward=rec.mean_reward,
                unique_molecules=rec.unique_molecules,
                trajectories_per_s=rec.trajectories_per_s,
                extra=rec.extra or None,
                created_at=now,
            )
        )
        upsert_molecules(session, job_id, rec.molecules)
        if rec.checkpoint_step is not None and rec.checkpoint_path is not None:
            _add_checkpoint(session, job_id, rec.checkpoint_step, rec.checkpoint_path)
        if rec.checkpoint_steps_on_disk is not None:
            session.execute(
                delete(Checkpoint).where(
                    Checkpoint.job_id == job_id, Checkpoint.step.not_in(rec.checkpoint_steps_on_disk)
                )
            )
    return True


def _add_checkpoint(session: Session, job_id: str, step: int, path: str) -> None:
    exists = session.scalar(select(Checkpoint.id).where(Checkpoint.job_id == job_id, Checkpoint.step == step))
    if exists is None:
        session.add(Checkpoint(job_id=job_id, step=step, path=path))
    else:
        session.execute(update(Checkpoint).where(Checkpoint.id == exists).values(path=path))


def finish(
    engine: Engine,
    job_id: str,
    worker_id: str,
    status: str,
    *,
    error: str | None = None,
    checkpoint: tuple[int, str] | None = None,
    complete: bool = False,
    proxy: tuple[str, str, dict[str, Any]] | None = None,
) -> bool:
    """Move an owned job to a final status (``succeeded``, ``failed``, ``cancelled``); with ``proxy``
    = (proxy id, model path, metrics), record the trained proxy model in the same transaction."""
    assert status in ("succeeded", "failed", "cancelled")
    now = utcnow()
    values: dict[str, Any] = {
        "status": status,
        "error": error,
        "worker_id": None,
        "finished_at": now,
        "updated_at": now,
    }
    if complete:
        values["progress"] = 1.0
    if checkpoint is not None:
        values["checkpoint_step"] = checkpoint[0]
    with immediate(engine) as session:
        if complete:
            total = session.scalar(select(Job.total_steps).where(Job.id == job_id))
            if total:
                values["step"] = total
        n = _rowcount(session.execute(update(Job).where(_owned(job_id, worker_id)).values(**values)))
        if n and checkpoint is not None:
            _add_checkpoint(session, job_id, checkpoint[0], checkpoint[1])
        if n and proxy is not None:
            session.execute(
                update(ProxyModel).where(ProxyModel.id == proxy[0]).values(model_path=proxy[1], metrics=proxy[2])
            )
    return bool(n)


def release(engine: Engine, job_id: str, worker_id: str, *, checkpoint: tuple[int, str] | None = None) -> bool:
    """Give an owned job back to the queue (graceful shutdown): another worker resumes it."""
    now = utcnow()
    values: dict[str, Any] = {
        "status": "queued",
        "worker_id": None,
        "heartbeat_at": None,
        "updated_at": now,
        "attempts": Job.attempts - 1,
    }
    if checkpoint is not None:
        values["checkpoint_step"] = checkpoint[0]
    with immediate(engine) as session:
        n = _rowcount(session.execute(update(Job).where(_owned(job_id, worker_id)).values(**values)))
        if n and checkpoint is not None:
            _add_checkpoint(session, job_id, checkpoint[0], checkpoint[1])
    return bool(n)


def cancel_requested(engine: Engine, job_id: str) -> bool:
    """Whether a cancel was requested for ``job_id``."""
    with Session(engine) as session:
        return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))
