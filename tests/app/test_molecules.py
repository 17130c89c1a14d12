"""/molecules: filters, ordering, pagination, details with components, SVG depictions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

SMILES = [("CCO", 0.2), ("c1ccccc1O", 0.9), ("CC(=O)O", 0.5), ("c1ccncc1", 0.7), ("CCN", 0.1)]


def test_list_filter_order_paginate(
    client: TestClient, make_job: Callable[..., Any], add_molecules: Callable[..., Any]
) -> None:
    job = make_job(status="succeeded")
    other = make_job(status="succeeded")
    add_molecules(job.id, SMILES)
    add_molecules(other.id, [("CCCC", 0.95)])
    r = client.get("/molecules", params={"job_id": job.id})
    assert r.status_code == 200
    body = r.json()
    assert [m["reward"] for m in body["items"]] == [0.9, 0.7, 0.5, 0.2, 0.1]
    assert body["links"]["next"] is None
    r = client.get("/molecules", params={"job_id": job.id, "min_reward": 0.5, "order_by": "reward"})
    assert [m["reward"] for m in r.json()["items"]] == [0.5, 0.7, 0.9]
    page1 = client.get("/molecules", params={"job_id": job.id, "limit": 2}).json()
    assert [m["reward"] for m in page1["items"]] == [0.9, 0.7]
    page2 = client.get(page1["links"]["next"]).json()
    assert [m["reward"] for m in page2["items"]] == [0.5, 0.2]
    everything = client.get("/molecules").json()["items"]
    assert everything[0]["smiles"] == "CCCC" and len(everything) == 6
    by_id = client.get("/molecules", params={"order_by": "id"}).json()["items"]
    assert [m["id"] for m in by_id] == sorted(m["id"] for m in by_id)


def test_list_validation(client: TestClient) -> None:
    r = client.get("/molecules", params={"order_by": "smell"})
    assert r.status_code == 422 and r.json()["field"] == "order_by"
    r = client.get("/molecules", params={"limit": 0})
    assert r.status_code == 422 and r.json()["field"] == "limit"
    r = client.get("/molecules", params={"limit": 100000})
    assert r.status_code == 422 and r.json()["field"] == "limit"


def test_get_molecule_and_image(
    client: TestClient, make_job: Callable[..., Any], add_molecules: Callable[..., Any]
) -> None:
    job = make_job(status="succeeded")
    (mol,) = add_molecules(job.id, [("c1ccccc1O", 0.9)])
    r = client.get(f"/molecules/{mol.id}")
    assert r.status_code == 200
    body = r.json()
    assert body["smiles"] == "Oc1ccccc1"
    assert body["components"] == {"qed": 0.9}
    assert body["inchikey"] == "ISWSIDIOOBJBQZ-UHFFFAOYSA-N"
    assert body["links"]["image"] == f"/molecules/{mol.id}/image.svg"
    svg = client.get(f"/molecules/{mol.id}/image.svg", params={"width": 200, "height": 150})
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.lstrip().startswith("<?xml") and "<svg" in svg.text and "width='200px'" in svg.text
    assert client.get("/molecules/999999").status_code == 404
    assert client.get("/molecules/999999/image.svg").status_code == 404
    assert client.get("/molecules/abc").status_code == 422
