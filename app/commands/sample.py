"""``molgfn sample``: N molecules from a trained run as CSV ``smiles,reward``."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("sample", help="sample molecules from a trained run")
    p.add_argument("--run", required=True, type=Path, help="run directory written by 'molgfn train'")
    p.add_argument("--n", required=True, type=int, help="number of molecules (repeats kept)")
    p.add_argument("--out", type=Path, help="CSV file (default: standard output)")
    p.add_argument("--seed", type=int, default=None, help="seed (default: random)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from app.cli import UsageError
    from gfn.errors import GfnError

    if args.n < 1:
        raise UsageError("--n: must be at least 1")
    if not (args.run / "run.json").is_file():
        raise UsageError(f"--run: {args.run} is not a molgfn run directory (no run.json)")
    try:
        from gfn.runs import sample_run

        mols = sample_run(args.run, args.n, seed=args.seed)
    except GfnError as exc:
        raise UsageError(str(exc)) from None
    fh = open(args.out, "w", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
        w = csv.writer(fh)
        w.writerow(["smiles", "reward"])
        for m in mols:
            w.writerow([m.smiles, f"{m.reward:.6g}"])
    finally:
        if args.out:
            fh.close()
    return 0
