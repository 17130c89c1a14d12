"""Test helper: a small job trained to completion by an in-process worker."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.db.session import Database
from app.schemas.libraries import EXAMPLE_LIBRARY
from app.settings import Settings
from app.worker import Worker

SPEC = {"components": [{"name": "qed"}]}


def queued_job(client: TestClient) -> str:
    """POST the tiny library and a 2-step QED job (not run yet); its id."""
    lib = client.post("/libraries", json={"name": "tiny", "library": EXAMPLE_LIBRARY}).json()
    job = client.post(
        "/jobs",
        json={"reward": SPEC, "library": lib["id"], "training": {"steps": 2, "batch_size": 4, "max_blocks": 3}},
    ).json()
    return str(job["id"])


def trained_job(client: TestClient, db: Database, settings: Settings) -> str:
    """:func:`queued_job`, run to the end by an in-process worker; its id."""
    job_id = queued_job(client)
    assert Worker(settings, db=db).run_once()
    return job_id
