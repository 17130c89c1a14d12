"""A persistent pool of *spawned* processes for everything that needs torch (fresh samples, torch
reward components), so the API process never imports it.

Children are started lazily (or at startup with ``MOLGFN_SAMPLING_PREWARM``), live as long as the
app, and keep what they import warm between tasks. A crashed child breaks a
``ProcessPoolExecutor``; the pool is then rebuilt and the request answered 503.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from app.errors import Unavailable
from app.services import pool_tasks

log = logging.getLogger(__name__)
T = TypeVar("T")


class SamplingPool:
    """Spawn-context process pool with lazy start, timeouts and self-repair."""

    def __init__(self, processes: int, timeout_s: float) -> None:
        self.processes = processes
        self.timeout_s = timeout_s
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.tasks_done = 0

    def _get(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                log.info("starting sampling pool (%d process(es), spawn)", self.processes)
                self._executor = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=pool_tasks.init_child,
                )
            return self._executor

    def prewarm(self) -> list[Future[int]]:
        """Start every child and import torch and the sampler there (returns at once)."""
        ex = self._get()
        return [ex.submit(pool_tasks.warm) for _ in range(self.processes)]

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` in a child and wait (at most the timeout)."""
        try:
            future = self._get().submit(fn, *args, **kwargs)
            result = future.result(timeout=self.timeout_s)
        except BrokenProcessPool as exc:
            log.error("sampling pool broke (%s); rebuilding it", exc)
            self._reset()
            raise Unavailable("sampling pool crashed; try again") from exc
        except FutureTimeout as exc:
            log.error("sampling task timed out after %.0f s; rebuilding the pool", self.timeout_s)
            self._reset(kill=True)
            raise Unavailable(f"sampling took longer than {self.timeout_s:.0f} s") from exc
        self.tasks_done += 1
        return result

    def _reset(self, kill: bool = False) -> None:
        with self._lock:
            ex, self._executor = self._executor, None
        if ex is not None:
            if kill:
                for proc in list(getattr(ex, "_processes", {}).values()):
                    proc.terminate()
            ex.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        """Stop the children (waits for running tasks)."""
        with self._lock:
            ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=True, cancel_futures=True)
