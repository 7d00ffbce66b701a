"""JSON error bodies for every failure, `{"error": {"code", "message"}}`: never a stack trace or HTML."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}
# What a client told "the database is unreachable" should wait before trying again.
DATABASE_RETRY_AFTER_S = 5


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx answer."""

    error: ErrorDetail


class ApiError(Exception):
    """Raised by routes and dependencies; rendered as the JSON error body with its status."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = headers
        self.details = details


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
    request_id: str | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorDetail(code=code, message=message, request_id=request_id, details=details)
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status_code, headers=headers)


def code_for_status(status_code: int) -> str:
    return _CODES_BY_STATUS.get(status_code, "http_error")


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.code, exc.message, headers=exc.headers, details=exc.details)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, code_for_status(exc.status_code), message, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only location, message and type: the raw input and context may be large or not JSON-safe.
    details = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": error.get("type"),
        }
        for error in exc.errors()
    ]
    message = "; ".join(f"{'.'.join(item['loc'])}: {item['msg']}" for item in details)[:1000]
    return error_response(422, "validation_error", message or "invalid request", details=details)


async def _unhandled_error(request: Request, exc: Exception) -> JSONResponse:
    # The request middleware answers unhandled errors itself; this handler is the last resort if an
    # error escapes outside it (e.g. in another middleware).
    request_id = getattr(request.state, "request_id", None)
    logger.error(
        "unhandled error in %s %s (request %s)", request.method, request.url.path, request_id, exc_info=exc
    )
    return internal_error_response(request_id)


def internal_error_response(request_id: str | None) -> JSONResponse:
    headers = {"X-Request-ID": request_id} if request_id else None
    return error_response(
        500, "internal_error", "internal server error", headers=headers, request_id=request_id
    )


# SQLite reports bad statements as OperationalError too; only these mean "try again later".
_SQLITE_TRANSIENT = ("database is locked", "unable to open database", "disk i/o error")


def database_unavailable(exc: BaseException) -> bool:
    """A lost or refused database connection, a busy database or an exhausted pool; not a bad statement."""
    if isinstance(exc, PoolTimeoutError | InterfaceError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    if type(exc.orig).__module__.startswith("sqlite3"):
        return any(text in str(exc.orig).lower() for text in _SQLITE_TRANSIENT)
    return True  # psycopg: connection refused, lost, server shutting down


def database_unavailable_response() -> JSONResponse:
    return error_response(
        503,
        "database_unavailable",
        "the database is unreachable; retry later",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if database_unavailable(exc):
        logger.warning("database unavailable in %s %s: %s", request.method, request.url.path, exc)
        return database_unavailable_response()
    return await _unhandled_error(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeoutError, _database_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unhandled_error)
