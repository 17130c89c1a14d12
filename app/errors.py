"""Domain exceptions of the service, and their mapping to HTTP responses — the one place it happens.

Routes and services raise these (or let :class:`gfn.errors.GfnError` through); :func:`install` maps:

* :class:`NotFound` → 404, :class:`Conflict` → 409, :class:`InvalidInput` and ``GfnError`` → 422
  with ``field`` and ``reason``, request validation → 422 (the first problem's field and reason),
  :class:`PayloadTooLarge` → 413, :class:`Unauthorized` → 401, :class:`TooManyRequests` → 429,
* SQLAlchemy ``OperationalError`` / ``InterfaceError`` / a failed pool checkout and
  :class:`Unavailable` → 503,
* anything else → 500 with a generic message (the traceback goes to the log, never to the client).

Every error body is :class:`app.schemas.common.ErrorPublic`: ``{"code", "message", "field", "reason"}``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gfn.errors import GfnError

log = logging.getLogger(__name__)


class AppError(Exception):
    """Base class of the service's domain errors."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason or message


class NotFound(AppError):
    """An unknown id."""

    status_code = 404
    code = "not_found"


class Conflict(AppError):
    """The resource is in a state that does not allow the operation (e.g. cancelling a finished job)."""

    status_code = 409
    code = "conflict"


class InvalidInput(AppError):
    """Bad user input, naming the field and the reason."""

    status_code = 422
    code = "invalid"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field=field, reason=reason)


class PayloadTooLarge(AppError):
    """The request body exceeds a configured limit."""

    status_code = 413
    code = "too_large"


class Unauthorized(AppError):
    """A missing or unknown API key."""

    status_code = 401
    code = "unauthorized"


class TooManyRequests(AppError):
    """A per-key quota is used up (e.g. queued + running jobs); retry when some finish."""

    status_code = 429
    code = "too_many_requests"


class Unavailable(AppError):
    """A dependency (database, sampling pool) cannot serve the request now."""

    status_code = 503
    code = "unavailable"


def error_body(code: str, message: str, field: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """The JSON of every error response."""
    return {"code": code, "message": message, "field": field, "reason": reason or message}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=body, headers=headers)


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (connection refused, dropped, pool timeout)."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        headers = {"WWW-Authenticate": "ApiKey"} if isinstance(exc, Unauthorized) else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": "30"}
        return _json(exc.status_code, error_body(exc.code, exc.message, exc.field, exc.reason), headers)

    @app.exception_handler(GfnError)
    async def _gfn_error(_request: Request, exc: GfnError) -> JSONResponse:
        return _json(422, error_body("invalid", str(exc), exc.field, exc.reason))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _loc_to_field(tuple(first.get("loc", ())))
        reason = str(first.get("msg", "invalid"))
        if first.get("type") == "extra_forbidden":
            reason = "unknown field"
        body = error_body("invalid", f"{field}: {reason}", field, reason)
        return _json(422, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "error")
        return _json(exc.status_code, error_body(code, str(exc.detail)), dict(exc.headers or {}) or None)

    @app.exception_handler(DBAPIError)
    async def _db_error(_request: Request, exc: DBAPIError) -> JSONResponse:
        if is_database_unavailable(exc):
            log.warning("database unavailable: %s", exc.orig if exc.orig is not None else exc)
            return _json(503, error_body("unavailable", "database unavailable"), {"Retry-After": "5"})
        log.exception("database error")
        return _json(500, error_body("internal", "internal server error"))

    @app.exception_handler(PoolTimeoutError)
    async def _pool_timeout(_request: Request, exc: PoolTimeoutError) -> JSONResponse:
        log.warning("database pool exhausted: %s", exc)
        return _json(503, error_body("unavailable", "database busy"), {"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _json(500, error_body("internal", "internal server error"))
