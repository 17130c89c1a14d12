"""`molgfn score`: score SMILES with a reward spec, CSV to stdout."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score SMILES with a reward spec",
        description="Print CSV: smiles,reward, then one column per component (raw values). "
        "An invalid SMILES gets an empty reward and a message on stderr.",
    )
    parser.add_argument("--spec", required=True, help="reward spec JSON file")
    parser.add_argument("--smiles-file", help="file with one SMILES per line (extra columns ignored)")
    parser.add_argument("smiles", nargs="*", help="SMILES to score")
    parser.set_defaults(handler=_score)


def _read_smiles_file(path: str) -> list[str]:
    from app.cli import UsageError

    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise UsageError(f"--smiles-file: cannot read {path}: {exc.strerror or exc}") from None
    out = []
    for line in lines:
        token = line.strip().split()[0] if line.strip() else ""
        if token and not token.startswith("#"):
            out.append(token)
    if out and out[0].lower() == "smiles":  # a header line
        out = out[1:]
    return out


def _format(x: float) -> str:
    return f"{x:.6g}" if math.isfinite(x) else ""


def _score(args: argparse.Namespace) -> int:
    from app.cli import UsageError

    if args.smiles_file and args.smiles:
        raise UsageError("smiles: give either --smiles-file or SMILES arguments, not both")
    if not args.smiles_file and not args.smiles:
        raise UsageError("smiles: give --smiles-file FILE or one or more SMILES")
    try:
        spec_obj = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--spec: cannot read {args.spec}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--spec: not valid JSON ({exc})") from None
    smiles = _read_smiles_file(args.smiles_file) if args.smiles_file else list(args.smiles)

    from gfn.errors import SpecError
    from gfn.rewards.compose import build_reward

    try:
        fn = build_reward(spec_obj)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    results = fn(smiles)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["smiles", "reward", *fn.component_names])
    for text, res in zip(smiles, results, strict=True):
        if not res.valid:
            sys.stderr.write(f"molgfn score: invalid SMILES {text!r}: reward left empty\n")
            writer.writerow([text, "", *([""] * len(fn.component_names))])
            continue
        row = [res.smiles or text, _format(res.reward)]
        row += [_format(res.components.get(name, math.nan)) for name in fn.component_names]
        writer.writerow(row)
    return 0
