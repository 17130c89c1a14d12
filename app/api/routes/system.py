"""/health and /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from app.api.deps import DbDep, require_api_key
from app.db.session import check_database
from app.errors import is_database_unavailable

router = APIRouter(tags=["system"])


class HealthPublic(BaseModel):
    """Service health."""

    status: str = Field(description="ok, or unavailable when the database does not answer.")
    database: str = Field(description="ok or unreachable.")


@router.get(
    "/health",
    response_model=HealthPublic,
    summary="Health check",
    responses={503: {"model": HealthPublic, "description": "The database is unreachable."}},
)
def health(db: DbDep) -> HealthPublic | JSONResponse:
    """200 when the database answers, 503 otherwise."""
    try:
        check_database(db.engine)
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        return JSONResponse(status_code=503, content={"status": "unavailable", "database": "unreachable"})
    return HealthPublic(status="ok", database="ok")


@router.get(
    "/metrics",
    dependencies=[Depends(require_api_key)],
    response_class=Response,
    summary="Prometheus metrics",
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format.",
        }
    },
)
def metrics(request: Request) -> Response:
    """Request counts and latencies per route, jobs by status, sampling pool tasks (needs a key when
    keys are configured: only /health, /docs and /openapi.json are open)."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
