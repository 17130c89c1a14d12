"""Test helper: a small job trained to completion by an in-process worker."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.db.session import Database
from app.schemas.libraries import EXAMPLE_LIBRARY
from app.settings import Settings
from app.worker import Worker

SPEC = {"components": [{"name": "qed"}]}


def trained_job(client: TestClient, db: Database, settings: Settings) -> str:
    """POST the tiny library and a 2-step QED job, run it to the end; its id."""
    lib = client.post("/libraries", json={"name": "tiny", "library": EXAMPLE_LIBRARY}).json()
    job = client.post(
        "/jobs",
        json={"reward": SPEC, "library": lib["id"], "training": {"steps": 2, "batch_size": 4, "max_blocks": 3}},
    ).json()
    assert Worker(settings, db=db).run_once()
    return str(job["id"])
