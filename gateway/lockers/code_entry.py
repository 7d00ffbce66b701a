"""Kiosk pickups by code: throttle per source, per order and per bank (a ceiling), look up, verify, open.

Refusals are counted (per scope and window in `pickup_code_lockouts`, and by the API in a Prometheus
counter), not written one row each: the audit table keeps the doors opened, lockouts and their lifting.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from smartstore.gateway.db.lockers import CodeAttempt, CodeLockout, PickupOrder
from smartstore.gateway.db.util import as_utc, begin_write, is_sqlite, iso
from smartstore.gateway.lockers import domain, pickup_opens
from smartstore.gateway.lockers.compartments import bank_id, locker_of
from smartstore.gateway.lockers.lifecycle import Event
from smartstore.gateway.lockers.view_models import LockoutView, order_view
from smartstore.gateway.monitoring.alerts import alert_view, clear_alert, raise_alert
from smartstore.kernel import pickup_codes
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)


class PickupResult(StrEnum):
    OPENED = "opened"
    WRONG = "wrong"  # no live order of this bank has that code
    LOCKED = "locked"  # too many wrong codes: the source, the order or the bank is locked for a while
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
    locked_out: list[str] = field(default_factory=list)  # scopes this attempt locked


@dataclass(frozen=True, slots=True)
class Scopes:
    """The counters one attempt is judged by: its source, the order it names (if any), the bank."""

    bank: str
    source: str
    order: str | None

    @classmethod
    def of(cls, locker: str, source: str, order: str | None) -> Scopes:
        return cls(
            f"bank:{locker}",
            f"source:{locker}:{source}"[:100],
            f"order:{locker}:{order}"[:100] if order else None,
        )


def throttle_rules(store: StoreConfig) -> tuple[domain.ThrottleRule, domain.ThrottleRule]:
    """(per source and per order, per bank): the bank's ceiling shares the lockout period."""
    info = store.store
    lockout = timedelta(minutes=info.pickup_lockout_minutes)
    return domain.ThrottleRule(info.pickup_max_failures, lockout), domain.ThrottleRule(
        info.pickup_bank_max_failures, lockout
    )


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


def _existing_counter(session: Session, store_id: str, scope: str | None) -> CodeLockout | None:
    """The scope's row if it has one, locked: a source gets a row with its first wrong code only, so
    requests that are not guesses (a used code sent again and again) add no rows."""
    if scope is None:
        return None
    return session.get(CodeLockout, (store_id, scope), with_for_update=True, populate_existing=True)


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
    source: str | None = None,
) -> PickupAttempt:
    """Check a code typed at a locker bank's kiosk; on success the caller commits and opens the door.

    `source` is who is typing (a kiosk session, else the API client `by`): its wrong codes lock it
    alone; `order_hint` (an order id the customer gave too) adds the per-order throttle; the bank
    locks only when all sources together reach its ceiling. The slow scrypt check runs before the
    write lock is taken (on SQLite it serialises every writer); under the lock the order is read
    again and the check reused only if its hash did not change.
    """
    store_id = store.store.id
    locker_of(store, locker)
    rule, bank_rule = throttle_rules(store)
    scopes = Scopes.of(locker, source or by, order_hint)
    try:
        code: str | None = pickup_codes.normalise_code(code_text)
    except pickup_codes.CodeFormatError:
        code = None
    lookup = pickup_codes.lookup_key(secret, bank_id(store_id, locker), code) if code else None
    # Lock-free first look: a locked scope answers at once, without spending a scrypt on the code.
    early = [session.get(CodeLockout, (store_id, s)) for s in (scopes.bank, scopes.source, scopes.order) if s]
    verified: tuple[str, bool] | None = None
    if all(domain.retry_after(_state(r), at) is None for r in early) and code is not None:
        seen = _candidate(session, store_id, locker, lookup, lock=False)
        if seen is not None and seen.code_hash:
            verified = (seen.code_hash, pickup_codes.verify_code(code, seen.code_hash))
    session.rollback()  # end the read snapshot; the decision is taken under the lock below
    begin_write(session)
    bank = _locked_counter(session, store_id, scopes.bank)
    person = _existing_counter(session, store_id, scopes.source)
    scoped = _existing_counter(session, store_id, scopes.order)
    attempt = PickupAttempt(PickupResult.WRONG, locker=locker)
    waits = []
    for row, row_rule in ((bank, bank_rule), (person, rule), (scoped, rule)):
        wait = domain.retry_after(_state(row), at) if row is not None else None
        if row is not None and wait is not None:
            _save(row, domain.after_refusal(_state(row), row_rule, at))
            waits.append(wait)
    if waits:
        attempt.result, attempt.retry_after_s = PickupResult.LOCKED, max(waits)
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
        person = person or _locked_counter(session, store_id, scopes.source)
        if scopes.order is not None:
            scoped = scoped or _locked_counter(session, store_id, scopes.order)
        counters = [(bank, bank_rule), (person, rule)] + ([(scoped, rule)] if scoped else [])
        return _wrong(session, store, attempt, counters, by, at, order_hint)
    assert order is not None
    return _right(session, store, attempt, order, by, at)


def _wrong(
    session: Session,
    store: StoreConfig,
    attempt: PickupAttempt,
    counters: list[tuple[CodeLockout, domain.ThrottleRule]],
    by: str,
    at: datetime,
    order_hint: str | None,
) -> PickupAttempt:
    store_id, locker = store.store.id, attempt.locker
    left = []
    for row, rule in counters:
        before = _state(row)
        after = domain.after_failure(before, rule, at)
        _save(row, after)
        left.append(domain.tries_left(after, rule, at))
        if after.locked_until is not None and before.locked_until != after.locked_until:
            attempt.locked_out.append(row.scope)
            if not row.scope.startswith("source:"):  # a session locking itself is no news for staff
                attempt.events.append(_lockout_alert(session, store_id, locker, row.scope, after, rule, at))
            logger.warning("pickup codes locked at %s (%s) until %s", store_id, row.scope, after.locked_until)
    attempt.tries_left = min(left)
    if attempt.locked_out:
        _audit(session, store_id, locker, order_hint, "lockout", by, at)
    logger.info("wrong pickup code at %s/%s (%d tries left)", store_id, locker, attempt.tries_left)
    return attempt


def lockout_cause(locker: str, scope: str) -> str:
    """The alert of a bank's lockout, or of one order's (a source's lockout raises none)."""
    if scope.startswith("bank:"):
        return f"locker.code_lockout:{locker}"
    return f"locker.code_lockout:{locker}:{scope.rsplit(':', 1)[-1]}"


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
    what = f"locker {locker}" if scope.startswith("bank:") else f"order {scope.rsplit(':', 1)[-1]}"
    alert = raise_alert(
        session,
        store_id=store_id,
        cause=lockout_cause(locker, scope),
        severity=p.Severity.WARNING,
        message=f"{rule.max_failures} wrong pickup codes at {what}; locked for {minutes:g} min "
        f"until {iso(state.locked_until)}; staff can lift it",
        device_id=locker,
        at=at,
    )
    return ("alert", store_id, alert_view(alert))


def prune_counters(session: Session, stores: Mapping[str, StoreConfig], at: datetime) -> int:
    """Forget counters whose window has passed and which lock nothing (the sweep calls it, then
    commits): sessions come and go, so their rows must not pile up. Returns how many rows went."""
    pruned = 0
    for store_id, store in stores.items():
        window = timedelta(minutes=store.store.pickup_lockout_minutes)
        stale = (
            CodeLockout.store_id == store_id,
            or_(CodeLockout.locked_until.is_(None), CodeLockout.locked_until <= at),
            or_(CodeLockout.last_failure_at.is_(None), CodeLockout.last_failure_at < at - window),
        )
        # A lock-free look first: on SQLite the write lock would stall the ingest each sweep for nothing.
        if session.scalar(select(CodeLockout.scope).where(*stale).limit(1)) is None:
            continue
        session.rollback()
        begin_write(session)
        result = cast(CursorResult[Any], session.execute(delete(CodeLockout).where(*stale)))
        pruned += result.rowcount
    return pruned


@dataclass
class Lifted:
    """What lifting a bank's lockouts did: how many scopes were locked, and what to publish."""

    lifted: int
    events: list[Event] = field(default_factory=list)


def _scopes_of(store_id: str, locker: str) -> ColumnElement[bool]:
    return and_(
        CodeLockout.store_id == store_id,
        or_(
            CodeLockout.scope == f"bank:{locker}",
            CodeLockout.scope.startswith(f"source:{locker}:", autoescape=True),
            CodeLockout.scope.startswith(f"order:{locker}:", autoescape=True),
        ),
    )


def active_lockouts(session: Session, store_id: str, at: datetime) -> dict[str, list[LockoutView]]:
    """Per locker bank, its scopes locked now: {scope kind, who or what, until, refused tries}."""
    rows = session.scalars(
        select(CodeLockout).where(CodeLockout.store_id == store_id, CodeLockout.locked_until > at)
    )
    found: dict[str, list[LockoutView]] = {}
    for row in rows:
        kind, _, rest = row.scope.partition(":")
        locker, _, what = rest.partition(":")
        if kind not in ("bank", "source", "order") or (kind != "bank" and not what):
            continue  # a row of an older layout ("order:{id}"): it runs out on its own
        found.setdefault(locker, []).append(
            {"scope": kind, "what": what or None, "until": iso(row.locked_until), "refused": row.failures}
        )
    return found


def lift_lockouts(session: Session, store: StoreConfig, locker: str, *, by: str, at: datetime) -> Lifted:
    """Staff lift every lockout of a bank (and forget its counters); their alerts clear; audited."""
    store_id = store.store.id
    locker_of(store, locker)
    begin_write(session)
    _locked_counter(session, store_id, f"bank:{locker}")  # the bank's row first, as every kiosk try does
    rows = session.scalars(select(CodeLockout).where(_scopes_of(store_id, locker)).with_for_update()).all()
    locked = [row.scope for row in rows if domain.retry_after(_state(row), at) is not None]
    session.execute(delete(CodeLockout).where(_scopes_of(store_id, locker)))
    lifted = Lifted(len(locked))
    for scope in locked:
        alert = clear_alert(session, store_id=store_id, cause=lockout_cause(locker, scope), at=at, by=by)
        if alert is not None:
            lifted.events.append(("alert", store_id, alert_view(alert)))
    _audit(session, store_id, locker, None, "lockout_lifted", by, at)
    session.flush()
    logger.warning("%s lifted %d pickup-code lockouts at %s/%s", by, len(locked), store_id, locker)
    return lifted


def _right(
    session: Session, store: StoreConfig, attempt: PickupAttempt, order: PickupOrder, by: str, at: datetime
) -> PickupAttempt:
    store_id, locker = store.store.id, attempt.locker
    attempt.order = order
    attempt.compartment = order.compartment_id
    state = domain.OrderState(order.state)
    if pickup_opens.stale_open(session, order, at):
        # An earlier open the locker never answered: the code was not used, this try may open.
        why = f"none within {pickup_opens.PICKUP_OPEN_TIMEOUT_S:g} s; the customer tried again"
        attempt.events += pickup_opens.give_back(session, order, by=by, at=at, why=why).events
    if state is domain.OrderState.LOADED:
        attempt.result = PickupResult.NOT_READY
    elif order.code_used_at is not None or state in domain.GOODS_LEFT:
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
        _audit(session, store_id, locker, order.id, attempt.result.value, by, at)
    session.flush()
    return attempt


def _audit(
    session: Session,
    store_id: str,
    locker: str,
    order_id: str | None,
    result: str,
    by: str,
    at: datetime,
) -> None:
    """One audit row: a door opened, a lockout started, lockouts lifted (refusals are only counted)."""
    session.add(
        CodeAttempt(store_id=store_id, locker_id=locker, order_id=order_id, result=result, at=at, by=by[:100])
    )
