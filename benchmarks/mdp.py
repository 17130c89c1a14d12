"""MDP speed and DAG size: random-rollout steps per second, and the enumerated tiny library.

    python -m benchmarks.mdp [--quick] [--out PATH]

``step`` is legal actions + one canonical step; ``transition`` also finds every equivalent action
and the child's number of distinct parents — the full per-step work the sampler does.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from benchmarks._common import RESULTS, shared_data, write_json
from benchmarks.exactness import LIBRARY as TINY
from gfn.chem.blocks import default_library, library_from_json, load_library
from gfn.mdp.block_mdp import BlockMDP
from gfn.mdp.enumerate import enumerate_dag
from gfn.mdp.state import STOP


def rollouts(mdp: BlockMDP, seconds: float, full: bool, seed: int = 0) -> float:
    rng = random.Random(seed)
    steps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        mdp._transition_cache.clear()  # measure the work, not the cache
        s = mdp.initial
        while True:
            a = rng.choice(mdp.legal_actions(s))
            if a.kind == STOP:
                break
            s = mdp.transition(s, a)[0] if full else mdp.step(s, a)
            steps += 1
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS / "mdp.json")
    args = ap.parse_args()
    secs = 5.0 if args.quick else 20.0
    data = shared_data()
    libs = [default_library()] + ([load_library(data / "blocks_PDB_105.json")] if data else [])
    rows = []
    for lib in libs:
        mdp = BlockMDP(lib, max_blocks=8)
        rows.append(
            {
                "library": lib.name,
                "block_types": lib.n_block_types,
                "max_blocks": 8,
                "steps_per_s": round(rollouts(mdp, secs, False), 1),
                "transitions_per_s": round(rollouts(BlockMDP(lib, max_blocks=8), secs, True), 1),
            }
        )
    dags = []
    tiny = library_from_json(TINY)
    for mb in (3, 4):
        t0 = time.perf_counter()
        dag = enumerate_dag(BlockMDP(tiny, max_blocks=mb))
        dags.append(
            {
                "library": "tiny-5",
                "max_blocks": mb,
                "states": len(dag.states),
                "edges": dag.n_edges,
                "terminal_molecules": len(dag.terminal_molecules()),
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )
    print(f"{'library':>16} {'types':>6} {'steps/s':>9} {'transitions/s':>14}")
    for r in rows:
        print(f"{r['library']:>16} {r['block_types']:>6} {r['steps_per_s']:>9} {r['transitions_per_s']:>14}")
    print(f"\n{'library':>8} {'max':>4} {'states':>7} {'edges':>7} {'molecules':>10}")
    for d in dags:
        print(f"{d['library']:>8} {d['max_blocks']:>4} {d['states']:>7} {d['edges']:>7} {d['terminal_molecules']:>10}")
    write_json(args.out, {"rollouts": rows, "dags": dags})


if __name__ == "__main__":
    main()
