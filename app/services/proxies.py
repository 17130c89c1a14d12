"""Proxies: a CSV upload becomes a job of kind ``proxy`` that trains ``gfn.rewards.proxy``'s MPNN.

The API only checks the CSV's header and counts its rows (no torch here); the worker reads the data
(``gfn.rewards.proxy.read_csv``), trains (``train_proxy``) into ``DATA_DIR/proxies/<id>/model`` and
records the held-out metrics. A cancelled or shut-down proxy job stops after its current epoch; a
released one starts again from scratch (proxy training has no checkpoints).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select

from app.db.models import Job, ProxyModel, new_id, utcnow
from app.db.session import Database
from app.errors import InvalidInput, NotFound, PayloadTooLarge
from app.schemas.proxies import ProxyLinks, ProxyList, ProxyPublic
from app.services.jobs import check_active_limit, visible
from app.settings import Settings

SEPARATORS = {",": ",", ";": ";", "tab": "\t", "\t": "\t", "|": "|"}


def to_public(row: ProxyModel, job: Job) -> ProxyPublic:
    """The API view of a proxy (with its job's status)."""
    return ProxyPublic(
        id=row.id,
        name=row.name,
        job_id=row.job_id,
        status=job.status,  # type: ignore[arg-type]
        smiles_column=row.smiles_column,
        value_column=row.target_column,
        n_rows=row.n_rows,
        trained=row.model_path is not None,
        metrics=row.metrics,
        error=job.error,
        created_at=row.created_at,
        links=ProxyLinks(self=f"/proxies/{row.id}", job=f"/jobs/{row.job_id}"),
    )


def _check_header(path: Path, sep: str, smiles_column: str, value_column: str) -> int:
    """Check the columns exist; return the number of data rows."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        try:
            reader = csv.reader(fh, delimiter=sep)
            header = next(reader, None)
            if not header:
                raise InvalidInput("file", "the CSV is empty")
            for col, field in ((smiles_column, "smiles_column"), (value_column, "value_column")):
                if col not in header:
                    shown = ", ".join(header[:12]) + (", …" if len(header) > 12 else "")
                    raise InvalidInput(field, f"no column {col!r} in the CSV (columns: {shown})")
            n_rows = sum(1 for row in reader if any(cell.strip() for cell in row))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InvalidInput("file", f"not a readable UTF-8 CSV ({exc})") from None
    if n_rows < 10:
        raise InvalidInput("file", f"only {n_rows} data rows; a proxy needs at least 10 molecules")
    return n_rows


def create_proxy(
    db: Database,
    settings: Settings,
    *,
    upload: BinaryIO,
    name: str,
    smiles_column: str,
    value_column: str,
    separator: str,
    epochs: int,
    seed: int,
    owner: str | None = None,
) -> tuple[ProxyModel, Job]:
    """Store the CSV under the data directory and queue a job that trains the proxy."""
    sep = SEPARATORS.get(separator)
    if sep is None:
        raise InvalidInput("separator", f"one of {', '.join(repr(s) for s in SEPARATORS if s != chr(9))}")
    proxy_id = new_id()
    rel_dir = Path("proxies") / proxy_id
    folder = Path(settings.data_dir) / rel_dir
    folder.mkdir(parents=True, exist_ok=True)
    data_path = folder / "data.csv"
    try:
        _copy_limited(upload, data_path, settings.max_upload_bytes)
        n_rows = _check_header(data_path, sep, smiles_column, value_column)
        training: dict[str, Any] = {
            "proxy_id": proxy_id,
            "smiles_column": smiles_column,
            "value_column": value_column,
            "separator": sep,
            "epochs": epochs,
            "seed": seed,
        }
        with db.write() as session:
            check_active_limit(session, settings, owner)
            job = Job(
                owner_key_hash=owner,
                kind="proxy",
                status="queued",
                reward_spec=None,
                training_config=training,
                total_steps=epochs,
                created_at=utcnow(),
            )
            session.add(job)
            session.flush()
            row = ProxyModel(
                id=proxy_id,
                name=name,
                job_id=job.id,
                data_path=str(rel_dir / "data.csv"),
                smiles_column=smiles_column,
                target_column=value_column,
                n_rows=n_rows,
            )
            session.add(row)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return row, job


def _copy_limited(src: BinaryIO, dst: Path, limit: int) -> None:
    total = 0
    with dst.open("wb") as out:
        while chunk := src.read(1 << 20):
            total += len(chunk)
            if total > limit:
                raise PayloadTooLarge(f"upload larger than {limit} bytes", field="file")
            out.write(chunk)


def get_proxy(db: Database, proxy_id: str, owner: str | None = None) -> tuple[ProxyModel, Job]:
    """A proxy and its job, or :class:`NotFound` (also for another key's proxy)."""
    with db.read() as session:
        row = session.get(ProxyModel, proxy_id)
        job = session.get(Job, row.job_id) if row is not None else None
    if row is None or job is None or not visible(job, owner):
        raise NotFound(f"no proxy {proxy_id!r}")
    return row, job


def list_proxies(db: Database, owner: str | None = None) -> ProxyList:
    """The caller's proxies, newest first."""
    stmt = select(ProxyModel, Job).join(Job, Job.id == ProxyModel.job_id).order_by(ProxyModel.created_at.desc())
    if owner is not None:
        stmt = stmt.where(Job.owner_key_hash == owner)
    with db.read() as session:
        rows = session.execute(stmt).all()
    return ProxyList(items=[to_public(p, j) for p, j in rows])
