"""``molgfn serve [--host H] [--port P] [--workers N]``: the HTTP API plus N worker processes.

Workers are child processes running ``molgfn worker`` (so torch never enters the API process);
they are restarted if they die and stopped gracefully (SIGTERM: checkpoint, release the job) when
the server stops. With a SQLite database (the default ``./molgfn.db``) migrations are applied on
start; PostgreSQL deployments run ``molgfn db upgrade`` once (see docker-compose.yml).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

STOP_GRACE_S = 120.0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the HTTP API and workers",
        description="Serve the HTTP API (Swagger UI at /docs) with N worker processes.",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default MOLGFN_WORKERS or 1; 0 = API only)",
    )
    p.set_defaults(handler=run)


class WorkerSupervisor:
    """Keeps N ``molgfn worker`` child processes alive until :meth:`stop`.

    Children get ``MOLGFN_PARENT_PID`` so that they stop by themselves if this process dies
    without stopping them (e.g. SIGKILL)."""

    def __init__(self, n: int, env: dict[str, str]) -> None:
        self.n = n
        self.env = dict(env, MOLGFN_PARENT_PID=str(os.getpid()))
        self.procs: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="worker-supervisor")

    def _spawn(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=self.env)
        log.info("started worker process %d", proc.pid)
        return proc

    def start(self) -> None:
        with self._lock:
            self.procs = [self._spawn() for _ in range(self.n)]
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(2.0):
            with self._lock:
                for i, proc in enumerate(self.procs):
                    code = proc.poll()
                    if code is not None and not self._stopping.is_set():
                        log.warning("worker process %d exited with %s; restarting it", proc.pid, code)
                        self.procs[i] = self._spawn()

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM every worker, wait up to ``grace_s`` for checkpoints, then kill stragglers."""
        self._stopping.set()
        with self._lock:  # no restart can happen from here on
            procs = list(self.procs)
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + grace_s
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker process %d did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.wait()


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from app.cli import UsageError
    from app.logs import configure_logging
    from app.settings import get_settings

    configure_logging()
    if not 0 < args.port < 65536:
        raise UsageError("--port: must be between 1 and 65535")
    overrides: dict[str, Any] = {}
    if args.workers is not None:
        if args.workers < 0:
            raise UsageError("--workers: must be 0 or more")
        overrides["workers"] = args.workers
    try:
        settings = get_settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None

    import uvicorn
    from sqlalchemy.exc import OperationalError

    from app.db.migrate import upgrade
    from app.main import create_app

    if settings.is_sqlite:
        try:
            upgrade(settings.database_url)
        except OperationalError as exc:
            raise UsageError(f"DATABASE_URL: cannot open ({exc.orig})") from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["DATABASE_URL"] = settings.database_url
    env["MOLGFN_DATA_DIR"] = str(settings.data_dir.resolve())

    class Server(uvicorn.Server):
        """uvicorn without its own signal capture: uvicorn re-raises the signal after shutting down,
        which would kill this process before it has stopped its workers."""

        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    # keep-alive longer than clients' usual 5 s idle timeout, so a reused connection is not closed
    # under a client that is just sending on it (seen as connection resets under 200-way load)
    server = Server(
        uvicorn.Config(create_app(settings), host=args.host, port=args.port, log_level="info", timeout_keep_alive=75)
    )

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        server.handle_exit(signum, frame)  # graceful; a second signal forces the exit

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    supervisor = WorkerSupervisor(settings.workers, env)
    supervisor.start()
    try:
        server.run()
    finally:
        supervisor.stop()
    return 0
