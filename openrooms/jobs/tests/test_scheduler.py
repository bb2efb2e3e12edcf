"""The scheduler: one ticks at a time, and every app's periodic work runs each tick."""

from __future__ import annotations

import datetime as dt

import pytest

from openrooms.jobs import periodic
from openrooms.jobs.leases import acquire_lease, lease_key
from openrooms.jobs.scheduler import schedule_periodic_work

pytestmark = pytest.mark.django_db


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    """An empty registry for the test (the apps' own work is put back afterwards)."""
    work: dict = {}
    monkeypatch.setattr(periodic, "PERIODIC_WORK", work)
    return work


def test_every_registered_work_runs_each_tick_even_after_one_fails(registry: dict) -> None:
    ran = []

    def failing() -> None:
        ran.append("failing")
        raise RuntimeError("broken")

    periodic.register_periodic("first", failing)
    periodic.register_periodic("second", lambda: ran.append("second"))
    assert schedule_periodic_work("scheduler-a", interval=5)
    assert ran == ["failing", "second"]


def test_only_one_scheduler_ticks_at_a_time(registry: dict) -> None:
    ran = []
    periodic.register_periodic("count", lambda: ran.append(1))
    assert schedule_periodic_work("scheduler-a", interval=5)
    assert not schedule_periodic_work("scheduler-b", interval=5)
    assert schedule_periodic_work("scheduler-a", interval=5)  # its own lease, renewed
    assert ran == [1, 1]


def test_a_lease_is_taken_over_once_it_expires() -> None:
    key = lease_key("pull", link_id=1)
    assert acquire_lease(key, "a", dt.timedelta(seconds=-1))  # expired at once
    assert acquire_lease(key, "b", dt.timedelta(minutes=1))
    assert not acquire_lease(key, "a", dt.timedelta(minutes=1))
