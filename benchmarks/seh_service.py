"""The sEH reference task through the service: do the served molecules follow the trained policy?

    python -m benchmarks.seh_service [--quick] [--minutes M | --steps N] [--molecules N]
                                     [--per-request N] [--seed S] [--out PATH]

Everything goes through the real HTTP API of a ``molgfn serve --workers 1`` subprocess (embedded
SQLite in a temp dir, its in-process worker, a free port, ``MOLGFN_SEH_PROXY_WEIGHTS`` pointing at
``../shared/data/seh_proxy.npz`` — the service refuses ``params.weights`` over HTTP):

1. ``POST /libraries`` with ``blocks_PDB_105.json`` as is (the original format, which the service
   reads); the stored library must have the same content hash and block types as
   :func:`gfn.chem.blocks.load_library` gives offline;
2. ``POST /jobs``: the paper's reward (:func:`benchmarks.seh.paper_reward_spec` without
   ``params.weights``) and the training of ``benchmarks.seh`` (:func:`benchmarks.seh.training_config`:
   TB with :data:`SERVICE_TB`: hidden 128, lr 1e-3, replay 0.25, batch 16, 2–8 blocks, 5 % exploration,
   seed 0) with a step count
   fitting the budget (``--minutes`` at :data:`STEPS_PER_S`, or ``--steps``); ``GET /jobs/{id}``
   until it succeeded, printing progress;
3. ``GET /jobs/{id}/samples?fresh=true&max_similarity=1.0&n=<the service's max per request>``
   repeated until ``--molecules`` served molecules (*served*: the batches' items, one row per item);
   every fresh sample the service drew is also reconstructed from the ``times_sampled`` increase of
   the job's stored molecules between two full ``GET /molecules`` listings (*served_samples*);
   then one batch with the default ``max_similarity`` (its top-k and diversity);
4. after the server stopped, the same number of molecules sampled from the job's newest checkpoint
   with the library (:class:`gfn.sampling.run.LoadedRun`, *policy*); every served and sampled SMILES
   is (re)scored offline with the paper's reward, and the service's stored scores are checked
   against it;
5. served vs policy and served_samples vs policy: mean, std, 10/50/90 % quantiles, top-10/100 mean
   of the distinct molecules, two-sample Kolmogorov–Smirnov statistic and asymptotic p-value (numpy;
   scipy is not a dependency). A set *follows the policy* when KS p > 0.01 and the means differ by
   at most ``3 × SE`` of the difference; the service *loses quality* when the served mean is lower
   than the policy's by more than that, or KS rejects (p ≤ 0.01) with the served scores lower.

What a fresh batch is, from ``app/services/molecules.py``: the distinct valid molecules of ``n``
samples, best reward first; when that leaves fewer than ``n`` (repeats, invalid molecules), a
second round of ``n`` samples fills the gap with its *best* new molecules. So *served* is distinct
within a batch and tilted towards higher scores when the policy repeats itself; *served_samples*
is exactly what the policy produced in the service. Scores are the raw proxy scores
(``components.seh_proxy``), the paper's scale.

Output: ``benchmarks/results/seh_service.json`` (``--quick``: ``seh_service_quick.json``, a few
training steps, 2 × 150 molecules, well under 90 s).
"""

from __future__ import annotations

import os

# numpy's OpenBLAS (the sEH proxy) would otherwise start one thread per core (see benchmarks.seh)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._common import RESULTS, machine, shared_data, write_json  # noqa: E402
from benchmarks.api import server  # noqa: E402
from benchmarks.seh import Visited, paper_reward_spec, training_config  # noqa: E402

#: TB training steps per second on the reference task (batch 16): benchmarks.seh's 12-minute run,
#: 1,984 steps in 720 s at load average 3–4 on 2 cores (molecules grow, so early steps are faster)
STEPS_PER_S = 2.75
BATCH_SIZE = 16
#: the TB settings this benchmark was measured with (benchmarks.seh's defaults until session 8); what it
#: checks is that serving keeps the policy's quality, so it keeps the cheaper setting STEPS_PER_S is for
SERVICE_TB: dict[str, Any] = {"hidden": 128, "lr": 1e-3, "lr_logz": 5e-2, "replay_fraction": 0.25, "exploration": 0.05}
QUICK_STEPS = 8
P_THRESHOLD = 0.01  # KS p-value below which two score distributions are called different
SE_TOLERANCE = 3.0  # means may differ by this many standard errors of the difference
COMPONENT = "seh_proxy"


# ---------------------------------------------------------------------------------------- statistics
def ks_2samp(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Two-sample Kolmogorov–Smirnov test: ``(D, p, signed)``.

    ``D = max |F_a − F_b|`` over the pooled values (ties handled exactly); ``p`` is the asymptotic
    two-sided p-value, the Kolmogorov distribution at ``(√m + 0.12 + 0.11/√m)·D`` with
    ``m = n_a n_b / (n_a + n_b)`` (Stephens 1970, as in Numerical Recipes' ``kstwo``); ``signed`` is
    ``F_a − F_b`` where the gap is largest: positive when ``a`` has more mass at low values.
    """
    x = np.sort(np.asarray(a, dtype=float))
    y = np.sort(np.asarray(b, dtype=float))
    if len(x) == 0 or len(y) == 0:
        raise ValueError("both samples must be non-empty")
    pooled = np.concatenate([x, y])
    diff = np.searchsorted(x, pooled, side="right") / len(x) - np.searchsorted(y, pooled, side="right") / len(y)
    i = int(np.argmax(np.abs(diff)))
    d = float(abs(diff[i]))
    m = len(x) * len(y) / (len(x) + len(y))
    lam = (math.sqrt(m) + 0.12 + 0.11 / math.sqrt(m)) * d
    return d, kolmogorov_sf(lam), float(diff[i])


def kolmogorov_sf(lam: float) -> float:
    """P(K > λ) of the Kolmogorov distribution: ``2 Σ_{k≥1} (−1)^{k−1} exp(−2k²λ²)``, in [0, 1]."""
    if lam < 0.2:  # the series converges slowly there and the sum is 1 to double precision
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2.0 * (-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return min(1.0, max(0.0, total))


def summary(smiles: Sequence[str], scores: Sequence[float]) -> dict[str, Any]:
    """Distribution of proxy scores (one per row, repeats kept); top-k over distinct molecules."""
    v = np.asarray(scores, dtype=float)
    best = sorted({s: x for s, x in zip(smiles, scores, strict=True)}.values(), reverse=True)

    def top(k: int) -> float | None:
        return round(float(np.mean(best[:k])), 4) if best else None

    q = np.quantile(v, [0.1, 0.5, 0.9]) if len(v) else [math.nan] * 3
    return {
        "n": len(v),
        "distinct": len(best),
        "mean": round(float(v.mean()), 4),
        "std": round(float(v.std(ddof=1)), 4) if len(v) > 1 else None,
        "q10": round(float(q[0]), 4),
        "q50": round(float(q[1]), 4),
        "q90": round(float(q[2]), 4),
        "top10": top(10),
        "top100": top(100),
        "above_7": int((v > 7).sum()),
    }


def compare(served: Sequence[float], policy: Sequence[float]) -> dict[str, Any]:
    """KS and mean difference of served vs policy scores, with the verdicts (see the module doc)."""
    a, b = np.asarray(served, dtype=float), np.asarray(policy, dtype=float)
    d, p, signed = ks_2samp(served, policy)
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    diff = float(a.mean() - b.mean())
    tol = SE_TOLERANCE * se
    return {
        "ks_statistic": round(d, 4),
        "ks_pvalue": float(f"{p:.4g}"),
        "ks_direction": "served lower" if signed > 0 else "served higher" if signed < 0 else "none",
        "mean_diff": round(diff, 4),
        "mean_diff_se": round(se, 4),
        "mean_tolerance": round(tol, 4),
        "follows_policy": bool(p > P_THRESHOLD and abs(diff) <= tol),
        "loses_quality": bool(diff < -tol or (p <= P_THRESHOLD and signed > 0)),
    }


# ---------------------------------------------------------------------------------------- service calls
@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by the server subprocess), restoring them afterwards."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ok(r: httpx.Response) -> Any:
    """The JSON body of a 2xx response; otherwise raise with the service's error body."""
    if r.is_error:
        raise RuntimeError(f"{r.request.method} {r.request.url.path} -> {r.status_code}: {r.text[:2000]}")
    return r.json()


def wait_succeeded(
    client: httpx.Client, job_id: str, timeout_s: float, log: Callable[[str], None], every_s: float
) -> dict[str, Any]:
    """Poll ``GET /jobs/{id}`` until the job succeeded (raise if it failed or ``timeout_s`` passed)."""
    t0 = time.monotonic()
    last = -math.inf
    while True:
        job = ok(client.get(f"/jobs/{job_id}"))
        now = time.monotonic()
        done = job["status"] in ("succeeded", "failed", "cancelled")
        if done or now - last >= every_s:
            last = now
            p, m = job["progress"], job["latest_metrics"] or {}

            def f(key: str, spec: str, m: dict[str, Any] = m) -> str:
                return "-" if m.get(key) is None else format(m[key], spec)

            log(
                f"  {now - t0:6.0f}s {job['status']:<9} step {p['step']:>5}/{p['total_steps']} "
                f"({100 * p['fraction']:3.0f} %)  unique {p['unique_molecules']:>6}  "
                f"traj/s {f('trajectories_per_s', '.1f')}  mean R {f('mean_reward', '.3g')}  "
                f"loss {f('loss', '.3g')}  log Z {f('log_z', '.2f')}  ckpt {p['checkpoint_step']}"
            )
        if done:
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} {job['status']}: {job['error']}")
            return dict(job)
        if now - t0 > timeout_s:
            raise RuntimeError(f"job {job_id} did not finish in {timeout_s:.0f} s")
        time.sleep(1.0)


def stored_molecules(client: httpx.Client, job_id: str, page: int) -> dict[str, tuple[int, float | None]]:
    """``smiles -> (times_sampled, proxy score)`` of every molecule stored for the job (GET /molecules)."""
    out: dict[str, tuple[int, float | None]] = {}
    offset = 0
    while True:
        body = ok(
            client.get("/molecules", params={"job_id": job_id, "order_by": "id", "limit": page, "offset": offset})
        )
        for m in body["items"]:
            out[m["smiles"]] = (int(m["times_sampled"]), score_of(m))
        if not body["links"]["next"]:
            return out
        offset += page


def finite_score(v: Any) -> float | None:
    """``v`` as a float, or None when missing or not finite."""
    return float(v) if v is not None and math.isfinite(float(v)) else None


def score_of(item: dict[str, Any]) -> float | None:
    """The raw proxy score of a served molecule (its ``components``)."""
    return finite_score((item.get("components") or {}).get(COMPONENT))


# ---------------------------------------------------------------------------------------- the run
def run(
    data: Path,
    *,
    steps: int,
    molecules: int,
    per_request: int | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
    progress_every_s: float = 10.0,
) -> dict[str, Any]:
    """Train through the service, fetch served molecules, sample the checkpoint offline, compare."""
    from app.settings import get_settings
    from gfn.build import build_reward
    from gfn.chem.blocks import load_library
    from gfn.metrics import mean_pairwise_similarity
    from gfn.sampling.run import LoadedRun

    weights = data / "seh_proxy.npz"
    lib_path = data / "blocks_PDB_105.json"
    offline_lib = load_library(lib_path)
    spec = paper_reward_spec(weights)
    posted_spec = json.loads(json.dumps(spec))
    for comp in posted_spec["components"]:
        comp.get("params", {}).pop("weights", None)  # refused over HTTP: MOLGFN_SEH_PROXY_WEIGHTS is used
        if not comp.get("params"):
            comp.pop("params", None)
    training = training_config("tb", BATCH_SIZE, seed, steps=steps, **SERVICE_TB).model_dump(mode="json")
    limits = get_settings()  # the service's default limits (the subprocess reads the same environment)
    per_request = min(per_request or limits.max_samples_per_request, limits.max_samples_per_request)
    page = limits.max_page_size
    reward_fn = build_reward(spec)
    result: dict[str, Any] = {
        "task": "sEH proxy, blocks_PDB_105, R = (max(score, 0.1) / 8) ** 10, through molgfn serve",
        "settings": {
            "steps": steps,
            "batch_size": BATCH_SIZE,
            "loss": "tb",
            "loss_config": SERVICE_TB,
            "molecules": molecules,
            "per_request": per_request,
            "seed": seed,
            "p_threshold": P_THRESHOLD,
            "se_tolerance": SE_TOLERANCE,
            "score": COMPONENT,
        },
    }
    load_start = round(os.getloadavg()[0], 2)
    seconds: dict[str, float] = {}
    served: list[tuple[str, float]] = []  # (smiles, proxy score) of each served item
    batches: list[dict[str, Any]] = []
    t_all = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="molgfn-seh-service-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'molgfn.db'}"
        t0 = time.perf_counter()
        with environment(MOLGFN_SEH_PROXY_WEIGHTS=str(weights.resolve())), server(url, workdir) as client:
            seconds["server_start"] = round(time.perf_counter() - t0, 1)
            client.timeout = httpx.Timeout(600.0)
            # 1. the library, in its original format
            body = {"name": "blocks_PDB_105", "library": json.loads(lib_path.read_text())}
            lib = ok(client.post("/libraries", json=body))
            result["library"] = {
                "id": lib["id"],
                "source": lib["source"],
                "n_fragments": lib["n_fragments"],
                "n_block_types": lib["n_block_types"],
                "n_initial": lib["n_initial"],
                "content_hash": lib["content_hash"],
                "same_as_offline": lib["content_hash"] == offline_lib.content_hash
                and lib["n_block_types"] == offline_lib.n_block_types
                and lib["n_initial"] == offline_lib.n_initial,
            }
            log(
                f"library {lib['id']}: {lib['n_fragments']} fragments, {lib['n_block_types']} block types, "
                f"{lib['n_initial']} initial (same as offline load_library: {result['library']['same_as_offline']})"
            )
            # 2. the job
            t0 = time.perf_counter()
            job = ok(client.post("/jobs", json={"reward": posted_spec, "training": training, "library": lib["id"]}))
            job_id = job["id"]
            log(f"job {job_id}: TB, {steps} steps x {BATCH_SIZE}; waiting")
            job = wait_succeeded(
                client, job_id, timeout_s=max(600.0, 20 * steps / STEPS_PER_S), log=log, every_s=progress_every_s
            )
            seconds["train_wall"] = round(time.perf_counter() - t0, 1)
            metrics = ok(client.get(f"/jobs/{job_id}/metrics"))["items"]
            result["job"] = {
                "id": job_id,
                "status": job["status"],
                "steps": job["progress"]["step"],
                "checkpoint_step": job["progress"]["checkpoint_step"],
                "unique_molecules": job["progress"]["unique_molecules"],
                "latest_metrics": job["latest_metrics"],
                "started_at": job["started_at"],
                "finished_at": job["finished_at"],
                "metric_reports": len(metrics),
            }
            # 3. served molecules: fresh batches without diversity filtering
            before = stored_molecules(client, job_id, page)
            t0 = time.perf_counter()
            while len(served) < molecules:
                n = min(per_request, molecules - len(served))
                tb = time.perf_counter()
                batch = ok(
                    client.get(f"/jobs/{job_id}/samples", params={"n": n, "fresh": "true", "max_similarity": 1.0})
                )
                if not batch["items"]:
                    raise RuntimeError(f"empty fresh batch: {batch}")
                served += [(it["smiles"], s) for it in batch["items"] if (s := score_of(it)) is not None]
                batches.append(
                    {
                        "n": n,
                        "items": len(batch["items"]),
                        "n_sampled": batch["n_sampled"],
                        "n_candidates": batch["n_candidates"],
                        "checkpoint_step": batch["checkpoint_step"],
                        "seconds": round(time.perf_counter() - tb, 2),
                    }
                )
                log(
                    f"  fresh batch n={n}: {len(batch['items'])} items from {batch['n_sampled']} samples "
                    f"({batch['n_candidates']} distinct), checkpoint {batch['checkpoint_step']}, "
                    f"{batches[-1]['seconds']} s"
                )
            seconds["fresh_batches"] = round(time.perf_counter() - t0, 1)
            # every fresh sample the service drew: the increase of times_sampled per stored molecule
            after = stored_molecules(client, job_id, page)
            samples = [
                (s, score)
                for s, (count, score) in sorted(after.items())
                for _ in range(count - before.get(s, (0, None))[0])
                if score is not None
            ]
            # 3b. one diverse batch with the default max_similarity
            t0 = time.perf_counter()
            div = ok(client.get(f"/jobs/{job_id}/samples", params={"n": per_request, "fresh": "true"}))
            div_s = time.perf_counter() - t0
        run_dir = workdir / "data" / "jobs" / job_id
        run_json = json.loads((run_dir / "run.json").read_text())
        result["library"]["run_library_hash_matches"] = run_json["library_hash"] == offline_lib.content_hash

        # 4. the policy, offline, from the newest checkpoint
        t0 = time.perf_counter()
        loaded = LoadedRun(run_dir)
        policy_smiles = [m.smiles for m in loaded.sample(len(served), seed=seed + 1)]
        seconds["policy_sample"] = round(time.perf_counter() - t0, 1)
        policy_step = loaded.step

    # 5. offline scoring with the paper's reward: the policy's samples, and the served ones as a check
    t0 = time.perf_counter()
    offline = {
        m.smiles: finite_score(m.components.get(COMPONENT))
        for m in reward_fn(sorted({s for s, _ in served} | set(policy_smiles)))
    }
    seconds["offline_scoring"] = round(time.perf_counter() - t0, 1)
    policy = [(s, v) for s in policy_smiles if (v := offline.get(s)) is not None]
    deltas = [abs(v - w) for s, v in served if (w := offline.get(s)) is not None]

    def stats(rows: list[tuple[str, float]]) -> dict[str, Any]:
        out = summary([s for s, _ in rows], [v for _, v in rows])
        out["repeated_fraction"] = round(1 - out["distinct"] / max(1, len(rows)), 4)
        return out

    result["served"] = {**stats(served), "batches": batches}
    result["served_samples"] = {**stats(samples), "n_sampled_reported": sum(b["n_sampled"] for b in batches)}
    result["policy"] = {**stats(policy), "checkpoint_step": policy_step, "unscored": len(policy_smiles) - len(policy)}
    result["stored_scores_match_offline"] = {
        "checked": len(deltas),
        "max_abs_diff": float(f"{max(deltas):.3g}") if deltas else None,
        "ok": bool(deltas) and max(deltas) < 1e-3,
    }
    div_rows = [(it["smiles"], s) for it in div["items"] if (s := score_of(it)) is not None]
    div_best = sorted((v for _, v in div_rows), reverse=True)
    result["diverse_batch"] = {
        "n": per_request,
        "max_similarity": div["max_similarity"],
        "items": len(div["items"]),
        "n_sampled": div["n_sampled"],
        "n_candidates": div["n_candidates"],
        "seconds": round(div_s, 2),
        "top10": round(float(np.mean(div_best[:10])), 4) if div_best else None,
        "top100": round(float(np.mean(div_best[:100])), 4) if div_best else None,
        "mean": round(float(np.mean(div_best)), 4) if div_best else None,
        "mean_pairwise_similarity": round(mean_pairwise_similarity([s for s, _ in div_rows]), 4)
        if len(div_rows) > 1
        else None,
        # on the scale of the paper's similarity figures (RDKit topological fingerprint; see benchmarks.seh)
        "mean_pairwise_similarity_rdkit": round(Visited().mean_similarity([s for s, _ in div_rows], "rdkit"), 4)
        if len(div_rows) > 1
        else None,
    }
    policy_scores = [v for _, v in policy]
    result["comparisons"] = {
        "served_vs_policy": compare([v for _, v in served], policy_scores),
        "served_samples_vs_policy": compare([v for _, v in samples], policy_scores),
    }
    sv = result["comparisons"]["served_vs_policy"]
    result["served_follows_policy"] = sv["follows_policy"]
    result["service_loses_quality"] = sv["loses_quality"]
    seconds["total"] = round(time.perf_counter() - t_all, 1)
    result["seconds"] = seconds
    result["machine"] = {**machine(), "load_avg_1m_start": load_start, "load_avg_1m": round(os.getloadavg()[0], 2)}
    return result


# ---------------------------------------------------------------------------------------- CLI
def print_table(r: dict[str, Any]) -> None:
    print(
        f"\n{'set':<15} {'n':>5} {'distinct':>8} {'mean':>6} {'std':>6} {'q10':>6} {'q50':>6} {'q90':>6} "
        f"{'top10':>6} {'top100':>6} {'>7':>4}"
    )
    for name in ("served", "served_samples", "policy"):
        s = r[name]
        print(
            f"{name:<15} {s['n']:>5} {s['distinct']:>8} {s['mean']:>6.3f} {s['std'] or 0:>6.3f} {s['q10']:>6.3f} "
            f"{s['q50']:>6.3f} {s['q90']:>6.3f} {s['top10'] or 0:>6.3f} {s['top100'] or 0:>6.3f} {s['above_7']:>4}"
        )
    print()
    for name, c in r["comparisons"].items():
        print(
            f"{name:<26} KS D {c['ks_statistic']:.3f} p {c['ks_pvalue']:.3g} ({c['ks_direction']})  "
            f"mean diff {c['mean_diff']:+.3f} (tolerance {c['mean_tolerance']:.3f})  "
            f"follows policy: {c['follows_policy']}  loses quality: {c['loses_quality']}"
        )
    d = r["diverse_batch"]
    print(
        f"\ndiverse batch (max_similarity {d['max_similarity']}): {d['items']} of n={d['n']} from "
        f"{d['n_sampled']} samples; top10 {d['top10']} top100 {d['top100']} mean {d['mean']}, "
        f"mean pairwise Tanimoto {d['mean_pairwise_similarity']} (RDKit fp {d['mean_pairwise_similarity_rdkit']})"
    )
    print(f"stored scores vs offline rescoring: max |diff| {r['stored_scores_match_offline']['max_abs_diff']}")
    print(f"service loses quality: {r['service_loses_quality']}; served follows policy: {r['served_follows_policy']}")
    print(
        f"seconds: {r['seconds']}; load average {r['machine']['load_avg_1m_start']} at the start, "
        f"{r['machine']['load_avg_1m']} at the end"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps, 2 x 150 molecules (< 90 s)")
    ap.add_argument("--minutes", type=float, default=None, help=f"training budget (steps = 60 M x {STEPS_PER_S})")
    ap.add_argument("--steps", type=int, default=None, help="training steps (overrides --minutes)")
    ap.add_argument("--molecules", type=int, default=None, help="served molecules to compare (default 1000)")
    ap.add_argument("--per-request", type=int, default=None, help="n per request (default: the service's max)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="default benchmarks/results/seh_service[_quick].json")
    args = ap.parse_args(argv)
    data = shared_data()
    if data is None or not (data / "blocks_PDB_105.json").is_file() or not (data / "seh_proxy.npz").is_file():
        sys.exit(
            "benchmarks.seh_service needs the reference data (blocks_PDB_105.json, seh_proxy.npz) in "
            "../shared/data or $MOLGFN_SHARED_DIR/data; not found"
        )
    import torch

    torch.set_num_threads(1)
    if args.steps is not None:
        steps = args.steps
    elif args.minutes is not None:
        steps = max(1, round(60 * args.minutes * STEPS_PER_S))
    else:
        steps = QUICK_STEPS if args.quick else round(600 * STEPS_PER_S)
    molecules = args.molecules or (300 if args.quick else 1000)
    per_request = args.per_request or (150 if args.quick else None)
    out = args.out or RESULTS / ("seh_service_quick.json" if args.quick else "seh_service.json")
    print(
        f"sEH task through molgfn serve: TB {steps} steps x {BATCH_SIZE}, {molecules} served molecules "
        f"(load average {os.getloadavg()[0]:.2f})"
    )
    result = run(
        data,
        steps=steps,
        molecules=molecules,
        per_request=per_request,
        seed=args.seed,
        progress_every_s=5.0 if args.quick else 15.0,
    )
    result["command"] = "python -m benchmarks.seh_service " + " ".join(argv if argv is not None else sys.argv[1:])
    print_table(result)
    write_json(out, result)


if __name__ == "__main__":
    main()
