"""`smartstore store validate`: exit 0 and a summary for a good file, 1 and located errors for a bad one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from smartstore.kernel.storeconfig import EXAMPLE_STORE
from smartstore.launcher.cli import main


def test_validate_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["store", "validate", str(EXAMPLE_STORE)]) == 0
    out = capsys.readouterr().out
    assert "ok — store store-berlin-01" in out
    assert "planogram slots" in out


def test_validate_defaults_to_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["store", "validate"]) == 0
    assert "store-berlin-01" in capsys.readouterr().out


def test_validate_a_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load(EXAMPLE_STORE.read_text(encoding="utf-8"))
    data["devices"]["readers"][0]["antennas"][1]["zone"] = "cellar"
    path = tmp_path / "store.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["store", "validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "devices.readers[0].antennas[1].zone: unknown zone 'cellar'" in captured.err


def test_validate_a_missing_file(tmp_path: Path) -> None:
    assert main(["store", "validate", str(tmp_path / "nope.yaml")]) == 1


def test_console_script_exit_codes(tmp_path: Path) -> None:
    good = subprocess.run(
        [sys.executable, "-m", "smartstore.launcher.cli", "store", "validate"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert good.returncode == 0, good.stderr
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text("store: {id: 'no spaces allowed'}\n", encoding="utf-8")
    bad = subprocess.run(
        [sys.executable, "-m", "smartstore.launcher.cli", "store", "validate", str(bad_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "store.id" in bad.stderr
    assert "catalog: Field required" in bad.stderr
    example = subprocess.run(
        [sys.executable, "-m", "smartstore.launcher.cli", "store", "example-path"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert Path(example.stdout.strip()) == EXAMPLE_STORE
