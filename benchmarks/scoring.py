"""Scoring throughput: molecules per second through the full reward path (parse, canonicalise,
components, transforms, aggregate), for an RDKit-only spec (``rdkit5``) and the sEH proxy.

    python -m benchmarks.scoring [--quick] [--out PATH]

Molecules: distinct ChEMBL sEH ligands from ``shared/data/seh_chembl.csv`` when present (largest
fragment), else amides enumerated from a fixed list of acids and amines. The reward cache is
bypassed (``cache_size=0`` and distinct molecules), so every molecule is computed. Targets on 2 CPU
cores: rdkit5 >= 2,000 molecules/s, seh_proxy >= 500 molecules/s (batches of 256).
"""

from __future__ import annotations

import os

# numpy's OpenBLAS would otherwise start one thread per core for the sEH proxy's small matmuls,
# which only adds synchronisation: measured 3-4x slower with 2 threads than with 1 on the 2-core
# machine under load. Takes effect only if numpy is not loaded yet (python -m benchmarks.scoring).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "scoring.json"
TARGETS = {"rdkit5": 2000.0, "seh_proxy": 500.0}

RDKIT5: dict[str, Any] = {
    "components": [
        {"name": "qed"},
        {"name": "sa", "transform": {"type": "reverse_sigmoid", "low": 2.0, "high": 6.0, "k": 0.5}},
        {"name": "logp", "transform": {"type": "gaussian", "mu": 2.5, "sigma": 1.5}},
        {"name": "mw", "transform": {"type": "double_sigmoid", "low": 200, "high": 500}},
        {"name": "tpsa", "transform": {"type": "reverse_sigmoid", "low": 60, "high": 140, "k": 0.5}},
    ],
    "aggregate": "geometric_mean",
}

_ACIDS = [
    "OC(=O)c1ccccc1", "OC(=O)c1ccc(Cl)cc1", "OC(=O)c1ccc(F)cc1", "OC(=O)c1cccnc1", "OC(=O)c1ccncc1",
    "OC(=O)c1ccc(OC)cc1", "OC(=O)c1cc2ccccc2[nH]1", "OC(=O)C1CCCCC1", "OC(=O)CC1CCCC1",
    "OC(=O)c1ccc(C(F)(F)F)cc1", "OC(=O)c1cccs1", "OC(=O)c1ccco1", "OC(=O)c1cnc2ccccc2c1",
    "OC(=O)C1CCN(C(=O)C)CC1", "OC(=O)c1ccc2OCOc2c1", "OC(=O)Cc1ccccc1", "OC(=O)c1ccc(S(N)(=O)=O)cc1",
    "OC(=O)c1n[nH]c2ccccc12", "OC(=O)C12CC3CC(CC(C3)C1)C2", "OC(=O)c1ccc(-c2ccccc2)cc1",
    "OC(=O)c1cc(Cl)cc(Cl)c1", "OC(=O)C1CC1", "OC(=O)c1ccc(N(C)C)cc1", "OC(=O)c1c(C)noc1C",
    "OC(=O)c1ccc2ncccc2c1", "OC(=O)CCc1ccccc1", "OC(=O)c1cccc(O)c1", "OC(=O)c1ccc(C#N)cc1",
    "OC(=O)C1CCOCC1", "OC(=O)c1sc2ccccc2c1",
]  # fmt: skip
_AMINES = [
    "NC1CCCCC1", "Nc1ccccc1", "NCc1ccccc1", "NCc1ccc(Cl)cc1Cl", "N1CCOCC1", "N1CCN(C)CC1",
    "NC12CC3CC(CC(C3)C1)C2", "Nc1ccc2OCOc2c1", "NCCc1ccccc1", "N1CCCCC1", "Nc1ccc(F)cc1", "NC1CC1",
    "NCc1cccnc1", "Nc1nccs1", "NC(C)c1ccccc1", "N1CCC(O)(Cc2ccccc2)CC1", "Nc1ccc(OC(F)(F)F)cc1",
    "NCC1CCCO1", "Nc1cccc(C(F)(F)F)c1", "NC1CCN(C(=O)C(F)(F)F)CC1", "N1CCc2ccccc2C1", "NCCN1CCOCC1",
    "Nc1ccc(N2CCOCC2)cc1", "NC1CCCCCC1", "Nc1cnc2ccccc2c1", "NCc1ccco1", "N(C)Cc1ccccc1",
    "Nc1ccc(-c2ccccc2)cc1", "NC1CCC(C(=O)O)CC1", "Nc1ccccc1C(N)=O",
]  # fmt: skip


def shared_dir() -> Path | None:
    """``$MOLGFN_SHARED_DIR`` or ``<repo>/../shared`` (reference data, optional)."""
    env = os.environ.get("MOLGFN_SHARED_DIR")
    for candidate in ([Path(env)] if env else []) + [REPO_ROOT.parent / "shared"]:
        if (candidate / "data").is_dir():
            return candidate
    return None


def load_molecules() -> tuple[list[str], str]:
    """Distinct canonical SMILES and a description of where they came from."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdChemReactions

    root = shared_dir()
    smiles: set[str] = set()
    with rdBase.BlockLogs():
        if root is not None and (root / "data" / "seh_chembl.csv").is_file():
            path = root / "data" / "seh_chembl.csv"
            with path.open(newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh, delimiter=";"):
                    text = row.get("Smiles") or ""
                    mol = Chem.MolFromSmiles(max(text.split("."), key=len)) if text else None
                    if mol is not None:
                        smiles.add(Chem.MolToSmiles(mol))
            source = f"ChEMBL sEH ligands ({path.name}, largest fragment)"
        else:
            rxn = rdChemReactions.ReactionFromSmarts("[C:1](=O)[OH].[N;!H0:2]>>[C:1](=O)[N:2]")
            for acid in _ACIDS:
                for amine in _AMINES:
                    for products in rxn.RunReactants((Chem.MolFromSmiles(acid), Chem.MolFromSmiles(amine))):
                        prod = products[0]
                        try:
                            Chem.SanitizeMol(prod)
                        except Exception:  # noqa: BLE001
                            continue
                        smiles.add(Chem.MolToSmiles(prod))
            source = "amides enumerated from 30 acids x 30 amines (shared data absent)"
    return sorted(smiles), source


def measure(
    spec: dict[str, Any], smiles: list[str], batch_size: int, budget_s: float, workers: int = 1
) -> dict[str, Any]:
    """Molecules/s over fresh batches with the cache disabled, until the budget or the list ends."""
    from gfn.rewards.compose import PARALLEL_MIN_BATCH, build_reward

    fn = build_reward(spec, cache_size=0, workers=workers)
    fn(smiles[-PARALLEL_MIN_BATCH:])  # warm-up: imports, catalogs, weights, worker start-up
    done = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    for i in range(0, len(smiles), batch_size):
        batch = smiles[i : i + batch_size]
        results = fn(batch)
        assert len(results) == len(batch)
        done += len(batch)
        if time.perf_counter() - start > budget_s:
            break
    seconds = time.perf_counter() - start
    out = {
        "molecules": done,
        "seconds": round(seconds, 3),
        "molecules_per_s": round(done / seconds, 1),
        "cpu_s_per_molecule": round((time.process_time() - cpu_start) / done, 6),
        "cache_hits": fn.cache_info()["hits"],
        "workers": fn.workers,
    }
    fn.close()
    return out


def _spin(n: int) -> float:
    """Pure-Python CPU work (no I/O, no shared state); returns its own wall time."""
    t0 = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i % 7
    return time.perf_counter() - t0


def machine_speedup(processes: int, n: int = 5_000_000) -> float:
    """How much faster ``processes`` processes do ``processes`` equal pieces of CPU work than one
    process does one piece — what this machine's cores give any CPU-bound work, the ceiling of the
    worker-pool speed-up (1.0 for one core, about 2 for two real cores, less for shared ones)."""
    from concurrent.futures import ProcessPoolExecutor

    one = min(_spin(n) for _ in range(2))
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(_spin, [n // 10] * processes))  # start-up
        t0 = time.perf_counter()
        list(pool.map(_spin, [n] * processes))
        both = time.perf_counter() - t0
    return round(processes * one / both, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scoring", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (< 60 s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="also measure each spec with this many worker processes (1: skip; default min(2, CPUs))",
    )
    args = parser.parse_args(argv)

    smiles, source = load_molecules()
    budget = 6.0 if args.quick else 60.0
    print(f"molecules: {len(smiles)} distinct, from {source}")
    print("cache: bypassed (cache_size=0, every molecule distinct: each one is computed)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {_load()}")

    specs: list[tuple[str, dict[str, Any], int]] = [("rdkit5", RDKIT5, 256)]
    weights = os.environ.get("MOLGFN_SEH_PROXY_WEIGHTS")
    root = shared_dir()
    if not weights and root is not None and (root / "data" / "seh_proxy.npz").is_file():
        weights = str(root / "data" / "seh_proxy.npz")
    results: list[dict[str, Any]] = []
    skipped: list[str] = []
    if weights:
        specs.append(("seh_proxy", {"components": [{"name": "seh_proxy", "params": {"weights": weights}}]}, 256))
    else:
        skipped.append("seh_proxy: no weights (set MOLGFN_SEH_PROXY_WEIGHTS or provide ../shared)")
    ceiling = machine_speedup(args.workers) if args.workers > 1 else 1.0
    if args.workers > 1:
        print(f"machine: {args.workers} processes do {ceiling:.2f}x the CPU-bound work of one (the ceiling)")
    for name, spec, batch_size in specs:
        entry = {"spec": name, "batch_size": batch_size, **measure(spec, smiles, batch_size, budget)}
        if args.workers > 1:
            par = measure(spec, smiles, batch_size, budget, workers=args.workers)
            entry["parallel"] = {k: par[k] for k in ("workers", "molecules", "seconds", "molecules_per_s")}
            entry["parallel"]["speedup"] = round(par["molecules_per_s"] / entry["molecules_per_s"], 2)
            entry["parallel"]["machine_speedup"] = ceiling
        results.append(entry)

    header = (
        f"{'spec':<10} {'batch':>5} {'workers':>7} {'molecules':>9} {'seconds':>8} {'mol/s':>8} "
        f"{'cpu ms/mol':>10} {'target':>7}  status"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        target = TARGETS.get(r["spec"], 0.0)
        status = "ok" if r["molecules_per_s"] >= target else "BELOW TARGET"
        r["target_molecules_per_s"] = target
        r["cache"] = "bypassed"
        r["cpus"] = os.cpu_count()
        r["load_avg_1m"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
        r["openblas_num_threads"] = os.environ.get("OPENBLAS_NUM_THREADS")  # unset: OpenBLAS uses every core
        print(
            f"{r['spec']:<10} {r['batch_size']:>5} {r['workers']:>7} {r['molecules']:>9} {r['seconds']:>8.2f} "
            f"{r['molecules_per_s']:>8.1f} {1e3 * r['cpu_s_per_molecule']:>10.2f} {target:>7.0f}  {status}"
        )
        if "parallel" in r:
            p = r["parallel"]
            p_status = "ok" if p["molecules_per_s"] >= target else "BELOW TARGET"
            print(
                f"{r['spec']:<10} {r['batch_size']:>5} {p['workers']:>7} {p['molecules']:>9} {p['seconds']:>8.2f} "
                f"{p['molecules_per_s']:>8.1f} {'':>10} {target:>7.0f}  {p_status}"
            )
    print("cpu ms/mol: CPU time of this process per molecule (BLAS threads included; less sensitive to load)")
    for line in skipped:
        print(f"skipped: {line}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


if __name__ == "__main__":
    raise SystemExit(main())
