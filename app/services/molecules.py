"""Stored molecules: listing, details, depictions, and diverse candidate batches (stored or fresh)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, select

from app.db.models import Molecule
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
from app.services.jobs import get_job, visible
from app.services.sampling_pool import SamplingPool
from app.settings import Settings

log = logging.getLogger(__name__)

# split a phase over the pool's processes only when each part gets at least this much work: below,
# the extra round trip and the smaller policy batches cost more than the parallelism saves
MIN_SAMPLES_PER_PROCESS = 16
MIN_SCORED_PER_PROCESS = 8
_LOOKUP_CHUNK = 2000  # SMILES per IN (...) query (bound-parameter limits)

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
    if m is None or not visible(m, owner):
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
    get_job(db, job_id, owner)
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
    while the batch is short.

    A round is two pool phases (see :func:`_sample_round`): draw the trajectories, then score only the
    molecules the job has no stored score for. Both phases are split over the pool's processes when
    there is enough work. Every sample counts; reusing a stored score changes no sample, only skips
    recomputing a deterministic reward (and the response shows stored values anyway).
    """
    get_job(db, job_id, owner)
    rdir = run_dir(settings, job_id)
    checkpoint = newest_checkpoint(rdir)
    if checkpoint is None:
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
        sampled = _sample_round(db, pool, job_id, rdir, checkpoint, n, min_reward, set(candidates))
        checkpoint_step = sampled.checkpoint_step
        n_sampled += sampled.n_sampled
        _store_samples(db, job_id, sampled.records)
        candidates.update(sampled.candidates)
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


def newest_checkpoint(rdir: Path) -> str | None:
    """File name of the run's newest checkpoint (torch-free: names sort by step), or None."""
    files = sorted((rdir / "checkpoints").glob("step_*.pt"))
    return files[-1].name if files else None


@dataclass
class _Round:
    """One sampling round: what to store and the new diversity candidates."""

    checkpoint_step: int | None
    n_sampled: int
    n_invalid: int
    records: list[MoleculeRecord]
    candidates: dict[str, chem.Candidate]


def _split(items: Sequence[Any], parts: int) -> list[list[Any]]:
    """``items`` in at most ``parts`` contiguous chunks of near-equal size (no empty chunk)."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (i < extra)
        out.append(list(items[start:end]))
        start = end
    return [c for c in out if c]


class _Stored(NamedTuple):
    """The stored score of a molecule (reused instead of recomputing it)."""

    reward: float
    components: dict[str, Any] | None
    inchikey: str | None


def _stored_scores(db: Database, job_id: str, smiles: Sequence[str]) -> dict[str, _Stored]:
    """Stored reward, components and InChIKey of those of ``smiles`` the job already has."""
    cols = (Molecule.smiles, Molecule.reward, Molecule.components, Molecule.inchikey)
    out: dict[str, _Stored] = {}
    with db.read() as session:
        for start in range(0, len(smiles), _LOOKUP_CHUNK):
            chunk = list(smiles[start : start + _LOOKUP_CHUNK])
            rows = session.execute(select(*cols).where(Molecule.job_id == job_id, Molecule.smiles.in_(chunk)))
            for smi, reward, components, key in rows:
                if reward is not None:
                    out[smi] = _Stored(float(reward), components, key)
    return out


def _sample_round(
    db: Database,
    pool: SamplingPool,
    job_id: str,
    rdir: Path,
    checkpoint: str,
    n: int,
    min_reward: float | None,
    have_fp: set[str],
) -> _Round:
    """Draw ``n`` trajectories, reuse the stored scores of known molecules, score the new ones.

    Phase 1 splits the ``n`` draws over the pool's processes (each an independent sampler of the same
    checkpoint, so the union is ``n`` samples of the policy). Phase 2 scores and describes the new
    molecules, and fingerprints the known ones that may become candidates (``have_fp``: already
    candidates, no fingerprint needed).
    """
    t0 = time.perf_counter()
    ways = min(pool.processes, max(1, n // MIN_SAMPLES_PER_PROCESS))
    shares = [n // ways + (i < n % ways) for i in range(ways)]
    parts = pool.map(pool_tasks.sample_molecules, [(str(rdir), k, checkpoint) for k in shares])
    counts: Counter[str] = Counter()
    for part in parts:
        counts.update(part["counts"])
    n_invalid = sum(int(p["n_invalid"]) for p in parts)
    t1 = time.perf_counter()
    known = _stored_scores(db, job_id, list(counts))
    new = [s for s in counts if s not in known]
    want_fp = [s for s, k in known.items() if s not in have_fp and (min_reward is None or k.reward >= min_reward)]
    t2 = time.perf_counter()
    # a new molecule costs the reward, InChIKey and fingerprint; a known one a parse and a fingerprint
    work = len(new) + len(want_fp) // 8
    ways = min(pool.processes, max(1, work // MIN_SCORED_PER_PROCESS))
    score_chunks, fp_chunks = _split(new, ways), _split(want_fp, ways)
    tasks = [
        (str(rdir), score_chunks[i] if i < len(score_chunks) else [], fp_chunks[i] if i < len(fp_chunks) else [])
        for i in range(max(len(score_chunks), len(fp_chunks)))
    ]
    described = pool.map(pool_tasks.describe_molecules, tasks)
    log.debug(
        "fresh round: %d draws in %d part(s) %.0f ms (cpu %s ms); lookup %.0f ms, %d known; "
        "%d scored in %d part(s) %.0f ms (cpu %s ms)",
        n,
        len(parts),
        (t1 - t0) * 1000,
        [round(p["cpu_s"] * 1000) for p in parts],
        (t2 - t1) * 1000,
        len(known),
        len(new),
        len(described),
        (time.perf_counter() - t2) * 1000,
        [round(d["cpu_s"] * 1000) for d in described],
    )

    records: dict[str, MoleculeRecord] = {}
    candidates: dict[str, chem.Candidate] = {}
    fps: dict[str, bytes] = {}
    for d in described:
        fps.update(d["fps"])
    for smiles, stored in known.items():
        records[smiles] = MoleculeRecord(
            smiles=smiles,
            reward=stored.reward,
            components=stored.components,
            count=counts[smiles],
            inchikey=stored.inchikey,
        )
        if smiles in fps:
            candidates[smiles] = chem.Candidate(smiles, stored.reward, chem.fingerprint_from_binary(fps[smiles]))
    for d in described:
        for m in d["scored"]:
            count = counts[m["input"]]
            if not m["valid"] or m["reward"] is None:
                n_invalid += count
                continue
            key = m["smiles"]
            if key in records:  # two spellings of one molecule
                records[key].count += count
                continue
            records[key] = MoleculeRecord(
                smiles=key,
                reward=float(m["reward"]),
                components=m["components"],
                count=count,
                inchikey=m.get("inchikey"),
            )
            if key not in have_fp and m.get("fp") and (min_reward is None or m["reward"] >= min_reward):
                candidates[key] = chem.Candidate(key, float(m["reward"]), chem.fingerprint_from_binary(m["fp"]))
    steps = [p.get("checkpoint_step") for p in parts]
    return _Round(
        checkpoint_step=max((int(s) for s in steps if s is not None), default=None),
        n_sampled=sum(int(p["n_sampled"]) for p in parts),
        n_invalid=n_invalid,
        records=list(records.values()),
        candidates=candidates,
    )


def _store_samples(db: Database, job_id: str, records: list[MoleculeRecord]) -> None:
    """Upsert distinct sampled molecules in one statement, adding their counts to ``times_sampled``."""
    if records:
        with db.write() as session:
            upsert_molecules(session, job_id, records)
