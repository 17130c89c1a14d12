"""End to end, with real processes: ``molgfn serve`` on a SQLite file, and two ``molgfn worker``
processes sharing jobs on PostgreSQL. Real training, real sampling pool, real databases."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.schemas.libraries import EXAMPLE_LIBRARY
from app.services import chem
from app.settings import Settings
from benchmarks._common import molgfn_env, molgfn_server, spawn_molgfn, stop_process

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SPEC = {
    "components": [
        {"name": "qed"},
        {"name": "mw", "transform": {"type": "double_sigmoid", "low": 50, "high": 400}},
    ]
}
TRAINING = {"loss": "tb", "steps": 3, "batch_size": 8, "max_blocks": 3, "seed": 1}


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    return molgfn_env(
        url,
        tmp_path / "data",
        MOLGFN_POLL_INTERVAL_S="0.2",
        MOLGFN_PROGRESS_EVERY_S="0.5",
        MOLGFN_HEARTBEAT_INTERVAL_S="0.5",
        MOLGFN_LOG_LEVEL="INFO",
        OMP_NUM_THREADS="1",
    )


def _wait_until(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[httpx.Client]:
    """``molgfn serve --workers 1`` on a fresh SQLite file, as a subprocess on a free port."""
    env = _env(tmp_path, f"sqlite:///{tmp_path / 'e2e.db'}")
    args = ["--host", "127.0.0.1", "--workers", "1"]
    with (
        molgfn_server(args, env, tmp_path, tmp_path / "serve.log", ready_timeout=90) as (proc, base_url),
        httpx.Client(base_url=base_url, timeout=120) as client,
    ):
        yield client
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]
    workers = [int(p) for p in re.findall(r"started worker process (\d+)", (tmp_path / "serve.log").read_text())]
    assert workers, "serve started its worker"
    for pid in workers:  # stopped with the server, not orphaned
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _check_batch(client: httpx.Client, batch: dict[str, Any], max_similarity: float) -> None:
    items = batch["items"]
    assert items, batch
    smiles = [m["smiles"] for m in items]
    assert len(set(smiles)) == len(smiles), "unique"
    for s in smiles:
        assert chem.canonical(s) == s, f"valid canonical SMILES: {s}"
    for i, a in enumerate(smiles):
        for b in smiles[i + 1 :]:
            assert chem.tanimoto(a, b) <= max_similarity, (a, b)
    scored = client.post("/score", json={"reward": SPEC, "smiles": smiles}).json()["items"]
    for m, s in zip(items, scored, strict=True):
        assert m["reward"] == pytest.approx(s["reward"], rel=1e-6), "scored with the job's reward"
        stored = client.get(f"/molecules/{m['id']}")
        assert stored.status_code == 200 and stored.json()["smiles"] == m["smiles"], "stored"


def test_serve_trains_and_serves_diverse_samples(served: httpx.Client, tmp_path: Path) -> None:
    client = served
    lib = client.post("/libraries", json={"name": "tiny", "library": EXAMPLE_LIBRARY})
    assert lib.status_code == 201, lib.text
    r = client.post("/jobs", json={"reward": SPEC, "training": TRAINING, "library": lib.json()["id"]})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]

    def finished() -> dict[str, Any] | None:
        job = client.get(f"/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    job = _wait_until(finished, 300, "the job to finish")
    assert job["status"] == "succeeded", job
    assert job["progress"]["step"] == TRAINING["steps"] and job["progress"]["checkpoint_step"] == TRAINING["steps"]
    assert client.get(f"/jobs/{job_id}/metrics").json()["items"]
    trained = client.get("/molecules", params={"job_id": job_id, "limit": 1000}).json()["items"]
    assert trained and all(m["first_seen_step"] is not None for m in trained)

    fresh = client.get(f"/jobs/{job_id}/samples", params={"n": 20, "fresh": True, "max_similarity": 0.8})
    assert fresh.status_code == 200, fresh.text
    batch = fresh.json()
    assert batch["fresh"] is True and batch["checkpoint_step"] == TRAINING["steps"] and batch["n_sampled"] >= 20
    _check_batch(client, batch, 0.8)
    after = client.get("/molecules", params={"job_id": job_id, "limit": 1000}).json()["items"]
    assert sum(m["times_sampled"] for m in after) > sum(m["times_sampled"] for m in trained), "samples stored"

    stored = client.get(f"/jobs/{job_id}/samples", params={"n": 10, "max_similarity": 0.6}).json()
    assert stored["fresh"] is False
    _check_batch(client, stored, 0.6)
    assert client.get(f"/molecules/{stored['items'][0]['id']}/image.svg").text.count("<svg") == 1


@pytest.mark.postgres
def test_two_workers_share_jobs_each_run_once(
    pg_url: str, tmp_path: Path, settings_factory: Callable[..., Settings]
) -> None:
    from app.db.migrate import upgrade

    upgrade(pg_url)
    env = _env(tmp_path, pg_url)
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [spawn_molgfn(["worker"], env, ROOT, log) for log in logs]
    try:
        # both polling before any job exists; otherwise the first one ready may run all five tiny jobs
        # while the other still imports torch
        _wait_until(lambda: all("ready (polling" in log.read_text() for log in logs), 300, "both workers ready")
        app = create_app(settings_factory(pg_url, data_dir=tmp_path / "data"))
        with TestClient(app) as client:
            lib = client.post("/libraries", json={"name": "tiny", "library": EXAMPLE_LIBRARY}).json()
            ids = []
            for seed in range(5):
                r = client.post(
                    "/jobs",
                    json={
                        "reward": SPEC,
                        "library": lib["id"],
                        "training": TRAINING | {"steps": 2, "seed": seed},
                    },
                )
                assert r.status_code == 202, r.text
                ids.append(r.json()["id"])

            def all_done() -> list[dict[str, Any]] | None:
                jobs = [client.get(f"/jobs/{i}").json() for i in ids]
                return jobs if all(j["status"] in ("succeeded", "failed") for j in jobs) else None

            jobs = _wait_until(all_done, 400, "all jobs to finish")
        assert all(j["status"] == "succeeded" for j in jobs), [j["error"] for j in jobs]
        assert all(j["attempts"] == 1 for j in jobs)
    finally:
        for w in workers:
            stop_process(w, timeout=60)
    claims: Counter[str] = Counter()
    per_worker = []
    for path in logs:
        found = re.findall(r"claimed job ([0-9a-f]{32})", path.read_text())
        per_worker.append(set(found))
        claims.update(found)
    assert claims == Counter({i: 1 for i in ids}), "each job claimed exactly once"
    assert all(per_worker), "both workers took jobs"
    for w in workers:
        assert w.returncode == 0, "workers exit cleanly on SIGTERM"
