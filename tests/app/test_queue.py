"""The queue on real databases: atomic claims, oldest first, reclaiming dead workers' jobs."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from app import queue
from app.db.models import Checkpoint, Job, JobMetric, Molecule, utcnow
from app.db.molecules import MoleculeRecord
from app.db.session import Database


def test_claims_oldest_queued_first(db: Database, make_job: Callable[..., Any]) -> None:
    now = utcnow()
    old = make_job(created_at=now - timedelta(minutes=5))
    new = make_job(created_at=now)
    make_job(status="succeeded", created_at=now - timedelta(hours=1))
    first = queue.claim_next(db.engine, "w1", heartbeat_timeout_s=30)
    second = queue.claim_next(db.engine, "w2", heartbeat_timeout_s=30)
    assert first is not None and second is not None
    assert (first.job_id, second.job_id) == (old.id, new.id)
    assert first.library_data is not None and first.library_data["blocks"]
    assert queue.claim_next(db.engine, "w3", heartbeat_timeout_s=30) is None
    with db.read() as s:
        job = s.get(Job, old.id)
        assert job is not None
        assert job.status == "running" and job.worker_id == "w1" and job.attempts == 1
        assert job.started_at is not None and job.heartbeat_at is not None


def test_concurrent_claims_take_each_job_exactly_once(db: Database, make_job: Callable[..., Any]) -> None:
    jobs = [make_job() for _ in range(12)]
    claimed: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def worker(i: int) -> None:
        barrier.wait()
        while True:
            c = queue.claim_next(db.engine, f"w{i}", heartbeat_timeout_s=30)
            if c is None:
                return
            with lock:
                claimed.append(c.job_id)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert Counter(claimed) == Counter(j.id for j in jobs)


def test_reclaims_stale_running_job(db: Database, make_job: Callable[..., Any]) -> None:
    job = make_job()
    assert queue.claim_next(db.engine, "dead", heartbeat_timeout_s=30) is not None
    # fresh heartbeat: not claimable
    assert queue.claim_next(db.engine, "w2", heartbeat_timeout_s=30) is None
    with db.write() as s:
        s.execute(update(Job).where(Job.id == job.id).values(heartbeat_at=utcnow() - timedelta(minutes=5)))
    c = queue.claim_next(db.engine, "w2", heartbeat_timeout_s=30)
    assert c is not None and c.job_id == job.id and c.resumed and c.attempts == 2
    # the dead worker has lost it: its writes are refused
    assert not queue.heartbeat(db.engine, job.id, "dead").owned
    assert not queue.finish(db.engine, job.id, "dead", "succeeded")
    assert queue.heartbeat(db.engine, job.id, "w2").owned


def test_stale_job_failed_after_max_attempts(db: Database, make_job: Callable[..., Any]) -> None:
    job = make_job(status="running", worker_id="dead", attempts=3, heartbeat_at=utcnow() - timedelta(hours=1))
    assert queue.claim_next(db.engine, "w", heartbeat_timeout_s=30, max_attempts=3) is None
    with db.read() as s:
        row = s.get(Job, job.id)
        assert row is not None and row.status == "failed" and "3 times" in (row.error or "")


def test_stale_job_with_cancel_request_is_cancelled(db: Database, make_job: Callable[..., Any]) -> None:
    job = make_job(
        status="running",
        worker_id="dead",
        attempts=1,
        cancel_requested=True,
        heartbeat_at=utcnow() - timedelta(hours=1),
    )
    assert queue.claim_next(db.engine, "w", heartbeat_timeout_s=30) is None
    with db.read() as s:
        row = s.get(Job, job.id)
        assert row is not None and row.status == "cancelled" and row.finished_at is not None


def test_progress_is_one_transaction_with_dedup(db: Database, make_job: Callable[..., Any]) -> None:
    job = make_job()
    queue.claim_next(db.engine, "w", heartbeat_timeout_s=30)
    rec = queue.ProgressRecord(
        step=3,
        total_steps=10,
        unique_molecules=2,
        metrics={"loss": 1.0},
        loss=1.0,
        molecules=[
            MoleculeRecord("CCO", 0.5, {"qed": 0.5}, step=2),
            MoleculeRecord("CCO", 0.5, step=3),
            MoleculeRecord("CCN", 0.4, step=3),
        ],
        checkpoint_step=3,
        checkpoint_path="jobs/x/checkpoints/step_3.pt",
    )
    assert queue.record_progress(db.engine, job.id, "w", rec)
    rec2 = queue.ProgressRecord(
        step=5, total_steps=10, unique_molecules=2, metrics={}, molecules=[MoleculeRecord("CCO", 0.5, step=5)]
    )
    assert queue.record_progress(db.engine, job.id, "w", rec2)
    assert not queue.record_progress(db.engine, job.id, "someone-else", rec2)
    with db.read() as s:
        mols = {m.smiles: m for m in s.scalars(select(Molecule).where(Molecule.job_id == job.id))}
        assert mols["CCO"].times_sampled == 3 and mols["CCO"].first_seen_step == 2
        assert mols["CCN"].times_sampled == 1
        row = s.get(Job, job.id)
        assert row is not None and row.step == 5 and row.progress == 0.5 and row.checkpoint_step == 3
        assert len(s.scalars(select(JobMetric).where(JobMetric.job_id == job.id)).all()) == 2
        assert s.scalars(select(Checkpoint.step)).all() == [3]


def test_release_returns_job_to_queue(db: Database, make_job: Callable[..., Any]) -> None:
    job = make_job()
    queue.claim_next(db.engine, "w", heartbeat_timeout_s=30)
    assert queue.release(db.engine, job.id, "w", checkpoint=(4, "jobs/x/checkpoints/step_4.pt"))
    with db.read() as s:
        row = s.get(Job, job.id)
        assert row is not None and row.status == "queued" and row.worker_id is None
        assert row.checkpoint_step == 4 and row.attempts == 0
    again = queue.claim_next(db.engine, "w2", heartbeat_timeout_s=30)
    assert again is not None and again.job_id == job.id and again.resumed is False


def test_concurrent_overlapping_upserts(db: Database, make_job: Callable[..., Any]) -> None:
    """A training report and a fresh-samples request upserting the same molecules at once: no
    deadlock, no lost increment."""
    from app.db.molecules import upsert_molecules

    job = make_job()
    smiles = ["C" * (i % 20 + 1) + "O" * (i // 20 + 1) for i in range(200)]
    errors: list[BaseException] = []

    def run(order: list[str]) -> None:
        try:
            for _ in range(5):
                with db.write() as s:
                    upsert_molecules(s, job.id, [MoleculeRecord(x, 0.1) for x in order])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(o,)) for o in (smiles, smiles[::-1])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    with db.read() as s:
        counts = s.scalars(select(Molecule.times_sampled).where(Molecule.job_id == job.id)).all()
    assert len(counts) == 200 and set(counts) == {10}
