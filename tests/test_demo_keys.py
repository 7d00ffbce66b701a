"""The demo's API keys, made through the gateway's public `keys_cli.provision_keys`: one per role."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartstore.gateway.db.engine import make_engine, make_sessionmaker
from smartstore.gateway.security import generate_key, list_api_keys
from smartstore.launcher.demo import KEY_ENV, ROLES, create_demo_keys

STORE = "store-berlin-01"


def test_one_key_per_role_fixed_where_the_environment_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in KEY_ENV.values():
        monkeypatch.delenv(variable, raising=False)
    fixed = generate_key()
    monkeypatch.setenv(KEY_ENV["admin"], fixed)
    monkeypatch.setenv(KEY_ENV["kiosk"], "")  # set but empty: random, as if unset
    db_url = f"sqlite:///{tmp_path / 'gateway.db'}"

    keys = create_demo_keys(db_url, STORE)

    assert list(keys) == list(ROLES)
    assert keys["admin"] == fixed
    assert len(set(keys.values())) == len(ROLES)
    engine = make_engine(db_url)
    try:
        stored = {(key.role, key.name, key.store_id) for key in list_api_keys(make_sessionmaker(engine))}
    finally:
        engine.dispose()
    # Only the kiosk key is bound to the store: it opens that store's lockers and no other's.
    assert stored == {(role, f"demo-{role}", STORE if role == "kiosk" else None) for role in ROLES}
    # Fixed keys survive a restart of the demo on the same database.
    assert create_demo_keys(db_url, STORE)["admin"] == fixed


def test_a_malformed_fixed_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV["manager"], "not-a-key")
    with pytest.raises(ValueError, match=r"^SMARTSTORE_MANAGER_KEY: a key must look like ssk_"):
        create_demo_keys(f"sqlite:///{tmp_path / 'gateway.db'}", STORE)
