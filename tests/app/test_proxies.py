"""/proxies: CSV upload → a proxy job → a trained model usable as the ``proxy`` reward component."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.db.session import Database
from app.settings import Settings
from app.worker import Worker

MOLS = [
    "CCO",
    "CCN",
    "CCC",
    "CCCC",
    "c1ccccc1",
    "c1ccccc1O",
    "CC(=O)O",
    "CCOC",
    "c1ccncc1",
    "CCCCO",
    "CC(C)O",
    "OCCO",
    "NCCN",
    "c1ccc(N)cc1",
    "CC(=O)N",
    "COC",
    "CCCl",
    "CCBr",
    "c1ccsc1",
    "C1CCCCC1",
]


def _csv(sep: str = ";") -> bytes:
    from rdkit import Chem

    lines = [f"Smiles{sep}pChEMBL Value{sep}Note"]
    for s in MOLS:
        lines.append(f"{s}{sep}{Chem.MolFromSmiles(s).GetNumAtoms() / 3:.2f}{sep}x")
    lines.append(f"CCO.Cl{sep}{sep}salt, empty value")
    return ("\n".join(lines) + "\n").encode()


def _upload(client: TestClient, data: bytes, **form: Any) -> Any:
    fields = {
        "name": "atoms",
        "smiles_column": "Smiles",
        "value_column": "pChEMBL Value",
        "separator": ";",
        "epochs": "2",
    } | {k: str(v) for k, v in form.items()}
    return client.post("/proxies", data=fields, files={"file": ("data.csv", data, "text/csv")})


def test_upload_validation(client: TestClient) -> None:
    r = _upload(client, _csv(), smiles_column="SMILES")
    assert r.status_code == 422 and r.json()["field"] == "smiles_column" and "Smiles" in r.json()["reason"]
    r = _upload(client, _csv(), value_column="pIC50")
    assert r.status_code == 422 and r.json()["field"] == "value_column"
    r = _upload(client, _csv(), separator="#")
    assert r.status_code == 422 and r.json()["field"] == "separator"
    r = _upload(client, b"Smiles;pChEMBL Value\nCCO;1\n")
    assert r.status_code == 422 and r.json()["field"] == "file"
    r = _upload(client, _csv(), epochs=0)
    assert r.status_code == 422 and r.json()["field"] == "epochs"
    r = client.post("/proxies", data={"name": "x"})
    assert r.status_code == 422 and r.json()["field"] == "file"
    assert client.get("/proxies").json()["items"] == []
    assert client.get("/jobs").json()["items"] == []


def test_proxy_is_trained_and_usable(client: TestClient, db: Database, settings: Settings) -> None:
    r = _upload(client, _csv())
    assert r.status_code == 202, r.text
    proxy = r.json()
    assert r.headers["location"] == f"/proxies/{proxy['id']}"
    assert proxy["status"] == "queued" and proxy["trained"] is False and proxy["n_rows"] == len(MOLS) + 1
    job = client.get(f"/jobs/{proxy['job_id']}").json()
    assert job["kind"] == "proxy" and job["reward"] is None
    spec = {"components": [{"name": "proxy", "params": {"model": proxy["id"]}}]}
    r = client.post("/jobs", json={"reward": spec})
    assert r.status_code == 422 and r.json()["field"] == "reward.components[0].params.model"
    assert "not trained yet" in r.json()["reason"]

    assert Worker(settings, db=db).run_once()
    trained = client.get(f"/proxies/{proxy['id']}").json()
    assert trained["status"] == "succeeded", trained["error"]
    assert trained["trained"] is True and {"test_rmse", "test_spearman"} <= set(trained["metrics"])
    assert [p["id"] for p in client.get("/proxies").json()["items"]] == [proxy["id"]]
    assert len(client.get(f"/jobs/{proxy['job_id']}/metrics").json()["items"]) == 2

    r = client.post("/jobs", json={"reward": spec, "training": {"steps": 2}})
    assert r.status_code == 202, r.text
    assert r.json()["reward"] == spec  # stored as posted; the worker resolves the id again
    r = client.post("/jobs", json={"reward": {"components": [{"name": "proxy", "params": {"model": "/etc"}}]}})
    assert r.status_code == 422 and "no proxy" in r.json()["reason"]
    assert client.get("/proxies/nope").status_code == 404


@pytest.mark.slow
def test_score_with_proxy_runs_in_the_pool(client: TestClient, db: Database, settings: Settings) -> None:
    proxy = _upload(client, _csv()).json()
    assert Worker(settings, db=db).run_once()
    spec = {"components": [{"name": "proxy", "params": {"model": proxy["id"]}}]}
    r = client.post("/score", json={"reward": spec, "smiles": ["CCCCCC", "C", "bad"]})
    assert r.status_code == 200, r.text
    big, small, bad = r.json()["items"]
    assert big["valid"] and small["valid"] and not bad["valid"]
    assert "proxy" in big["components"]


def test_seh_proxy_weights_are_server_side(client: TestClient) -> None:
    spec = {"components": [{"name": "seh_proxy", "params": {"weights": "/etc/passwd"}}]}
    r = client.post("/score", json={"reward": spec, "smiles": ["CCO"]})
    assert r.status_code == 422 and r.json()["field"] == "reward.components[0].params.weights"


def test_seh_proxy_uses_the_server_setting(
    db_url: str, settings_factory: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    from app.main import create_app

    weights = Path(__file__).resolve().parents[3] / "shared" / "data" / "seh_proxy.npz"
    if not weights.is_file():
        pytest.skip(f"sEH proxy weights not available: {weights} is absent")
    monkeypatch.delenv("MOLGFN_SEH_PROXY_WEIGHTS", raising=False)
    spec = {"components": [{"name": "seh_proxy"}]}
    with TestClient(create_app(settings_factory(db_url))) as client:
        r = client.post("/score", json={"reward": spec, "smiles": ["CCO"]})
        assert r.status_code == 422 and r.json()["field"].startswith("reward.components[0]")
    with TestClient(create_app(settings_factory(db_url, seh_proxy_weights=str(weights)))) as client:
        r = client.post("/score", json={"reward": spec, "smiles": ["c1ccccc1CCN", "CCO"]})
        assert r.status_code == 200, r.text
        assert all(i["valid"] and "seh_proxy" in i["components"] for i in r.json()["items"])
        r = client.post("/jobs", json={"reward": spec, "training": {"steps": 1}})
        assert r.status_code == 202 and r.json()["reward"] == spec
