"""/libraries: the default library, JSON fragment libraries (both formats), BRICS libraries."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.schemas.libraries import EXAMPLE_LIBRARY


def test_default_library_listed(client: TestClient) -> None:
    r = client.get("/libraries")
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["name"] for i in items] == ["default"]
    default = items[0]
    assert default["source"] == "builtin" and default["n_fragments"] > 10
    detail = client.get("/libraries/default").json()
    assert detail["id"] == default["id"]
    assert detail["data"]["blocks"]
    assert client.get(f"/libraries/{default['id']}").json()["content_hash"] == default["content_hash"]


def test_post_json_library_and_dedup(client: TestClient) -> None:
    r = client.post("/libraries", json={"name": "tiny", "library": EXAMPLE_LIBRARY})
    assert r.status_code == 201, r.text
    lib = r.json()
    assert r.headers["location"] == f"/libraries/{lib['id']}"
    assert lib["name"] == "tiny" and lib["source"] == "json" and lib["n_fragments"] == 3
    again = client.post("/libraries", json={"name": "same-blocks", "library": EXAMPLE_LIBRARY})
    assert again.status_code == 200
    assert again.json()["id"] == lib["id"]
    ids = [i["id"] for i in client.get("/libraries").json()["items"]]
    assert lib["id"] in ids and len(ids) == 2


def test_post_original_format_library(client: TestClient) -> None:
    original = {
        "block_name": {"0": "c1ccccc1_0", "1": "C=O_0"},
        "block_smi": {"0": "c1ccccc1", "1": "C=O"},
        "block_r": {"0": [0, 1, 2], "1": [0, 0]},
    }
    r = client.post("/libraries", json={"name": "orig", "library": original})
    assert r.status_code == 201, r.text
    assert r.json()["n_fragments"] == 2


def test_post_brics_library(client: TestClient) -> None:
    r = client.post("/libraries", json={"name": "brics", "molecules": ["CC(=O)Nc1ccc(O)cc1", "CCOC(=O)c1ccccc1"]})
    assert r.status_code == 201, r.text
    lib = r.json()
    assert lib["source"] == "brics" and lib["n_fragments"] >= 2
    data = client.get(f"/libraries/{lib['id']}").json()["data"]
    assert all(b["attachments"] for b in data["blocks"])


def test_library_errors_name_the_field(client: TestClient) -> None:
    bad = {"blocks": [{"name": "x", "smiles": "C1CC", "attachments": [0]}]}
    r = client.post("/libraries", json={"name": "bad", "library": bad})
    assert r.status_code == 422
    assert r.json()["field"].startswith("blocks[0]")
    r = client.post("/libraries", json={"name": "bad", "molecules": ["not a smiles"]})
    assert r.status_code == 422 and r.json()["field"] == "smiles[0]"
    r = client.post("/libraries", json={"name": "neither"})
    assert r.status_code == 422 and "exactly one" in r.json()["reason"]
    r = client.post("/libraries", json={"name": "both", "library": EXAMPLE_LIBRARY, "molecules": ["C"]})
    assert r.status_code == 422 and "exactly one" in r.json()["reason"]
    r = client.post("/libraries", json={"name": "null", "molecules": None})
    assert r.status_code == 422 and r.json()["field"] == "molecules" and "must not be null" in r.json()["reason"]
    r = client.post("/libraries", json={"name": "x", "library": EXAMPLE_LIBRARY, "extra": 1})
    assert r.status_code == 422 and r.json()["field"] == "extra"
    assert client.get("/libraries/nope").status_code == 404


def test_library_schema_states_exactly_one_source(client: TestClient) -> None:
    """The OpenAPI schema says what the validator enforces: one of the two keys, neither nullable."""
    schema = client.get("/openapi.json").json()["components"]["schemas"]["LibraryCreate"]
    assert [alt["required"] for alt in schema["oneOf"]] == [["library"], ["molecules"]]
    for key in ("library", "molecules"):
        assert "null" not in str(schema["properties"][key])
