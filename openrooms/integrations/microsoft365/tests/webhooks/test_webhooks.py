"""Change notifications: subscriptions on the emulator, reaching the receiver over HTTPS.

Their validation requests and notifications reach the receiver over real HTTPS (the app served
by openrooms.tls_server, its certificate trusted by this module's own emulator). The tasks the
receiver queues are run here, in the test; with a real worker: test_webhooks_workers.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
import time
from typing import Any

import httpx
import pytest
from django.http import HttpResponseBase
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from openrooms.bookings.models import Booking
from openrooms.integrations.microsoft365 import subscriptions as webhooks
from openrooms.integrations.microsoft365.connection import do_disconnect
from openrooms.integrations.microsoft365.inbound.pull import pull_room_calendar
from openrooms.integrations.microsoft365.models import (
    CalendarSyncState,
    RoomLink,
)
from openrooms.integrations.microsoft365.rooms import do_unlink_room
from openrooms.integrations.microsoft365.schedule import rooms_due_for_pull
from openrooms.integrations.microsoft365.subscriptions import (
    handle_lifecycle_event,
    manage_subscription,
)
from openrooms.integrations.microsoft365.tests.conftest import app_named, client_of
from openrooms.integrations.microsoft365.tests.outbox_helpers import (
    BASTILLE,
    SEINE,
    connect,
    linked_room,
    slot,
)
from openrooms.integrations.microsoft365.tests.webhooks.helpers import (
    LIFECYCLE_TASK,
    MANAGE_TASK,
    PULL_TASK,
    book_in_outlook,
    expires,
    subscriptions_on,
    tasks_named,
    wait_for_tasks,
)
from openrooms.jobs.leases import acquire_lease, lease_key
from openrooms.jobs.models import WorkLease
from openrooms.jobs.scheduler import schedule_periodic_work

pytestmark = pytest.mark.django_db
# For the tests where the receiver (another thread) or a Graph notification reads what the test
# wrote: it must be committed.
THREADS_READ_THE_DATABASE = pytest.mark.django_db(transaction=True)

NOTIFICATIONS = "/hooks/microsoft365/notifications/"
LIFECYCLE = "/hooks/microsoft365/lifecycle/"












@pytest.fixture
def connected(organisation, graph_settings, full_app, emulator_api, public_url):
    return connect(organisation, graph_settings, full_app, "room")


@pytest.fixture
def seine(organisation, office, connected):
    return linked_room(organisation, office, SEINE).room_link


@pytest.fixture
def bastille(organisation, office, connected):
    return linked_room(organisation, office, BASTILLE).room_link


def state_of(link: RoomLink) -> CalendarSyncState:
    return CalendarSyncState.objects.get(link=link)


def subscribe(link: RoomLink) -> CalendarSyncState:
    assert manage_subscription.call(link.pk) == "created"
    return state_of(link)


def drop_queued_tasks() -> None:
    """Forgets the queued tasks, and so the marks that say a room's pull is queued."""
    DBTaskResult.objects.all().delete()
    WorkLease.objects.filter(key__startswith="pull-queued:").delete()


def notification(state: CalendarSyncState, **overrides) -> dict:
    return {
        "subscriptionId": state.subscription_id, "clientState": state.subscription_client_state,
        "changeType": "created", "resource": "Users/x/Events/y", "tenantId": "t",
        "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": "y"}, **overrides,
    }


def post(path: str, body: object) -> HttpResponseBase:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return Client().post(path, data, content_type="application/json")


# --- the receiver ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [NOTIFICATIONS, LIFECYCLE])
def test_the_validation_handshake_echoes_the_decoded_token_as_plain_text(path):
    token = "Validation: Testing client application reachability for subscription Request-Id: 1"
    response = Client().post(f"{path}?validationToken={token.replace(' ', '+')}", "",
                             content_type="text/plain; charset=utf-8")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == token


def test_the_handshake_echoes_the_token_exactly_never_encoded():
    # Graph fails the validation of a token that comes back encoded; plain text with nosniff
    # is what keeps a browser from reading markup in it.
    response = Client().post(f"{NOTIFICATIONS}?validationToken=%3Cb%3E%26%22%27", "",
                             content_type="text/plain")
    assert response.content == b"<b>&\"'"
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"


def forged_body(count: int) -> bytes:
    """`count` notifications naming unknown subscriptions, 80 bytes each."""
    item = '{"subscriptionId":"00000000-0000-0000-0000-%012d","clientState":"guess"}'
    return ('{"value":[' + ",".join(item % number for number in range(count)) + "]}").encode()


def timed_post(path: str, body: bytes) -> tuple[Any, float]:
    client = Client()
    started = time.perf_counter()
    response = client.post(path, body, content_type="application/json")
    return response, time.perf_counter() - started


@pytest.mark.parametrize("path", [NOTIFICATIONS, LIFECYCLE])
def test_a_forged_two_megabyte_body_is_refused_unread_in_milliseconds(path, seine):
    subscribe(seine)
    drop_queued_tasks()
    body = forged_body(26_500)
    assert len(body) > 2 * 1024 * 1024
    timed_post(path, b"{}")  # the first request pays for loading the URLconf
    response, seconds = timed_post(path, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    print(f"a forged {len(body) / 2**20:.1f} MiB body refused in {seconds * 1000:.1f} ms")
    assert seconds < 0.1, seconds
    assert not DBTaskResult.objects.exists()


def test_the_largest_forged_batch_read_is_refused_with_one_query(
    seine, django_assert_max_num_queries
):
    subscribe(seine)
    drop_queued_tasks()
    body = forged_body(13_000)  # just under the cap: more notifications than a batch holds
    assert len(body) < 1024 * 1024
    timed_post(NOTIFICATIONS, b"{}")
    assert timed_post(NOTIFICATIONS, body)[0].status_code == 400
    batch = forged_body(1000)  # the most a batch may name
    with django_assert_max_num_queries(1):
        response, seconds = timed_post(NOTIFICATIONS, batch)
    assert response.status_code == 403
    print(f"a forged batch of 1,000 unknown subscriptions refused in {seconds * 1000:.1f} ms")
    assert seconds < 0.1, seconds
    assert not DBTaskResult.objects.exists()


@pytest.mark.parametrize("path", [NOTIFICATIONS, LIFECYCLE])
def test_the_hooks_answer_post_only_and_need_no_login(path):
    assert Client().get(path).status_code == 405
    assert Client().put(path).status_code == 405


@pytest.mark.parametrize("body", [
    b"", b"not json", b"\xff\xfe", "[]", "{}", {"value": "x"}, {"value": []}, {"value": [{}]},
    {"value": [{"subscriptionId": 5, "clientState": "x"}]}, {"value": [None]},
    {"value": [{"subscriptionId": "", "clientState": "x"}]},
])
@pytest.mark.parametrize("path", [NOTIFICATIONS, LIFECYCLE])
def test_a_body_that_is_not_a_notification_collection_is_400(path, body):
    assert post(path, body).status_code == 400
    assert not DBTaskResult.objects.exists()


def test_a_lifecycle_notification_needs_its_event():
    body = {"value": [{"subscriptionId": "s", "clientState": "c"}]}
    assert post(LIFECYCLE, body).status_code == 400


def test_a_notification_queues_one_pull_per_room(seine, bastille):
    seine_state, bastille_state = subscribe(seine), subscribe(bastille)
    drop_queued_tasks()  # the pulls subscribing queued
    body = {"value": [notification(seine_state), notification(seine_state, changeType="updated"),
                      notification(bastille_state)]}
    assert post(NOTIFICATIONS, body).status_code == 202
    assert sorted(tasks_named(PULL_TASK)) == sorted([[seine.pk], [bastille.pk]])
    # More changes while those pulls wait in the queue need no other pull: they will read them.
    assert post(NOTIFICATIONS, {"value": [notification(seine_state)]}).status_code == 202
    assert len(tasks_named(PULL_TASK)) == 2
    # Once a pull starts, a new change queues the next one (it may come too late for it).
    pull_room_calendar.call(seine.pk)
    assert post(NOTIFICATIONS, {"value": [notification(seine_state)]}).status_code == 202
    assert tasks_named(PULL_TASK).count([seine.pk]) == 2


def test_a_forged_client_state_is_refused_and_queues_nothing(seine, bastille):
    seine_state, bastille_state = subscribe(seine), subscribe(bastille)
    drop_queued_tasks()
    forged = notification(seine_state, clientState=seine_state.subscription_client_state[:-1] + "x")
    for body in (
        {"value": [forged]},
        {"value": [notification(bastille_state), forged]},  # one forged item spoils the lot
        {"value": [notification(seine_state, clientState=None)]},
        {"value": [notification(seine_state,
                                clientState=bastille_state.subscription_client_state)]},
    ):
        assert post(NOTIFICATIONS, body).status_code == 403
    lifecycle = {**forged, "lifecycleEvent": "subscriptionRemoved"}
    assert post(LIFECYCLE, {"value": [lifecycle]}).status_code == 403
    assert not DBTaskResult.objects.exists()


def test_an_unknown_subscription_is_refused(settings, seine):
    settings.MICROSOFT_SUBSCRIPTION_MINUTES = 30
    old = subscribe(seine)
    settings.MICROSOFT_SUBSCRIPTION_MINUTES = 10080
    handle_lifecycle_event.call(seine.pk, old.subscription_id, "subscriptionRemoved")
    drop_queued_tasks()
    for body in (
        {"value": [{"subscriptionId": "not-ours", "clientState": ""}]},
        {"value": [{"subscriptionId": "not-ours", "clientState": "guess"}]},
        # The room's previous subscription, with the clientState it had: not any more.
        {"value": [notification(old)]},
    ):
        assert post(NOTIFICATIONS, body).status_code == 403
    assert not DBTaskResult.objects.exists()


@THREADS_READ_THE_DATABASE
def test_many_notifications_at_once_are_answered_fast_with_one_pull_per_room(
    seine, bastille, receiver
):
    states = [subscribe(seine), subscribe(bastille)]
    drop_queued_tasks()
    server, certificate = receiver
    context = ssl.create_default_context(cafile=str(certificate.ca_file))
    answers: list[tuple[int, float]] = []

    def send(n: int) -> None:
        with httpx.Client(verify=context, timeout=10) as http:
            started = time.monotonic()
            response = http.post(server.url + NOTIFICATIONS,
                                 json={"value": [notification(states[n % 2])]})
            answers.append((response.status_code, time.monotonic() - started))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted({status for status, _ in answers}) == [202]
    assert max(seconds for _, seconds in answers) < 2.9  # Graph's "slow endpoint" mark
    assert sorted(tasks_named(PULL_TASK)) == sorted([[seine.pk], [bastille.pk]])


# --- subscriptions ---------------------------------------------------------------------------


def test_a_subscription_is_created_for_each_linked_room(seine, bastille, emulator_api,
                                                        public_url):
    assert sorted(webhooks.rooms_needing_subscription_work()) == sorted([seine.pk, bastille.pk])
    assert webhooks.rooms_needing_subscription_work() == []  # queued already
    before = timezone.now()
    for link in (seine, bastille):
        assert manage_subscription.call(link.pk) == "created"
    on_emulator = subscriptions_on(emulator_api)
    for link in (seine, bastille):
        state = state_of(link)
        subscription = on_emulator[state.subscription_id]
        assert subscription["resource"] == f"/users/{link.mailbox}/events"
        assert subscription["changeType"] == "created,updated,deleted"
        assert subscription["notificationUrl"] == public_url + NOTIFICATIONS
        assert subscription["lifecycleNotificationUrl"] == public_url + LIFECYCLE
        assert subscription["clientState"] == state.subscription_client_state
        assert 43 <= len(state.subscription_client_state) <= 128
        assert state.subscription_expires_at == expires(subscription)
        assert (state.subscription_expires_at - before) > dt.timedelta(minutes=10079)
        assert state.subscription_error == ""
    clients = {state_of(link).subscription_client_state for link in (seine, bastille)}
    assert len(clients) == 2  # a secret of its own for each
    # Subscribing pulls the room at once: changes since its last pull came unnotified.
    assert sorted(tasks_named(PULL_TASK)) == sorted([[seine.pk], [bastille.pk]])
    assert webhooks.rooms_needing_subscription_work(timezone.now() + dt.timedelta(days=4)) == []


def test_the_subscription_asks_again_for_the_lifetime_graph_allows(
    settings, seine, emulator_api
):
    settings.MICROSOFT_SUBSCRIPTION_MINUTES = 20_000  # Graph allows 10,080 for events
    before = timezone.now()
    state = subscribe(seine)
    assert state.subscription_expires_at is not None
    lifetime = state.subscription_expires_at - before
    assert dt.timedelta(minutes=10078) < lifetime <= dt.timedelta(minutes=10080)
    assert emulator_api.counters()["requests_per_endpoint"]["POST /subscriptions"] == 2


def test_the_scheduler_queues_subscription_work_once_per_room(seine, bastille):
    schedule_periodic_work("test-scheduler", interval=5)
    schedule_periodic_work("test-scheduler", interval=5)
    assert sorted(tasks_named(MANAGE_TASK)) == sorted([[seine.pk], [bastille.pk]])


def test_without_an_https_address_nothing_subscribes(settings, seine):
    for address in ("", "http://rooms.example.com"):
        settings.PUBLIC_BASE_URL = address
        assert webhooks.rooms_needing_subscription_work() == []
        assert manage_subscription.call(seine.pk) == "webhooks off"
    assert not CalendarSyncState.objects.exclude(subscription_id="").exists()


def test_renewal_moves_the_expiry_on_the_emulator(settings, seine, emulator_api):
    settings.MICROSOFT_SUBSCRIPTION_MINUTES = 30
    state = subscribe(seine)
    settings.MICROSOFT_SUBSCRIPTION_MINUTES = 10080
    # 30 minutes left of a 7-day lifetime: less than a third, so due.
    assert webhooks.rooms_needing_subscription_work() == [seine.pk]
    assert manage_subscription.call(seine.pk) == "renewed"
    renewed = state_of(seine)
    on_emulator = subscriptions_on(emulator_api)[state.subscription_id]
    assert renewed.subscription_id == state.subscription_id
    assert expires(on_emulator) == renewed.subscription_expires_at
    assert renewed.subscription_expires_at is not None
    assert state.subscription_expires_at is not None
    assert renewed.subscription_expires_at - state.subscription_expires_at > dt.timedelta(days=6)
    assert manage_subscription.call(seine.pk) == "ok"  # nothing due any more


def test_a_renewal_graph_answers_404_recreates_the_subscription_and_resyncs(
    settings, graph_settings, seine, emulator_api
):
    settings.MICROSOFT_SUBSCRIPTION_MINUTES = 30
    state = subscribe(seine)
    pull_room_calendar.call(seine.pk)
    assert state_of(seine).delta_link
    with client_of(graph_settings, app_named(graph_settings, "openrooms")) as client:
        client.delete_subscription(state.subscription_id)  # gone, and nobody told us
    settings.MICROSOFT_SUBSCRIPTION_MINUTES = 10080
    drop_queued_tasks()
    assert manage_subscription.call(seine.pk) == "recreated"
    recreated = state_of(seine)
    assert recreated.subscription_id != state.subscription_id
    assert recreated.subscription_id in subscriptions_on(emulator_api)
    assert recreated.delta_link == ""  # the next pull is a full sync
    assert tasks_named(PULL_TASK) == [[seine.pk]]


def test_a_subscription_that_cannot_be_created_keeps_the_error_for_admins(
    settings, seine, receiver
):
    settings.PUBLIC_BASE_URL = receiver[0].url + "/nowhere"  # the validation request gets 404
    now = timezone.now()
    outcome = manage_subscription.call(seine.pk)
    state = state_of(seine)
    assert state.subscription_id == "" and state.subscription_error == outcome
    assert "Subscription validation request failed" in state.subscription_error
    assert "PUBLIC_BASE_URL" in state.subscription_error
    assert state.subscription_error_at is not None
    # Tried again, but not at every tick.
    assert webhooks.rooms_needing_subscription_work(now) == []
    assert webhooks.rooms_needing_subscription_work(now + dt.timedelta(minutes=11)) == [seine.pk]
    # Meanwhile the room is polled as often as without webhooks.
    state.next_pull_at = None
    state.save()
    assert rooms_due_for_pull(now) == [seine.pk]
    assert state_of(seine).next_pull_at == now + dt.timedelta(seconds=60)
    # Once Microsoft can reach us, the error goes.
    settings.PUBLIC_BASE_URL = receiver[0].url
    assert manage_subscription.call(seine.pk) == "created"
    assert state_of(seine).subscription_error == ""


def test_polling_is_only_a_safety_net_for_rooms_with_a_live_subscription(
    settings, seine, bastille
):
    settings.MICROSOFT_POLL_SECONDS = 60
    subscribe(seine)
    now = timezone.now()
    assert sorted(rooms_due_for_pull(now)) == sorted([seine.pk, bastille.pk])
    assert state_of(seine).next_pull_at == now + dt.timedelta(seconds=900)
    assert state_of(bastille).next_pull_at == now + dt.timedelta(seconds=60)
    # Past its expiry, a subscription notifies nothing: back to polling.
    expiry = state_of(seine).subscription_expires_at
    assert expiry is not None
    later = expiry + dt.timedelta(seconds=1)
    rooms_due_for_pull(later)
    assert state_of(seine).next_pull_at == later + dt.timedelta(seconds=60)


# --- notifications end to end (the emulator posts to the receiver over HTTPS) ----------------


@THREADS_READ_THE_DATABASE
def test_a_meeting_booked_in_outlook_reaches_the_bookings_through_the_notification(
    seine, emulator_api
):
    subscribe(seine)
    pull_room_calendar.call(seine.pk)  # the first full sync
    drop_queued_tasks()
    start, end = slot(days=6)
    event = book_in_outlook(emulator_api, SEINE, start, end)
    # The room's booking assistant accepts; its copy in the room's calendar is notified.
    [[link_id]] = wait_for_tasks(PULL_TASK)
    assert link_id == seine.pk
    assert pull_room_calendar.call(link_id) == "ok"
    booking = Booking.objects.get(space=seine.space, ical_uid=event["iCalUId"])
    assert (booking.start, booking.end, booking.source) == (start, end, "outlook")
    assert emulator_api.counters()["notifications_delivered"] >= 1


@THREADS_READ_THE_DATABASE
def test_reauthorization_required_renews_the_subscription(settings, seine, emulator_api):
    settings.MICROSOFT_SUBSCRIPTION_MINUTES = 30
    state = subscribe(seine)
    settings.MICROSOFT_SUBSCRIPTION_MINUTES = 10080
    emulator_api.call("POST", f"subscriptions/{state.subscription_id}/lifecycle",
                      {"event": "reauthorizationRequired"})
    [args] = wait_for_tasks(LIFECYCLE_TASK)
    assert args == [seine.pk, state.subscription_id, "reauthorizationRequired"]
    assert handle_lifecycle_event.call(*args) == "renewed"
    renewed = state_of(seine)
    assert renewed.subscription_id == state.subscription_id
    on_emulator = subscriptions_on(emulator_api)[state.subscription_id]
    assert expires(on_emulator) == renewed.subscription_expires_at
    assert renewed.subscription_expires_at is not None
    assert state.subscription_expires_at is not None
    assert renewed.subscription_expires_at - state.subscription_expires_at > dt.timedelta(days=6)
    # The PATCH both renews and reauthorizes: no POST /reauthorize (the docs warn against both).
    assert not any("reauthorize" in endpoint
                   for endpoint in emulator_api.counters()["requests_per_endpoint"])


@THREADS_READ_THE_DATABASE
def test_subscription_removed_recreates_it_and_resyncs_fully(seine, emulator_api):
    state = subscribe(seine)
    pull_room_calendar.call(seine.pk)
    assert state_of(seine).delta_link
    drop_queued_tasks()
    emulator_api.call("POST", f"subscriptions/{state.subscription_id}/lifecycle",
                      {"event": "subscriptionRemoved"})
    [args] = wait_for_tasks(LIFECYCLE_TASK)
    assert handle_lifecycle_event.call(*args) == "recreated"
    recreated = state_of(seine)
    on_emulator = subscriptions_on(emulator_api)
    assert state.subscription_id not in on_emulator
    assert recreated.subscription_id in on_emulator
    assert recreated.subscription_client_state != state.subscription_client_state
    assert recreated.delta_link == ""
    assert tasks_named(PULL_TASK) == [[seine.pk]]
    # The same event told twice (Graph retries) finds the room moved on: nothing more.
    assert handle_lifecycle_event.call(*args) == "stale"


@THREADS_READ_THE_DATABASE
def test_missed_pulls_the_room_now(seine, emulator_api):
    state = subscribe(seine)
    pull_room_calendar.call(seine.pk)
    drop_queued_tasks()
    start, end = slot(days=7)
    event = book_in_outlook(emulator_api, SEINE, start, end)
    wait_for_tasks(PULL_TASK)  # the room's copy was notified
    drop_queued_tasks()  # as if the notification had been lost
    emulator_api.call("POST", f"subscriptions/{state.subscription_id}/lifecycle",
                      {"event": "missed"})
    [args] = wait_for_tasks(LIFECYCLE_TASK)
    assert args == [seine.pk, state.subscription_id, "missed"]
    assert handle_lifecycle_event.call(*args) == "ok"
    assert Booking.objects.filter(space=seine.space, ical_uid=event["iCalUId"]).exists()


def test_a_lifecycle_task_waits_while_another_worker_works_on_the_subscription(seine):
    state = subscribe(seine)
    assert acquire_lease(lease_key("subscription", link_id=seine.pk), "another-worker",
                                  dt.timedelta(minutes=1))
    outcome = handle_lifecycle_event.call(seine.pk, state.subscription_id,
                                          "reauthorizationRequired")
    assert outcome == "busy"
    [retry] = DBTaskResult.objects.filter(task_path=LIFECYCLE_TASK)
    assert retry.run_after > timezone.now()


# --- unlink and disconnect ---------------------------------------------------------------------


@THREADS_READ_THE_DATABASE
def test_unlinking_a_room_deletes_its_subscription(seine, bastille, emulator_api):
    seine_state, bastille_state = subscribe(seine), subscribe(bastille)
    do_unlink_room(seine)
    assert set(subscriptions_on(emulator_api)) == {bastille_state.subscription_id}
    assert seine_state.subscription_id not in subscriptions_on(emulator_api)


def test_unlinking_goes_on_when_microsoft_fails(seine, emulator_api):
    state = subscribe(seine)
    emulator_api.fault("down", duration_seconds=30)
    started = time.monotonic()
    do_unlink_room(seine)
    assert time.monotonic() - started < webhooks.DELETE_BUDGET_SECONDS
    assert not RoomLink.objects.filter(pk=seine.pk).exists()
    emulator_api.clear_faults()
    assert state.subscription_id in subscriptions_on(emulator_api)  # it expires on its own


def test_disconnecting_deletes_every_subscription_and_forgets_them(
    organisation, seine, bastille, emulator_api
):
    states = [subscribe(seine), subscribe(bastille)]
    do_disconnect(organisation)
    assert subscriptions_on(emulator_api) == {}
    assert not CalendarSyncState.objects.exclude(subscription_id="").exists()
    # A notification still on its way is refused.
    assert post(NOTIFICATIONS, {"value": [notification(states[0])]}).status_code == 403


# --- the integration page ------------------------------------------------------------------------


def test_the_integration_page_says_microsoft_notifies_changes_with_an_https_address(
    admin_client, seine, bastille
):
    subscribe(seine)
    page = admin_client.get(reverse("microsoft365")).content.decode()
    assert "Microsoft notifies openrooms of changes" in page
    assert "1 of 2 linked rooms has a live subscription" in page
    assert "still polls each room's calendar every 900 seconds" in page


def test_the_integration_page_explains_an_http_address_gets_no_notifications(
    settings, admin_client, connected
):
    settings.PUBLIC_BASE_URL = "http://rooms.example.com"
    page = admin_client.get(reverse("microsoft365")).content.decode()
    assert "Microsoft only sends change notifications to https addresses" in page
    assert "polls each room's calendar every 60 seconds" in page
    assert "Microsoft notifies openrooms" not in page


def test_the_integration_page_says_it_polls_without_a_public_address(
    settings, admin_client, connected
):
    settings.PUBLIC_BASE_URL = ""
    page = admin_client.get(reverse("microsoft365")).content.decode()
    assert "polls each room's calendar every 60 seconds" in page
    assert "Microsoft notifies openrooms" not in page
