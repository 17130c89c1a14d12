"""GET /jobs/{id}/samples?fresh=true on both backends: a job trained by a real worker (real
trainer), sampled in the spawned pool, stored with repeats counted, returned diverse."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db.models import Molecule
from app.db.session import Database
from app.main import create_app
from app.services import chem
from app.settings import Settings
from app.worker import Worker
from tests.app.jobs import queued_job, trained_job

pytestmark = pytest.mark.slow


def test_fresh_samples(client: TestClient, db: Database, settings: Settings) -> None:
    job_id = queued_job(client)
    assert client.get(f"/jobs/{job_id}/samples", params={"fresh": True}).status_code == 409
    assert Worker(settings, db=db).run_once()
    assert client.get(f"/jobs/{job_id}").json()["status"] == "succeeded"
    with db.read() as s:
        before = s.scalar(select(func.sum(Molecule.times_sampled)).where(Molecule.job_id == job_id))

    r = client.get(f"/jobs/{job_id}/samples", params={"n": 30, "fresh": True, "max_similarity": 0.9})
    assert r.status_code == 200, r.text
    batch = r.json()
    assert batch["fresh"] is True and batch["checkpoint_step"] == 2 and batch["n_sampled"] >= 30
    smiles = [m["smiles"] for m in batch["items"]]
    assert smiles and len(set(smiles)) == len(smiles)
    assert all(chem.canonical(s) == s for s in smiles)
    assert all(chem.tanimoto(a, b) <= 0.9 for i, a in enumerate(smiles) for b in smiles[i + 1 :])
    rewards = [m["reward"] for m in batch["items"]]
    assert rewards == sorted(rewards, reverse=True) and all(r > 0 for r in rewards)
    with db.read() as s:
        after = s.scalar(select(func.sum(Molecule.times_sampled)).where(Molecule.job_id == job_id))
    assert after >= before + batch["n_sampled"] - 5  # every valid sample counted (a few may be invalid)

    high = client.get(
        f"/jobs/{job_id}/samples", params={"n": 5, "fresh": True, "min_reward": 0.5, "max_similarity": 1.0}
    ).json()
    assert all(m["reward"] >= 0.5 for m in high["items"])


def test_fresh_samples_two_processes(db_url: str, db: Database, settings_factory: Callable[..., Settings]) -> None:
    """With two pool processes the draws and the scoring are split over both (real spawned children);
    every sample is still counted once and the batch is diverse."""
    settings = settings_factory(db_url, sampling_processes=2)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        job_id = trained_job(client, db, settings)
        with db.read() as s:
            before = s.scalar(select(func.sum(Molecule.times_sampled)).where(Molecule.job_id == job_id))
        r = client.get(f"/jobs/{job_id}/samples", params={"n": 40, "fresh": True, "max_similarity": 0.8})
        assert r.status_code == 200, r.text
        batch = r.json()
        assert app.state.pool.tasks_done >= 4  # two draws and at least one scoring task per round
    assert batch["n_sampled"] in (40, 80) and batch["checkpoint_step"] == 2
    with db.read() as s:
        after = s.scalar(select(func.sum(Molecule.times_sampled)).where(Molecule.job_id == job_id))
    assert before + batch["n_sampled"] - 5 <= after <= before + batch["n_sampled"]
    smiles = [m["smiles"] for m in batch["items"]]
    assert smiles and len(set(smiles)) == len(smiles)
    assert all(chem.tanimoto(a, b) <= 0.8 for i, a in enumerate(smiles) for b in smiles[i + 1 :])
