"""Engine and session factories.

SQLite (the embedded default) is opened in WAL mode with a busy timeout and foreign keys on; the
driver's own transaction handling is switched off so SQLAlchemy emits ``BEGIN`` itself, which makes
DDL transactional and lets :func:`immediate` open a ``BEGIN IMMEDIATE`` write transaction (the
queue's single-writer claim). PostgreSQL goes through psycopg 3 (``postgresql+psycopg://``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 30.0
_IMMEDIATE = "molgfn_sqlite_immediate"


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as psycopg 3 URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the project's SQLite or PostgreSQL settings."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
        connect_args.update(kwargs.pop("connect_args", {}))
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine, in_memory=parsed.database in (None, "", ":memory:"))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("connect_args", {"connect_timeout": 5})
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine, *, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see "begin" below)
        cur = dbapi_connection.cursor()
        if not in_memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (handy to build responses)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def immediate(engine: Engine) -> Iterator[Session]:
    """A session in one write transaction that holds the write lock from its start.

    SQLite: ``BEGIN IMMEDIATE`` (one writer at a time, others wait on the busy timeout).
    PostgreSQL: a plain transaction; callers lock rows themselves (``FOR UPDATE SKIP LOCKED``).
    Commits on success, rolls back on error.
    """
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(**{_IMMEDIATE: True})
        with Session(bind=conn, expire_on_commit=False) as session, conn.begin():
            yield session
            session.flush()


def check_database(engine: Engine) -> None:
    """Raise (SQLAlchemy error) unless the database answers a trivial query."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")


class Database:
    """The engine plus read and write session scopes (what the API and the workers hold)."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self._factory = make_session_factory(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads (SQLite: a deferred transaction, never blocking writers in WAL mode)."""
        with self._factory() as session:
            yield session

    def write(self) -> AbstractContextManager[Session]:
        """A write transaction, committed on success (SQLite: ``BEGIN IMMEDIATE``)."""
        return immediate(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
