"""Throughput: trajectories per second, sampling plus a training step, default model.

    python -m benchmarks.throughput [--quick] [--out PATH] [--batch-size 64] [--loss tb] [--device cpu]

Reference setting: the 105-block library of the original paper (../shared/data/blocks_PDB_105.json;
falls back to the default library when absent), max 8 blocks, batch 64, reward QED (so the figure
measures molgfn, not a proxy model).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from benchmarks._common import RESULTS, machine, peak_rss_mb, shared_data, write_json
from gfn.build import build_loss, build_mdp, build_model, build_reward
from gfn.chem.blocks import default_library, load_library
from gfn.featurize import Featurizer
from gfn.training.config import parse_training_config
from gfn.training.loop import StepReport, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a shorter run (< 60 s)")
    ap.add_argument("--out", type=Path, default=RESULTS / "throughput.json")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--loss", default="tb")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = shared_data()
    lib = load_library(data / "blocks_PDB_105.json") if data else default_library()
    steps = args.steps or (15 if args.quick else 60)
    warmup = 3
    cfg = parse_training_config(
        {
            "loss": args.loss,
            "steps": steps + warmup,
            "batch_size": args.batch_size,
            "max_blocks": 8,
            "device": args.device,
        }
    )
    device = torch.device(args.device)
    mdp = build_mdp(lib, cfg)
    featurizer = Featurizer(mdp)
    model = build_model(featurizer, cfg, device)
    reward = build_reward({"components": [{"name": "qed"}]})
    gen = torch.Generator()
    gen.manual_seed(0)
    reports: list[StepReport] = []
    t_start: list[float] = []

    def on_step(r: StepReport) -> None:
        if r.step == warmup:
            t_start.append(time.perf_counter())
        elif r.step > warmup:
            reports.append(r)

    train(mdp, featurizer, model, reward, build_loss(cfg), cfg, generator=gen, device=device, on_step=on_step)
    wall = time.perf_counter() - t_start[0]
    n_traj = sum(len(r.trajectories) for r in reports)
    mean_len = sum(len(t.states) - 1 for r in reports for t in r.trajectories) / max(1, n_traj)
    result = {
        "trajectories_per_s": round(n_traj / wall, 1),
        "device": str(device),
        "batch_size": args.batch_size,
        "n_blocks": lib.n_block_types,
        "max_blocks": 8,
        "loss": args.loss,
        "library": lib.name,
        "mean_blocks_per_molecule": round(mean_len, 2),
        "steps_timed": len(reports),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "machine": machine(),
    }
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)
        result["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    print(f"{'trajectories/s':>16} {'batch':>6} {'blocks':>7} {'mean size':>10} {'peak MB':>8} device")
    print(
        f"{result['trajectories_per_s']:>16} {args.batch_size:>6} {lib.n_block_types:>7} "
        f"{mean_len:>10.2f} {result['peak_rss_mb']:>8} {device}"
    )
    write_json(args.out, result)


if __name__ == "__main__":
    main()
