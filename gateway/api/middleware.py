"""Per-request plumbing: a request id, a count per route template and status, a JSON 500 for any crash."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable

from starlette.datastructures import MutableHeaders
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartstore.gateway.api.errors import internal_error_response
from smartstore.gateway.monitoring.metrics import GatewayMetrics

logger = logging.getLogger(__name__)

UNMATCHED_ROUTE = "<unmatched>"


class RouteTemplates:
    """Maps a request path to its route template (`/api/v1/stores/{store}/inventory`).

    Built from the OpenAPI paths on first use rather than from router internals, which differ between
    FastAPI versions; `prefixes` covers mounts such as the static dashboard.
    """

    def __init__(self, paths: Callable[[], Iterable[str]], prefixes: Iterable[str] = ()) -> None:
        self._paths = paths
        self._prefixes = tuple(prefixes)
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None

    def template(self, path: str) -> str:
        if self._compiled is None:
            self._compiled = [(compile_path(template)[0], template) for template in self._paths()]
        for regex, template in self._compiled:
            if regex.match(path):
                return template
        for prefix in self._prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return prefix
        return UNMATCHED_ROUTE


class RequestContextMiddleware:
    """Pure ASGI (not BaseHTTPMiddleware) so SSE streams pass through untouched."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics, routes: RouteTemplates) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_context(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
                self._count(scope, int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_with_context)
        except Exception:
            logger.exception(
                "unhandled error in %s %s (request %s)", scope.get("method"), scope.get("path"), request_id
            )
            if started:
                raise  # the status line is out: all that is left is to drop the connection
            self._count(scope, 500)
            await internal_error_response(request_id)(scope, receive, send)

    def _count(self, scope: Scope, status: int) -> None:
        # Route templates, not raw paths, keep the label set small whatever clients ask for.
        template = self.routes.template(str(scope.get("path", "")))
        self.metrics.http_requests.labels(route=template, status=str(status)).inc()
