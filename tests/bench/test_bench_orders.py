"""bench/orders.py --smoke on PostgreSQL: its JSON line parses, orders were placed, nothing oversold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("SMARTSTORE_TEST_PG")


@pytest.mark.postgres
def test_smoke_run_places_orders_and_oversells_nothing() -> None:
    if not PG_URL:
        if os.environ.get("SMARTSTORE_REQUIRE_SERVICES") == "1":
            pytest.fail("SMARTSTORE_TEST_PG is not set (SMARTSTORE_REQUIRE_SERVICES=1)")
        pytest.skip("SMARTSTORE_TEST_PG not set")
    done = subprocess.run(
        [sys.executable, "bench/orders.py", "--smoke", "--rate", "50", "--db", PG_URL],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )

    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bench"] == "orders"
    assert result["stores"] == 10
    assert result["oversell"] == 0
    assert result["errors"] == 0
    assert result["placed"] > 0
    assert result["placed"] + result["refused"] == 150  # every order offered got an answer
    assert result["p99_ms"] >= result["p50_ms"] > 0
    assert result["baseline_p99_ms"] > 0
