"""Per-store, per-device MQTT credentials from the store file; make-passwd.sh refuses store-less names."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from smartstore.kernel.storeconfig import EXAMPLE_STORE, load_store
from smartstore.launcher.mqtt_credentials import VARIABLE, device_usernames, main, parse_pairs

ROOT = Path(__file__).resolve().parent.parent
STORE = "store-berlin-01"


def test_every_device_gets_a_username_that_carries_its_store() -> None:
    store = load_store(EXAMPLE_STORE)
    usernames = device_usernames(store)
    devices = store.devices
    assert len(usernames) == len(devices.readers) + len(devices.cameras) + len(devices.lockers)
    assert len(set(usernames)) == len(usernames)
    assert f"{STORE}/rfid/reader-aisle-1" in usernames
    assert f"{STORE}/camera/cam-1l" in usernames
    assert f"{STORE}/locker/locker-1" in usernames


def test_the_env_file_keeps_passwords_and_adds_new_devices(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(f'SMARTSTORE_PG_PASSWORD=pg\n{VARIABLE}="{STORE}/rfid/reader-aisle-1:kept"\nOTHER=1\n')
    assert main([str(EXAMPLE_STORE), "--env", str(env)]) == 0
    text = env.read_text()
    assert text.startswith("SMARTSTORE_PG_PASSWORD=pg\n")
    assert text.endswith("OTHER=1\n")
    [line] = [line for line in text.splitlines() if line.startswith(f"{VARIABLE}=")]
    pairs = parse_pairs(line.split("=", 1)[1])
    assert set(pairs) == set(device_usernames(load_store(EXAMPLE_STORE)))
    assert pairs[f"{STORE}/rfid/reader-aisle-1"] == "kept"
    assert len(set(pairs.values())) == len(pairs)  # one password per device
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert main([str(EXAMPLE_STORE), "--env", str(env)]) == 0
    assert env.read_text() == text  # a second run changes nothing


def test_a_broken_env_line_is_an_error_not_a_rewrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / ".env"
    env.write_text(f"{VARIABLE}=no-password-here\n")
    assert main([str(EXAMPLE_STORE), "--env", str(env)]) == 1
    assert "is not username:password" in capsys.readouterr().err
    assert env.read_text() == f"{VARIABLE}=no-password-here\n"


@pytest.mark.parametrize(
    "entry", ["reader-aisle-1:x", f"{STORE}/edge/edge-1:x", f"{STORE}/rfid/r/extra:x", f"{STORE}/rfid/#:x"]
)
def test_make_passwd_refuses_device_names_without_store_and_kind(tmp_path: Path, entry: str) -> None:
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed")
    env = {
        **os.environ,
        "SMARTSTORE_MQTT_GATEWAY_PASSWORD": "g",
        "SMARTSTORE_MQTT_EDGE_PASSWORD": "e",
        "SMARTSTORE_MQTT_DEVICE_PASSWORDS": f"{STORE}/rfid/reader-aisle-2:ok {entry}",
    }
    out = tmp_path / "passwd"
    made = subprocess.run(
        ["sh", str(ROOT / "deploy/mosquitto/make-passwd.sh"), str(out)],
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert made.returncode == 2
    assert b"must be <store>/<rfid|camera|locker>/<device-id>:password" in made.stderr
    assert not out.exists()
