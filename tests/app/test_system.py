"""/health, /metrics, OpenAPI and Swagger UI, error mapping (503 when the database is down)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings


def test_health_ok(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok"}


def _unreachable_url(backend: str, tmp_path: Path) -> str:
    if backend == "postgres":
        return "postgresql+psycopg://postgres@127.0.0.1:1/nothing"
    return f"sqlite:///{tmp_path / 'missing-dir' / 'sub' / 'x.db'}"


@pytest.mark.parametrize("backend_", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_database_unreachable_gives_503_not_500(
    backend_: str, tmp_path: Path, settings_factory: Callable[..., Settings]
) -> None:
    app = create_app(settings_factory(_unreachable_url(backend_, tmp_path)))
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/health")
        assert r.status_code == 503
        assert r.json()["database"] == "unreachable"
        for method, path in [
            ("get", "/jobs"),
            ("get", "/jobs/abc"),
            ("get", "/molecules"),
            ("get", "/libraries"),
        ]:
            r = getattr(client, method)(path)
            assert r.status_code == 503, (path, r.text)
            body = r.json()
            assert body["code"] == "unavailable"
            assert "Traceback" not in r.text
        assert client.get("/metrics").status_code == 200  # a scrape survives a database outage


def test_metrics_prometheus_text(client: TestClient) -> None:
    client.get("/health")
    client.get("/jobs/nope")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'molgfn_http_requests_total{method="GET",route="/health",status="200"}' in text
    assert 'route="/jobs/{job_id}",status="404"' in text
    assert 'molgfn_jobs{status="queued"} 0.0' in text
    assert "molgfn_http_request_duration_seconds_bucket" in text


def test_openapi_documents_every_field(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in [
        "/jobs",
        "/jobs/{job_id}",
        "/jobs/{job_id}/cancel",
        "/jobs/{job_id}/metrics",
        "/jobs/{job_id}/samples",
        "/molecules",
        "/molecules/{molecule_id}",
        "/molecules/{molecule_id}/image.svg",
        "/score",
        "/libraries",
        "/health",
        "/metrics",
    ]:
        assert path in paths, path
    schemas = spec["components"]["schemas"]
    for name, schema in schemas.items():
        if not name.endswith(("Create", "Public", "List", "Links", "Progress")):
            continue
        for field, prop in schema.get("properties", {}).items():
            described = prop.get("description")
            if not described and "$ref" in prop:  # a nested model: described by its own schema
                described = schemas[prop["$ref"].rsplit("/", 1)[-1]].get("description")
            assert described, f"{name}.{field} has no description"
    for name in ("JobCreate", "ScoreCreate", "LibraryCreate"):
        assert schemas[name].get("examples"), f"{name} has no examples"
    assert schemas["JobCreate"]["properties"]["reward"]["$ref"] == "#/components/schemas/RewardSpec"
    assert "RewardSpec" in schemas and "TrainingConfig" in schemas
    # errors are documented with the one error schema
    assert paths["/jobs"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorPublic"
    )


def test_swagger_ui(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    assert "swagger" in r.text.lower()


def test_unknown_route_is_json_404(client: TestClient) -> None:
    r = client.get("/no/such/thing")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_body_limit_413(db_url: str, settings_factory: Callable[..., Settings]) -> None:
    app = create_app(settings_factory(db_url, max_upload_bytes=2048))
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/score", json={"reward": {"components": [{"name": "qed"}]}, "smiles": ["C" * 50] * 100})
        assert r.status_code == 413
        assert r.json()["code"] == "too_large"


def test_api_keys(db_url: str, settings_factory: Callable[..., Settings]) -> None:
    app = create_app(settings_factory(db_url, api_keys=("s3cret",)))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/health").status_code == 200  # open: probes need no key
        r = client.get("/jobs")
        assert r.status_code == 401
        assert r.json()["field"] == "X-API-Key"
        assert client.get("/jobs", headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.get("/jobs", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_sampling_pool_defaults_to_two_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh batch splits its draws and scoring over the pool: 2 processes by default (1 on one core)."""
    from app.settings import get_settings

    monkeypatch.delenv("MOLGFN_SAMPLING_PROCESSES", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert get_settings().sampling_processes == 2
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert get_settings().sampling_processes == 1
    monkeypatch.setenv("MOLGFN_SAMPLING_PROCESSES", "4")
    assert get_settings().sampling_processes == 4
