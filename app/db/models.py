"""ORM models (SQLAlchemy 2, typed). These are storage, not API schemas: see :mod:`app.schemas`.

Timestamps are stored as UTC and always read back timezone-aware (:class:`UTCDateTime`), on SQLite
as on PostgreSQL. Public ids of jobs, libraries and proxy models are UUID hex strings (safe to
generate anywhere); molecules, metrics and checkpoints use integer keys.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED_STATUSES = ("succeeded", "failed", "cancelled")
JOB_KINDS = ("gflownet", "proxy")


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh public id (32 hex digits)."""
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps naive text: we store UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints predictably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class BlockLibraryRow(Base):
    """A block library in the project's own JSON format, deduplicated by content hash."""

    __tablename__ = "block_libraries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    n_fragments: Mapped[int] = mapped_column(Integer)
    n_block_types: Mapped[int] = mapped_column(Integer)
    n_initial: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # builtin | json | brics
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A unit of background work: a GFlowNet training run, or training a proxy reward model."""

    __tablename__ = "jobs"
    __table_args__ = (Index(None, "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16), default="gflownet")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    reward_spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    training_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    library_id: Mapped[str | None] = mapped_column(ForeignKey("block_libraries.id"))
    library_hash: Mapped[str | None] = mapped_column(String(64))
    # SHA-256 of the API key that posted the job (null: posted without authentication); never the key
    owner_key_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # progress
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    unique_molecules: Mapped[int] = mapped_column(Integer, default=0)
    latest_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    checkpoint_step: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    # queue bookkeeping
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class JobMetric(Base):
    """One progress report of a job: the metrics time series."""

    __tablename__ = "job_metrics"
    __table_args__ = (Index(None, "job_id", "step"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    loss: Mapped[float | None] = mapped_column(Float)
    log_z: Mapped[float | None] = mapped_column(Float)
    mean_reward: Mapped[float | None] = mapped_column(Float)
    unique_molecules: Mapped[int | None] = mapped_column(Integer)
    trajectories_per_s: Mapped[float | None] = mapped_column(Float)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Molecule(Base):
    """A distinct molecule of a job (canonical SMILES), with how often it was sampled."""

    __tablename__ = "molecules"
    __table_args__ = (
        UniqueConstraint("job_id", "smiles"),
        Index(None, "job_id", "reward"),
        Index(None, "reward"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    owner_key_hash: Mapped[str | None] = mapped_column(String(64), index=True)  # the job's owner, copied
    smiles: Mapped[str] = mapped_column(Text)
    inchikey: Mapped[str | None] = mapped_column(String(27))
    reward: Mapped[float] = mapped_column(Float)
    components: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    times_sampled: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_step: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Checkpoint(Base):
    """A checkpoint file of a job's run (path relative to the data directory)."""

    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("job_id", "step"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProxyModel(Base):
    """A reward proxy trained from uploaded data (by a job of kind ``proxy``)."""

    __tablename__ = "proxy_models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    data_path: Mapped[str] = mapped_column(Text)  # uploaded CSV, relative to the data directory
    smiles_column: Mapped[str] = mapped_column(String(200))
    target_column: Mapped[str] = mapped_column(String(200))
    n_rows: Mapped[int] = mapped_column(Integer)
    model_path: Mapped[str | None] = mapped_column(Text)  # relative to the data directory, once trained
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
