"""FastAPI dependencies and their typed aliases (``SettingsDep``, ``DbDep``, ``PoolDep``)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from app.db.session import Database
from app.errors import Unauthorized
from app.services.sampling_pool import SamplingPool
from app.settings import Settings

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


def require_api_key(settings: SettingsDep, key: Annotated[str | None, Security(_api_key_header)] = None) -> None:
    """Reject the request unless authentication is off or ``X-API-Key`` is one of the configured keys."""
    if not settings.api_keys:
        return
    if key is None or not any(secrets.compare_digest(key, k) for k in settings.api_keys):
        raise Unauthorized("missing or unknown X-API-Key", field="X-API-Key", reason="missing or unknown API key")
