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
import time
from collections.abc import Callable, Sequence
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
        return self._wait(lambda ex: [ex.submit(fn, *args, **kwargs)])[0]

    def map(self, fn: Callable[..., T], calls: Sequence[tuple[Any, ...]]) -> list[T]:
        """``fn(*args)`` for each ``args`` of ``calls``, run concurrently over the children; results in
        order, all within one timeout (a failure of any call fails them all)."""
        if not calls:
            return []
        return self._wait(lambda ex: [ex.submit(fn, *args) for args in calls])

    def _wait(self, submit: Callable[[ProcessPoolExecutor], list[Future[T]]]) -> list[T]:
        """Submit tasks and collect their results; a crashed or stuck child answers 503."""
        deadline = time.monotonic() + self.timeout_s
        futures: list[Future[T]] = []
        try:
            futures = submit(self._get())
            results = [f.result(timeout=max(0.0, deadline - time.monotonic())) for f in futures]
        except BrokenProcessPool as exc:
            log.error("sampling pool broke (%s); rebuilding it", exc)
            self._reset()
            raise Unavailable("sampling pool crashed; try again") from exc
        except FutureTimeout as exc:
            log.error("sampling task timed out after %.0f s; rebuilding the pool", self.timeout_s)
            self._reset(kill=True)
            raise Unavailable(f"sampling took longer than {self.timeout_s:.0f} s") from exc
        except BaseException:
            for f in futures:  # a task failed: do not leave its siblings queued
                f.cancel()
            raise
        self.tasks_done += len(results)
        return results

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
