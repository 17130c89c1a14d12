"""Four ``molgfn worker`` processes draining 20 tiny queued jobs on PostgreSQL: every job runs exactly
once (one claim in all the workers' logs, one attempt, succeeded), and the work is shared."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db.migrate import upgrade
from app.db.models import Job, Molecule
from app.db.session import Database
from app.main import create_app
from app.schemas.libraries import EXAMPLE_LIBRARY
from app.settings import Settings
from tests.reliability.workers import TINY_TRAINING, start_worker, stop, wait_until, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

N_WORKERS, N_JOBS = 4, 20


def test_four_workers_run_each_of_twenty_jobs_exactly_once(
    pg_url: str, tmp_path: Path, settings_factory: Callable[..., Settings]
) -> None:
    upgrade(pg_url)
    db = Database(pg_url)
    app = create_app(settings_factory(pg_url, data_dir=tmp_path / "data", max_active_jobs_per_key=N_JOBS))
    ids: list[str] = []
    with TestClient(app) as client:  # queue everything before any worker starts: they race for it
        lib = client.post("/libraries", json={"name": "tiny", "library": EXAMPLE_LIBRARY}).json()["id"]
        for seed in range(N_JOBS):
            training = TINY_TRAINING | {"steps": 2, "seed": seed, "hidden": 16, "layers": 1}
            r = client.post(
                "/jobs", json={"reward": {"components": [{"name": "qed"}]}, "library": lib, "training": training}
            )
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
    env = worker_env(tmp_path, pg_url)
    logs = [tmp_path / f"w{i}.log" for i in range(N_WORKERS)]
    workers = [start_worker(env, log) for log in logs]
    try:

        def finished() -> list[Job] | None:
            with db.read() as s:
                jobs = list(s.scalars(select(Job).where(Job.id.in_(ids))))
            return jobs if all(j.status in ("succeeded", "failed", "cancelled") for j in jobs) else None

        jobs = wait_until(finished, 300, "all jobs to finish", every=0.5)
    finally:
        for w in workers:
            stop(w)
    assert [j.error for j in jobs if j.status != "succeeded"] == []
    assert all(j.attempts == 1 and j.step == 2 for j in jobs)
    claims: Counter[str] = Counter()
    per_worker = []
    for log in logs:
        found = re.findall(r"claimed job ([0-9a-f]{32})", log.read_text())
        claims.update(found)
        per_worker.append(len(found))
    assert claims == Counter({i: 1 for i in ids}), "each job claimed exactly once"
    assert sum(1 for n in per_worker if n) >= 2, f"work shared between workers: {per_worker}"
    with db.read() as s:
        stmt = select(Molecule.job_id, func.sum(Molecule.times_sampled)).group_by(Molecule.job_id)
        per_job = {r[0]: int(r[1]) for r in s.execute(stmt)}
    # each job's 2 steps x 4 trajectories stored once (at most 8 samples, never a second run's)
    assert set(per_job) == set(ids) and all(0 < n <= 2 * TINY_TRAINING["batch_size"] for n in per_job.values())
    assert all(w.returncode == 0 for w in workers), "workers exit cleanly on SIGTERM"
    db.dispose()
