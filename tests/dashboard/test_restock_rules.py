"""Pure restock rules: what a slot change does, task kinds, steps, ranking and the KPI arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smartstore.gateway.restock import domain as rules

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def change(before: str | None, after: str) -> rules.SlotChange:
    return rules.SlotChange("s", "slot-1", "09506000100005", "cam", before, after, AT)


@pytest.mark.parametrize(
    ("before", "after", "live", "expected"),
    [
        (None, "empty", None, rules.Action.OPEN),
        ("ok", "low", None, rules.Action.OPEN),
        ("low", "empty", "low", rules.Action.ESCALATE),
        ("empty", "low", "empty", rules.Action.ESCALATE),
        ("empty", "empty", "empty", None),
        ("empty", "ok", "empty", rules.Action.CLOSE),
        ("low", "ok", None, None),  # nothing to close
        ("empty", "unknown", "empty", None),  # unknown says nothing
        ("unknown", "ok", None, None),
    ],
)
def test_decide(before: str | None, after: str, live: str | None, expected: rules.Action | None) -> None:
    assert rules.decide(change(before, after), live) is expected


def test_kind_follows_the_backroom() -> None:
    assert rules.task_kind(3) is rules.TaskKind.RESTOCK_FROM_BACKROOM
    assert rules.task_kind(0) is rules.TaskKind.REORDER


def test_steps() -> None:
    assert rules.acknowledged("open") is rules.TaskState.ACKNOWLEDGED
    assert rules.acknowledged("acknowledged") is rules.TaskState.ACKNOWLEDGED
    assert rules.resolved("open") is rules.TaskState.RESOLVED
    assert rules.resolved("resolved") is rules.TaskState.RESOLVED
    for state in ("resolved", "closed"):
        with pytest.raises(rules.TaskConflictError):
            rules.acknowledged(state)
    with pytest.raises(rules.TaskConflictError):
        rules.resolved("closed")


def test_rank_empty_then_backroom_then_oldest_and_resolved_last() -> None:
    def iso(minutes: int) -> str:
        return (AT - timedelta(minutes=minutes)).isoformat()

    tasks = {
        "low-old": ("open", "low", "restock_from_backroom", iso(90)),
        "empty-reorder-old": ("open", "empty", "reorder", iso(60)),
        "empty-backroom-young": ("acknowledged", "empty", "restock_from_backroom", iso(5)),
        "empty-backroom-old": ("open", "empty", "restock_from_backroom", iso(30)),
        "resolved": ("resolved", "empty", "restock_from_backroom", iso(120)),
    }
    ranked = sorted(tasks, key=lambda name: rules.rank_key(*tasks[name]))
    assert ranked == [
        "empty-backroom-old",
        "empty-backroom-young",
        "empty-reorder-old",
        "low-old",
        "resolved",
    ]


def test_availability_counts_planned_slots_only() -> None:
    states = {"a": "ok", "b": "low", "c": "empty", "x": "ok"}  # x is not in the planogram
    figures = rules.availability(["a", "b", "c", "d"], states)
    assert (figures.planned, figures.ok, figures.low, figures.empty, figures.unknown) == (4, 1, 1, 1, 1)
    assert figures.osa == round(2 / 3, 4)  # d was never seen: unknown, not empty
    assert rules.availability([], states).osa is None
    assert rules.availability(["d", "e"], states).osa is None  # nothing seen yet: no figure, not 0 %


def test_start_of_day_is_local_midnight_and_mean() -> None:
    late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # already 3 March in Berlin
    midnight = rules.start_of_day(late, "Europe/Berlin")
    assert midnight == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    assert midnight.utcoffset() == timedelta(0)  # compared in SQL with stored UTC times, as text on SQLite
    assert rules.mean_seconds([timedelta(minutes=2), timedelta(minutes=4)]) == 180.0
    assert rules.mean_seconds([]) is None
