"""Helpers shared by the benchmark scripts (and the tests that start real processes): reference data
location, JSON output, machine facts, ``molgfn serve``/``worker`` subprocesses."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def shared_data() -> Path | None:
    d = Path(os.environ.get("MOLGFN_SHARED_DIR", REPO.parent / "shared")) / "data"
    return d if d.is_dir() else None


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}")


def machine() -> dict[str, Any]:
    import torch

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, for a server subprocess to bind."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def molgfn_env(url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment plus a molgfn subprocess's database, data directory and ``settings``."""
    return {**os.environ, "DATABASE_URL": url, "MOLGFN_DATA_DIR": str(data_dir), **settings}


def spawn_molgfn(args: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """``python -m app.cli ARGS`` (the ``molgfn`` command) in ``cwd``, stdout and stderr appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "app.cli", *args], cwd=cwd, env=env, stdout=out, stderr=out)


def stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, SIGKILL if still running after ``timeout`` s; reaped either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_healthy(proc: subprocess.Popen[bytes], base_url: str, log: Path, timeout: float) -> None:
    """Poll ``GET /health`` until it answers 200; RuntimeError with the log's tail if the process exits
    first or ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError("server exited:\n" + log.read_text()[-3000:])
        try:
            if httpx.get(f"{base_url}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.2)


@contextmanager
def molgfn_server(
    args: Sequence[str],
    env: Mapping[str, str],
    workdir: Path,
    log: Path,
    ready_timeout: float = 120.0,
    stop_timeout: float = 60.0,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``molgfn serve --port P ARGS`` on a free port P: yields (process, base URL) once ``/health``
    answers, and stops the process afterwards."""
    port = free_port()
    proc = spawn_molgfn(["serve", "--port", str(port), *args], env, workdir, log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, base_url, log, ready_timeout)
        yield proc, base_url
    finally:
        stop_process(proc, stop_timeout)
