"""`molgfn` command line: a thin dispatcher over app/commands/*.

Each command module exposes ``register(subparsers)`` and does its heavy imports (torch, RDKit,
uvicorn) inside its handler, so ``molgfn --help`` stays fast and the API process stays torch-free.
Any :class:`UsageError` (bad flag, bad spec, bad file) exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import os

# The sEH proxy is numpy: OpenBLAS's default of one thread per core made it 4x slower when training,
# serving and workers share the cores (benchmarks.scoring). Set before any command imports numpy;
# an explicit setting in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402

COMMAND_MODULES = ("serve", "worker", "db", "train", "sample", "score", "proxy")


class UsageError(Exception):
    """A user mistake on the command line: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"molgfn: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="molgfn", description="GFlowNet molecule generation service and tools.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"app.commands.{name}")
        except ModuleNotFoundError as exc:  # a command whose module is not written yet
            if exc.name == f"app.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except UsageError as exc:
        sys.stderr.write(f"molgfn {args.command}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    # ``python -m app.cli``: run the imported module's main, whose UsageError is the class the commands
    # raise (this file, run as __main__, defines a second one that would let usage errors escape)
    from app.cli import main as _main

    raise SystemExit(_main())
