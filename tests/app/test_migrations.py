"""Migrations equal the models, on SQLite and PostgreSQL; upgrade works from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app.db.migrate import current_revision, upgrade
from app.db.models import Base
from app.db.session import make_engine


def test_upgrade_gives_exactly_the_models_schema(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert {"jobs", "job_metrics", "molecules", "checkpoints", "block_libraries", "proxy_models"} <= tables


def test_upgrade_is_idempotent_and_records_head(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    upgrade(empty_db_url)
    assert current_revision(empty_db_url) == "0002"  # head (0002: owner_key_hash)


def test_molecule_indexes(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        insp = inspect(engine)
        indexes = {tuple(ix["column_names"]) for ix in insp.get_indexes("molecules")}
        uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("molecules")}
    finally:
        engine.dispose()
    assert ("job_id", "reward") in indexes
    assert ("job_id", "smiles") in uniques


def test_cli_db_upgrade_from_another_directory(tmp_path: Path) -> None:
    db_file = tmp_path / "nested" / "x.db"
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{db_file}")
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    cur = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "current"],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cur.returncode == 0, cur.stderr
    assert cur.stdout.strip() == "0002"  # head (0002: owner_key_hash)


def test_sqlite_uses_wal(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            busy_timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            assert busy_timeout is not None and busy_timeout >= 1000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
