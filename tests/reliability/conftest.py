"""Fixtures of the reliability tests: the service fixtures of ``tests/app`` (a fresh SQLite file or a
fresh PostgreSQL database per test, settings, the app and a client), reused as they are."""

from __future__ import annotations

from tests.app.conftest import (  # noqa: F401 - fixtures, found by pytest through this module
    BACKENDS,
    add_molecules,
    app,
    backend,
    client,
    db,
    db_url,
    empty_db_url,
    make_job,
    pg_url,
    settings,
    settings_factory,
    sqlite_url,
)
