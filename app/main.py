"""The FastAPI application: :func:`create_app` builds it from settings (never at import).

The API process imports neither torch nor torch_geometric: everything that needs torch (fresh
samples, torch-based reward components) runs in the spawned sampling pool, and training runs in
worker processes (``molgfn worker``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app import errors
from app.api.routes import jobs, libraries, molecules, proxies, scoring, system
from app.db.session import Database
from app.observability import AppMetrics, RequestMiddleware
from app.schemas.common import REF_MARKER
from app.services.sampling_pool import SamplingPool
from app.settings import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = """\
GFlowNet molecule generation as a service. Post a **reward spec** to `/jobs` to train a GFlowNet
on it; watch the job; ask `/jobs/{id}/samples` for diverse candidate batches sampled in proportion
to the reward; browse everything sampled under `/molecules`; score any SMILES with `/score`.

Errors are JSON `{"code", "message", "field", "reason"}`: 404 unknown id, 409 impossible in the
current state, 422 invalid input (naming the field), 503 database unavailable.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application (database engine, sampling pool, metrics, routes)."""
    settings = settings or get_settings()
    db = Database(settings.database_url)
    pool = SamplingPool(settings.sampling_processes, settings.sampling_timeout_s)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.sampling_prewarm:
            pool.prewarm()
        try:
            yield
        finally:
            pool.shutdown()
            db.dispose()

    app = FastAPI(
        title="molgfn",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "jobs", "description": "Training jobs and their candidate batches."},
            {"name": "molecules", "description": "Molecules stored from training and sampling."},
            {"name": "scoring", "description": "Score SMILES under a reward spec."},
            {"name": "libraries", "description": "Block libraries (fragment vocabularies)."},
            {"name": "proxies", "description": "Reward proxies trained from uploaded data."},
            {"name": "system", "description": "Health and Prometheus metrics."},
        ],
    )
    app.state.settings = settings
    app.state.db = db
    app.state.pool = pool
    app.state.metrics = AppMetrics(db, lambda: pool.tasks_done)
    app.add_middleware(
        RequestMiddleware,
        metrics=app.state.metrics,
        max_body=settings.max_upload_bytes,
        max_depth=settings.max_json_depth,
    )
    errors.install(app)
    for module in (jobs, molecules, scoring, libraries, proxies, system):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """OpenAPI with the library's RewardSpec and TrainingConfig schemas under components."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, loader in (("RewardSpec", _reward_spec_model), ("TrainingConfig", _training_config_model)):
        model = loader()
        if model is None:
            components[name] = {"type": "object", "description": f"{name} (schema unavailable)."}
            continue
        sub = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in sub.pop("$defs", {}).items():
            components.setdefault(def_name, definition)
        components[name] = sub
    _resolve_markers(schema)
    app.openapi_schema = schema
    return schema


def _resolve_markers(node: Any) -> None:
    """Turn ``{"type": "object", REF_MARKER: name, ...}`` into ``{"$ref": ..., ...}`` in place."""
    if isinstance(node, dict):
        name = node.pop(REF_MARKER, None)
        if name is not None:
            node.pop("type", None)
            node["$ref"] = f"#/components/schemas/{name}"
        for value in node.values():
            _resolve_markers(value)
    elif isinstance(node, list):
        for value in node:
            _resolve_markers(value)


def _reward_spec_model() -> Any:
    try:
        from gfn.rewards.spec import RewardSpec
    except ImportError as exc:
        log.warning("RewardSpec schema unavailable: %s", exc)
        return None
    return RewardSpec


def _training_config_model() -> Any:
    from gfn.training.config import TrainingConfig

    return TrainingConfig
