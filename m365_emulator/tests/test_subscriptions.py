"""Subscriptions over HTTP: the validation handshake, limits, notifications and lifecycle."""

from __future__ import annotations

import ssl
import threading
from datetime import UTC, datetime, timedelta

import pytest
import trustme

from m365_emulator.server import start_emulator
from m365_emulator.testing import TEST_OPTIONS, wait_until

from .conftest import Receiver, graph_client, token_for

ROOM = "gen-room-030@contoso.onmicrosoft.com"


def in_minutes(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def subscribe(graph, receiver_url, *, change_type="created,updated,deleted", minutes=60,
              resource=f"/users/{ROOM}/events", **extra):
    return graph.post("/subscriptions", json={
        "changeType": change_type, "notificationUrl": receiver_url, "resource": resource,
        "expirationDateTime": in_minutes(minutes), "clientState": "s3cret", **extra})


def add_event(graph, subject="Notify me"):
    answer = graph.post(f"/users/{ROOM}/events", json={
        "subject": subject, "start": {"dateTime": "2027-06-01T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2027-06-01T10:00:00", "timeZone": "UTC"}})
    assert answer.status_code == 201
    return answer.json()


def test_handshake_succeeds_and_notifications_follow_changes(graph, receiver, config):
    created = subscribe(graph, receiver.url)
    assert created.status_code == 201, created.text
    sub = created.json()
    assert len(receiver.validations) == 1
    item = add_event(graph)
    notes = wait_until(lambda: [v for v in receiver.values() if v["changeType"] == "created"])
    note = notes[0]
    assert note["subscriptionId"] == sub["id"]
    assert note["clientState"] == "s3cret"
    assert note["tenantId"] == config["tenant_id"]
    user_id = graph.get(f"/users/{ROOM}").json()["id"]
    assert note["resource"] == f"Users/{user_id}/Events/{item['id']}"
    assert note["resourceData"]["id"] == item["id"]
    assert graph.delete(f"/users/{ROOM}/events/{item['id']}").status_code == 204
    wait_until(lambda: any(v["changeType"] == "deleted" for v in receiver.values()))
    assert graph.delete(f"/subscriptions/{sub['id']}").status_code == 204


def test_change_types_filter_notifications(graph, receiver):
    sub = subscribe(graph, receiver.url, change_type="deleted").json()
    item = add_event(graph, "Only deletions")
    graph.delete(f"/users/{ROOM}/events/{item['id']}")
    wait_until(lambda: receiver.values())
    assert {v["changeType"] for v in receiver.values()} == {"deleted"}
    graph.delete(f"/subscriptions/{sub['id']}")


@pytest.mark.parametrize("mode", ["fail", "wrong-token"])
def test_failed_handshake_is_400_invalid_request(graph, receiver, mode):
    receiver.mode = mode
    answer = subscribe(graph, receiver.url)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "InvalidRequest"
    assert error["message"].startswith("Subscription validation request failed.")


def test_unreachable_endpoint_fails_the_handshake(graph):
    answer = subscribe(graph, "http://127.0.0.1:9/nothing-listens-here")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "InvalidRequest"


def test_lifetime_cap_and_client_state_length(graph, receiver):
    too_long = subscribe(graph, receiver.url, minutes=10080 + 60)
    assert too_long.status_code == 400
    assert "10080 minutes" in too_long.json()["error"]["message"]
    state = subscribe(graph, receiver.url, clientState="x" * 129)
    assert state.status_code == 400
    assert receiver.validations == []  # rejected before any handshake


def test_renew_reauthorize_get_and_delete(graph, receiver):
    sub = subscribe(graph, receiver.url, minutes=30).json()
    renewed = graph.patch(f"/subscriptions/{sub['id']}",
                          json={"expirationDateTime": in_minutes(4000)})
    assert renewed.status_code == 200
    assert renewed.json()["expirationDateTime"] > sub["expirationDateTime"]
    assert graph.post(f"/subscriptions/{sub['id']}/reauthorize").status_code == 204
    assert graph.get(f"/subscriptions/{sub['id']}").json()["id"] == sub["id"]
    assert graph.delete(f"/subscriptions/{sub['id']}").status_code == 204
    assert graph.get(f"/subscriptions/{sub['id']}").status_code == 404


def test_another_app_cannot_see_the_subscription(graph, receiver, config):
    sub = subscribe(graph, receiver.url).json()
    with graph_client(config, token_for(config, "openrooms-no-calendar-consent")) as other:
        assert other.get(f"/subscriptions/{sub['id']}").status_code == 404
    graph.delete(f"/subscriptions/{sub['id']}")


def test_dropped_subscription_sends_subscription_removed(graph, receiver, control):
    sub = subscribe(graph, receiver.url, lifecycleNotificationUrl=receiver.url).json()
    assert control.post(f"/subscriptions/{sub['id']}/lifecycle",
                        json={"event": "subscriptionRemoved"}).status_code == 202
    events = wait_until(lambda: [v for v in receiver.values() if "lifecycleEvent" in v])
    assert events[0]["lifecycleEvent"] == "subscriptionRemoved"
    assert events[0]["subscriptionId"] == sub["id"]
    assert events[0]["clientState"] == "s3cret"
    assert graph.get(f"/subscriptions/{sub['id']}").status_code == 404


def test_reauthorization_required_lifecycle_event(graph, receiver, control):
    sub = subscribe(graph, receiver.url, lifecycleNotificationUrl=receiver.url).json()
    control.post(f"/subscriptions/{sub['id']}/lifecycle",
                 json={"event": "reauthorizationRequired"})
    events = wait_until(lambda: [v for v in receiver.values() if "lifecycleEvent" in v])
    assert events[0]["lifecycleEvent"] == "reauthorizationRequired"
    graph.delete(f"/subscriptions/{sub['id']}")


@pytest.fixture
def strict_emulator(tmp_path_factory, fixture_file):
    """Default options: https notification URLs only, like Microsoft."""
    webhook_ca = trustme.CA()
    ca_path = tmp_path_factory.mktemp("webhook") / "webhook-ca.pem"
    webhook_ca.cert_pem.write_to_path(str(ca_path))
    options = {k: v for k, v in TEST_OPTIONS.items()}
    handle = start_emulator(fixture=fixture_file, port=0, webhook_verify=str(ca_path),
                            state_dir=tmp_path_factory.mktemp("strict"), **options)
    yield handle, webhook_ca
    handle.stop()


def test_http_notification_url_is_refused_by_default(strict_emulator, receiver):
    handle, _ = strict_emulator
    config = handle.config()
    with graph_client(config, token_for(config, "openrooms")) as graph:
        answer = subscribe(graph, receiver.url)
    assert answer.status_code == 400
    assert answer.json()["error"] == {**answer.json()["error"], "code": "InvalidRequest",
                                      "message": "NotificationUrl scheme='http' is not supported."}
    assert receiver.validations == []


def test_https_receiver_trusted_through_the_configured_ca(strict_emulator,
                                                          make_receiver_server):
    handle, webhook_ca = strict_emulator
    receiver = Receiver(url="")
    server = make_receiver_server(receiver)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    webhook_ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"https://127.0.0.1:{server.server_address[1]}/hook"
    config = handle.config()
    with graph_client(config, token_for(config, "openrooms")) as graph:
        answer = subscribe(graph, receiver.url)
        assert answer.status_code == 201, answer.text
        add_event(graph, "Over TLS")
    assert wait_until(lambda: receiver.values())


def test_undeliverable_notifications_end_in_a_missed_lifecycle_event(graph, make_receiver_server):
    failing, lifecycle = Receiver(url="", mode="fail-notifications"), Receiver(url="")
    for receiver in (failing, lifecycle):
        server = make_receiver_server(receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    created = subscribe(graph, failing.url, lifecycleNotificationUrl=lifecycle.url)
    assert created.status_code == 201, created.text
    sub = created.json()
    add_event(graph, "Nobody hears this")
    events = wait_until(lambda: [v for v in lifecycle.values() if "lifecycleEvent" in v])
    assert events[0]["lifecycleEvent"] == "missed"
    assert len(failing.notifications) == 3  # the first try and two retries (test settings)
    graph.delete(f"/subscriptions/{sub['id']}")
