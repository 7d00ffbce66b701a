"""Generated requests against the published OpenAPI (schemathesis): whatever a client sends, no 5xx.

Zero 5xx, but the documented 503 `locker_offline` (this runtime has no locker link). Bounded: 20
examples per operation (10 valid, 10 invalid), with an admin key, on SQLite and PostgreSQL. The SSE
stream never ends by design and is left out (tests/gateway/api/test_api_events.py covers it).
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
import schemathesis
from api_helpers import BERLIN, Keys, auth
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Response

from smartstore.gateway.api.app import create_app
from smartstore.gateway.config import ApiLimits
from smartstore.gateway.runtime import GatewayRuntime

OPENAPI = "/api/v1/openapi.json"
REAL_IDS = {"store": BERLIN, "locker": "locker-1"}


@pytest.fixture
def api_schema(api_runtime: GatewayRuntime) -> schemathesis.BaseSchema:
    # Rate limits have their own tests; here they would only turn generated cases into 429s.
    unlimited = ApiLimits(
        rate_per_s=1e6, burst=1_000_000, anonymous_rate_per_s=1e6, anonymous_burst=1_000_000
    )
    runtime = dataclasses.replace(
        api_runtime, settings=api_runtime.settings.model_copy(update={"api": unlimited})
    )
    return schemathesis.openapi.from_asgi(OPENAPI, create_app(runtime)).exclude(path="/api/v1/events")


def locker_offline(response: Response) -> bool:
    """503 `locker_offline` is the documented answer while the gateway has no link to the lockers (none
    here): a dependency's state, not a server error."""
    return response.status_code == 503 and response.json()["error"]["code"] == "locker_offline"


def server_errors(
    operation: schemathesis.APIOperation, mode: schemathesis.GenerationMode, key: str, statuses: list[int]
) -> list[str]:
    """Up to 10 generated cases of `operation` in `mode` (their statuses into `statuses`); what each
    that got a 5xx was."""
    found: list[str] = []

    @settings(
        max_examples=10,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        if mode is schemathesis.GenerationMode.POSITIVE:
            # Random store ids only reach the 404; real ones reach the routes' own code.
            for name, value in REAL_IDS.items():
                if name in (case.path_parameters or {}):
                    case.path_parameters[name] = value
        response = case.call(headers=auth(key))
        statuses.append(response.status_code)
        if response.status_code >= 500 and not locker_offline(response):
            found.append(
                f"{response.status_code} {case.method} {case.formatted_path} {case.query}: "
                f"{response.text[:300]}"
            )

    try:
        call()
    except Unsatisfiable:  # nothing to make invalid: an operation without parameters or body
        assert mode is schemathesis.GenerationMode.NEGATIVE
    return found


def test_no_generated_request_gets_a_server_error(api_schema: schemathesis.BaseSchema, keys: Keys) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 25  # every route but the stream
    statuses: list[int] = []
    errors = [
        error
        for operation in operations
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
        for error in server_errors(operation, mode, keys.admin, statuses)
    ]
    print(f"\n{len(operations)} operations, {len(statuses)} requests:", dict(Counter(sorted(statuses))))
    assert errors == []
