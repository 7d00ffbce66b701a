"""`/stores/{store}/cameras/{camera}/snapshot.jpg`: the latest annotated shelf picture an edge agent sent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import Response

from smartstore.gateway.api.deps import RuntimeDep, StoreDevicesReader
from smartstore.gateway.api.errors import ApiError, ErrorResponse

router = APIRouter(prefix="/stores/{store}/cameras", tags=["cameras"])


@router.get(
    "/{camera}/snapshot.jpg",
    summary="Latest annotated snapshot of a shelf camera (detections, slot states)",
    response_class=Response,
    responses={
        200: {
            "content": {"image/jpeg": {}},
            "description": "JPEG; `X-Snapshot-Age-S`: seconds since it came",
        },
        404: {"model": ErrorResponse, "description": "Unknown camera, or no snapshot received yet."},
    },
)
def camera_snapshot(
    scope: StoreDevicesReader,
    runtime: RuntimeDep,
    camera: Annotated[str, PathParam(description="Camera id, as in the store file.")],
) -> Response:
    if not any(known.id == camera for known in scope.store.devices.cameras):
        raise ApiError(404, "unknown_camera", f"no camera {camera!r} in store {scope.store_id!r}")
    snapshot = runtime.snapshots.get(scope.store_id, camera)
    if snapshot is None:
        raise ApiError(404, "no_snapshot", f"no snapshot of camera {camera!r} received yet")
    return Response(
        content=snapshot.jpeg,
        media_type="image/jpeg",
        headers={
            # A live picture: a cached one would show a shelf state that no longer holds.
            "Cache-Control": "no-store",
            "X-Snapshot-Age-S": f"{runtime.snapshots.age_s(snapshot):.1f}",
        },
    )
