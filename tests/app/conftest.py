"""Fixtures of the service tests: a real database per test (SQLite file or PostgreSQL), migrated,
and the app built on it. Nothing is mocked: every test talks to a real database.

* ``sqlite``: a fresh file under ``tmp_path``;
* ``postgres``: a fresh database ``molgfn_t_<uuid>`` on 127.0.0.1:5432 (user ``postgres``, trust
  auth; created from database ``test`` and dropped afterwards). Marked ``postgres`` and skipped,
  with the reason, when no server answers. Override the server with ``MOLGFN_TEST_PG``
  (a libpq URL of the maintenance database).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db.migrate import upgrade
from app.db.models import Job, Molecule, utcnow
from app.db.session import Database
from app.main import create_app
from app.services import libraries
from app.settings import Settings, get_settings

PG_ADMIN_URL = os.environ.get("MOLGFN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
_pg_status: dict[str, str | None] = {}

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _pg_unavailable() -> str | None:
    """None when the PostgreSQL test server answers, else why not (checked once per session)."""
    if "reason" not in _pg_status:
        try:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
                pass
            _pg_status["reason"] = None
        except Exception as exc:  # noqa: BLE001 - any failure means: skip the PostgreSQL variant
            _pg_status["reason"] = f"no PostgreSQL server at {PG_ADMIN_URL}: {exc}".splitlines()[0]
    return _pg_status["reason"]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test only (dropped afterwards)."""
    reason = _pg_unavailable()
    if reason:
        pytest.skip(reason)
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"molgfn_t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    info = conninfo_to_dict(PG_ADMIN_URL)
    user = info.get("user", "postgres")
    host = info.get("host", "127.0.0.1")
    port = info.get("port", "5432")
    try:
        yield f"postgresql+psycopg://{user}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(make_conninfo(PG_ADMIN_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file for this test."""
    return f"sqlite:///{tmp_path / 'molgfn.db'}"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on."""
    return str(request.param)


@pytest.fixture
def empty_db_url(backend: str, request: pytest.FixtureRequest) -> str:
    """A fresh, unmigrated database of the parametrized backend."""
    fixture = "pg_url" if backend == "postgres" else "sqlite_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def db_url(empty_db_url: str) -> str:
    """A fresh database of the parametrized backend, migrated to head."""
    upgrade(empty_db_url)
    return empty_db_url


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for tests: fast heartbeats and polling, data under tmp_path; keyword overrides."""

    def make(url: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": url,
            "data_dir": tmp_path / "data",
            "heartbeat_interval_s": 0.2,
            "heartbeat_timeout_s": 5.0,
            "poll_interval_s": 0.1,
            "progress_every_s": 0.2,
            "checkpoint_every_s": 1.0,
            "sampling_prewarm": False,
            "sampling_processes": 1,  # one torch process per test app unless a test asks for more
        }
        values.update(overrides)
        return get_settings(**values)

    return make


@pytest.fixture
def settings(db_url: str, settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(db_url)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """The test database, for setting up rows and checking what the API wrote."""
    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client of the real app (lifespan run), on the parametrized backend."""
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def make_job(db: Database) -> Callable[..., Job]:
    """Insert a job directly (for read-side tests): ``make_job(status="succeeded", ...)``."""

    def make(**fields: Any) -> Job:
        lib = libraries.ensure_default(db)
        values: dict[str, Any] = {
            "kind": "gflownet",
            "status": "queued",
            "reward_spec": {"components": [{"name": "qed"}]},
            "training_config": {"steps": 10, "batch_size": 4, "max_blocks": 3},
            "library_id": lib.id,
            "library_hash": lib.content_hash,
            "total_steps": 10,
            "created_at": utcnow(),
        }
        values.update(fields)
        with db.write() as session:
            job = Job(**values)
            session.add(job)
        return job

    return make


@pytest.fixture
def add_molecules(db: Database) -> Callable[[str, list[tuple[str, float]]], list[Molecule]]:
    """Store molecules ``[(smiles, reward), ...]`` for a job; returns the rows in order."""

    def add(job_id: str, items: list[tuple[str, float]]) -> list[Molecule]:
        from app.services import chem

        rows = [
            Molecule(
                job_id=job_id,
                smiles=chem.canonical(s) or s,
                inchikey=chem.inchikey(s),
                reward=r,
                components={"qed": r},
                times_sampled=1,
                first_seen_step=i,
            )
            for i, (s, r) in enumerate(items)
        ]
        with db.write() as session:
            session.add_all(rows)
        return rows

    return add
