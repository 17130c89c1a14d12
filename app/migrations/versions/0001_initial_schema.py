"""Initial schema: block libraries, jobs, job metrics, molecules, checkpoints, proxy models.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create every table of the service."""
    op.create_table(
        "block_libraries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("n_fragments", sa.Integer(), nullable=False),
        sa.Column("n_block_types", sa.Integer(), nullable=False),
        sa.Column("n_initial", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_block_libraries")),
        sa.UniqueConstraint("content_hash", name=op.f("uq_block_libraries_content_hash")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reward_spec", sa.JSON(), nullable=True),
        sa.Column("training_config", sa.JSON(), nullable=False),
        sa.Column("library_id", sa.String(length=32), nullable=True),
        sa.Column("library_hash", sa.String(length=64), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("total_steps", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("unique_molecules", sa.Integer(), nullable=False),
        sa.Column("latest_metrics", sa.JSON(), nullable=True),
        sa.Column("checkpoint_step", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        _ts("heartbeat_at", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("started_at", nullable=True),
        _ts("finished_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["library_id"], ["block_libraries.id"], name=op.f("fk_jobs_library_id_block_libraries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(op.f("ix_jobs_status_created_at"), "jobs", ["status", "created_at"])
    op.create_table(
        "checkpoints",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_checkpoints_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoints")),
        sa.UniqueConstraint("job_id", "step", name=op.f("uq_checkpoints_job_id_step")),
    )
    op.create_table(
        "job_metrics",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("loss", sa.Float(), nullable=True),
        sa.Column("log_z", sa.Float(), nullable=True),
        sa.Column("mean_reward", sa.Float(), nullable=True),
        sa.Column("unique_molecules", sa.Integer(), nullable=True),
        sa.Column("trajectories_per_s", sa.Float(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_metrics_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_metrics")),
    )
    op.create_index(op.f("ix_job_metrics_job_id_step"), "job_metrics", ["job_id", "step"])
    op.create_table(
        "molecules",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("smiles", sa.Text(), nullable=False),
        sa.Column("inchikey", sa.String(length=27), nullable=True),
        sa.Column("reward", sa.Float(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=True),
        sa.Column("times_sampled", sa.Integer(), nullable=False),
        sa.Column("first_seen_step", sa.Integer(), nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_molecules_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_molecules")),
        sa.UniqueConstraint("job_id", "smiles", name=op.f("uq_molecules_job_id_smiles")),
    )
    op.create_index(op.f("ix_molecules_job_id_reward"), "molecules", ["job_id", "reward"])
    op.create_index(op.f("ix_molecules_reward"), "molecules", ["reward"])
    op.create_table(
        "proxy_models",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("data_path", sa.Text(), nullable=False),
        sa.Column("smiles_column", sa.String(length=200), nullable=False),
        sa.Column("target_column", sa.String(length=200), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("model_path", sa.Text(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_proxy_models_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proxy_models")),
    )
    op.create_index(op.f("ix_proxy_models_job_id"), "proxy_models", ["job_id"])


def downgrade() -> None:
    """Drop every table (data is lost)."""
    op.drop_table("proxy_models")
    op.drop_table("molecules")
    op.drop_table("job_metrics")
    op.drop_table("checkpoints")
    op.drop_table("jobs")
    op.drop_table("block_libraries")
