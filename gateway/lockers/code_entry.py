"""Kiosk pickups by code: throttle per locker bank and per order, look up, verify, open; all audited."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from smartstore.gateway.db.lockers import CodeAttempt, CodeLockout, PickupOrder
from smartstore.gateway.db.util import as_utc, begin_write, is_sqlite, iso
from smartstore.gateway.lockers import domain
from smartstore.gateway.lockers.compartments import bank_id, locker_of
from smartstore.gateway.lockers.lifecycle import Event
from smartstore.gateway.lockers.view_models import order_view
from smartstore.gateway.monitoring.alerts import alert_view, raise_alert
from smartstore.kernel import pickup_codes
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)


class PickupResult(StrEnum):
    OPENED = "opened"
    WRONG = "wrong"  # no live order of this bank has that code
    LOCKED = "locked"  # too many wrong codes: the bank (or the order) is locked for a while
    NOT_READY = "not_ready"  # right code, but the goods are not in the compartment yet
    USED = "used"  # right code, already used to open the door
    EXPIRED = "expired"  # right code, but the order is past its pickup deadline


@dataclass
class PickupAttempt:
    result: PickupResult
    order: PickupOrder | None = None
    locker: str = ""
    compartment: str | None = None
    request: str | None = None
    tries_left: int | None = None
    retry_after_s: float | None = None
    events: list[Event] = field(default_factory=list)
    lockers: set[tuple[str, str]] = field(default_factory=set)


def throttle_rule(store: StoreConfig) -> domain.ThrottleRule:
    info = store.store
    return domain.ThrottleRule(info.pickup_max_failures, timedelta(minutes=info.pickup_lockout_minutes))


def _state(row: CodeLockout | None) -> domain.Lockout:
    if row is None:
        return domain.Lockout()
    return domain.Lockout(
        row.failures,
        as_utc(row.last_failure_at) if row.last_failure_at else None,
        as_utc(row.locked_until) if row.locked_until else None,
    )


def _locked_counter(session: Session, store_id: str, scope: str) -> CodeLockout:
    """The scope's counter row, created if missing, locked FOR UPDATE (PostgreSQL)."""
    dialect = sqlite if is_sqlite(session) else postgresql
    insert = dialect.insert(CodeLockout).values(store_id=store_id, scope=scope, failures=0)
    # Two first attempts at once must not both insert: ON CONFLICT DO NOTHING, then lock the row.
    session.execute(insert.on_conflict_do_nothing(index_elements=["store_id", "scope"]))
    row = session.get(CodeLockout, (store_id, scope), with_for_update=True, populate_existing=True)
    assert row is not None
    return row


def _save(row: CodeLockout, state: domain.Lockout) -> None:
    row.failures = state.failures
    row.last_failure_at = state.last_failure_at
    row.locked_until = state.locked_until


def _candidate(
    session: Session, store_id: str, locker: str, lookup: str | None, lock: bool
) -> PickupOrder | None:
    if lookup is None:
        return None
    query = select(PickupOrder).where(
        PickupOrder.store_id == store_id, PickupOrder.locker_id == locker, PickupOrder.code_lookup == lookup
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).first()


def pickup_with_code(
    session: Session,
    store: StoreConfig,
    locker: str,
    code_text: str,
    *,
    by: str,
    at: datetime,
    secret: bytes,
    order_hint: str | None = None,
) -> PickupAttempt:
    """Check a code typed at a locker bank's kiosk; on success the caller commits and opens the door.

    The slow scrypt check runs before the write lock is taken (on SQLite it serialises every writer);
    under the lock the order is read again and the check reused only if its hash did not change.
    `order_hint` (an order id the customer gave too) adds the per-order throttle.
    """
    store_id = store.store.id
    locker_of(store, locker)
    rule = throttle_rule(store)
    bank_scope = f"bank:{locker}"
    order_scope = f"order:{order_hint}" if order_hint else None
    try:
        code: str | None = pickup_codes.normalise_code(code_text)
    except pickup_codes.CodeFormatError:
        code = None
    lookup = pickup_codes.lookup_key(secret, bank_id(store_id, locker), code) if code else None
    # Lock-free first look: a locked bank answers at once, without spending a scrypt on the code.
    early = _state(session.get(CodeLockout, (store_id, bank_scope)))
    verified: tuple[str, bool] | None = None
    if domain.retry_after(early, at) is None and code is not None:
        seen = _candidate(session, store_id, locker, lookup, lock=False)
        if seen is not None and seen.code_hash:
            verified = (seen.code_hash, pickup_codes.verify_code(code, seen.code_hash))
    session.rollback()  # end the read snapshot; the decision is taken under the lock below
    begin_write(session)
    bank = _locked_counter(session, store_id, bank_scope)
    scoped = _locked_counter(session, store_id, order_scope) if order_scope else None
    attempt = PickupAttempt(PickupResult.WRONG, locker=locker)
    waits = [w for w in (domain.retry_after(_state(r), at) for r in (bank, scoped) if r) if w is not None]
    if waits:
        attempt.result, attempt.retry_after_s = PickupResult.LOCKED, max(waits)
        _audit(session, store_id, locker, order_hint, attempt.result, by, at)
        return attempt
    order = _candidate(session, store_id, locker, lookup, lock=True)
    matches = False
    if order is not None and code is not None and order.code_hash:
        if verified is not None and verified[0] == order.code_hash:
            matches = verified[1]
        else:
            matches = pickup_codes.verify_code(code, order.code_hash)
    if order_hint is not None and order is not None and order.id != order_hint:
        matches = False
    if not matches:
        return _wrong(session, store, attempt, bank, scoped, rule, by, at, order_hint)
    assert order is not None
    return _right(session, store, attempt, order, by, at)


def _wrong(
    session: Session,
    store: StoreConfig,
    attempt: PickupAttempt,
    bank: CodeLockout,
    scoped: CodeLockout | None,
    rule: domain.ThrottleRule,
    by: str,
    at: datetime,
    order_hint: str | None,
) -> PickupAttempt:
    store_id, locker = store.store.id, attempt.locker
    left = []
    for row in (bank, scoped):
        if row is None:
            continue
        before = _state(row)
        after = domain.after_failure(before, rule, at)
        _save(row, after)
        left.append(domain.tries_left(after, rule, at))
        if after.locked_until is not None and before.locked_until != after.locked_until:
            attempt.events.append(_lockout_alert(session, store_id, locker, row.scope, after, rule, at))
    attempt.tries_left = min(left)
    _audit(session, store_id, locker, order_hint, PickupResult.WRONG, by, at)
    logger.info("wrong pickup code at %s/%s (%d tries left)", store_id, locker, attempt.tries_left)
    return attempt


def _lockout_alert(
    session: Session,
    store_id: str,
    locker: str,
    scope: str,
    state: domain.Lockout,
    rule: domain.ThrottleRule,
    at: datetime,
) -> Event:
    minutes = rule.lockout.total_seconds() / 60
    what = f"locker {locker}" if scope.startswith("bank:") else scope.replace("order:", "order ")
    alert = raise_alert(
        session,
        store_id=store_id,
        cause=f"locker.code_lockout:{locker}" + ("" if scope.startswith("bank:") else f":{scope[6:]}"),
        severity=p.Severity.WARNING,
        message=f"{rule.max_failures} wrong pickup codes at {what}; locked for {minutes:g} min "
        f"until {iso(state.locked_until)}",
        device_id=locker,
        at=at,
    )
    logger.warning("pickup codes locked at %s/%s (%s) until %s", store_id, locker, scope, state.locked_until)
    return ("alert", store_id, alert_view(alert))


def _right(
    session: Session, store: StoreConfig, attempt: PickupAttempt, order: PickupOrder, by: str, at: datetime
) -> PickupAttempt:
    store_id, locker = store.store.id, attempt.locker
    attempt.order = order
    attempt.compartment = order.compartment_id
    state = domain.OrderState(order.state)
    if state is domain.OrderState.LOADED:
        attempt.result = PickupResult.NOT_READY
    elif order.code_used_at is not None:
        attempt.result = PickupResult.USED
    elif order.expires_at is None or as_utc(order.expires_at) <= at:
        attempt.result = PickupResult.EXPIRED
    else:
        attempt.result = PickupResult.OPENED
        order.code_used_at = at
        order.pickup_requests += 1
        order.updated_at = at
        attempt.request = p.locker_request(p.LockerRequestPurpose.PICKUP, order.id, order.pickup_requests)
        attempt.lockers.add((store_id, locker))  # the used code leaves the edge's manifest
        attempt.events.append(("orders", store_id, order_view(order)))
    _audit(session, store_id, locker, order.id, attempt.result, by, at)
    session.flush()
    return attempt


def _audit(
    session: Session,
    store_id: str,
    locker: str,
    order_id: str | None,
    result: PickupResult,
    by: str,
    at: datetime,
) -> None:
    session.add(
        CodeAttempt(
            store_id=store_id, locker_id=locker, order_id=order_id, result=result.value, at=at, by=by[:100]
        )
    )
