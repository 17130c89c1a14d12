"""API load: many concurrent requests mixing reads, candidate batches, scoring and job creation.

    python -m benchmarks.load [--quick] [--out PATH] [--database-url URL] [--concurrency 200] [--requests N]

Everything goes through the real HTTP API of a ``molgfn serve --workers 0`` subprocess (uvicorn, API
only, sampling pool prewarmed) on a fresh PostgreSQL database (``--database-url`` names the maintenance
database to create it from; dropped afterwards), or a SQLite file when no server answers. Setup: one
job trained beforehand by an in-process worker (so it has a checkpoint and stored molecules; no
worker runs during the load, so no training competes for the CPU), plus synthetic molecules bulk-inserted
over 10 more jobs (``--quick``: 10,000; else 100,000). Then ``--requests`` requests (default: 200
quick, 2,000 otherwise) are fired with at most ``--concurrency`` in flight, drawn in fixed proportions
(:data:`MIX`):

* ``list_jobs`` GET /jobs (a status filter or a second page now and then),
* ``get_job`` GET /jobs/{id},
* ``list_molecules`` GET /molecules with job, min_reward and sort filters,
* ``samples_stored`` GET /jobs/{id}/samples?fresh=false (greedy diverse batch of stored molecules),
* ``samples_fresh`` GET /jobs/{id}/samples?fresh=true (sampled from the trained job's checkpoint),
* ``create_job`` POST /jobs (tiny training; stays queued: no worker runs during the load),
* ``score`` POST /score (five SMILES, an RDKit spec of two components).

Reported: throughput (requests/s over the whole run), p50/p99/max latency per kind and overall
(measured by the client, from send to full response), errors (non-2xx, timeouts, connection errors)
and the load average. ``tests/reliability/test_api_load.py`` fires the same mix (200 at once) and
checks the outcome and the database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks._common import RESULTS, molgfn_env, molgfn_server, write_json
from benchmarks.api import PG_ADMIN, SPEC, _percentile, bulk_insert, database, post_job, wait_job

#: Share of each request kind in the mix (sums to 1).
MIX: dict[str, float] = {
    "list_jobs": 0.15,
    "get_job": 0.20,
    "list_molecules": 0.25,
    "samples_stored": 0.10,
    "samples_fresh": 0.02,
    "create_job": 0.10,
    "score": 0.18,
}
#: Kinds whose response body is kept in :class:`Outcome` (to check what they created or sampled).
KEEP_BODY = frozenset({"create_job", "samples_fresh"})
SCORE_SPEC: dict[str, Any] = {
    "components": [
        {"name": "qed"},
        {"name": "sa", "transform": {"type": "reverse_sigmoid", "low": 2.0, "high": 6.0, "k": 0.5}},
    ]
}
DRUGLIKE = [
    "CC(=O)Nc1ccc(O)cc1",
    "CC(=O)Oc1ccccc1C(=O)O",
    "c1ccc2[nH]ccc2c1",
    "CN1CCC[C@H]1c1cccnc1",
    "O=C(O)c1ccccc1O",
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
    "c1ccc(-c2ccncc2)cc1",
    "NC(=O)c1ccccc1",
]
#: Training of the jobs posted during the load (they stay queued).
QUEUED_TRAINING: dict[str, Any] = {"loss": "tb", "steps": 2, "batch_size": 4, "max_blocks": 3}


@dataclass(frozen=True)
class Call:
    """One request of the mix."""

    kind: str
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None


@dataclass
class Outcome:
    """What one request got: status (None: no response), client-side latency, error, kept body."""

    kind: str
    status: int | None
    seconds: float
    error: str | None = None
    body: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


@dataclass
class Targets:
    """What the mix reads: existing jobs, the job to sample from, SMILES to score."""

    job_ids: list[str]
    sample_job_ids: list[str]
    fresh_job_id: str | None
    smiles: list[str] = field(default_factory=lambda: list(DRUGLIKE))


def mix_counts(n: int, mix: dict[str, float] = MIX) -> dict[str, int]:
    """Exact request counts per kind for ``n`` requests (largest remainders)."""
    raw = {k: n * w for k, w in mix.items()}
    counts = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: counts[k] - raw[k])[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def build_mix(n: int, targets: Targets, rng: random.Random) -> list[Call]:
    """``n`` requests in the proportions of :data:`MIX`, shuffled. Without a job to sample fresh from,
    the fresh share goes to stored batches."""
    counts = mix_counts(n)
    if targets.fresh_job_id is None:
        counts["samples_stored"] += counts.pop("samples_fresh")
    calls: list[Call] = []
    for kind, count in counts.items():
        calls += [_call(kind, i, targets, rng) for i in range(count)]
    rng.shuffle(calls)
    return calls


def _call(kind: str, i: int, t: Targets, rng: random.Random) -> Call:
    if kind == "list_jobs":
        params: dict[str, Any] = {"limit": 20}
        if i % 3 == 1:
            params["status"] = rng.choice(["queued", "succeeded"])
        if i % 5 == 2:
            params["offset"] = 20
        return Call(kind, "GET", "/jobs", params)
    if kind == "get_job":
        return Call(kind, "GET", f"/jobs/{rng.choice(t.job_ids)}")
    if kind == "list_molecules":
        params = {
            "min_reward": round(rng.uniform(0.0, 0.9), 3),
            "order_by": rng.choice(["-reward", "-times_sampled", "-id"]),
            "limit": 50,
        }
        if i % 4:
            params["job_id"] = rng.choice(t.job_ids)
        if i % 5 == 0:
            params["offset"] = 50
        return Call(kind, "GET", "/molecules", params)
    if kind in ("samples_stored", "samples_fresh"):
        fresh = kind == "samples_fresh"
        job = t.fresh_job_id if fresh else rng.choice(t.sample_job_ids)
        params = {"n": 10, "fresh": "true" if fresh else "false", "max_similarity": 0.7}
        if i % 2:
            params["min_reward"] = 0.1
        return Call(kind, "GET", f"/jobs/{job}/samples", params)
    if kind == "create_job":
        training = QUEUED_TRAINING | {"seed": i}
        return Call(kind, "POST", "/jobs", json={"reward": SPEC, "training": training, "library": "default"})
    if kind == "score":
        return Call(kind, "POST", "/score", json={"reward": SCORE_SPEC, "smiles": rng.sample(t.smiles, 5)})
    raise ValueError(f"unknown request kind {kind!r}")


async def fire(base_url: str, calls: Sequence[Call], concurrency: int, timeout_s: float = 120.0) -> list[Outcome]:
    """Send ``calls`` with at most ``concurrency`` in flight (a connection each); outcomes in call order."""
    # A fresh connection per request: uvicorn closes a connection idle for 5 s (timeout_keep_alive), and
    # a client starved of CPU can reuse one just then (its idle clock starts when it gets round to the
    # response), whose request then meets a reset (ReadError): a keep-alive race, not a server failure.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout_s, limits=limits) as client:

        async def one(call: Call) -> Outcome:
            async with gate:
                t0 = time.perf_counter()
                try:
                    r = await client.request(call.method, call.path, params=call.params, json=call.json)
                except httpx.HTTPError as exc:
                    return Outcome(call.kind, None, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}")
                dt = time.perf_counter() - t0
                ok = 200 <= r.status_code < 300
                body = r.json() if ok and call.kind in KEEP_BODY else None
                return Outcome(call.kind, r.status_code, dt, None if ok else r.text[:300], body)

        return list(await asyncio.gather(*(one(c) for c in calls)))


def warm_up(base_url: str, targets: Targets) -> None:
    """One request of each kind, one at a time: what the first call of a kind loads (RDKit's SA
    fragment scores, the checkpoint in the sampling pool, connections) is not part of the figures."""
    rng = random.Random(-1)
    calls = [_call(kind, 0, targets, rng) for kind in MIX if kind != "samples_fresh" or targets.fresh_job_id]
    failed = [f"{o.kind} {o.status}: {o.error}" for o in asyncio.run(fire(base_url, calls, 1)) if not o.ok]
    if failed:
        raise RuntimeError(f"warm-up requests failed: {failed}")


def summarize(outcomes: Sequence[Outcome], wall_s: float) -> dict[str, Any]:
    """Throughput and latency percentiles, overall and per kind (milliseconds)."""

    def stats(items: Sequence[Outcome]) -> dict[str, Any]:
        ms = [o.seconds * 1000 for o in items]
        return {
            "requests": len(items),
            "errors": sum(not o.ok for o in items),
            "p50_ms": round(statistics.median(ms), 1),
            "p99_ms": round(_percentile(ms, 0.99), 1),
            "max_ms": round(max(ms), 1),
        }

    kinds = sorted({o.kind for o in outcomes}, key=list(MIX).index)
    return {
        **stats(outcomes),
        "seconds": round(wall_s, 2),
        "throughput_rps": round(len(outcomes) / wall_s, 1),
        "by_kind": {k: stats([o for o in outcomes if o.kind == k]) for k in kinds},
    }


def service_env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment of the API subprocess: database, data dir, prewarmed sampling pool, no job quota in the way."""
    env = molgfn_env(
        url,
        data_dir,
        MOLGFN_SAMPLING_PREWARM="1",
        MOLGFN_MAX_ACTIVE_JOBS_PER_KEY="1000000",
        MOLGFN_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


@contextmanager
def serve(env: dict[str, str], workdir: Path, log: Path) -> Iterator[str]:
    """``molgfn serve --workers 0`` (uvicorn, API only) on a free port; yields its base URL."""
    with molgfn_server(["--workers", "0"], env, workdir, log) as (_, base_url):
        yield base_url


def train_job(client: httpx.Client, url: str, data_dir: Path, training: dict[str, Any]) -> str:
    """Post a job and train it with an in-process worker (as ``molgfn worker`` does); its id."""
    from app.settings import get_settings
    from app.worker import Worker

    job_id = post_job(client, training)
    worker = Worker(get_settings(database_url=url, data_dir=data_dir))
    try:
        while worker.run_once():  # the queue holds this job only
            pass
    finally:
        worker.db.dispose()
    wait_job(client, job_id, timeout=60)  # raises unless it succeeded
    return job_id


def prepare(base_url: str, url: str, data_dir: Path, training: dict[str, Any], n_bulk: int) -> Targets:
    """A trained job (checkpoint + stored molecules) and ``n_bulk`` synthetic molecules over 10 more jobs."""
    with httpx.Client(base_url=base_url, timeout=300) as client:
        trained = train_job(client, url, data_dir, training)
        job = client.get(f"/jobs/{trained}").json()
        stored = client.get("/molecules", params={"job_id": trained, "limit": 50}).json()["items"]
    bulk = bulk_insert(url, n_bulk, 10, str(job["library_id"])) if n_bulk else []
    smiles = list(dict.fromkeys(DRUGLIKE + [m["smiles"] for m in stored]))
    fresh = trained if job["progress"]["checkpoint_step"] is not None else None
    return Targets(job_ids=[trained, *bulk], sample_job_ids=[trained, *bulk[:2]], fresh_job_id=fresh, smiles=smiles)


def run(quick: bool, admin_url: str, concurrency: int, n_requests: int | None) -> dict[str, Any]:
    n_requests = n_requests or (200 if quick else 2000)
    n_bulk = 10_000 if quick else 100_000
    training = {"steps": 5, "batch_size": 8, "max_blocks": 4} if quick else {"steps": 30, "batch_size": 16}
    from app.db.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="molgfn-load-") as tmp:
        workdir = Path(tmp)
        with database(admin_url, workdir) as (url, backend):
            upgrade(url)
            env = service_env(url, workdir / "data")
            with serve(env, workdir, workdir / "serve.log") as base:
                t0 = time.perf_counter()
                targets = prepare(base, url, workdir / "data", training, n_bulk)
                setup_s = time.perf_counter() - t0
                warm_up(base, targets)
                calls = build_mix(n_requests, targets, random.Random(0))
                load_before = os.getloadavg()
                t0 = time.perf_counter()
                outcomes = asyncio.run(fire(base, calls, concurrency))
                wall = time.perf_counter() - t0
                load_after = os.getloadavg()
            errors = [f"{o.kind} {o.status}: {o.error}" for o in outcomes if not o.ok]
            if errors:  # the server's side of the story, before the temporary directory goes
                print((workdir / "serve.log").read_text()[-6000:])
    result = {
        "backend": backend,
        "concurrency": concurrency,
        "mix": MIX,
        **summarize(outcomes, wall),
        "error_samples": errors[:5],
        "molecules_bulk": n_bulk,
        "setup_s": round(setup_s, 1),
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
    }
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 requests, small tables (under a minute)")
    ap.add_argument("--out", type=Path, default=None, help="JSON output (default benchmarks/results/load[_quick].json)")
    ap.add_argument(
        "--database-url", default=os.environ.get("MOLGFN_BENCH_PG", PG_ADMIN), help="PostgreSQL maintenance database"
    )
    ap.add_argument("--concurrency", type=int, default=200, help="requests in flight at once (default 200)")
    ap.add_argument("--requests", type=int, default=None, help="requests in all (default 200 quick, 2000)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    r = run(args.quick, args.database_url, args.concurrency, args.requests)
    print(
        f"{r['backend']}: {r['requests']} requests, {r['concurrency']} in flight, {r['seconds']} s -> "
        f"{r['throughput_rps']} requests/s; errors {r['errors']}; load average {r['loadavg_before']} "
        f"({r['cpus']} CPUs); setup {r['setup_s']} s"
    )
    print(f"{'kind':<16} {'requests':>8} {'errors':>6} {'p50_ms':>9} {'p99_ms':>9} {'max_ms':>9}")
    for kind, s in [*r["by_kind"].items(), ("overall", r)]:
        print(f"{kind:<16} {s['requests']:>8} {s['errors']:>6} {s['p50_ms']:>9} {s['p99_ms']:>9} {s['max_ms']:>9}")
    for line in r["error_samples"]:
        print("error:", line)
    print(f"({time.perf_counter() - t0:.0f} s total)")
    write_json(args.out or RESULTS / ("load_quick.json" if args.quick else "load.json"), r)
    return 0 if r["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
