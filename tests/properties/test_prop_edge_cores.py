"""Properties of the edge's pure cores and the rate limiters: slot states need k agreeing observations,
raw RFID reads never break the normalizer, tag counts match the tags present, flapping alerts and
flooding sources are held to their budgets, a keypad locks after its wrong codes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartstore.devices.sim.epc import sgtin96
from smartstore.edge.alert_flaps import FlapGuard
from smartstore.edge.lockers.throttle import KeypadThrottle
from smartstore.edge.rfid.epc import EpcCache
from smartstore.edge.rfid.inventory import TagInventory
from smartstore.edge.rfid.normalize import ReadNormalizer
from smartstore.edge.rfid.settings import RfidSettings
from smartstore.edge.rfid.zones import ZoneTable
from smartstore.edge.vision.slots import SlotFillSettings, SlotReading, SlotTracker
from smartstore.gateway.ingest.limits import RateLimits, SourceBuckets
from smartstore.kernel.contract.payloads import ShelfState
from smartstore.kernel.storeconfig import EXAMPLE_STORE, Slot, load_store

FAST = settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
STORE = load_store(EXAMPLE_STORE)
TABLE = ZoneTable.from_store(STORE)
READERS = sorted(TABLE.antennas)
GTINS = [product.gtin for product in STORE.catalog if product.rfid_tagged][:4]
EPCS = [sgtin96(gtin, serial) for gtin in GTINS for serial in range(1, 4)]
T0 = 1_750_000_000.0
Read = tuple[str, int, float]  # (EPC, antenna, RSSI)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- camera slots ----------------------------------------------------------------------------------

SQUARE = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
readings = st.builds(
    SlotReading,
    fill=st.floats(0, 1),
    coverage=st.floats(0, 1),
    centred_products=st.integers(0, 3),
)


@FAST
@given(st.integers(1, 5), st.integers(1, 4), st.lists(readings, max_size=40))
def test_a_slot_changes_state_only_after_k_agreeing_visible_observations(
    k: int, facings: int, frames: list[SlotReading]
) -> None:
    rule = SlotFillSettings(confirmations=k)
    slot = Slot.model_validate(
        {"id": "s1", "gtin": GTINS[0], "facings": facings, "capacity": 6, "polygon": SQUARE}
    )
    tracker = SlotTracker([slot], 0.5, rule)
    visible: list[ShelfState] = []
    for reading in frames:
        before = tracker.states()["s1"]
        changed = tracker.observe({"s1": reading})
        hidden = reading.occluded(rule.min_coverage)
        after = tracker.states()["s1"]
        if hidden:
            assert after is before  # an arm in front of the shelf never changes a slot
            assert [o.stale for o in changed] in ([], [True])
            continue
        visible.append(tracker.state_for(reading, facings))
        if after is not before:
            assert len(visible) >= k
            assert visible[-k:] == [after] * k  # k agreeing observations of the new state, in a row
            assert [o.state for o in changed] == [after]


# --- RFID ------------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
raw_read = st.one_of(
    json_scalars,
    st.dictionaries(
        st.sampled_from(["epc", "antenna", "rssi", "ts", "count", "x"]), json_scalars, max_size=6
    ),
    st.fixed_dictionaries(
        {
            "epc": st.sampled_from(EPCS) | st.text(max_size=30),
            "antenna": st.integers(0, 3),
            "rssi": st.floats(-120, 20) | st.integers(-1000, 1000),
            "ts": st.floats(T0 - 100, T0 + 100).map(_iso) | st.text(max_size=30),
        },
        optional={"count": st.integers(-2, 5) | json_scalars},
    ),
)


@FAST
@given(st.sampled_from(READERS), st.lists(raw_read, max_size=20))
def test_any_raw_reads_are_normalized_or_counted_as_rejected(reader: str, raw: list[object]) -> None:
    counters: Counter[str] = Counter()
    normalizer = ReadNormalizer(TABLE, EpcCache(1000), counters, clock_window=5, clock_jump_s=30.0)
    batch = normalizer.normalize(reader, raw, None, T0)
    assert len(batch.reads) + sum(counters.values()) == len(raw)


@FAST
@given(
    st.lists(
        st.tuples(
            st.sampled_from(READERS),
            st.lists(st.tuples(st.sampled_from(EPCS), st.integers(1, 2), st.floats(-80, -30)), max_size=6),
            st.floats(0.1, 120),
        ),
        max_size=25,
    )
)
def test_tag_counts_always_match_the_tags_present(
    batches: list[tuple[str, list[tuple[str, int, float]], float]],
) -> None:
    counters: Counter[str] = Counter()
    normalizer = ReadNormalizer(TABLE, EpcCache(1000), counters, clock_window=5, clock_jump_s=30.0)
    inventory = TagInventory(TABLE, RfidSettings())
    now = T0
    for reader, reads, wait in batches:
        now += wait
        raw = [{"epc": e, "antenna": a, "rssi": r, "ts": _iso(now), "count": 1} for e, a, r in reads]
        _, changes = inventory.process(normalizer.normalize(reader, raw, None, now), now)
        _, later = inventory.tick(now)
        changes.update(later)
        assert all(count > 0 for count in inventory.counts.values())
        assert all(inventory.counts.get(cell, 0) == count for cell, count in changes.items())
        present = list(inventory.present_tags())
        assert sum(inventory.counts.values()) == len(present)
        assert _zones_sum(inventory.counts) == Counter(tag.zone for tag in present)


def _zones_sum(counts: dict[tuple[str, str], int]) -> Counter[str]:
    total: Counter[str] = Counter()
    for (zone, _), count in counts.items():
        total[zone] += count
    return total


# --- rate limits and alert flaps ------------------------------------------------------------------


@FAST
@given(
    st.floats(0.5, 100),
    st.integers(1, 50),
    st.lists(st.tuples(st.sampled_from(["a", "b"]), st.floats(0, 2)), max_size=200),
)
def test_a_source_never_gets_more_than_its_burst_plus_its_rate(
    rate: float, burst: int, arrivals: list[tuple[str, float]]
) -> None:
    buckets = SourceBuckets(RateLimits(device_per_s=rate, device_burst=burst))
    now = 0.0
    admitted: dict[str, list[float]] = {"a": [], "b": []}
    for device, wait in arrivals:
        now += wait
        if buckets.admit(("s", "rfid", device), now):
            admitted[device].append(now)
    for times in admitted.values():
        for start in range(len(times)):
            for end in range(start, len(times)):
                assert end - start + 1 <= burst + rate * (times[end] - times[start]) + 1e-6
    assert buckets.refused == len(arrivals) - sum(len(t) for t in admitted.values())


@FAST
@given(
    st.floats(0, 100),
    st.lists(st.tuples(st.sampled_from(["x", "y"]), st.booleans(), st.floats(0, 30)), max_size=100),
)
def test_a_cleared_cause_is_never_raised_again_within_its_interval(
    interval: float, steps: list[tuple[str, bool, float]]
) -> None:
    guard = FlapGuard(interval)
    now, raised, cleared_at = 0.0, set[str](), dict[str, float]()
    for cause, condition, wait in steps:
        now += wait
        if condition and cause not in raised:
            if guard.may_raise(cause, now):
                assert cause not in cleared_at or now - cleared_at[cause] >= interval
                raised.add(cause)
            else:
                assert now - cleared_at[cause] < interval
        elif not condition and cause in raised:
            raised.discard(cause)
            guard.cleared(cause, now)
            cleared_at[cause] = now
        elif not condition:
            guard.calm(cause)


@FAST
@given(
    st.integers(1, 10),
    st.floats(1, 900),
    st.lists(st.tuples(st.booleans(), st.floats(0, 300)), max_size=60),
)
def test_a_keypad_locks_after_its_wrong_codes_and_opens_after_the_lockout(
    max_wrong: int, lockout_s: float, tries: list[tuple[bool, float]]
) -> None:
    keypad = KeypadThrottle(max_wrong, lockout_s)
    now, wrong = 0.0, 0
    for right, wait in tries:
        now += wait
        verdict = keypad.check(now)
        if not verdict.allowed:
            assert 0 < verdict.retry_after_s <= lockout_s
            continue
        if right:
            keypad.succeeded()
            wrong = 0
            continue
        wrong += 1
        left = keypad.failed(now)
        if wrong == max_wrong:
            assert left == 0
            assert not keypad.check(now).allowed
            wrong = 0
        else:
            assert left == max_wrong - wrong
