"""Stored molecules: listing, details, depictions, and diverse candidate batches (stored or fresh)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, select

from app.db.models import Job, Molecule
from app.db.molecules import MoleculeRecord, molecules_by_smiles, upsert_molecules
from app.db.session import Database
from app.errors import Conflict, NotFound
from app.schemas.common import PageLinks
from app.schemas.molecules import (
    MoleculeLinks,
    MoleculeList,
    MoleculeOrder,
    MoleculePublic,
    SampleBatchPublic,
)
from app.services import chem, pool_tasks
from app.services.sampling_pool import SamplingPool
from app.settings import Settings

log = logging.getLogger(__name__)

_ORDER: dict[str, tuple[ColumnElement[Any], ...]] = {
    "-reward": (Molecule.reward.desc(), Molecule.id.desc()),
    "reward": (Molecule.reward.asc(), Molecule.id.asc()),
    "-times_sampled": (Molecule.times_sampled.desc(), Molecule.id.desc()),
    "times_sampled": (Molecule.times_sampled.asc(), Molecule.id.asc()),
    "-id": (Molecule.id.desc(),),
    "id": (Molecule.id.asc(),),
}


def to_public(m: Molecule) -> MoleculePublic:
    """The API view of a stored molecule."""
    return MoleculePublic(
        id=m.id,
        job_id=m.job_id,
        smiles=m.smiles,
        inchikey=m.inchikey,
        reward=m.reward,
        components=m.components,
        times_sampled=m.times_sampled,
        first_seen_step=m.first_seen_step,
        created_at=m.created_at,
        links=MoleculeLinks(self=f"/molecules/{m.id}", image=f"/molecules/{m.id}/image.svg", job=f"/jobs/{m.job_id}"),
    )


def list_molecules(
    db: Database,
    *,
    job_id: str | None,
    min_reward: float | None,
    order_by: MoleculeOrder,
    limit: int,
    offset: int,
    owner: str | None = None,
) -> MoleculeList:
    """A page of the caller's molecules (no total count: it would cost a scan on large tables)."""
    stmt = select(Molecule)
    if owner is not None:
        stmt = stmt.where(Molecule.owner_key_hash == owner)
    if job_id is not None:
        stmt = stmt.where(Molecule.job_id == job_id)
    if min_reward is not None:
        stmt = stmt.where(Molecule.reward >= min_reward)
    stmt = stmt.order_by(*_ORDER[order_by]).limit(limit + 1).offset(offset)
    with db.read() as session:
        rows = list(session.scalars(stmt))
    nxt = None
    if len(rows) > limit:
        params = [f"order_by={order_by}", f"limit={limit}", f"offset={offset + limit}"]
        if job_id is not None:
            params.append(f"job_id={job_id}")
        if min_reward is not None:
            params.append(f"min_reward={min_reward!r}")
        nxt = "/molecules?" + "&".join(params)
    return MoleculeList(
        items=[to_public(m) for m in rows[:limit]], limit=limit, offset=offset, links=PageLinks(next=nxt)
    )


def get_molecule(db: Database, molecule_id: int, owner: str | None = None) -> Molecule:
    """A molecule by id, or :class:`NotFound` (also for another key's molecule)."""
    with db.read() as session:
        m = session.get(Molecule, molecule_id)
    if m is None or (owner is not None and m.owner_key_hash != owner):
        raise NotFound(f"no molecule {molecule_id}")
    return m


def image_svg(db: Database, molecule_id: int, width: int, height: int, owner: str | None = None) -> str:
    """SVG depiction of a stored molecule."""
    m = get_molecule(db, molecule_id, owner)
    text = chem.svg(m.smiles, width, height)
    if text is None:  # stored molecules are valid; this guards against hand-edited rows
        raise Conflict(f"molecule {molecule_id} has an unparseable SMILES")
    return text


def run_dir(settings: Settings, job_id: str) -> Path:
    """The run directory of a job: ``DATA_DIR/jobs/<job id>/``."""
    return Path(settings.data_dir) / "jobs" / job_id


def _job(db: Database, job_id: str, owner: str | None = None) -> Job:
    with db.read() as session:
        job = session.get(Job, job_id)
    if job is None or (owner is not None and job.owner_key_hash != owner):
        raise NotFound(f"no job {job_id!r}")
    return job


def stored_batch(
    db: Database,
    settings: Settings,
    job_id: str,
    n: int,
    min_reward: float | None,
    max_similarity: float,
    owner: str | None = None,
) -> SampleBatchPublic:
    """A diverse batch chosen from the job's stored molecules (the best ones first)."""
    _job(db, job_id, owner)
    stmt = select(Molecule).where(Molecule.job_id == job_id)
    if min_reward is not None:
        stmt = stmt.where(Molecule.reward >= min_reward)
    stmt = stmt.order_by(Molecule.reward.desc(), Molecule.id).limit(settings.stored_candidate_pool)
    with db.read() as session:
        rows = list(session.scalars(stmt))
    by_smiles = {m.smiles: m for m in rows}
    picks = chem.greedy_diverse([chem.Candidate(m.smiles, m.reward) for m in rows], n, max_similarity)
    return SampleBatchPublic(
        job_id=job_id,
        fresh=False,
        n=n,
        min_reward=min_reward,
        max_similarity=max_similarity,
        selection="greedy_by_reward",
        checkpoint_step=None,
        n_sampled=len(rows),
        n_candidates=len(rows),
        items=[to_public(by_smiles[c.smiles]) for c in picks],
    )


def fresh_batch(
    db: Database,
    settings: Settings,
    pool: SamplingPool,
    job_id: str,
    n: int,
    min_reward: float | None,
    max_similarity: float,
    owner: str | None = None,
) -> SampleBatchPublic:
    """Sample ``n`` molecules from the newest checkpoint (in the pool), store them (deduplicated,
    counting repeats), and return a diverse subset; sample again (up to ``fresh_sample_rounds``)
    while the batch is short."""
    _job(db, job_id, owner)
    from gfn.runs import has_checkpoint  # torch-free

    rdir = run_dir(settings, job_id)
    if not has_checkpoint(rdir):
        raise Conflict(
            f"job {job_id} has no checkpoint to sample from yet",
            field="fresh",
            reason="no checkpoint yet; retry when the job has progressed, or use fresh=false",
        )
    chosen: list[chem.Candidate] = []
    candidates: dict[str, chem.Candidate] = {}
    n_sampled = 0
    checkpoint_step: int | None = None
    for _ in range(settings.fresh_sample_rounds):
        result: dict[str, Any] = pool.run(pool_tasks.sample, str(rdir), n)
        checkpoint_step = result.get("checkpoint_step")
        n_sampled += int(result["n_sampled"])
        mols = [m for m in result["molecules"] if m["reward"] is not None]
        _store_samples(db, job_id, mols)
        for m in mols:
            if m["smiles"] not in candidates and (min_reward is None or m["reward"] >= min_reward):
                fp = chem.fingerprint_from_binary(m["fp"]) if m.get("fp") else None
                candidates[m["smiles"]] = chem.Candidate(m["smiles"], float(m["reward"]), fp)
        chosen += chem.greedy_diverse(list(candidates.values()), n, max_similarity, chosen=chosen)
        if len(chosen) >= n:
            break
    with db.read() as session:
        stored = molecules_by_smiles(session, job_id, [c.smiles for c in chosen])
    return SampleBatchPublic(
        job_id=job_id,
        fresh=True,
        n=n,
        min_reward=min_reward,
        max_similarity=max_similarity,
        selection="greedy_by_reward",
        checkpoint_step=checkpoint_step,
        n_sampled=n_sampled,
        n_candidates=len(candidates),
        items=[
            to_public(stored[c.smiles])
            for c in sorted(chosen, key=lambda c: (-c.reward, c.smiles))
            if c.smiles in stored
        ],
    )


def _store_samples(db: Database, job_id: str, mols: list[dict[str, Any]]) -> None:
    """Upsert distinct sampled molecules, adding their counts to ``times_sampled``."""
    records = [
        MoleculeRecord(
            smiles=m["smiles"],
            reward=float(m["reward"]),
            components=m["components"],
            count=int(m["count"]),
            inchikey=m.get("inchikey"),
        )
        for m in mols
    ]
    with db.write() as session:
        upsert_molecules(session, job_id, records)
