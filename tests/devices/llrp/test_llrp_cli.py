"""`smartstore reader` as a real process against the emulator: runs, publishes, stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from llrp_helpers import READER, EmulatorThread, ReaderWatcher, hex_of, wait_for
from llrpkit import Reader
from llrpkit.emulator import EmulatedTag

from smartstore.kernel.contract.payloads import DeviceState


def _reader_command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "smartstore.launcher.cli", "reader", "--reader", READER, *extra]


def test_reader_command_bridges_and_stops_cleanly_on_sigterm(
    emulator: EmulatorThread, watcher: ReaderWatcher, mosquitto: Any, population: list[EmulatedTag]
) -> None:
    command = _reader_command(
        "--host", "127.0.0.1", "--port", str(emulator.port), "--mqtt-url", mosquitto.url,
        "--report-interval-ms", "200", "--session", "0",
    )  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wanted = {hex_of(tag) for tag in population[:6]}
        assert wait_for(lambda: wanted <= watcher.epcs_since(0.0), timeout=10)
        assert wait_for(lambda: watcher.status_is(inventorying=True))

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=8) == 0
    finally:
        if process.poll() is None:
            process.kill()
    output = process.stdout.read().decode() if process.stdout else ""

    assert wait_for(
        lambda: (status := watcher.latest_status()) is not None and status.state is DeviceState.OFFLINE
    )
    offline = watcher.latest_status()
    assert offline is not None
    assert offline.info["inventorying"] is False
    assert "inventorying antennas [1, 2] in session S0" in output
    assert "stopped" in output
    assert "Traceback" not in output

    # The bridge closed its LLRP connection: the reader accepts a new client right away.
    async def _connect() -> int:
        reader = Reader("127.0.0.1", emulator.port, connect_timeout=2.0)
        await reader.connect()
        await reader.close()
        return reader.model_number

    assert emulator.call(_connect()) == 700


def test_reader_command_refuses_bad_configuration(tmp_path: Path) -> None:
    unknown = subprocess.run(_reader_command("--reader", "no-such-reader"), capture_output=True, timeout=30)
    assert unknown.returncode == 2
    assert b"no-such-reader" in unknown.stderr

    too_fast = subprocess.run(_reader_command("--report-interval-ms", "1"), capture_output=True, timeout=30)
    assert too_fast.returncode == 2
    assert b"report_interval_ms" in too_fast.stderr

    broken = tmp_path / "store.yaml"
    broken.write_text("store: {id: x}\n")
    bad_store = subprocess.run(_reader_command("--store", str(broken)), capture_output=True, timeout=30)
    assert bad_store.returncode == 2
