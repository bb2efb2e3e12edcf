"""Graph's 401 and 403 answers, request ids, and the mailboxes Graph cannot reach."""

from __future__ import annotations

import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .conftest import app_named, graph_client, token_for

WINDOW = {"startDateTime": "2026-01-01T00:00:00", "endDateTime": "2026-01-02T00:00:00"}


def error_of(answer):
    body = answer.json()["error"]
    assert {"date", "request-id", "client-request-id"} <= set(body["innerError"])
    return body["code"], body["message"]


def test_no_token_is_401_access_token_is_empty(config):
    with graph_client(config, None) as client:
        answer = client.get("/users")
    assert answer.status_code == 401
    assert error_of(answer) == ("InvalidAuthenticationToken", "Access token is empty.")
    assert "WWW-Authenticate" in answer.headers


def test_garbage_token_is_401(config):
    with graph_client(config, "garbage") as client:
        answer = client.get("/places/microsoft.graph.room")
    assert answer.status_code == 401
    assert error_of(answer)[0] == "InvalidAuthenticationToken"


def test_token_signed_by_someone_else_is_401(config):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({"aud": "https://graph.microsoft.com", "tid": config["tenant_id"],
                         "appid": app_named(config, "openrooms")["client_id"],
                         "roles": ["Calendars.ReadWrite"], "exp": 4102444800}, key, "RS256")
    with graph_client(config, forged) as client:
        answer = client.get("/users")
    assert answer.status_code == 401
    assert error_of(answer) == ("InvalidAuthenticationToken", "Access token validation failure.")


def test_expired_token_is_401_lifetime_validation_failed(config, emulator):
    app = emulator.emulator.tenant.app(app_named(config, "openrooms")["client_id"])
    expired = emulator.emulator.identity.issue_token(app, lifetime=-60)
    with graph_client(config, expired) as client:
        answer = client.get("/users")
    assert answer.status_code == 401
    assert error_of(answer) == ("InvalidAuthenticationToken",
                                "Lifetime validation failed, the token is expired.")


def test_calendar_without_consent_is_403_error_access_denied(config):
    room = config["rooms"][0]
    with graph_client(config, token_for(config, "openrooms-no-calendar-consent")) as client:
        answer = client.get(f"/users/{room}/calendarView", params=WINDOW)
    assert answer.status_code == 403
    assert error_of(answer) == ("ErrorAccessDenied",
                                "Access is denied. Check credentials and try again.")


def test_users_without_directory_role_is_403_authorization_request_denied(config):
    with graph_client(config, token_for(config, "openrooms-rooms-only")) as client:
        answer = client.get("/users")
    assert answer.status_code == 403
    assert error_of(answer) == ("Authorization_RequestDenied",
                                "Insufficient privileges to complete the operation.")


def test_places_without_place_role_is_403(config, emulator):
    app = emulator.emulator.tenant.app(app_named(config, "openrooms")["client_id"])
    no_roles = type(app)(app.name, app.client_id, app.secrets, ())
    token = emulator.emulator.identity.issue_token(no_roles)
    with graph_client(config, token) as client:
        answer = client.get("/places/microsoft.graph.room")
    assert answer.status_code == 403
    assert error_of(answer)[0] == "ErrorAccessDenied"


def test_room_scoped_app_reaches_rooms_but_not_people(config):
    with graph_client(config, token_for(config, "openrooms-rooms-only")) as client:
        assert client.get(f"/users/{config['rooms'][0]}/calendarView",
                          params=WINDOW).status_code == 200
        answer = client.get(f"/users/{config['users'][0]}/calendarView", params=WINDOW)
    assert answer.status_code == 403
    assert error_of(answer) == ("ErrorAccessDenied", "Access to OData is disabled.")


def test_on_premises_mailbox_is_not_enabled_for_rest(graph, config):
    answer = graph.get("/users/legacy-boardroom@contoso.onmicrosoft.com/calendarView",
                       params=WINDOW)
    assert answer.status_code == 404
    assert error_of(answer) == ("MailboxNotEnabledForRESTAPI",
                                "REST API is not yet supported for this mailbox.")


def test_unknown_mailbox_is_404_error_invalid_user(graph):
    answer = graph.get("/users/nobody@contoso.onmicrosoft.com/calendarView", params=WINDOW)
    assert answer.status_code == 404
    assert error_of(answer)[0] == "ErrorInvalidUser"


def test_request_ids_come_back_in_headers_and_errors(graph):
    client_request_id = str(uuid.uuid4())
    answer = graph.get("/users/nobody@contoso.onmicrosoft.com",
                       headers={"client-request-id": client_request_id})
    assert answer.status_code == 404
    assert answer.headers["client-request-id"] == client_request_id
    inner = answer.json()["error"]["innerError"]
    assert inner["request-id"] == answer.headers["request-id"]
    assert inner["client-request-id"] == client_request_id
