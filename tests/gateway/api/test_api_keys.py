"""API keys: hashed storage, authentication, fixed demo keys, revocation, the role matrix, the keys CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from api_helpers import BERLIN, HAMBURG, auth
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smartstore.gateway.db.engine import make_engine, make_sessionmaker
from smartstore.gateway.db.models import ApiKey
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import (
    KEY_PATTERN,
    ApiKeyError,
    Permission,
    Role,
    authenticate,
    create_api_key,
    generate_key,
    hash_secret,
    list_api_keys,
    revoke_api_key,
    split_key,
)
from smartstore.launcher.cli import main

DEMO_KEY = "ssk_demo0adm_" + "Q" * 20 + "7" * 20


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_keys_are_stored_hashed_and_authenticate(sessions: sessionmaker[Session]) -> None:
    key = create_api_key(sessions, Role.MANAGER, "anna", store_id="store-berlin-01")
    assert KEY_PATTERN.match(key)
    _, prefix, secret = key.split("_")
    with sessions() as session:
        row = session.scalars(select(ApiKey)).one()
        assert row.prefix == prefix
        assert secret not in (row.secret_hash, row.prefix, row.name)
        assert len(row.secret_hash) == 64
        principal = authenticate(session, key)
        assert principal is not None
        assert (principal.role, principal.name, principal.store_id) == (
            Role.MANAGER,
            "anna",
            "store-berlin-01",
        )
        wrong_last = "y" if secret.endswith("x") else "x"  # one character off, never the key itself
        assert authenticate(session, f"ssk_{prefix}_{secret[:-1]}{wrong_last}") is None
        assert authenticate(session, key + "x") is None
        assert authenticate(session, "") is None


def test_revoked_keys_stop_working(sessions: sessionmaker[Session]) -> None:
    key = create_api_key(sessions, "integrator", "erp")
    prefix = key.split("_")[1]
    assert revoke_api_key(sessions, prefix) is True
    assert revoke_api_key(sessions, prefix) is False
    assert revoke_api_key(sessions, "zzzzzzzz") is False
    with sessions() as session:
        assert authenticate(session, key) is None
    [info] = list_api_keys(sessions)
    assert info.prefix == prefix
    assert info.revoked_at is not None


def test_fixed_keys_are_validated_and_idempotent(sessions: sessionmaker[Session]) -> None:
    assert create_api_key(sessions, Role.ADMIN, "demo admin", key=DEMO_KEY) == DEMO_KEY
    assert create_api_key(sessions, Role.ADMIN, "demo admin", key=DEMO_KEY) == DEMO_KEY  # restart
    with pytest.raises(ApiKeyError, match="already exists"):
        create_api_key(sessions, Role.ADMIN, "demo admin", key=DEMO_KEY[:-1] + "8")
    with pytest.raises(ApiKeyError, match="already exists"):
        create_api_key(
            sessions, Role.KIOSK, "demo admin", store_id="s1", key=DEMO_KEY
        )  # same key, other role
    with pytest.raises(ApiKeyError, match="must look like"):
        create_api_key(sessions, Role.ADMIN, "x", key="admin-password")
    with pytest.raises(ApiKeyError, match="unknown role"):
        create_api_key(sessions, "root", "x")
    with pytest.raises(ApiKeyError, match="store"):
        create_api_key(sessions, Role.MANAGER, "x", store_id="a/b")
    assert len(list_api_keys(sessions)) == 1


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.ADMIN, set(Permission)),
        (
            Role.MANAGER,
            set(Permission)
            - {Permission.CREATE_ORDERS, Permission.PICKUP_WITH_CODE, Permission.REPORT_DELIVERY},
        ),
        (
            Role.INTEGRATOR,
            {
                Permission.READ_STORES,
                Permission.READ_INVENTORY,
                Permission.POST_MOVEMENTS,
                Permission.READ_ORDERS,
                Permission.CREATE_ORDERS,
                Permission.CANCEL_ORDERS,
                Permission.REPORT_DELIVERY,
            },
        ),
        (Role.KIOSK, {Permission.PICKUP_WITH_CODE}),
    ],
)
def test_role_matrix(sessions: sessionmaker[Session], role: Role, allowed: set[Permission]) -> None:
    key = create_api_key(sessions, role, f"{role} key", store_id=BERLIN)
    with sessions() as session:
        principal = authenticate(session, key)
    assert principal is not None
    assert {permission for permission in Permission if principal.can(permission)} == allowed


def test_keys_cli_create_list_revoke(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        main(
            [
                "keys",
                "create",
                "--role",
                "manager",
                "--name",
                "Anna",
                "--store",
                "store-berlin-01",
                "--db-url",
                db_url,
            ]
        )
        == 0
    )
    key = capsys.readouterr().out.splitlines()[0]
    assert KEY_PATTERN.match(key)
    prefix, secret = key.split("_")[1:]

    monkeypatch.setenv("SMARTSTORE_DB_URL", db_url)  # the default when --db-url is left out
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert secret not in listing
    [header, row] = listing.splitlines()
    assert header.split() == ["PREFIX", "ROLE", "NAME", "STORE", "CREATED", "REVOKED"]
    assert row.split()[:4] == [prefix, "manager", "Anna", "store-berlin-01"]
    assert row.split()[-1] == "-"

    assert main(["keys", "revoke", prefix]) == 0
    assert main(["keys", "revoke", prefix]) == 1
    assert "no active key" in capsys.readouterr().out
    main(["keys", "list"])
    assert capsys.readouterr().out.splitlines()[1].split()[-1] != "-"

    assert (
        main(["keys", "create", "--role", "kiosk", "--name", " ", "--store", "s1", "--db-url", db_url]) == 1
    )
    with pytest.raises(SystemExit):
        main(["keys", "create", "--role", "root", "--name", "x"])


def test_a_kiosk_key_must_name_its_store(
    sessions: sessionmaker[Session], db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ApiKeyError, match=r"kiosk key must be bound to a store \(--store"):
        create_api_key(sessions, Role.KIOSK, "lobby")
    assert list_api_keys(sessions) == []
    assert main(["keys", "create", "--role", "kiosk", "--name", "lobby", "--db-url", db_url]) == 1
    assert "error: a kiosk key must be bound to a store (--store" in capsys.readouterr().out
    args = ["keys", "create", "--role", "kiosk", "--name", "lobby", "--store", "store-berlin-01"]
    assert main([*args, "--db-url", db_url]) == 0
    [info] = list_api_keys(sessions)
    assert (info.role, info.store_id) == ("kiosk", "store-berlin-01")
    # Other roles may still span every store (an admin, the ERP's integrator key).
    create_api_key(sessions, Role.INTEGRATOR, "erp")


def test_a_store_less_kiosk_key_from_before_opens_no_store(
    api_runtime: GatewayRuntime, client: TestClient
) -> None:
    """A kiosk key stored without a store (made before the rule) is refused at every store with a 403."""
    key = generate_key()
    parts = split_key(key)
    assert parts is not None
    with api_runtime.sessions() as session:
        session.add(
            ApiKey(
                prefix=parts[0],
                secret_hash=hash_secret(parts[1]),
                role=Role.KIOSK.value,
                name="old lobby kiosk",
                store_id=None,
                created_at=datetime.now(UTC),
                revoked_at=None,
            )
        )
        session.commit()
    bound = create_api_key(api_runtime.sessions, Role.KIOSK, "berlin kiosk", store_id=BERLIN)
    for store in (BERLIN, HAMBURG):
        hello = f"/api/v1/stores/{store}/lockers/locker-1/kiosk"
        refused = client.get(hello, headers=auth(key))
        assert refused.status_code == 403, store
        assert refused.json()["error"]["code"] == "store_forbidden"
        assert "bound to no store" in refused.json()["error"]["message"]
        pickup = client.post(
            f"/api/v1/stores/{store}/lockers/locker-1/pickup", headers=auth(key), json={"code": "123456"}
        )
        assert pickup.status_code == 403, store
        assert "bound to no store" in pickup.json()["error"]["message"]
    assert (
        client.get(f"/api/v1/stores/{BERLIN}/lockers/locker-1/kiosk", headers=auth(bound)).status_code == 200
    )
