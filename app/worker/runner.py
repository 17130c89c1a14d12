"""The worker loop: claim a job, run it with heartbeats and progress, record the outcome.

A GFlowNet job runs :func:`gfn.runs.train_run` in the run directory ``DATA_DIR/jobs/<job id>/``
(which resumes from the newest checkpoint there, so a reclaimed or released job continues where it
stopped). While it runs:

* a heartbeat thread refreshes the job's heartbeat every ``heartbeat_interval_s`` and learns whether
  a cancel was requested or the job was taken over;
* each progress report is written in ONE transaction: job progress + metrics row + the checkpoint it
  mentions; sampled molecules are buffered and written (upserted, deduplicated by (job, SMILES),
  counts added) only with a report that commits a checkpoint, in the same transaction. A checkpoint
  is therefore *committed* exactly when the molecules sampled up to its step are stored, and a job
  resumed after a crash replays (deterministically) from its newest committed checkpoint: the
  molecules of the lost steps are sampled and counted once, never lost nor counted twice. Checkpoint
  files newer than the committed one (written just before a crash) are removed before resuming;
* ``should_stop`` is true on cancel, on loss of the job, and on shutdown (SIGTERM/SIGINT): training
  finishes its step, checkpoints and returns; a cancelled job becomes ``cancelled``, a shut-down
  one goes back to ``queued`` for another worker;
* when training returns, the molecules not yet stored (their report failed, e.g. the database was
  away) are written with retries; if that still fails the job is not finished but left to be
  reclaimed from its last committed checkpoint, so they are sampled and stored again.

Failures mark the job ``failed`` with the error message (library errors verbatim, others with the
exception type; tracebacks only in the log).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from app import queue
from app.db.models import ProxyModel
from app.db.molecules import MoleculeRecord, upsert_molecules
from app.db.session import Database
from app.errors import AppError, is_database_unavailable
from app.services import chem, rewards
from app.services.pool_tasks import finite
from app.settings import Settings
from gfn.errors import GfnError

log = logging.getLogger(__name__)

TrainFn = Callable[..., Any]
#: Tries to store a finished job's last molecules (backoff 1, 2, 4, 8 s…, ~25 s in all) before the job is
#: left to be reclaimed instead of finished.
FLUSH_ATTEMPTS = 6


def default_worker_id() -> str:
    """``host:pid:random`` — unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class _Stopped(Exception):
    """Raised from a progress callback to stop a trainer that has no ``should_stop``."""


@dataclass
class _Control:
    """Why a running job should stop (set by the heartbeat thread or the signal handler)."""

    shutdown: threading.Event
    cancel: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)

    def should_stop(self) -> bool:
        return self.shutdown.is_set() or self.cancel.is_set() or self.lost.is_set()


class Worker:
    """Claims and runs jobs until ``stop`` is set.

    ``train_fn`` defaults to :func:`gfn.runs.train_run` (same signature); it is a constructor argument
    so the queue logic can be exercised with a fast trainer.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        db: Database | None = None,
        worker_id: str | None = None,
        stop: threading.Event | None = None,
        train_fn: TrainFn | None = None,
    ) -> None:
        self.settings = settings
        self.db = db or Database(settings.database_url)
        self._own_db = db is None
        self.worker_id = worker_id or default_worker_id()
        self.stop = stop or threading.Event()
        self._train_fn = train_fn
        self.jobs_done = 0

    # ------------------------------------------------------------------ loop
    def run(self, max_jobs: int | None = None) -> None:
        """Claim and run jobs until stopped (or ``max_jobs`` were run)."""
        log.info("worker %s: started on %s", self.worker_id, self.db.engine.url.render_as_string())
        self._prewarm()
        log.info("worker %s: ready (polling every %.1f s)", self.worker_id, self.settings.poll_interval_s)
        try:
            while not self.stop.is_set():
                if max_jobs is not None and self.jobs_done >= max_jobs:
                    break
                try:
                    ran = self.run_once()
                except SQLAlchemyError as exc:
                    if not is_database_unavailable(exc):
                        log.exception("worker %s: database error", self.worker_id)
                    else:
                        log.warning("worker %s: database unavailable: %s", self.worker_id, exc)
                    self.stop.wait(max(self.settings.poll_interval_s, 2.0))
                    continue
                if not ran:
                    self.stop.wait(self.settings.poll_interval_s)
        finally:
            log.info("worker %s: stopped after %d job(s)", self.worker_id, self.jobs_done)
            if self._own_db:
                self.db.dispose()

    def _prewarm(self) -> None:
        """Import the trainer before the first claim, so claim-to-start is short."""
        if self._train_fn is not None:
            return
        try:
            import gfn.training.loop  # noqa: F401
        except ImportError as exc:
            log.warning("trainer not importable yet: %s", exc)

    def run_once(self) -> bool:
        """Claim one job and run it; False when the queue had nothing to claim."""
        claim = queue.claim_next(
            self.db.engine,
            self.worker_id,
            heartbeat_timeout_s=self.settings.heartbeat_timeout_s,
            max_attempts=self.settings.max_attempts,
        )
        if claim is None:
            return False
        log.info(
            "worker %s: claimed job %s (%s, attempt %d)",
            self.worker_id,
            claim.job_id,
            claim.kind,
            claim.attempts,
        )
        if claim.kind == "gflownet":
            self._run_gflownet(claim)
        elif claim.kind == "proxy":
            self._run_proxy(claim)
        else:
            self._finish(claim.job_id, "failed", error=f"kind: unknown job kind {claim.kind!r}")
        self.jobs_done += 1
        return True

    # ------------------------------------------------------------------ jobs
    def run_dir(self, job_id: str) -> Path:
        return Path(self.settings.data_dir) / "jobs" / job_id

    def _rel(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(Path(self.settings.data_dir).resolve()))
        except ValueError:
            return str(path)

    def _train(self) -> TrainFn:
        if self._train_fn is None:
            from gfn.runs import train_run

            self._train_fn = train_run
        return self._train_fn

    @contextmanager
    def _heartbeat(self, job_id: str, ctl: _Control) -> Iterator[None]:
        """Run the heartbeat thread for the duration of the block."""
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat_loop, args=(job_id, ctl, stop), daemon=True, name=f"heartbeat-{job_id[:8]}"
        )
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join(timeout=5)

    def _run_gflownet(self, claim: queue.Claim) -> None:
        from gfn.chem.blocks import library_from_json

        job_id = claim.job_id
        run_dir = self.run_dir(job_id)
        run_dir.mkdir(parents=True, exist_ok=True)
        ctl = _Control(shutdown=self.stop)
        if claim.checkpoint_step is not None:
            _drop_uncommitted(run_dir, claim.checkpoint_step)
        reporter = _Reporter(self, job_id, run_dir, ctl, int(claim.training_config.get("steps", 0)))
        try:
            with self._heartbeat(job_id, ctl):
                if claim.library_data is None or claim.reward_spec is None:
                    raise GfnError("job", "has no library or reward spec")
                library = library_from_json(claim.library_data, name=claim.library_name or "library")
                reward_spec = rewards.resolve_refs(claim.reward_spec, self.settings, self.db)
                summary = self._train()(
                    reward_spec,
                    claim.training_config,
                    library,
                    run_dir,
                    progress=reporter,
                    should_stop=ctl.should_stop,
                    progress_every_s=self.settings.progress_every_s,
                    checkpoint_every_s=self.settings.checkpoint_every_s,
                )
        except Exception as exc:
            reporter.flush()
            self._fail(job_id, exc)
            return
        flushed = reporter.flush()
        ckpt = self._checkpoint_of(summary)
        if ctl.lost.is_set():
            log.warning("job %s: lost to another worker; dropping the outcome", job_id)
        elif not flushed:
            log.error(
                "job %s: its last molecules could not be stored; leaving it to be reclaimed from its last "
                "committed checkpoint (finishing it would lose them)",
                job_id,
            )
        elif not getattr(summary, "stopped", False):
            self._finish(job_id, "succeeded", checkpoint=ckpt, complete=True)
        elif ctl.cancel.is_set():
            self._finish(job_id, "cancelled", checkpoint=ckpt)
        else:
            log.info(
                "job %s: released to the queue (shutdown) at step %s",
                job_id,
                getattr(summary, "steps_done", "?"),
            )
            queue.release(self.db.engine, job_id, self.worker_id, checkpoint=ckpt)

    def _fail(self, job_id: str, exc: Exception) -> None:
        """Record a failure: user-facing errors verbatim, others with their type (traceback in the log)."""
        if isinstance(exc, GfnError | AppError):
            log.warning("job %s failed: %s", job_id, exc)
            self._finish(job_id, "failed", error=str(exc))
        else:
            log.error("job %s failed", job_id, exc_info=exc)
            self._finish(job_id, "failed", error=f"{type(exc).__name__}: {exc}")

    def _run_proxy(self, claim: queue.Claim) -> None:
        """Train a proxy model from its uploaded CSV (``gfn.rewards.proxy``)."""
        job_id = claim.job_id
        cfg = claim.training_config
        ctl = _Control(shutdown=self.stop)
        epochs = int(cfg.get("epochs", 40))

        def progress(record: dict[str, float]) -> None:
            epoch = int(record.get("epoch", 0))
            metrics = {k: v for k, v in ((k, finite(v)) for k, v in record.items()) if v is not None}
            rec = queue.ProgressRecord(
                step=epoch,
                total_steps=epochs,
                unique_molecules=0,
                metrics=metrics,
                loss=metrics.get("train_loss"),
                extra=metrics,
            )
            try:
                if not queue.record_progress(self.db.engine, job_id, self.worker_id, rec):
                    ctl.lost.set()
            except SQLAlchemyError as exc:
                log.warning("job %s: progress not recorded: %s", job_id, exc)
            if ctl.should_stop():
                raise _Stopped

        try:
            with self.db.read() as session:
                row = session.get(ProxyModel, cfg.get("proxy_id"))
            if row is None:
                raise GfnError("proxy_id", f"no proxy {cfg.get('proxy_id')!r} for this job")
            from gfn.rewards.proxy import ProxyConfig, read_csv, train_proxy

            out_dir = Path(self.settings.data_dir) / "proxies" / row.id / "model"
            with self._heartbeat(job_id, ctl):
                data = read_csv(
                    Path(self.settings.data_dir) / row.data_path,
                    str(cfg["smiles_column"]),
                    str(cfg["value_column"]),
                    str(cfg.get("separator", ",")),
                )
                result = train_proxy(
                    data,
                    out_dir,
                    ProxyConfig(epochs=epochs, seed=int(cfg.get("seed", 0))),
                    source={
                        "name": row.name,
                        "proxy_id": row.id,
                        "smiles_column": row.smiles_column,
                        "value_column": row.target_column,
                    },
                    progress=progress,
                )
        except _Stopped:
            if ctl.lost.is_set():
                log.warning("job %s: lost to another worker", job_id)
            elif ctl.cancel.is_set():
                self._finish(job_id, "cancelled")
            else:
                queue.release(self.db.engine, job_id, self.worker_id)
            return
        except Exception as exc:
            self._fail(job_id, exc)
            return
        metrics = {k: v for k, v in ((k, finite(v)) for k, v in result.metrics.items())}
        metrics |= {"n_train": result.n_train, "n_val": result.n_val, "n_test": result.n_test}
        self._finish(job_id, "succeeded", complete=True, proxy=(row.id, self._rel(out_dir), metrics))

    def _checkpoint_of(self, summary: Any) -> tuple[int, str] | None:
        path = getattr(summary, "checkpoint", None)
        if path is None:
            return None
        path = Path(path)
        step = _step_of(path)
        if step is None:
            step = int(getattr(summary, "steps_done", 0))
        return step, self._rel(path)

    def _finish(self, job_id: str, status: str, **kwargs: Any) -> None:
        for attempt in range(5):
            try:
                if not queue.finish(self.db.engine, job_id, self.worker_id, status, **kwargs):
                    log.warning("job %s: not owned any more; %s not recorded", job_id, status)
                else:
                    log.info("job %s: %s", job_id, status)
                return
            except SQLAlchemyError as exc:
                log.warning("job %s: cannot record %s (%s); retrying", job_id, status, exc)
                time.sleep(min(2**attempt, 10))
        log.error("job %s: gave up recording %s; another worker will reclaim it", job_id, status)

    def _heartbeat_loop(self, job_id: str, ctl: _Control, stop: threading.Event) -> None:
        while not stop.wait(self.settings.heartbeat_interval_s):
            try:
                beat = queue.heartbeat(self.db.engine, job_id, self.worker_id)
            except SQLAlchemyError as exc:
                log.warning("job %s: heartbeat failed: %s", job_id, exc)
                continue
            if not beat.owned:
                log.warning("job %s: no longer owned by %s; stopping", job_id, self.worker_id)
                ctl.lost.set()
                return
            if beat.cancel_requested and not ctl.cancel.is_set():
                log.info("job %s: cancel requested; stopping after this step", job_id)
                ctl.cancel.set()


class _Reporter:
    """The ``progress`` callback of :func:`gfn.runs.train_run`: writes each report in one
    transaction; molecules of a report that could not be written are retried with the next one."""

    def __init__(self, worker: Worker, job_id: str, run_dir: Path, ctl: _Control, total_steps: int) -> None:
        self.worker = worker
        self.job_id = job_id
        self.run_dir = run_dir
        self.ctl = ctl
        self.total_steps = total_steps
        self.pending: list[MoleculeRecord] = []
        self.last: queue.ProgressRecord | None = None

    def __call__(self, p: Any) -> None:
        metrics: dict[str, Any] = {
            "loss": finite(p.loss),
            "log_z": finite(p.log_z),
            "mean_reward": finite(p.mean_reward),
            "trajectories_per_s": finite(p.trajectories_per_s),
        }
        extra = {str(k): v for k, v in ((k, finite(v)) for k, v in dict(p.metrics or {}).items()) if v is not None}
        metrics.update(extra)
        for m in p.new_molecules:
            reward = finite(m.reward)
            if reward is None or not m.smiles:
                continue
            self.pending.append(
                MoleculeRecord(
                    smiles=m.smiles,
                    reward=reward,
                    components=_clean(m.components),
                    count=int(getattr(m, "count", 1) or 1),
                    step=int(m.step),
                    inchikey=chem.inchikey(m.smiles),
                )
            )
        ckpt_step = p.checkpoint_step
        # molecules are committed only together with a checkpoint (see the module docstring)
        rec = queue.ProgressRecord(
            step=int(p.step),
            total_steps=int(p.total_steps or self.total_steps),
            unique_molecules=int(p.unique_molecules),
            metrics=metrics,
            loss=metrics["loss"],
            log_z=metrics["log_z"],
            mean_reward=metrics["mean_reward"],
            trajectories_per_s=metrics["trajectories_per_s"],
            extra=extra,
            molecules=self.pending if ckpt_step is not None else [],
            checkpoint_step=ckpt_step,
            checkpoint_path=self._checkpoint_file(ckpt_step),
            checkpoint_steps_on_disk=_steps_on_disk(self.run_dir) if ckpt_step is not None else None,
        )
        self._write(rec)

    def _checkpoint_file(self, step: int | None) -> str | None:
        if step is None:
            return None
        for path in (self.run_dir / "checkpoints").glob("step_*.pt"):
            if _step_of(path) == step:
                return self.worker._rel(path)
        return self.worker._rel(self.run_dir / "checkpoints" / f"step_{step:09d}.pt")

    def _write(self, rec: queue.ProgressRecord) -> None:
        try:
            owned = queue.record_progress(self.worker.db.engine, self.job_id, self.worker.worker_id, rec)
        except SQLAlchemyError as exc:
            log.warning("job %s: progress not recorded (%s); retrying with the next report", self.job_id, exc)
            self.last = rec
            return
        if rec.molecules:
            self.pending = []
        self.last = None
        if not owned:
            self.ctl.lost.set()

    def flush(self) -> bool:
        """Write molecules still pending when training returned (its final checkpoint covers them),
        retrying while the database is away. False if they could not be written: then the job must
        not be finished, but left to be reclaimed from its last committed checkpoint, whose newer
        samples its next owner draws (and stores) again."""
        for attempt in range(FLUSH_ATTEMPTS):
            if not self.pending or self.ctl.lost.is_set():  # a job taken over: its new owner stores them
                return True
            if attempt:
                log.warning("job %s: training done; storing its last molecules (attempt %d)", self.job_id, attempt + 1)
                time.sleep(min(2 ** (attempt - 1), 10))
            if self.last is not None:
                self.last.molecules = self.pending
                self._write(self.last)  # on failure it keeps the molecules pending
                continue
            try:
                with self.worker.db.write() as session:
                    upsert_molecules(session, self.job_id, self.pending)
                self.pending = []
            except SQLAlchemyError as exc:
                log.warning("job %s: final molecules not stored (%s); retrying", self.job_id, exc)
        return not self.pending or self.ctl.lost.is_set()


def _drop_uncommitted(run_dir: Path, committed: int) -> None:
    """Remove checkpoint files newer than the job's committed checkpoint (a crash between writing the
    file and committing its report): resuming from them would skip molecules never stored."""
    for path in (run_dir / "checkpoints").glob("step_*.pt"):
        step = _step_of(path)
        if step is not None and step > committed:
            log.warning("removing uncommitted checkpoint %s (committed: step %d)", path.name, committed)
            path.unlink(missing_ok=True)


def _step_of(path: Path) -> int | None:
    try:
        return int(path.stem.removeprefix("step_"))
    except ValueError:
        return None


def _steps_on_disk(run_dir: Path) -> list[int]:
    """Steps of the checkpoint files still in the run directory (the trainer prunes old ones)."""
    steps = (_step_of(p) for p in (run_dir / "checkpoints").glob("step_*.pt"))
    return sorted(s for s in steps if s is not None)


def _clean(components: Mapping[str, Any] | None) -> dict[str, float | None] | None:
    if components is None:
        return None
    return {str(k): finite(v) for k, v in components.items()}
