"""`/events`: live changes as Server-Sent Events, filtered by store, with a heartbeat comment."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from smartstore.gateway.api.deps import EventsReader, RuntimeDep, check_store
from smartstore.gateway.api.errors import ErrorResponse
from smartstore.gateway.events import EventBus, LiveEvent

logger = logging.getLogger(__name__)

router = APIRouter(tags=["events"])

DEFAULT_HEARTBEAT_S = 15.0
DEFAULT_RETRY_MS = 3000


async def event_stream(
    bus: EventBus, store: str | None, *, heartbeat_s: float, retry_ms: int
) -> AsyncIterator[str]:
    """SSE text: a `retry:` hint, then every bus event of `store`, and a comment when idle."""
    yield f"retry: {retry_ms}\n: connected\n\n"
    events = bus.subscribe(store)
    # One pending read survives heartbeats: cancelling a read would finalize the subscription.
    pending: asyncio.Future[LiveEvent] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({pending}, timeout=heartbeat_s)
            if not done:
                yield ": heartbeat\n\n"
                continue
            event = pending.result()
            pending = None
            yield event.to_sse()
    finally:
        if pending is not None:
            pending.cancel()  # runs the subscription's cleanup inside that task
        elif isinstance(events, AsyncGenerator):
            with contextlib.suppress(RuntimeError):
                await events.aclose()


@router.get(
    "/events",
    summary="Live changes (inventory, slots, alerts, devices) as Server-Sent Events",
    description="EventSource cannot send headers, so this endpoint also accepts the key as `?key=`. "
    "Without `store`, a store-bound key streams its store and an unbound key streams every store.",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "An endless event stream."},
        401: {"model": ErrorResponse},
        403: {"model": ErrorResponse},
    },
)
async def stream_events(
    principal: EventsReader,
    runtime: RuntimeDep,
    request: Request,
    store: Annotated[str | None, Query(description="Only this store's events.")] = None,
    key: Annotated[str | None, Query(description="API key, for EventSource clients.")] = None,
) -> StreamingResponse:
    del key  # read by the EventsReader dependency; declared here for the OpenAPI schema
    if store is not None:
        check_store(principal, runtime, store)
    else:
        store = principal.store_id
    logger.debug("SSE client %s subscribed to %s", principal.prefix, store or "all stores")
    return StreamingResponse(
        event_stream(
            runtime.bus,
            store,
            heartbeat_s=getattr(request.app.state, "sse_heartbeat_s", DEFAULT_HEARTBEAT_S),
            retry_ms=DEFAULT_RETRY_MS,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
