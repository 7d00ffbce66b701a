"""`smartstore edge`: flags over environment, config errors exit 2, SIGTERM stops it cleanly and offline."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from edge_helpers import Broker, Collector, wait_for

from smartstore.edge import cli
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import DeviceState, DeviceStatus
from smartstore.kernel.contract.topics import Kind


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    return parser.parse_args(argv)


def test_flags_override_environment_which_overrides_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SMARTSTORE_EDGE_MQTT__PROTOCOL", "3.1.1")
    monkeypatch.setenv("SMARTSTORE_EDGE_AGENT_ID", "edge-env")
    monkeypatch.setenv("SMARTSTORE_EDGE_RFID__READ_INTERVAL_S", "5")
    settings = cli.settings_from_args(
        parse(["--mqtt-url", "mqtt://broker:1884", "--state-dir", str(tmp_path)])
    )
    assert (settings.mqtt.url, settings.mqtt.protocol) == ("mqtt://broker:1884", "3.1.1")
    assert settings.agent_id == "edge-env"
    assert settings.rfid.read_interval_s == 5
    assert settings.state_dir_for("store-x") == tmp_path
    assert cli.settings_from_args(parse(["--agent-id", "edge-9"])).agent_id == "edge-9"
    assert cli.settings_from_args(parse([])).state_dir_for("store-x") == Path("var/edge-store-x")


def test_bad_agent_id_and_bad_store_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(parse(["--agent-id", "edge/1"])) == 2
    assert "agent id" in capsys.readouterr().err
    broken = tmp_path / "store.yaml"
    broken.write_text("store: {id: s1}\n", encoding="utf-8")
    assert cli.run(parse(["--store", str(broken), "--state-dir", str(tmp_path)])) == 2
    assert "catalog" in capsys.readouterr().err


def test_sigterm_stops_the_agent_and_leaves_it_offline(mosquitto: Broker, tmp_path: Path) -> None:
    status_topic = topics.status("store-berlin-01", Kind.EDGE, "edge-cli")
    command = [sys.executable, "-m", "smartstore.launcher.cli", "edge", "--mqtt-url", mosquitto.url]
    command += ["--agent-id", "edge-cli", "--state-dir", str(tmp_path / "state")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        status = Collector(mosquitto.settings, status_topic, "edge-cli-status")

        def states() -> list[DeviceState]:
            return [DeviceStatus.model_validate_json(p).state for _, p in status.snapshot()]

        assert wait_for(lambda: DeviceState.ONLINE in states(), timeout=9)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=9) == 0
        assert wait_for(lambda: states()[-1:] == [DeviceState.OFFLINE])
        assert (tmp_path / "state" / "outbox.db").exists()
        assert (tmp_path / "state" / "rfid-tags.json").exists()  # tag state saved at stop
        status.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
