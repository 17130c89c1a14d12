"""Hostile input on both databases: every case is a 4xx naming the field (and, for limits, the limit),
never a 5xx, and writes nothing (no job, metric, molecule, checkpoint, proxy or posted library).

The limits are settings (``MOLGFN_MAX_*``); the app here runs with small ones so that the bodies stay
small: spec 8 KiB, body 200 KB, JSON depth 32, 32 spec components, SMILES 1000 characters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db.models import BlockLibraryRow, Checkpoint, Job, JobMetric, Molecule, ProxyModel
from app.db.session import Database
from app.main import create_app
from app.settings import Settings

QED = {"components": [{"name": "qed"}]}
TRAIN = {"steps": 10, "batch_size": 4, "max_blocks": 3}
BIG_N = 10**7


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"x": value}
    return value


def job(reward: Any = None, training: Any = None, **extra: Any) -> dict[str, Any]:
    return {"reward": QED if reward is None else reward, "training": TRAIN if training is None else training, **extra}


def raw(text: str) -> dict[str, Any]:
    return {"content": text.encode(), "headers": {"Content-Type": "application/json"}}


# (id, method, path, request kwargs, expected status, field (None: any), text the reason must contain)
CASES: list[tuple[str, str, str, dict[str, Any], int, str | None, str | None]] = [
    (
        "too many components",
        "POST",
        "/jobs",
        {"json": job({"components": [{"name": "qed"}] * 33})},
        422,
        "reward.components",
        "32",
    ),
    (
        "spec too large",
        "POST",
        "/jobs",
        {"json": job({"components": [{"name": "qed", "params": {"pad": ["CC"] * 3000}}]})},
        422,
        "reward",
        "8192",
    ),
    (
        "nested spec",
        "POST",
        "/jobs",
        {"json": job({"components": [{"name": "qed", "params": nested(40)}]})},
        422,
        None,
        "32",
    ),
    (
        "nesting beyond the parser's stack",
        "POST",
        "/jobs",
        raw('{"reward": ' + "[" * 50_000 + "]" * 50_000 + "}"),
        422,
        "body",
        "32",
    ),
    (
        "NaN weight",
        "POST",
        "/jobs",
        raw('{"reward": {"components": [{"name": "qed", "weight": NaN}]}}'),
        422,
        "reward.components[0].weight",
        "NaN",
    ),
    (
        "Infinity steps",
        "POST",
        "/jobs",
        raw('{"reward": {"components": [{"name": "qed"}]}, "training": {"steps": Infinity}}'),
        422,
        "training.steps",
        "Infinity",
    ),
    (
        "1e999 beta",
        "POST",
        "/jobs",
        raw('{"reward": {"components": [{"name": "qed"}], "beta": 1e999}}'),
        422,
        "reward.beta",
        "inf",
    ),
    (
        "-Infinity min_reward in /score",
        "POST",
        "/score",
        raw('{"reward": {"components": [{"name": "qed"}], "min_reward": -Infinity}, "smiles": ["CCO"]}'),
        422,
        "reward.min_reward",
        "Infinity",
    ),
    (
        "5000-digit integer",
        "POST",
        "/jobs",
        raw('{"reward": {}, "training": {"steps": ' + "9" * 5000 + "}}"),
        422,
        "body",
        "4300 digits",
    ),
    (
        "long SMILES in /score",
        "POST",
        "/score",
        {"json": {"reward": QED, "smiles": ["CCO", "C" * 1001]}},
        422,
        "smiles[1]",
        "1000",
    ),
    (
        "long SMARTS",
        "POST",
        "/jobs",
        {"json": job({"components": [{"name": "substructure", "params": {"smarts": "[#6]" * 251}}]})},
        422,
        "reward.components[0].params.smarts",
        "1000",
    ),
    (
        "long similarity SMILES",
        "POST",
        "/jobs",
        {"json": job({"components": [{"name": "similarity", "params": {"smiles": ["c1ccccc1" * 130]}}]})},
        422,
        "reward.components[0].params.smiles[0]",
        "1000",
    ),
    (
        "unparseable similarity reference",
        "POST",
        "/jobs",
        {"json": job({"components": [{"name": "similarity", "params": {"smiles": "C1CC"}}]})},
        422,
        None,
        None,
    ),
    (
        "long SMILES for a BRICS library",
        "POST",
        "/libraries",
        {"json": {"name": "x", "molecules": ["C" * 1001]}},
        422,
        "molecules[0]",
        "1000",
    ),
    (
        "too many SMILES in /score",
        "POST",
        "/score",
        {"json": {"reward": QED, "smiles": ["C"] * 101}},
        422,
        "smiles",
        "100",
    ),
    (
        "steps beyond the limit",
        "POST",
        "/jobs",
        {"json": job(training={**TRAIN, "steps": BIG_N})},
        422,
        "training.steps",
        "1000",
    ),
    ("negative steps", "POST", "/jobs", {"json": job(training={**TRAIN, "steps": -1})}, 422, "training.steps", None),
    (
        "batch beyond the limit",
        "POST",
        "/jobs",
        {"json": job(training={**TRAIN, "batch_size": 65})},
        422,
        "training.batch_size",
        "64",
    ),
    (
        "batch beyond the library's own bound",
        "POST",
        "/jobs",
        {"json": job(training={**TRAIN, "batch_size": BIG_N})},
        422,
        "training.batch_size",
        "4096",
    ),
    ("n beyond the limit", "GET", "/jobs/{job}/samples?n=" + str(BIG_N), {}, 422, "n", "50"),
    ("page beyond the limit", "GET", "/molecules?limit=" + str(BIG_N), {}, 422, "limit", "100"),
    ("unknown top-level field", "POST", "/jobs", {"json": job(priority=9)}, 422, "priority", "unknown"),
    (
        "unknown training key",
        "POST",
        "/jobs",
        {"json": job(training={**TRAIN, "lr_schedule": "x"})},
        422,
        "training.lr_schedule",
        None,
    ),
    ("unknown spec key", "POST", "/jobs", {"json": job({**QED, "temperature": 3})}, 422, "reward.temperature", None),
    ("unknown component", "POST", "/jobs", {"json": job({"components": [{"name": "rm -rf"}]})}, 422, None, None),
    (
        "text/plain body",
        "POST",
        "/jobs",
        {"content": b'{"reward": {}}', "headers": {"Content-Type": "text/plain"}},
        422,
        None,
        None,
    ),
    ("form body to /jobs", "POST", "/jobs", {"data": {"reward": "x"}}, 422, None, None),
    ("malformed JSON", "POST", "/jobs", raw('{"reward": '), 422, None, None),
    ("JSON array body", "POST", "/jobs", raw("[1, 2, 3]"), 422, None, None),
    ("JSON to the CSV upload", "POST", "/proxies", {"json": {"name": "p"}}, 422, None, None),
    (
        "oversized CSV upload",
        "POST",
        "/proxies",
        {"files": {"file": ("d.csv", b"smiles,value\n" + b"CCO,1.0\n" * 30_000, "text/csv")}, "data": {"name": "p"}},
        413,
        "body",
        "200000",
    ),
    (
        "oversized JSON body",
        "POST",
        "/score",
        {"json": {"reward": QED, "smiles": ["CCO"] * 40_000}},
        413,
        "body",
        "200000",
    ),
    ("library id too long", "POST", "/jobs", {"json": job(library="x" * 10_000)}, 422, "library", None),
]


@pytest.fixture
def hostile_client(db_url: str, settings_factory: Callable[..., Settings]) -> Iterator[TestClient]:
    settings = settings_factory(
        db_url,
        max_spec_bytes=8192,
        max_upload_bytes=200_000,
        max_steps=1000,
        max_batch_size=64,
        max_samples_per_request=50,
        max_page_size=100,
        max_score_smiles=100,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _counts(db: Database) -> dict[str, int]:
    with db.read() as s:
        out = {
            m.__tablename__: int(s.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Job, JobMetric, Molecule, Checkpoint, ProxyModel)
        }
        out["posted libraries"] = int(
            s.scalar(select(func.count()).select_from(BlockLibraryRow).where(BlockLibraryRow.source != "builtin")) or 0
        )
    return out


def test_hostile_input_is_refused_with_field_and_limit(
    hostile_client: TestClient, db: Database, make_job: Callable[..., Job]
) -> None:
    existing = make_job(status="succeeded")
    before = _counts(db)
    failures = []
    for name, method, path, kwargs, status, field, text in CASES:
        t0 = time.perf_counter()
        r = hostile_client.request(method, path.replace("{job}", existing.id), **kwargs)
        took = time.perf_counter() - t0
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        ok = r.status_code == status and took < 10
        ok = ok and (field is None or body.get("field") == field)
        ok = ok and (text is None or text in str(body.get("reason")))
        ok = ok and bool(body.get("reason"))
        if not ok:
            failures.append((name, r.status_code, body or r.text[:200], round(took, 2)))
    assert not failures, "\n".join(map(str, failures))
    assert _counts(db) == before


def test_pathological_molecules_are_scored_or_refused_never_5xx(hostile_client: TestClient, db: Database) -> None:
    """Ring-heavy and malformed SMILES within the length limit: each answered (valid or not) in time."""
    c60 = (
        "c12c3c4c5c1c1c6c7c2c2c8c3c3c9c4c4c%10c5c5c1c1c6c6c%11c7c2c2c"
        "7c8c3c3c8c9c4c4c9c%10c5c5c1c1c6c6c%11c2c2c7c3c3c8c4c4c9c5c1c1c6c2c3c41"
    )
    smiles = [
        c60,
        "C12C3C4C1C5C2C3C45",  # cubane
        "C1" * 400,  # 400 ring-bond openings, none closed
        "C1CC",  # unclosed ring
        "c1cc2ccc3ccc4ccc5ccc6ccc7ccc8ccc9ccc%10ccc%11ccc%12ccc%13ccc%14ccc%15ccc%16ccc1c1c2c3c4c5c6c7c8c9c%10c%11c%12c%13c%14c%15c%161",
        "[Xe]" * 200,
        "C" * 1000,
        "",
        "))))((((",
    ]
    t0 = time.perf_counter()
    r = hostile_client.post(
        "/score",
        json={"reward": {"components": [{"name": "qed"}, {"name": "sa"}, {"name": "rings"}]}, "smiles": smiles},
    )
    assert time.perf_counter() - t0 < 30
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == len(smiles)
    assert items[1]["valid"] and not items[3]["valid"] and not items[7]["valid"]
    assert _counts(db)["jobs"] == 0
