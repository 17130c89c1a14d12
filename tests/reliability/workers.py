"""Helpers of the reliability tests: ``molgfn worker`` subprocesses on a test database."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import molgfn_env, spawn_molgfn, stop_process

ROOT = Path(__file__).resolve().parents[2]
TINY_TRAINING: dict[str, Any] = {"loss": "tb", "batch_size": 4, "max_blocks": 3, "threads": 1}


def worker_env(tmp_path: Path, url: str, **settings: str) -> dict[str, str]:
    env = molgfn_env(
        url,
        tmp_path / "data",
        MOLGFN_POLL_INTERVAL_S="0.1",
        MOLGFN_PROGRESS_EVERY_S="0.2",
        MOLGFN_HEARTBEAT_INTERVAL_S="0.3",
        MOLGFN_HEARTBEAT_TIMEOUT_S="3",
        MOLGFN_CHECKPOINT_EVERY_S="3600",  # checkpoints by step count (training.checkpoint_every)
        MOLGFN_LOG_LEVEL="INFO",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    env.update(settings)
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return spawn_molgfn(["worker"], env, ROOT, log)


def stop(proc: subprocess.Popen[bytes]) -> None:
    stop_process(proc, timeout=30)


def wait_until(fn: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
