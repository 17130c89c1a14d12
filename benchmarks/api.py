"""Service benchmark: fresh-sample latency, molecule-query latency on a large table, claim latency.

    python -m benchmarks.api [--quick] [--out PATH] [--database-url URL] [--sampling-processes N]

Everything goes through the real HTTP API of a ``molgfn serve --workers 1`` subprocess:

* ``claim_latency_s`` — median time from ``POST /jobs`` to a worker claiming the job
  (``started_at - created_at``, server clocks), with an idle, warmed-up worker;
* ``samples_fresh_p50_ms`` — median latency of ``GET /jobs/{id}/samples?n=100&fresh=true`` on a model
  trained on the default library (default training config, a short run), after one warm-up call
  (20 calls; ``--quick``: 5). A barely trained model samples mostly new 8-block molecules, so nearly
  every call scores ~100 new molecules: the worst case for the stored-score reuse;
* ``molecules_query_p99_ms`` — p99 latency of ``GET /molecules?job_id=&min_reward=&order_by=-reward``
  (100 per page) with ``molecules_stored`` molecules in the table (1,000,000 synthetic rows
  bulk-inserted with COPY over 10 jobs; ``--quick``: 50,000).

The database is a fresh PostgreSQL database on 127.0.0.1:5432 (``--database-url`` names the
maintenance database to create it from; it is dropped afterwards), or a SQLite file when no server
answers (said in the table). Targets: p50 <= 500 ms, p99 <= 50 ms, claim <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from benchmarks._common import molgfn_env, molgfn_server

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "api.json"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
SPEC = {"components": [{"name": "qed"}]}
TINY = {"steps": 1, "batch_size": 2, "max_blocks": 2}
ATOMS = "CNOS"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@contextmanager
def database(admin_url: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL database (dropped afterwards), else a SQLite file: (url, backend)."""
    try:
        import psycopg

        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            name = f"molgfn_bench_{uuid.uuid4().hex[:12]}"
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001 - no server: fall back to SQLite
        print(f"note: PostgreSQL unavailable ({str(exc).splitlines()[0]}); using SQLite")
        yield f"sqlite:///{workdir / 'bench.db'}", "sqlite"
        return
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(admin_url)
    user, host, port = info.get("user", "postgres"), info.get("host", "127.0.0.1"), info.get("port", 5432)
    url = f"postgresql+psycopg://{user}@{host}:{port}/{name}"
    try:
        yield url, "postgresql"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def server(url: str, workdir: Path, sampling_processes: int | None = None) -> Iterator[httpx.Client]:
    """``molgfn serve --workers 1`` on a free port (``sampling_processes``: the pool's size, default the
    service's); yields an HTTP client."""
    env = molgfn_env(url, workdir / "data", MOLGFN_SAMPLING_PREWARM="1", MOLGFN_LOG_LEVEL="WARNING")
    if sampling_processes is not None:
        env["MOLGFN_SAMPLING_PROCESSES"] = str(sampling_processes)
    with (
        molgfn_server(["--workers", "1"], env, workdir, workdir / "serve.log", stop_timeout=120) as (_, base_url),
        httpx.Client(base_url=base_url, timeout=300) as client,
    ):
        yield client


def wait_job(client: httpx.Client, job_id: str, timeout: float = 1800) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} {job['status']}: {job['error']}")
            return dict(job)
        time.sleep(0.1)
    raise RuntimeError(f"job {job_id} did not finish")


def post_job(client: httpx.Client, training: dict[str, Any]) -> str:
    r = client.post("/jobs", json={"reward": SPEC, "training": training, "library": "default"})
    r.raise_for_status()
    return str(r.json()["id"])


def claim_latency(client: httpx.Client, repeats: int) -> list[float]:
    """Seconds from POST /jobs to the claim, for tiny jobs posted to an idle worker."""
    out = []
    for _ in range(repeats):
        job = wait_job(client, post_job(client, TINY))
        started = datetime.fromisoformat(job["started_at"])
        created = datetime.fromisoformat(job["created_at"])
        out.append((started - created).total_seconds())
        time.sleep(0.3)
    return out


def timed(fn: Callable[[], httpx.Response]) -> tuple[float, httpx.Response]:
    """(milliseconds, response) of one request, measured by the client."""
    t0 = time.perf_counter()
    r = fn()
    dt = time.perf_counter() - t0
    r.raise_for_status()
    return dt * 1000, r


def bulk_insert(url: str, n: int, n_jobs: int, library_id: str) -> list[str]:
    """Insert ``n`` synthetic molecules over ``n_jobs`` new succeeded jobs; returns the job ids."""
    from app.db.models import Job
    from app.db.session import Database

    rng = random.Random(0)
    db = Database(url)
    job_ids = [uuid.uuid4().hex for _ in range(n_jobs)]
    now = datetime.now().astimezone()
    with db.write() as s:
        for jid in job_ids:
            s.add(
                Job(
                    id=jid,
                    kind="gflownet",
                    status="succeeded",
                    reward_spec=SPEC,
                    training_config=TINY,
                    library_id=library_id,
                    step=1,
                    total_steps=1,
                    progress=1.0,
                    created_at=now,
                )
            )

    def smiles(i: int) -> str:  # a distinct, valid acyclic SMILES per i
        digits = []
        for _ in range(10):
            digits.append(ATOMS[i % 4])
            i //= 4
        return "C" + "".join(digits)

    if db.dialect == "postgresql":
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy(
                "COPY molecules (job_id, smiles, reward, components, times_sampled, first_seen_step,"
                " created_at) FROM STDIN"
            ) as copy:
                for i in range(n):
                    r = rng.random()
                    copy.write_row((job_ids[i % n_jobs], smiles(i), r, json.dumps({"qed": r}), 1, i // 100, now))
            raw.commit()
            cur.execute("ANALYZE molecules")
            raw.commit()
        finally:
            raw.close()
    else:
        stamp = now.replace(tzinfo=None)
        rows = (
            (job_ids[i % n_jobs], smiles(i), r, json.dumps({"qed": r}), 1, i // 100, stamp)
            for i, r in ((i, rng.random()) for i in range(n))
        )
        raw = db.engine.raw_connection()
        try:
            raw.execute("BEGIN")
            raw.executemany(
                "INSERT INTO molecules (job_id, smiles, reward, components, times_sampled,"
                " first_seen_step, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            raw.execute("COMMIT")
            raw.execute("ANALYZE")
        finally:
            raw.close()
    db.dispose()
    return job_ids


def count_molecules(url: str) -> int:
    from sqlalchemy import func, select

    from app.db.models import Molecule
    from app.db.session import Database

    db = Database(url)
    try:
        with db.read() as s:
            return int(s.scalar(select(func.count()).select_from(Molecule)) or 0)
    finally:
        db.dispose()


def run(quick: bool, admin_url: str, sampling_processes: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    from app.db.migrate import upgrade

    n_bulk = 50_000 if quick else 1_000_000
    train = {"steps": 2, "batch_size": 8} if quick else {"steps": 60, "batch_size": 16}
    n_fresh = 5 if quick else 20
    n_claims = 3 if quick else 10
    n_queries = 200 if quick else 1000
    info: dict[str, Any] = {"sampling_processes": sampling_processes or "default"}
    with tempfile.TemporaryDirectory(prefix="molgfn-bench-") as tmp:
        workdir = Path(tmp)
        with database(admin_url, workdir) as (url, backend):
            info["backend"] = backend
            upgrade(url)
            with server(url, workdir, sampling_processes) as client:
                t0 = time.perf_counter()
                wait_job(client, post_job(client, TINY))  # warm-up: the worker has imported torch
                info["warmup_s"] = time.perf_counter() - t0
                claims = claim_latency(client, n_claims)
                info["claim_max_s"] = max(claims)

                t0 = time.perf_counter()
                job = wait_job(client, post_job(client, train))
                info["train"] = f"{train['steps']} steps x {train['batch_size']} ({time.perf_counter() - t0:.0f} s)"
                jid = job["id"]
                path = f"/jobs/{jid}/samples"
                params: dict[str, str | int] = {"n": 100, "fresh": "true"}
                first = client.get(path, params=params)
                first.raise_for_status()
                info["fresh_first_ms"] = first.elapsed.total_seconds() * 1000
                calls = [timed(lambda: client.get(path, params=params)) for _ in range(n_fresh)]
                fresh = [ms for ms, _ in calls]
                info["fresh_batch_size"] = min(len(r.json()["items"]) for _, r in calls)
                info["fresh_rounds"] = max(r.json()["n_sampled"] for _, r in calls) // 100
                info["fresh_ms"] = [round(ms) for ms in fresh]

                library_id = client.get("/libraries/default").json()["id"]
                t0 = time.perf_counter()
                jobs = bulk_insert(url, n_bulk, 10, library_id)
                info["insert_s"] = time.perf_counter() - t0
                stored = count_molecules(url)
                rng = random.Random(1)
                queries = []
                for i in range(n_queries + 20):
                    q: dict[str, str | int | float] = {
                        "order_by": "-reward",
                        "limit": 100,
                        "min_reward": round(rng.uniform(0.0, 0.9), 3),
                    }
                    if i % 4:
                        q["job_id"] = rng.choice(jobs)
                    if i % 5 == 0:
                        q["offset"] = 100
                    ms, _ = timed(partial(client.get, "/molecules", params=q))
                    if i >= 20:  # the first ones warm the connection pool and caches
                        queries.append(ms)
    results = {
        "samples_fresh_p50_ms": round(statistics.median(fresh), 1),
        "molecules_query_p99_ms": round(_percentile(queries, 0.99), 2),
        "molecules_stored": stored,
        "claim_latency_s": round(statistics.median(claims), 3),
    }
    info["molecules_query_p50_ms"] = round(statistics.median(queries), 2)
    return results, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (under a minute)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("MOLGFN_BENCH_PG", PG_ADMIN),
        help="PostgreSQL maintenance database to create the benchmark database from",
    )
    parser.add_argument(
        "--sampling-processes",
        type=int,
        default=None,
        help="size of the server's sampling pool (MOLGFN_SAMPLING_PROCESSES; default: the service's default)",
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    results, info = run(args.quick, args.database_url, args.sampling_processes)
    rows = [
        (
            "samples_fresh_p50_ms",
            results["samples_fresh_p50_ms"],
            "<= 500",
            f"n=100 fresh, first call {info['fresh_first_ms']:.0f} ms, batch {info['fresh_batch_size']}, "
            f"{info['fresh_rounds']} round(s), model {info['train']}, sampling processes "
            f"{info['sampling_processes']}; calls {info['fresh_ms']} ms",
        ),
        (
            "molecules_query_p99_ms",
            results["molecules_query_p99_ms"],
            "<= 50",
            f"p50 {info['molecules_query_p50_ms']} ms",
        ),
        (
            "molecules_stored",
            results["molecules_stored"],
            "",
            f"{info['backend']}, insert {info['insert_s']:.1f} s",
        ),
        ("claim_latency_s", results["claim_latency_s"], "<= 2", f"median; max {info['claim_max_s']:.2f} s"),
    ]
    print(f"{'metric':<24} {'value':>12} {'target':>8}  notes")
    for name, value, target, note in rows:
        print(f"{name:<24} {value!s:>12} {target:>8}  {note}")
    print(f"({time.perf_counter() - t0:.0f} s total)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
