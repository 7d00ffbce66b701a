"""The pickup-code lookup key: from the settings, else generated once into a private file, never too short."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.lockers.link import load_code_secret


def settings(tmp_path: Path, **extra: object) -> GatewaySettings:
    return GatewaySettings(db_url=f"sqlite:///{tmp_path / 'gw.db'}", **extra)  # type: ignore[arg-type]


def test_a_configured_secret_wins(tmp_path: Path) -> None:
    secret = "s" * 32
    assert load_code_secret(settings(tmp_path, pickup_code_secret=SecretStr(secret))) == secret.encode()
    assert not (tmp_path / "pickup-code.secret").exists()


def test_without_one_a_private_file_is_made_once_next_to_the_database(tmp_path: Path) -> None:
    first = load_code_secret(settings(tmp_path))
    path = tmp_path / "pickup-code.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64
    assert load_code_secret(settings(tmp_path)) == first  # a restart keeps the key: codes stay valid
    other = tmp_path / "elsewhere" / "key"
    assert load_code_secret(settings(tmp_path, pickup_code_secret_file=other)) != first


def test_short_secrets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        load_code_secret(settings(tmp_path, pickup_code_secret=SecretStr("short")))
    path = tmp_path / "weak"
    path.write_text("abc\n")
    with pytest.raises(ValueError, match="16 bytes"):
        load_code_secret(settings(tmp_path, pickup_code_secret_file=path))
