"""The one client that talks to Microsoft: app-only tokens through msal, Graph over httpx.

Nothing else in openrooms builds a Graph URL: every call the product makes is a typed method
here (`rooms`, `calendar_view`, `create_event`, `calendar_delta`, `create_subscription`...).
The client pages (`@odata.nextLink`), batches (`$batch`, 20 requests a call), honours
`Retry-After` on 429/503/504, keeps at most four requests in flight per mailbox (Outlook's
documented limit per app and mailbox), and parses the answers into the pydantic models of
replies.py. Failures raise `GraphFailure` (failures.py), which says whether trying again can
help (`permanent`).
"""

from __future__ import annotations

import datetime as dt
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import msal  # type: ignore[import-untyped]  # msal ships no type hints
from django.conf import settings

from openrooms.integrations.microsoft365.graph.failures import (
    RETRYABLE_STATUSES,
    GraphFailure,
    TokenFailure,
    failure_in_batch,
    graph_failure,
    network_failure,
    parse_retry_after,
    token_failure_from_discovery,
)
from openrooms.integrations.microsoft365.graph.replies import (
    CalendarItem,
    DeltaPage,
    DeltaPageBody,
    Event,
    Room,
    RoomList,
    Subscription,
    User,
    reply_json,
    without_control_characters,
)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MAILBOX_CONCURRENCY = 4
BATCH_LIMIT = 20
# The fields of an event the outbound sync reads back (calendarView, POST's answer).
EVENT_FIELDS = "id,iCalUId,transactionId,subject,start,end,isCancelled,showAs"
IN_UTC = {"Prefer": 'outlook.timezone="UTC"'}


@dataclass(frozen=True)
class Credentials:
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)


class MsalHttpClient:
    """msal's HTTP interface over our httpx client.

    msal's own requests session lets REQUESTS_CA_BUNDLE override `verify`, so the emulator's
    CA (or a corporate one) would be ignored on machines that set it; one httpx client keeps
    one trust setting and one timeout for every call to Microsoft.
    """

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None,
             **_: Any) -> httpx.Response:
        body = {"content": data} if isinstance(data, str | bytes) else {"data": data}
        return self.client.post(url, params=params, headers=headers, **body)

    def get(self, url: str, params: Any = None, headers: Any = None, **_: Any) -> httpx.Response:
        return self.client.get(url, params=params, headers=headers)

    def close(self) -> None:  # msal calls it when an app is discarded
        pass


_mailbox_slots: dict[tuple[str, str], threading.BoundedSemaphore] = {}
_mailbox_slots_lock = threading.Lock()


def mailbox_slot(client_id: str, mailbox: str) -> threading.BoundedSemaphore:
    key = (client_id, mailbox.lower())
    with _mailbox_slots_lock:
        return _mailbox_slots.setdefault(key, threading.BoundedSemaphore(MAILBOX_CONCURRENCY))


def new_http_client() -> httpx.Client:
    ca_file = settings.MICROSOFT_CA_FILE
    return httpx.Client(
        verify=ssl.create_default_context(cafile=ca_file) if ca_file else True,
        timeout=settings.MICROSOFT_TIMEOUT_SECONDS,
        headers={"User-Agent": "openrooms"},
    )


class GraphClient:
    """App-only access to one tenant. A new client has no cached token (see Test settings)."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        http: httpx.Client | None = None,
        max_attempts: int = 4,
        max_wait_seconds: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.credentials = credentials
        self.http = http or new_http_client()
        self.graph_url = settings.MICROSOFT_GRAPH_URL.rstrip("/")
        self.max_attempts = max_attempts
        self.max_wait_seconds = max_wait_seconds
        self.sleep = sleep
        self._app: msal.ConfidentialClientApplication | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- identity -------------------------------------------------------------------------

    @property
    def authority(self) -> str:
        return f"{settings.MICROSOFT_LOGIN_URL.rstrip('/')}/{self.credentials.tenant_id}"

    def acquire_token(self) -> str:
        """An app-only access token (msal caches it in this client until shortly before expiry)."""
        try:
            if self._app is None:
                self._app = msal.ConfidentialClientApplication(
                    self.credentials.client_id,
                    client_credential=self.credentials.client_secret,
                    authority=self.authority,
                    # Instance discovery asks login.microsoftonline.com about the authority;
                    # the tenant's own OpenID configuration is all a confidential client needs.
                    instance_discovery=False,
                    http_client=MsalHttpClient(self.http),
                )
            result = self._app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        except ValueError as error:
            # msal's constructor raises ValueError when the tenant's discovery answers 4xx;
            # the identity platform's JSON error is in the ValueError it was handling.
            raise token_failure_from_discovery(str(error.__context__ or error)) from error
        except httpx.HTTPStatusError as error:
            raise GraphFailure(
                f"The Microsoft identity platform answered {error.response.status_code}; "
                "try again in a few minutes.",
                status=error.response.status_code,
            ) from error
        except msal.exceptions.MsalServiceError as error:
            # msal's own raise_for_status, for an answer it cannot read ("HTTP Error: 503"
            # while the identity platform is down): an outage, not a bug or a bad secret.
            found = re.search(r"HTTP Error: (\d{3})", str(error))
            status = int(found[1]) if found else None
            raise GraphFailure(
                f"The Microsoft identity platform answered {status or 'with an error'}; "
                "try again in a few minutes.",
                status=status,
                permanent=status is not None and 400 <= status < 500 and status != 429,
            ) from error
        except httpx.TransportError as error:
            raise network_failure(self.authority, error) from error
        if "access_token" in result:
            return result["access_token"]
        raise TokenFailure(
            result.get("error_description", "The token request was refused."),
            error=result.get("error", ""),
            error_codes=list(result.get("error_codes", [])),
        )

    # --- Graph ----------------------------------------------------------------------------

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith("https://") or path_or_url.startswith("http://"):
            return path_or_url
        return f"{self.graph_url}/{path_or_url.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        mailbox: str | None = None,
        retry: bool | None = None,
    ) -> httpx.Response:
        """One Graph call, retried on throttling and outages when it is safe to repeat.

        `retry` defaults to True for reads, PATCH and DELETE; a POST is repeated only when the
        caller says so (it carries a transactionId, or it does not create anything).
        """
        may_retry = method in {"GET", "PATCH", "DELETE"} if retry is None else retry
        attempts = self.max_attempts if may_retry else 1
        slot = mailbox_slot(self.credentials.client_id, mailbox) if mailbox else None
        for attempt in range(1, attempts + 1):
            token = self.acquire_token()
            request_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
            try:
                if slot is not None:
                    with slot:
                        response = self.http.request(
                            method, self.url(path), params=params, json=json_body,
                            headers=request_headers,
                        )
                else:
                    response = self.http.request(
                        method, self.url(path), params=params, json=json_body,
                        headers=request_headers,
                    )
            except httpx.TransportError as error:
                if attempt == attempts:
                    raise network_failure(self.url(path), error) from error
                self.sleep(self.backoff(attempt, None))
                continue
            if response.status_code in RETRYABLE_STATUSES and attempt < attempts:
                self.sleep(self.backoff(attempt, parse_retry_after(
                    response.headers.get("Retry-After"))))
                continue
            if response.status_code >= 400:
                raise graph_failure(response)
            return response
        raise AssertionError("unreachable")  # the loop returns or raises

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Retry-After (parsed) when Graph gives it, else capped exponential backoff with
        jitter."""
        if retry_after is not None:
            return min(retry_after, self.max_wait_seconds)
        return min(self.max_wait_seconds, 2 ** (attempt - 1)) * (0.5 + random.random() / 2)

    def get(self, path: str, params: dict[str, Any] | None = None, *, mailbox: str | None = None,
            headers: dict[str, str] | None = None) -> dict[str, Any]:
        return reply_json(
            self.request("GET", path, params=params, mailbox=mailbox, headers=headers).text
        )

    def paginate(
        self, path: str, params: dict[str, Any] | None = None, *, mailbox: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following `@odata.nextLink` to the last page."""
        page = self.get(path, params, mailbox=mailbox, headers=headers)
        while True:
            yield from page.get("value", [])
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return
            # The link carries every query option already: send none again.
            page = self.get(next_link, mailbox=mailbox, headers=headers)

    def batch(self, requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Runs requests through `$batch` (20 a call); answers by request id.

        Throttled inner requests are sent again, after the longest Retry-After among them.
        """
        answers: dict[str, dict[str, Any]] = {}
        pending = list(requests)
        for attempt in range(1, self.max_attempts + 1):
            throttled: list[dict[str, Any]] = []
            waits: list[float | None] = []
            for start in range(0, len(pending), BATCH_LIMIT):
                chunk = pending[start:start + BATCH_LIMIT]
                body = self.request("POST", "$batch", json_body={"requests": chunk}, retry=True)
                for answer in reply_json(body.text).get("responses", []):
                    status = int(answer.get("status", 0))
                    original = next(r for r in chunk if r["id"] == answer["id"])
                    if status in RETRYABLE_STATUSES and attempt < self.max_attempts:
                        throttled.append(original)
                        headers = answer.get("headers") or {}
                        waits.append(parse_retry_after(headers.get("Retry-After")))
                    else:
                        answers[answer["id"]] = answer
            if not throttled:
                return answers
            self.sleep(max(self.backoff(attempt, wait) for wait in waits))
            pending = throttled
        return answers

    # --- the directory and Places ---------------------------------------------------------

    def rooms(self) -> list[Room]:
        return [Room.model_validate(item) for item in self.paginate("places/microsoft.graph.room")]

    def room_lists(self) -> list[RoomList]:
        return [
            RoomList.model_validate(item)
            for item in self.paginate("places/microsoft.graph.roomlist")
        ]

    def rooms_in_list(self, room_list_email: str) -> list[Room]:
        path = f"places/{quote(room_list_email, safe='@')}/microsoft.graph.roomlist/rooms"
        return [Room.model_validate(item) for item in self.paginate(path)]

    def place(self, address: str) -> Room | RoomList | None:
        """The Places entry of a room (or room list) by its address; None when Places has none
        (a person's mailbox, or a room Places does not list yet)."""
        try:
            body = self.get(f"places/{quote(address, safe='@')}")
        except GraphFailure as failure:
            if failure.status == 404:
                return None
            raise
        if str(body.get("@odata.type", "")).lower() == "#microsoft.graph.roomlist":
            return RoomList.model_validate(body)
        return Room.model_validate(body)

    def mailbox_purpose(self, mailbox: str) -> str:
        """What Exchange says the mailbox is for (mailboxSettings.userPurpose): user, linked,
        shared, room, equipment or others."""
        body = self.get(f"{user_path(mailbox)}/mailboxSettings/userPurpose", mailbox=mailbox)
        return str(body.get("value") or "others")

    def tenant_users(self, addresses: list[str]) -> set[str]:
        """Which of `addresses` are users of the tenant (`$batch`, 20 a call), in lower case."""
        answers = self.batch([
            {"id": str(number), "method": "GET", "url": f"/{user_path(address)}?$select=id"}
            for number, address in enumerate(addresses)
        ])
        return {
            address.lower() for number, address in enumerate(addresses)
            if int(answers.get(str(number), {}).get("status", 0)) == 200
        }

    def first_user(self) -> User | None:
        page = self.get("users", {"$top": "1", "$select": "id,displayName,userPrincipalName"})
        users = page.get("value", [])
        return User.model_validate(users[0]) if users else None

    def user(self, mailbox: str) -> User:
        return User.model_validate(
            self.get(user_path(mailbox), {"$select": "id,displayName,mail,userPrincipalName"})
        )

    # --- calendars ----------------------------------------------------------------------

    def peek_calendar(self, mailbox: str, start: dt.datetime, end: dt.datetime) -> None:
        """Reads one item of a mailbox's calendar: proves the app may open it (or raises)."""
        self.request(
            "GET", f"{user_path(mailbox)}/calendarView", mailbox=mailbox,
            params={
                "startDateTime": start.isoformat(), "endDateTime": end.isoformat(),
                "$select": "id", "$top": "1",
            },
        )

    def unreachable_calendars(
        self, mailboxes: list[str], start: dt.datetime, end: dt.datetime
    ) -> dict[str, GraphFailure]:
        """Each mailbox whose calendar the app cannot open, with why (`$batch`, 20 a call)."""
        window = urlencode({"startDateTime": start.isoformat(), "endDateTime": end.isoformat(),
                            "$select": "id", "$top": "1"})
        requests = [
            {"id": str(number), "method": "GET",
             "url": f"/{user_path(mailbox)}/calendarView?{window}"}
            for number, mailbox in enumerate(mailboxes)
        ]
        answers = self.batch(requests)
        return {
            mailbox: failure_in_batch(answers[str(number)])
            for number, mailbox in enumerate(mailboxes)
            if int(answers.get(str(number), {}).get("status", 0)) >= 400
        }

    def calendar_view(self, mailbox: str, start: dt.datetime, end: dt.datetime) -> list[Event]:
        """Events of the mailbox that share an instant with [start, end).

        Graph also lists events ending exactly at startDateTime (the contract, section 3), so
        the boundary is filtered here.
        """
        params = {
            "startDateTime": start.astimezone(dt.UTC).isoformat(),
            "endDateTime": end.astimezone(dt.UTC).isoformat(),
            "$select": EVENT_FIELDS,
            "$top": "50",
        }
        events = [
            Event.model_validate(item)
            for item in self.paginate(f"{user_path(mailbox)}/calendarView", params,
                                      mailbox=mailbox, headers=IN_UTC)
        ]
        return [e for e in events if e.start.utc < end and e.end.utc > start]

    def create_event(
        self,
        mailbox: str,
        *,
        subject: str,
        start: dt.datetime,
        end: dt.datetime,
        transaction_id: str,
        show_as: str = "busy",
        location: str = "",
        private: bool = False,
        resources: list[tuple[str, str]] | None = None,
    ) -> Event:
        """POST an event to the mailbox's calendar, with the rooms in `resources` (address,
        name) invited. Sent once, never repeated here: the caller decides, knowing that Graph
        answers a repeated `transactionId` with the event it already made."""
        payload: dict[str, Any] = {
            **event_times(subject, start, end),
            "transactionId": transaction_id,
            "showAs": show_as,
            "sensitivity": "private" if private else "normal",
        }
        if location:
            payload["location"] = {"displayName": location}
        if resources:
            payload["attendees"] = [
                {"type": "resource", "emailAddress": {"address": address, "name": name}}
                for address, name in resources
            ]
        response = self.request("POST", f"{user_path(mailbox)}/events", json_body=payload,
                                mailbox=mailbox, retry=False)
        return Event.model_validate(reply_json(response.text))

    def update_event(
        self, mailbox: str, event_id: str, *, subject: str, start: dt.datetime, end: dt.datetime
    ) -> None:
        """PATCH the event's subject and times."""
        self.request("PATCH", event_path(mailbox, event_id), mailbox=mailbox,
                     json_body=event_times(subject, start, end))

    def cancel_event(self, mailbox: str, event_id: str, *, comment: str) -> None:
        """The organizer's cancel: every attendee (the room) receives a cancellation."""
        self.request("POST", f"{event_path(mailbox, event_id)}/cancel", mailbox=mailbox,
                     json_body={"comment": comment}, retry=True)

    def delete_event(self, mailbox: str, event_id: str) -> None:
        self.request("DELETE", event_path(mailbox, event_id), mailbox=mailbox)

    def event_attendees(self, mailbox: str, event_id: str) -> CalendarItem:
        """An event of `mailbox` with its attendees' answers (to learn a room's decision)."""
        params = {"$select": "id,iCalUId,attendees"}
        return CalendarItem.model_validate(
            self.get(event_path(mailbox, event_id), params, mailbox=mailbox)
        )

    def calendar_delta(
        self,
        mailbox: str,
        *,
        delta_link: str | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        page_size: int = 100,
    ) -> Iterator[DeltaPage]:
        """One round of `calendarView/delta`: from `delta_link`, or a full sync over
        [start, end). Yields the pages parsed; the last one carries the next delta link.

        The links carry the window and the state: nothing is sent again with them. A lost
        sync state raises GraphFailure with status 410 (or code syncStateNotFound).
        """
        headers = {"Prefer": f'outlook.timezone="UTC", odata.maxpagesize={page_size}'}

        def page_at(path: str, params: dict[str, Any] | None = None) -> DeltaPageBody:
            response = self.request("GET", path, params=params, mailbox=mailbox, headers=headers)
            return DeltaPageBody.model_validate_json(without_control_characters(response.text))

        if delta_link:
            page = page_at(delta_link)
        else:
            if start is None or end is None:
                raise ValueError("A full sync needs its window.")
            params = {"startDateTime": graph_time(start), "endDateTime": graph_time(end)}
            page = page_at(f"{user_path(mailbox)}/calendarView/delta", params)
        while True:
            yield DeltaPage(page.value, None if page.next_link else page.delta_link)
            if not page.next_link:
                return
            page = page_at(page.next_link)

    # --- change notifications -------------------------------------------------------------

    def create_subscription(
        self, *, mailbox: str, notification_url: str, lifecycle_notification_url: str,
        expiration: dt.datetime, client_state: str,
        change_type: str = "created,updated,deleted",
    ) -> Subscription:
        """POST /subscriptions on the mailbox's events. Graph first checks both URLs answer its
        validation request, so this takes up to the receiver's answer time; it is not repeated
        (a second POST would make a second subscription)."""
        body = {
            "changeType": change_type, "resource": f"/{user_path(mailbox)}/events",
            "notificationUrl": notification_url,
            "lifecycleNotificationUrl": lifecycle_notification_url,
            "expirationDateTime": graph_time(expiration), "clientState": client_state,
        }
        return Subscription.model_validate(
            reply_json(self.request("POST", "subscriptions", json_body=body).text)
        )

    def renew_subscription(self, subscription_id: str, expiration: dt.datetime) -> Subscription:
        """PATCH /subscriptions/{id} with a new expiry: renews and reauthorizes at once."""
        path = f"subscriptions/{quote(subscription_id, safe='')}"
        body = {"expirationDateTime": graph_time(expiration)}
        return Subscription.model_validate(
            reply_json(self.request("PATCH", path, json_body=body).text)
        )

    def delete_subscription(self, subscription_id: str) -> None:
        self.request("DELETE", f"subscriptions/{quote(subscription_id, safe='')}")


def user_path(mailbox: str) -> str:
    # An address may hold "/", "?" or "#" (RFC 5322 allows them): never let one reshape the URL.
    return f"users/{quote(mailbox, safe='@')}"


def event_path(mailbox: str, event_id: str) -> str:
    return f"{user_path(mailbox)}/events/{quote(event_id, safe='=-_')}"


def graph_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_times(subject: str, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    def when(moment: dt.datetime) -> dict[str, str]:
        return {"dateTime": moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC"}

    return {"subject": subject, "start": when(start), "end": when(end)}
