"""/jobs: creation with validation up front, listing, reading, cancelling, metrics, stored batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from app import queue
from app.db.session import Database
from app.schemas.libraries import EXAMPLE_LIBRARY
from app.services import chem
from app.settings import Settings

SPEC = {"components": [{"name": "qed"}]}


def _post(client: TestClient, **body: Any) -> Any:
    return client.post("/jobs", json={"reward": SPEC, "training": {"steps": 5, "batch_size": 4}} | body)


def test_create_job(client: TestClient) -> None:
    r = _post(client, training={"steps": 20, "batch_size": 8, "max_blocks": 3})
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/jobs/{job['id']}"
    assert job["status"] == "queued" and job["kind"] == "gflownet"
    assert job["training"]["steps"] == 20 and job["training"]["loss"] == "tb"  # defaults filled in
    assert job["reward"] == SPEC
    assert job["progress"] == {
        "step": 0,
        "total_steps": 20,
        "fraction": 0.0,
        "unique_molecules": 0,
        "checkpoint_step": None,
    }
    assert job["links"]["samples"] == f"/jobs/{job['id']}/samples"
    default = client.get("/libraries/default").json()
    assert job["library_id"] == default["id"]
    assert client.get(f"/jobs/{job['id']}").json() == job


def test_create_job_on_posted_library(client: TestClient) -> None:
    lib = client.post("/libraries", json={"name": "tiny", "library": EXAMPLE_LIBRARY}).json()
    r = _post(client, library=lib["id"])
    assert r.status_code == 202, r.text
    assert r.json()["library_id"] == lib["id"]


def test_create_job_validation_names_the_field(client: TestClient) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"reward": {"components": [{"name": "qedx"}]}}, "reward.components[0].name"),
        ({"reward": {"components": []}}, "reward.components"),
        ({"reward": "qed"}, "reward"),
        ({"training": {"steps": 0}}, "training.steps"),
        ({"training": {"stepz": 3}}, "training.stepz"),
        ({"training": {"min_blocks": 5, "max_blocks": 3}}, "training"),
        ({"training": {"steps": 10**9}}, "training.steps"),
        ({"library": "no-such-library"}, "library"),
        ({"surprise": 1}, "surprise"),
    ]
    for override, field in cases:
        r = _post(client, **override)
        assert r.status_code == 422, (override, r.text)
        body = r.json()
        assert body["field"] == field, (override, body)
        assert body["reason"] and body["message"].startswith(field)
    r = client.post("/jobs", json={"training": {}})
    assert r.status_code == 422 and r.json()["field"] == "reward"
    r = client.post("/jobs", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert client.get("/jobs").json()["items"] == []


def test_component_parameter_errors_are_422(client: TestClient) -> None:
    r = _post(client, reward={"components": [{"name": "similarity"}]})  # params.smiles missing
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith("reward") and "smiles" in r.json()["message"]


def test_spec_size_limit(db_url: str, settings_factory: Callable[..., Settings]) -> None:
    from app.main import create_app

    app = create_app(settings_factory(db_url, max_spec_bytes=256))
    with TestClient(app) as client:
        big = {"components": [{"name": "qed", "weight": 1.0}] * 20}
        r = _post(client, reward=big)
        assert r.status_code == 422 and r.json()["field"] == "reward" and "limit" in r.json()["reason"]


def test_list_jobs_filter_and_paginate(client: TestClient, make_job: Callable[..., Any]) -> None:
    ids = [_post(client).json()["id"] for _ in range(3)]
    done = make_job(status="succeeded")
    r = client.get("/jobs")
    assert [j["id"] for j in r.json()["items"]][:3] == [done.id, *ids[::-1]][:3]
    queued = client.get("/jobs", params={"status": "queued"}).json()["items"]
    assert {j["id"] for j in queued} == set(ids)
    assert [j["id"] for j in client.get("/jobs", params={"status": "succeeded"}).json()["items"]] == [done.id]
    page = client.get("/jobs", params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["links"]["next"]
    rest = client.get(page["links"]["next"]).json()
    assert len(rest["items"]) == 2 and rest["links"]["next"] is None
    r = client.get("/jobs", params={"status": "sleeping"})
    assert r.status_code == 422 and r.json()["field"] == "status"
    assert client.get("/jobs/nope").status_code == 404


def test_cancel(client: TestClient, make_job: Callable[..., Any]) -> None:
    job_id = _post(client).json()["id"]
    r = client.post(f"/jobs/{job_id}/cancel")
    assert r.status_code == 202
    assert r.json()["status"] == "cancelled" and r.json()["finished_at"]
    r = client.post(f"/jobs/{job_id}/cancel")
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    running = make_job(status="running", worker_id="w")
    r = client.post(f"/jobs/{running.id}/cancel")
    assert r.status_code == 202
    assert r.json()["status"] == "running" and r.json()["cancel_requested"] is True
    for status in ("succeeded", "failed"):
        assert client.post(f"/jobs/{make_job(status=status).id}/cancel").status_code == 409
    assert client.post("/jobs/nope/cancel").status_code == 404


def test_metrics_series(client: TestClient, db: Database, make_job: Callable[..., Any]) -> None:
    job = make_job()
    assert queue.claim_next(db.engine, "w", heartbeat_timeout_s=30) is not None
    for step in (2, 4):
        rec = queue.ProgressRecord(
            step=step,
            total_steps=10,
            unique_molecules=step,
            metrics={"loss": 1.0 / step},
            loss=1.0 / step,
            log_z=0.1,
            mean_reward=0.3,
            trajectories_per_s=50.0,
            extra={"loss": 1.0 / step},
        )
        assert queue.record_progress(db.engine, job.id, "w", rec)
    r = client.get(f"/jobs/{job.id}/metrics")
    assert r.status_code == 200
    items = r.json()["items"]
    assert [m["step"] for m in items] == [2, 4] and items[1]["loss"] == 0.25
    assert items[0]["trajectories_per_s"] == 50.0
    j = client.get(f"/jobs/{job.id}").json()
    assert j["progress"]["step"] == 4 and j["progress"]["fraction"] == 0.4
    assert j["latest_metrics"] == {"loss": 0.25}
    assert client.get("/jobs/nope/metrics").status_code == 404


def test_stored_samples_are_diverse(
    client: TestClient, make_job: Callable[..., Any], add_molecules: Callable[..., Any]
) -> None:
    job = make_job(status="succeeded")
    add_molecules(
        job.id,
        [
            ("c1ccccc1CCO", 0.9),
            ("c1ccccc1CCCO", 0.85),
            ("c1ccccc1CCCCO", 0.8),  # near duplicates
            ("CC(=O)Nc1ccc(O)cc1", 0.7),
            ("C1CCNCC1", 0.6),
            ("FC(F)(F)c1ccncc1", 0.5),
            ("CCO", 0.05),
        ],
    )
    r = client.get(f"/jobs/{job.id}/samples", params={"n": 5, "max_similarity": 0.4, "min_reward": 0.1})
    assert r.status_code == 200, r.text
    batch = r.json()
    smiles = [m["smiles"] for m in batch["items"]]
    assert batch["fresh"] is False and batch["selection"] == "greedy_by_reward"
    assert smiles[0] == chem.canonical("c1ccccc1CCO")  # the best is always kept
    assert "CCO" not in smiles  # below min_reward
    assert len(set(smiles)) == len(smiles) <= 5
    for i, a in enumerate(smiles):
        for b in smiles[i + 1 :]:
            assert chem.tanimoto(a, b) <= 0.4
    rewards = [m["reward"] for m in batch["items"]]
    assert rewards == sorted(rewards, reverse=True)
    loose = client.get(f"/jobs/{job.id}/samples", params={"n": 100, "max_similarity": 1.0}).json()
    assert len(loose["items"]) == 7


def test_samples_errors(client: TestClient, make_job: Callable[..., Any]) -> None:
    job = make_job(status="running", worker_id="w")
    r = client.get(f"/jobs/{job.id}/samples", params={"fresh": True})
    assert r.status_code == 409 and "checkpoint" in r.json()["reason"]
    r = client.get(f"/jobs/{job.id}/samples", params={"n": 10**6})
    assert r.status_code == 422 and r.json()["field"] == "n"
    r = client.get(f"/jobs/{job.id}/samples", params={"max_similarity": 1.5})
    assert r.status_code == 422 and r.json()["field"] == "max_similarity"
    assert client.get("/jobs/nope/samples").status_code == 404
    assert client.get("/jobs/nope/samples", params={"fresh": True}).status_code == 404
