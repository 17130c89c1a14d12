"""Database outage, on a PRIVATE throwaway PostgreSQL server (initdb + pg_ctl in a temp dir, on a free
port, as the ``postgres`` OS user), never the shared one: stopped and restarted under the API and
under a training worker.

* API: while the database is down every request answers 503 (``/health`` too) within seconds, never
  500 or a hang, and nothing is half-written; after the restart the service answers again.
* Worker: a job training through a 4-second outage finishes after it, and its stored molecules
  equal those of the same job (same seed) run without an outage: nothing lost, nothing counted twice.

Skipped (with the reason) when the PostgreSQL 15 binaries or the ``postgres`` user are missing, or
when not running as root (``runuser``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class PrivateServer:
    url: str
    data: Path
    sock: Path
    port: int
    log: Path

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", opts, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")


@pytest.fixture
def private_pg() -> Iterator[PrivateServer]:
    if os.geteuid() != 0 or not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip("needs root, runuser and PostgreSQL 15 binaries for a private throwaway server")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres OS user")
    root = Path(tempfile.mkdtemp(prefix="molgfn-pg-"))
    shutil.chown(root, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = PrivateServer(
        url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
        data=root / "data",
        sock=root,
        port=port,
        log=root / "server.log",
    )
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "initdb"),
            "-D",
            str(server.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(root, ignore_errors=True)


def _count_jobs(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


def test_api_answers_503_during_an_outage_and_recovers(
    private_pg: PrivateServer, tmp_path: Path, settings_factory: Callable[..., Settings]
) -> None:
    upgrade(private_pg.url)
    body = {"reward": {"components": [{"name": "qed"}]}, "training": {"steps": 5, "batch_size": 4, "max_blocks": 3}}
    with TestClient(create_app(settings_factory(private_pg.url)), raise_server_exceptions=False) as c:
        job_id = c.post("/jobs", json=body).json()["id"]
        private_pg.stop()
        endpoints: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "/health", {}),
            ("GET", "/jobs", {}),
            ("GET", f"/jobs/{job_id}", {}),
            ("POST", "/jobs", {"json": body}),
            ("POST", f"/jobs/{job_id}/cancel", {}),
            ("GET", "/molecules", {}),
            ("GET", "/libraries", {}),
        ]
        for method, path, kwargs in endpoints:
            t0 = time.perf_counter()
            r = c.request(method, path, **kwargs)
            assert r.status_code == 503, (method, path, r.status_code, r.text)
            assert time.perf_counter() - t0 < 15, (method, path)
        assert c.get("/metrics").status_code == 200  # a scrape survives the outage
        private_pg.start()
        r = wait_until(lambda: c.get("/health").status_code == 200, 30, "the service to recover", every=0.2)
        assert r
        got = c.get(f"/jobs/{job_id}").json()
        assert got["status"] == "queued" and not got["cancel_requested"]
    db = Database(private_pg.url)
    assert _count_jobs(db) == 1  # the POST refused during the outage left nothing
    db.dispose()


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(300, id="outage-mid-training"),
        # the job ends while the database is away: its last report fails, and its final molecules
        # must still be stored (retried) before it is marked succeeded
        pytest.param(40, id="job-ends-during-outage"),
    ],
)
def test_worker_trains_through_an_outage_without_losing_or_doubling_molecules(
    steps: int, private_pg: PrivateServer, tmp_path: Path, settings_factory: Callable[..., Settings]
) -> None:
    upgrade(private_pg.url)
    db = Database(private_pg.url)
    env = worker_env(tmp_path, private_pg.url, MOLGFN_HEARTBEAT_TIMEOUT_S="30")
    training = TINY_TRAINING | {"steps": steps, "seed": 11, "checkpoint_every": 5}
    worker = start_worker(env, tmp_path / "w.log")
    try:
        with TestClient(create_app(settings_factory(private_pg.url, data_dir=tmp_path / "data"))) as c:
            lib = c.post("/libraries", json={"name": "tiny", "library": EXAMPLE_LIBRARY}).json()["id"]
            body = {"reward": {"components": [{"name": "qed"}]}, "library": lib, "training": training}
            job_id = c.post("/jobs", json=body).json()["id"]

        def training_started() -> Job | None:
            with db.read() as s:
                j = s.get(Job, job_id)
            return j if j is not None and (j.checkpoint_step or 0) >= 10 else None

        before = wait_until(training_started, 180, "training past two checkpoints", every=0.02)
        assert before.step < min(100, steps), "the outage hits a job still training"
        db.dispose()
        private_pg.stop()
        if steps < 100:  # the database stays away until training has returned and storing its end fails
            wait_until(
                lambda: "storing its last molecules" in (tmp_path / "w.log").read_text(),
                120,
                "the job to end during the outage",
                every=0.1,
            )
        else:
            time.sleep(4)
        assert worker.poll() is None, "the worker survives the outage"
        private_pg.start()

        def status(job: str) -> Job | None:
            with db.read() as s:
                j = s.get(Job, job)
            return j if j is not None and j.status in ("succeeded", "failed") else None

        done = wait_until(lambda: status(job_id), 240, "the job to finish", every=0.3)
        assert done.status == "succeeded", done.error
        with TestClient(create_app(settings_factory(private_pg.url, data_dir=tmp_path / "data"))) as c:
            ref_id = c.post("/jobs", json=body).json()["id"]
        ref = wait_until(lambda: status(ref_id), 240, "the reference job", every=0.3)
        assert ref.status == "succeeded", ref.error
        with db.read() as s:
            got = {
                j: dict(s.execute(select(Molecule.smiles, Molecule.times_sampled).where(Molecule.job_id == j)).all())
                for j in (job_id, ref_id)
            }
        assert got[job_id] and got[job_id] == got[ref_id]
    finally:
        stop(worker)
        db.dispose()
