"""``molgfn train``: offline training into a run directory, with a progress bar."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("train", help="train a GFlowNet offline (no service)")
    p.add_argument("--spec", required=True, type=Path, help="reward spec JSON file")
    p.add_argument("--library", default="default", help="'default', or a block library JSON file")
    p.add_argument("--config", type=Path, help="training CONFIG JSON file (loss, steps, batch_size, ...)")
    p.add_argument("--out", required=True, type=Path, help="run directory (resumed if it exists)")
    p.set_defaults(handler=run)


def read_json(path: Path, what: str) -> Any:
    from app.cli import UsageError

    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{what}: no such file {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{what}: {path} is not valid JSON ({exc})") from None


def run(args: argparse.Namespace) -> int:
    from app.cli import UsageError
    from gfn.errors import GfnError

    spec = read_json(args.spec, "--spec")
    config = read_json(args.config, "--config") if args.config else {}
    if not isinstance(config, dict):
        raise UsageError("--config: must be a JSON object")
    try:
        from tqdm import tqdm

        from gfn.runs import Progress, train_run
        from gfn.training.loop import prepare_run

        cfg, _, _ = prepare_run(spec, config, args.library, args.out)  # validate before the heavy start
        bar = tqdm(total=cfg.steps, unit="step", dynamic_ncols=True)

        def progress(p: Progress) -> None:
            bar.n = p.step
            bar.set_postfix(
                loss=f"{p.loss:.3g}",
                reward=f"{p.mean_reward:.3g}",
                unique=p.unique_molecules,
                traj_s=f"{p.trajectories_per_s:.0f}",
            )
            bar.refresh()

        summary = train_run(spec, config, args.library, args.out, progress=progress, progress_every_s=0.5)
        bar.close()
    except GfnError as exc:
        raise UsageError(str(exc)) from None
    import sys

    sys.stderr.write(f"trained {summary.steps_done} steps; checkpoint {summary.checkpoint}\n")
    return 0
