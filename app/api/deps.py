"""FastAPI dependencies and their typed aliases (``SettingsDep``, ``DbDep``, ``PoolDep``, ``OwnerDep``)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from app.db.session import Database
from app.errors import Unauthorized
from app.services.sampling_pool import SamplingPool
from app.settings import Settings, hash_api_key

_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="Required when the service sets MOLGFN_API_KEYS."
)


def get_settings_dep(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    """The app's database (engine + session scopes)."""
    db: Database = request.app.state.db
    return db


def get_pool(request: Request) -> SamplingPool:
    """The app's sampling process pool."""
    pool: SamplingPool = request.app.state.pool
    return pool


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DbDep = Annotated[Database, Depends(get_db)]
PoolDep = Annotated[SamplingPool, Depends(get_pool)]


def require_api_key(settings: SettingsDep, key: Annotated[str | None, Security(_api_key_header)] = None) -> str | None:
    """The caller's owner id: the SHA-256 of its ``X-API-Key`` (``None`` when authentication is off).

    Rejects (401) a missing or unknown key when keys are configured. Keys are compared by digest,
    in constant time, against every configured digest (no early exit that would leak which matched)."""
    hashes = settings.api_key_hashes
    if not hashes:
        return None
    digest = hash_api_key(key) if key else ""
    matched = False
    for h in hashes:
        matched |= secrets.compare_digest(digest, h)
    if not matched:
        raise Unauthorized("missing or unknown X-API-Key", field="X-API-Key", reason="missing or unknown API key")
    return digest


#: The caller's owner id (hash of its API key), or None when the service runs without keys.
OwnerDep = Annotated[str | None, Depends(require_api_key)]
