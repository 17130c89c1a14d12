"""Ownership: jobs and molecules record the SHA-256 of the API key that owns them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``owner_key_hash`` (nullable, indexed) to jobs and molecules; existing rows stay unowned."""
    for table in ("jobs", "molecules"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("owner_key_hash", sa.String(length=64), nullable=True))
            batch.create_index(f"ix_{table}_owner_key_hash", ["owner_key_hash"], unique=False)


def downgrade() -> None:
    for table in ("molecules", "jobs"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_owner_key_hash")
            batch.drop_column("owner_key_hash")
