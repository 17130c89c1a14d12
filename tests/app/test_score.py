"""POST /score: reward and components per SMILES, invalid SMILES flagged, errors name the field."""

from __future__ import annotations

from fastapi.testclient import TestClient

SPEC = {
    "components": [
        {"name": "qed"},
        {"name": "mw", "transform": {"type": "linear", "low": 0, "high": 500}, "weight": 0.0},
    ]
}


def test_score(client: TestClient) -> None:
    r = client.post("/score", json={"reward": SPEC, "smiles": ["OCC", "c1ccccc1O", "not-a-smiles"]})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["smiles"] for i in items] == ["OCC", "c1ccccc1O", "not-a-smiles"]
    ethanol, phenol, bad = items
    assert ethanol["valid"] and ethanol["canonical_smiles"] == "CCO"
    assert 0 < ethanol["reward"] <= 1
    assert set(ethanol["components"]) >= {"qed", "mw"}
    assert phenol["reward"] != ethanol["reward"]
    assert bad["valid"] is False and bad["reward"] is None and bad["canonical_smiles"] is None


def test_score_validation(client: TestClient) -> None:
    r = client.post("/score", json={"reward": {"components": [{"name": "nope"}]}, "smiles": ["C"]})
    assert r.status_code == 422 and r.json()["field"] == "reward.components[0].name"
    r = client.post("/score", json={"reward": SPEC, "smiles": []})
    assert r.status_code == 422 and r.json()["field"] == "smiles"
    r = client.post("/score", json={"reward": SPEC})
    assert r.status_code == 422 and r.json()["field"] == "smiles"
