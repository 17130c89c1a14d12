"""200 concurrent requests against a real server (``molgfn serve --workers 0``: uvicorn in a subprocess)
on SQLite and PostgreSQL, mixing every kind of read, stored and fresh candidate batches, scoring and
job creation (the mix of ``benchmarks/load.py``, all fired at once): no error, no timeout (no
deadlock), every posted job created exactly once, and the database consistent afterwards.
No timing is asserted (the benchmark measures it)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.db.models import Job, Molecule
from app.db.session import Database
from benchmarks import load

pytestmark = pytest.mark.slow

N_REQUESTS = 200
SEED_TRAINING = {"loss": "tb", "steps": 2, "batch_size": 8, "max_blocks": 3, "threads": 1}
N_BULK = 2000  # synthetic molecules over 10 more jobs, for the listing filters to work on


def times_sampled(db: Database, job_id: str) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.sum(Molecule.times_sampled)).where(Molecule.job_id == job_id)) or 0)


def test_200_concurrent_requests_no_errors_jobs_created_once(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    env = load.service_env(db_url, tmp_path / "data", MOLGFN_LOG_LEVEL="INFO")
    log = tmp_path / "serve.log"
    with load.serve(env, tmp_path, log) as base:
        targets = load.prepare(base, db_url, tmp_path / "data", SEED_TRAINING, N_BULK)
        trained = targets.job_ids[0]
        assert targets.fresh_job_id == trained, "the trained job has a checkpoint to sample from"
        load.warm_up(base, targets)  # first calls load SA fragment scores, the checkpoint: faster, same checks
        sampled_before = times_sampled(db, trained)
        with db.read() as s:
            jobs_before = set(s.scalars(select(Job.id)))  # the trained, bulk and warm-up jobs
        assert set(targets.job_ids) <= jobs_before
        calls = load.build_mix(N_REQUESTS, targets, random.Random(0))
        assert Counter(c.kind for c in calls) == Counter(load.mix_counts(N_REQUESTS))
        outcomes = asyncio.run(load.fire(base, calls, concurrency=N_REQUESTS, timeout_s=300))

    failed = [(o.kind, o.status, o.error) for o in outcomes if not o.ok]
    assert failed == [], f"{len(failed)} of {N_REQUESTS} requests failed or timed out"
    assert {(o.kind, o.status) for o in outcomes} == {(c.kind, 202 if c.kind == "create_job" else 200) for c in calls}
    server_log = log.read_text()
    assert "Traceback" not in server_log and "ERROR" not in server_log, server_log[-3000:]

    # every POST /jobs created exactly one job, and nothing else was created
    created = [o.body["id"] for o in outcomes if o.kind == "create_job"]
    assert len(created) == len(set(created)) == load.mix_counts(N_REQUESTS)["create_job"]
    with db.read() as s:
        jobs = {j.id: j for j in s.scalars(select(Job))}
        duplicates = s.execute(
            select(Molecule.job_id, Molecule.smiles).group_by(Molecule.job_id, Molecule.smiles).having(func.count() > 1)
        ).all()
        fresh_ids = {m["id"] for o in outcomes if o.kind == "samples_fresh" for m in o.body["items"]}
        stored_fresh = set(s.scalars(select(Molecule.id).where(Molecule.id.in_(fresh_ids), Molecule.job_id == trained)))
    assert set(jobs) == jobs_before | set(created) and not jobs_before & set(created)
    assert all(jobs[i].status == "queued" and jobs[i].attempts == 0 and jobs[i].step == 0 for i in created)
    assert jobs[trained].status == "succeeded"
    # fresh samples: stored once per molecule, their counts added exactly once
    assert duplicates == []
    assert fresh_ids and stored_fresh == fresh_ids, "every molecule of a fresh batch is stored under its job"
    n_sampled = sum(o.body["n_sampled"] for o in outcomes if o.kind == "samples_fresh")
    assert 0 < times_sampled(db, trained) - sampled_before <= n_sampled
    if db.dialect == "postgresql":  # nothing left hanging: no open transaction, no waiting lock
        with db.engine.connect() as conn:
            idle_in_tx = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND state LIKE 'idle in transaction%'"
                )
            ).scalar()
            waiting = conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar()
        assert idle_in_tx == 0 and waiting == 0
    db.dispose()
