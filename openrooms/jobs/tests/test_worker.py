"""`openrooms worker`'s Worker: the collector waits for a task's end, not the task."""

from __future__ import annotations

import gc

import pytest
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from openrooms.jobs.management.commands.worker import WakingWorker
from openrooms.jobs.wake_ups import TaskWakeUps

pytestmark = pytest.mark.django_db(transaction=True)


@task()
def collector_during_the_task() -> bool:
    return gc.isenabled()


def worker() -> WakingWorker:
    return WakingWorker(
        wake_ups=TaskWakeUps(), queue_names=["default"], excluded_queue_names=[], interval=0.01,
        batch=True, backend_name="default", startup_delay=False, max_tasks=None,
        worker_id="test-worker",
    )


def test_the_collector_is_off_while_a_task_runs_and_on_again_after():
    collector_during_the_task.enqueue()
    assert gc.isenabled()
    worker().run()  # batch: runs what is queued, then returns

    [result] = DBTaskResult.objects.all()
    assert result.status == "SUCCESSFUL" and result.return_value is False
    assert gc.isenabled()


def test_an_idle_worker_waits_out_its_poll_unless_woken():
    idle = worker()
    idle.poll_seconds = 0.2
    wake_ups = idle.wake_ups
    wake_ups.task_queued.set()
    assert idle.interval == 0 and not wake_ups.task_queued.is_set()  # woken: no wait
