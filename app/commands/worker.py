"""``molgfn worker``: claim queued jobs from DATABASE_URL and run them; run any number of these.

SIGTERM/SIGINT: the running job finishes its step, checkpoints and goes back to the queue; then the
worker exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "worker",
        help="run a worker that trains queued jobs",
        description="Claim queued jobs from DATABASE_URL and run them until stopped.",
    )
    p.add_argument("--max-jobs", type=int, default=None, metavar="N", help="exit after N jobs (default: never)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from app.cli import UsageError
    from app.logs import configure_logging
    from app.settings import get_settings
    from app.worker import Worker

    configure_logging()
    if args.max_jobs is not None and args.max_jobs < 1:
        raise UsageError("--max-jobs: must be at least 1")
    try:
        settings = get_settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current step", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    parent = os.environ.get("MOLGFN_PARENT_PID")
    if parent and parent.isdigit():
        threading.Thread(target=_exit_with_parent, args=(int(parent), stop), daemon=True).start()
    Worker(settings, stop=stop).run(max_jobs=args.max_jobs)
    return 0


def _exit_with_parent(parent: int, stop: threading.Event) -> None:
    """Stop gracefully when the ``molgfn serve`` that started this worker is gone."""
    while not stop.wait(2.0):
        if os.getppid() != parent:
            log.warning("parent process %d is gone; stopping after the current step", parent)
            stop.set()
