"""`ApiGuard`: what a caller may cost us, decided from its headers before any route reads its body.

Under the API prefix (the OpenAPI document aside) the key is checked first: 401 without a valid one, 403
for a path of a store the key is not bound to. Then the caller's token bucket (per key, or per client
address without a valid key): 429 with `Retry-After` when it is empty. Only then may a route read the
body, within `body_timeout_s` of the request's arrival (408), and only up to its route's cap (413: from
`Content-Length` before a byte is read, else counted as it arrives); a refused body is never drained, the
connection is closed. The routes still check the key's role themselves; the principal found here is
handed to them in the request state, so a key costs one lookup.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping

import anyio
from fastapi import HTTPException
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartstore.gateway.api.deps import (
    invalid_key_error,
    missing_key_error,
    presented_key,
    store_forbidden_error,
)
from smartstore.gateway.api.errors import (
    ApiError,
    database_unavailable,
    database_unavailable_response,
    error_response,
)
from smartstore.gateway.api.middleware import RouteTemplates
from smartstore.gateway.api.rate_limit import TokenBuckets
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Principal, authenticate

logger = logging.getLogger(__name__)

_STORE_PATH = re.compile(r"^/stores/([^/]+)(?:/|$)")


class ApiGuard:
    """Pure ASGI, so streams pass through untouched."""

    def __init__(
        self,
        app: ASGIApp,
        runtime: GatewayRuntime,
        *,
        routes: RouteTemplates,
        body_max_bytes: Mapping[str, int],
        prefix: str,
        open_paths: Iterable[str] = (),
        query_key_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.routes = routes
        self.route_body_max = dict(body_max_bytes)
        self.prefix = prefix
        self.open_paths = frozenset(open_paths)
        self.query_key_paths = frozenset(query_key_paths)
        limits = runtime.settings.api
        self.body_timeout_s = limits.body_timeout_s
        self.body_max = limits.body_max_bytes
        self.keys = TokenBuckets(limits.rate_per_s, limits.burst, limits.buckets_max)
        self.addresses = TokenBuckets(limits.anonymous_rate_per_s, limits.anonymous_burst, limits.buckets_max)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if path.startswith(self.prefix + "/") and path not in self.open_paths:
            try:
                principal = await self._admit(scope, path)
            except ApiError as refusal:
                # The body stays unread: close the connection rather than drain it.
                headers = {**(refusal.headers or {}), "Connection": "close"}
                response = error_response(refusal.status_code, refusal.code, refusal.message, headers=headers)
                await response(scope, receive, send)
                return
            except SQLAlchemyError as error:
                if not database_unavailable(error):
                    raise
                logger.warning("database unavailable while checking an API key: %s", error)
                await database_unavailable_response()(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        limit = self.route_body_max.get(self.routes.template(path), self.body_max)
        if _content_length(scope) > limit:
            await error_response(
                413, "payload_too_large", _too_large(limit), headers={"Connection": "close"}
            )(scope, receive, send)
            return
        await self.app(scope, self._guarded_body(receive, limit), send)

    async def _admit(self, scope: Scope, path: str) -> Principal:
        headers = Headers(scope=scope)
        query = QueryParams(scope.get("query_string", b"")) if path in self.query_key_paths else None
        presented = presented_key(headers, query)
        principal = None
        if presented is not None:
            principal = await anyio.to_thread.run_sync(self._authenticate, presented)
        if principal is not None:
            wait = self.keys.take(f"key:{principal.prefix}")
        else:
            client = scope.get("client")
            wait = self.addresses.take(f"address:{client[0] if client else 'unknown'}")
        if wait > 0:
            retry_after = str(max(1, math.ceil(wait)))
            raise ApiError(
                429,
                "too_many_requests",
                f"rate limit exceeded; retry after {retry_after} s",
                headers={"Retry-After": retry_after},
            )
        if principal is None:
            if presented is None:
                raise missing_key_error(allow_query=query is not None)
            raise invalid_key_error()
        store = _STORE_PATH.match(path.removeprefix(self.prefix))
        if store is not None and not principal.can_access(store.group(1)):
            raise store_forbidden_error(principal)
        return principal

    def _authenticate(self, presented: str) -> Principal | None:
        with self.runtime.sessions() as session:
            return authenticate(session, presented)

    def _guarded_body(self, receive: Receive, limit: int) -> Receive:
        """`receive` for the app: the body within the deadline and the cap, else an HTTPException that
        FastAPI renders as our JSON error (it re-raises HTTPExceptions met while reading a body)."""
        deadline = anyio.current_time() + self.body_timeout_s
        complete = False
        size = 0

        async def receive_body() -> Message:
            nonlocal complete, size
            if complete:  # e.g. a stream waiting for the client to go away: no deadline
                return await receive()
            with anyio.move_on_after(deadline - anyio.current_time()):
                message = await receive()
                complete = message["type"] != "http.request" or not message.get("more_body", False)
                size += len(message.get("body", b""))
                if size > limit:
                    raise HTTPException(413, _too_large(limit), headers={"Connection": "close"})
                return message
            raise HTTPException(
                408,
                f"the request body did not arrive within {self.body_timeout_s:g} s",
                headers={"Connection": "close"},
            )

        return receive_body


def _content_length(scope: Scope) -> int:
    """The announced body size; 0 when absent or not a number (then the bytes are counted)."""
    value = Headers(scope=scope).get("content-length", "")
    return int(value) if value.isdigit() else 0


def _too_large(limit: int) -> str:
    return f"the request body is over this route's limit of {limit} bytes"
