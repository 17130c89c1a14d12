"""`molgfn proxy train`: fit a proxy reward model on a CSV of SMILES and measured values."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("proxy", help="train proxy reward models from your data")
    sub = parser.add_subparsers(dest="proxy_command", required=True, parser_class=type(parser))
    train = sub.add_parser(
        "train",
        help="train an MPNN regressor on a CSV of SMILES and values",
        description="Train an MPNN regressor; the output directory can be used as a reward component "
        '{"name": "proxy", "params": {"model": DIR}}.',
    )
    train.add_argument("--csv", required=True, help="input CSV file")
    train.add_argument("--smiles-col", required=True, help="column with SMILES")
    train.add_argument("--value-col", required=True, help="column with the values to predict")
    train.add_argument("--out", required=True, help="output directory (model.pt + metadata.json)")
    train.add_argument("--sep", default=",", help="field separator (default ',')")
    train.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    train.add_argument("--seed", type=int, default=0, help="random seed for split and training")
    train.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: this small model is fastest single-threaded, especially on a busy machine)",
    )
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress on stderr")
    train.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    from app.cli import UsageError

    if args.epochs < 1:
        raise UsageError(f"--epochs: must be at least 1, got {args.epochs}")
    if args.threads < 1:
        raise UsageError(f"--threads: must be at least 1, got {args.threads}")
    sep = "\t" if args.sep in ("\\t", "tab") else args.sep
    if len(sep) != 1:
        raise UsageError(f"--sep: must be one character, got {args.sep!r}")

    import torch

    from gfn.errors import GfnError
    from gfn.rewards.proxy import ProxyConfig, read_csv, train_proxy

    torch.set_num_threads(args.threads)

    flags = {"csv": "--csv", "smiles_col": "--smiles-col", "value_col": "--value-col"}
    try:
        data = read_csv(args.csv, args.smiles_col, args.value_col, sep=sep)
        sys.stderr.write(
            f"{data.n_rows} rows: {len(data.smiles)} distinct molecules, {data.n_dropped_empty} rows "
            f"without a value, {data.n_dropped_invalid} unparsable\n"
        )

        def progress(rec: dict[str, float]) -> None:
            if not args.quiet:
                sys.stderr.write(
                    f"epoch {int(rec['epoch']):3d}  train loss {rec['train_loss']:.4f}  "
                    f"val RMSE {rec['val_rmse']:.4f}\n"
                )

        result = train_proxy(
            data,
            args.out,
            ProxyConfig(epochs=args.epochs, seed=args.seed),
            source={"csv": str(args.csv), "smiles_col": args.smiles_col, "value_col": args.value_col},
            progress=progress,
        )
    except GfnError as exc:
        raise UsageError(f"{flags.get(exc.field, exc.field)}: {exc.reason}") from None
    summary = {
        "out": str(result.out_dir),
        "train": result.n_train,
        "val": result.n_val,
        "test": result.n_test,
        "seconds": round(result.seconds, 1),
        **{k: round(v, 4) for k, v in result.metrics.items()},
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0
