"""Storing molecules: one upsert per batch, deduplicated by (job, canonical SMILES)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.models import Job, Molecule, utcnow

# SQLite allows 32766 bound parameters per statement; PostgreSQL 65535. 10 columns a row.
_CHUNK = 2000


@dataclass
class MoleculeRecord:
    """One molecule to store (``count`` times sampled in this batch)."""

    smiles: str
    reward: float
    components: dict[str, Any] | None = None
    count: int = 1
    step: int | None = None
    inchikey: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def aggregate(records: Iterable[MoleculeRecord]) -> list[MoleculeRecord]:
    """Merge records of the same SMILES: counts add up, the first reward and earliest step are kept."""
    merged: dict[str, MoleculeRecord] = {}
    for r in records:
        m = merged.get(r.smiles)
        if m is None:
            merged[r.smiles] = MoleculeRecord(r.smiles, r.reward, r.components, r.count, r.step, r.inchikey)
            continue
        m.count += r.count
        if r.step is not None and (m.step is None or r.step < m.step):
            m.step = r.step
        if m.inchikey is None:
            m.inchikey = r.inchikey
    return list(merged.values())


def upsert_molecules(session: Session, job_id: str, records: Sequence[MoleculeRecord]) -> None:
    """Insert new molecules of ``job_id`` and add to ``times_sampled`` of known ones (in the caller's
    transaction). The stored reward, components and first-seen step of a known molecule are kept,
    except that an unknown first-seen step is filled in."""
    # sorted: concurrent upserts (a training worker and a fresh-samples request) lock rows in the
    # same order, so they cannot deadlock on PostgreSQL
    rows = sorted(aggregate(records), key=lambda r: r.smiles)
    if not rows:
        return
    owner = session.scalar(select(Job.owner_key_hash).where(Job.id == job_id))
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        stmt = insert(Molecule).values(
            [
                {
                    "job_id": job_id,
                    "owner_key_hash": owner,
                    "smiles": r.smiles,
                    "inchikey": r.inchikey,
                    "reward": r.reward,
                    "components": r.components,
                    "times_sampled": r.count,
                    "first_seen_step": r.step,
                    "created_at": now,
                }
                for r in chunk
            ]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[Molecule.job_id, Molecule.smiles],
            set_={
                "times_sampled": Molecule.times_sampled + stmt.excluded.times_sampled,
                "first_seen_step": func.coalesce(Molecule.first_seen_step, stmt.excluded.first_seen_step),
            },
        )
        session.execute(stmt)


def molecules_by_smiles(session: Session, job_id: str, smiles: Sequence[str]) -> dict[str, Molecule]:
    """Stored molecules of ``job_id`` with these SMILES."""
    out: dict[str, Molecule] = {}
    unique = list(dict.fromkeys(smiles))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        rows = session.scalars(select(Molecule).where(Molecule.job_id == job_id, Molecule.smiles.in_(chunk)))
        out.update({m.smiles: m for m in rows})
    return out
