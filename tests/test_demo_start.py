"""`smartstore demo` refuses to start on a busy port with one clear line, and leaves no temp dir behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smartstore.launcher.broker import free_port


def run_demo(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # where a temp data dir would be made
    command = [sys.executable, "-m", "smartstore.launcher.cli", "demo", "--duration", "5", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)


@pytest.mark.parametrize("flag", ["--http-port", "--mqtt-port"])
def test_a_busy_port_is_named_before_anything_starts(tmp_path: Path, listener: int, flag: str) -> None:
    other = "--mqtt-port" if flag == "--http-port" else "--http-port"
    result = run_demo(tmp_path, flag, str(listener), other, str(free_port()))

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"smartstore demo: 127.0.0.1:{listener} ("
        + ("the gateway's HTTP port" if flag == "--http-port" else "the embedded broker's port")
        + f") is already in use, perhaps by another demo; choose another with {flag}"
    ]
    assert "Traceback" not in result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []  # no data dir made


def test_a_failed_start_removes_its_temp_dir_and_names_the_bad_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTSTORE_ADMIN_KEY", "ssk_not-a-key")
    result = run_demo(tmp_path, "--http-port", str(free_port()), "--mqtt-port", str(free_port()))

    assert result.returncode == 1
    assert "smartstore demo: SMARTSTORE_ADMIN_KEY: a key must look like ssk_" in result.stderr
    assert "removed" in result.stderr
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith("smartstore-demo-")] == []
