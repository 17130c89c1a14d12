"""The two pool phases of a fresh batch (draw, then score only what is new), run in-process with a
recording pool on both backends: every sample counted once, stored scores reused instead of
recomputed, work split over the pool's processes, and the batch still diverse and best first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app.db.models import Molecule
from app.db.session import Database
from app.services import chem, molecules, pool_tasks
from app.services.sampling_pool import SamplingPool
from app.settings import Settings
from tests.app.jobs import trained_job

pytestmark = pytest.mark.slow

T = TypeVar("T")


class InlinePool(SamplingPool):
    """A sampling pool that runs its tasks in this process and records every call."""

    def __init__(self, processes: int) -> None:
        super().__init__(processes, timeout_s=60.0)
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self.calls.append((fn.__name__, args))
        return fn(*args, **kwargs)

    def map(self, fn: Callable[..., T], calls: Sequence[tuple[Any, ...]]) -> list[T]:
        self.calls.extend((fn.__name__, args) for args in calls)
        return [fn(*args) for args in calls]

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for fn, args in self.calls if fn == name]


def _stored(db: Database, job_id: str) -> dict[str, tuple[int, float]]:
    with db.read() as s:
        rows = s.execute(
            select(Molecule.smiles, Molecule.times_sampled, Molecule.reward).where(Molecule.job_id == job_id)
        ).all()
    return {smi: (int(times), float(reward)) for smi, times, reward in rows}


@pytest.mark.parametrize("processes", [1, 2])
def test_every_sample_counted_and_stored_scores_reused(
    client: TestClient, db: Database, settings: Settings, processes: int
) -> None:
    job_id = trained_job(client, db, settings)
    rdir = molecules.run_dir(settings, job_id)
    pool = InlinePool(processes)
    before = _stored(db, job_id)

    batch = molecules.fresh_batch(db, settings, pool, job_id, 40, None, 0.9)
    after = _stored(db, job_id)
    # phase 1 of each round: the n draws split over the processes, all from the checkpoint current at
    # request time
    draws = pool.named("sample_molecules")
    assert batch.n_sampled in (40, 80) and len(draws) == processes * batch.n_sampled // 40
    assert sum(args[1] for args in draws) == batch.n_sampled
    assert all(sum(a[1] for a in draws[i : i + processes]) == 40 for i in range(0, len(draws), processes))
    assert {args[2] for args in draws} == {molecules.newest_checkpoint(rdir)}
    # phase 2: only molecules the job did not have are scored (each once), known ones only fingerprinted
    scored = [s for args in pool.named("describe_molecules") for s in args[1]]
    assert scored and len(scored) == len(set(scored)) and not set(scored) & set(before)
    if processes == 2 and len(scored) >= 16:
        assert len(pool.named("describe_molecules")) >= 2
    # every valid sample counted once: the stored totals grew by the samples drawn, minus invalid ones
    grown = sum(t for t, _ in after.values()) - sum(t for t, _ in before.values())
    assert batch.n_sampled - 5 <= grown <= batch.n_sampled
    assert all(after[s][0] >= t for s, (t, _) in before.items())
    assert all(after[s][1] == r for s, (_, r) in before.items())  # stored scores are kept
    items = [m.smiles for m in batch.items]
    assert items and len(set(items)) == len(items)
    assert all(chem.tanimoto(a, b) <= 0.9 for i, a in enumerate(items) for b in items[i + 1 :])
    rewards = [m.reward for m in batch.items]
    assert rewards == sorted(rewards, reverse=True)
    assert all(after[m.smiles][1] == m.reward for m in batch.items)


def test_candidates_use_the_stored_score(client: TestClient, db: Database, settings: Settings) -> None:
    """A molecule the job already has is not rescored: its stored reward is what the selection sees."""
    job_id = trained_job(client, db, settings)
    pool = InlinePool(1)
    molecules.fresh_batch(db, settings, pool, job_id, 40, None, 1.0)
    known = set(_stored(db, job_id))
    with db.write() as s:  # a marker no real QED reaches
        s.execute(update(Molecule).where(Molecule.job_id == job_id).values(reward=0.999))
    pool.calls.clear()
    batch = molecules.fresh_batch(db, settings, pool, job_id, 40, 0.999, 1.0)
    scored = {s for args in pool.named("describe_molecules") for s in args[1]}
    assert not scored & known
    assert batch.items, "a tiny library repeats molecules within 40 samples"
    assert all(m.smiles in known and m.reward == 0.999 for m in batch.items)


def test_pool_tasks_phases(client: TestClient, db: Database, settings: Settings) -> None:
    """sample_molecules counts every draw; describe_molecules scores, describes and fingerprints."""
    job_id = trained_job(client, db, settings)
    rdir = str(molecules.run_dir(settings, job_id))
    drawn = pool_tasks.sample_molecules(rdir, 25, seed=3)
    again = pool_tasks.sample_molecules(rdir, 25, seed=3)
    assert drawn.pop("cpu_s") >= 0 and again.pop("cpu_s") >= 0
    assert drawn == again  # seeded: reproducible
    assert drawn["n_sampled"] == 25 and sum(drawn["counts"].values()) + drawn["n_invalid"] == 25
    smiles = sorted(drawn["counts"])
    out = pool_tasks.describe_molecules(rdir, smiles + ["not a smiles"], ["CCO"])
    *good, bad = out["scored"]
    assert [m["input"] for m in good] == smiles
    for m in good:
        assert m["valid"] and m["smiles"] == chem.canonical(m["input"]) and m["reward"] > 0
        assert m["inchikey"] == chem.inchikey(m["smiles"]) and m["components"]["qed"] == m["reward"]
        assert chem.fingerprint_from_binary(m["fp"]) == chem.fingerprint(m["smiles"])
    assert bad["input"] == "not a smiles" and not bad["valid"] and bad["smiles"] is None
    assert list(out["fps"]) == ["CCO"] and chem.fingerprint_from_binary(out["fps"]["CCO"]) == chem.fingerprint("CCO")


def test_newest_checkpoint(tmp_path: Path) -> None:
    assert molecules.newest_checkpoint(tmp_path) is None
    (tmp_path / "checkpoints").mkdir()
    for step in (2, 10, 9):
        (tmp_path / "checkpoints" / f"step_{step:09d}.pt").touch()
    assert molecules.newest_checkpoint(tmp_path) == "step_000000010.pt"
