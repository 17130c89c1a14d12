"""Exactness: L1 = Σ_x |P_model(x) − R(x)/Z| over every molecule of an enumerable library.

    python -m benchmarks.exactness [--quick] [--out PATH] [--losses tb,fm,db,subtb] [--budget-s 600]

P_model is computed exactly from the policy (dynamic programming over the enumerated DAG, actions
reaching the same child merged), not estimated from samples. Library: 5 fragments (benzene,
pyridine, amide, F, Cl) — max 4 blocks: 5,753 molecules; ``--quick``: max 3 blocks, 405 molecules.
Reward: QED^β (β = 6), a spread of over three orders of magnitude. The error is reported per
molecule and per block tree (the library has unique decompositions, so they coincide).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks._common import RESULTS, machine, write_json
from gfn.build import build_loss, build_model, build_reward
from gfn.chem.blocks import library_from_json
from gfn.featurize import Featurizer
from gfn.mdp.block_mdp import BlockMDP
from gfn.mdp.enumerate import decomposition_report, enumerate_dag
from gfn.metrics import exact_l1, exact_terminal_distribution
from gfn.sampling.policy import model_policy
from gfn.training.config import parse_training_config
from gfn.training.loop import StepReport, train

LIBRARY = {
    "name": "exactness-5",
    "blocks": [
        {"name": "benzene", "smiles": "c1ccccc1", "attachments": [0, 1, 2, 3, 4, 5]},
        {"name": "pyridine", "smiles": "c1ccncc1", "attachments": [0, 1, 2]},
        {"name": "amide", "smiles": "NC=O", "attachments": [0, 1]},
        {"name": "fluoro", "smiles": "F", "attachments": [0]},
        {"name": "chloro", "smiles": "Cl", "attachments": [0]},
    ],
}
SPEC = {"components": [{"name": "qed"}], "beta": 6}
# tuned per objective on this benchmark (documented in BENCHMARKS.md)
LOSS_CONFIG: dict[str, dict[str, Any]] = {
    "tb": {"lr": 3e-3, "lr_logz": 0.1, "lr_half_life": 1200},
    "db": {"lr": 3e-3, "lr_half_life": 1200},
    "subtb": {"lr": 3e-3, "subtb_lambda": 0.9, "lr_half_life": 1200},
    "fm": {"lr": 3e-3, "lr_half_life": 1200},
}


class _Stop(Exception):
    pass


def run_loss(
    loss: str,
    max_blocks: int,
    budget_s: float,
    eval_every_s: float,
    seed: int,
    max_trajectories: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    lib = library_from_json(LIBRARY)
    mdp = BlockMDP(lib, max_blocks=max_blocks)
    dag = enumerate_dag(mdp)
    mols = dag.terminal_molecules()
    reward_fn = build_reward(SPEC)
    rewards = {s.smiles: s.reward for s in reward_fn(list(mols))}
    cfg = parse_training_config(
        {
            "loss": loss,
            "steps": 10_000_000,
            "batch_size": 32,
            "max_blocks": max_blocks,
            "exploration": 0.05,
            "seed": seed,
            **LOSS_CONFIG[loss],
            **(overrides or {}),
        }
    )
    featurizer = Featurizer(mdp)
    model = build_model(featurizer, cfg, torch.device("cpu"))
    gen = torch.Generator()
    gen.manual_seed(seed)
    curve: list[dict[str, float]] = []
    n_traj = 0
    train_s = 0.0
    t0 = time.perf_counter()
    next_eval = eval_every_s

    def evaluate() -> float:
        res = exact_l1(dag, exact_terminal_distribution(dag, model_policy(model, featurizer)), rewards)
        curve.append(
            {"trajectories": n_traj, "seconds": round(train_s, 1), "l1": res.l1_molecule, "l1_block_tree": res.l1_state}
        )
        print(f"  {loss:>5} {train_s:7.1f}s {n_traj:8d} traj  L1 {res.l1_molecule:.4f}", flush=True)
        return res.l1_molecule

    def on_step(r: StepReport) -> None:
        nonlocal n_traj, train_s, next_eval
        n_traj += len(r.trajectories)
        train_s = time.perf_counter() - t0
        if train_s >= next_eval:
            pause = time.perf_counter()
            evaluate()
            next_eval = train_s + eval_every_s
            t0_shift = time.perf_counter() - pause
            _shift(t0_shift)
        if train_s >= budget_s or (max_trajectories is not None and n_traj >= max_trajectories):
            raise _Stop

    def _shift(dt: float) -> None:  # evaluation time is not training time
        nonlocal t0
        t0 += dt

    try:
        train(
            mdp,
            featurizer,
            model,
            reward_fn,
            build_loss(cfg),
            cfg,
            generator=gen,
            device=torch.device("cpu"),
            on_step=on_step,
        )
    except _Stop:
        pass
    l1 = evaluate()
    return {
        "loss": loss,
        "n_terminal_states": len(dag.terminal_states()),
        "n_molecules": len(mols),
        "l1": round(l1, 4),
        "l1_block_tree": round(curve[-1]["l1_block_tree"], 4),
        "trajectories": n_traj,
        "seconds": round(train_s, 1),
        "max_blocks": max_blocks,
        "curve": curve,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="405-molecule library, 60 s per loss")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--losses", default="tb,fm,db,subtb")
    ap.add_argument("--budget-s", type=float, default=None, help="training seconds per loss")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (default 1, as training runs use; 0: torch's)"
    )
    ap.add_argument(
        "--trajectories",
        type=int,
        default=None,
        help="also stop after N trajectories (sweeps on other machines at an equal sample budget)",
    )
    ap.add_argument(
        "--override",
        type=json.loads,
        default=None,
        help="training settings replacing the tuned ones, as JSON (e.g. '{\"lr_half_life\": 1200}')",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    max_blocks = 3 if args.quick else 4
    budget = args.budget_s or (50.0 if args.quick else 600.0)
    out = args.out or RESULTS / ("exactness_quick.json" if args.quick else "exactness.json")
    lib = library_from_json(LIBRARY)
    rep = decomposition_report(BlockMDP(lib, max_blocks=max_blocks))
    print(f"library {lib.name}: {rep.n_molecules} molecules, unique decompositions: {rep.is_unique}")
    results = [
        run_loss(loss, max_blocks, budget, budget / 5, args.seed, args.trajectories, args.override)
        for loss in args.losses.split(",")
    ]
    print(f"\n{'loss':>6} {'molecules':>10} {'L1':>8} {'trajectories':>13} {'seconds':>8}")
    for r in results:
        print(f"{r['loss']:>6} {r['n_molecules']:>10} {r['l1']:>8.4f} {r['trajectories']:>13} {r['seconds']:>8}")
    write_json(
        out,
        {
            "results": results,
            "reward": SPEC,
            "library": LIBRARY["name"],
            "override": args.override,
            "torch_threads": torch.get_num_threads(),
            "machine": machine(),
        },
    )


if __name__ == "__main__":
    main()
