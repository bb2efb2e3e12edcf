"""The one client that talks to Microsoft: app-only tokens through msal, Graph over httpx.

Nothing else in openrooms builds a Graph URL. The client pages (`@odata.nextLink`), batches
(`$batch`, 20 requests a call), honours `Retry-After` on 429/503/504, keeps at most four
requests in flight per mailbox (Outlook's documented limit per app and mailbox), and parses
the answers it returns into pydantic models. Failures raise `GraphFailure`, which says
whether trying again can help (`permanent`).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import ssl
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import msal
from django.conf import settings
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
RETRYABLE_STATUSES = {429, 503, 504}
MAILBOX_CONCURRENCY = 4
BATCH_LIMIT = 20


class GraphFailure(Exception):
    """A Microsoft call that failed. `permanent` failures need a person (consent, secret)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.permanent = permanent
        self.retry_after = retry_after


class TokenFailure(GraphFailure):
    """The identity platform refused a token; `error_codes` holds the AADSTS numbers."""

    def __init__(
        self, message: str, *, error: str, error_codes: list[int], status: int | None = None
    ) -> None:
        super().__init__(message, status=status, code=error, permanent=True)
        self.error = error
        self.error_codes = error_codes


@dataclass(frozen=True)
class Credentials:
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)


class GraphModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class EmailAddress(GraphModel):
    name: str | None = None
    address: str | None = None


class Room(GraphModel):
    """A room from the Places API (`/places/microsoft.graph.room`)."""

    id: str
    email_address: str
    display_name: str = ""
    capacity: int | None = None
    building: str | None = None
    floor_number: int | None = None
    floor_label: str | None = None
    # Older examples spell it isWheelchairAccessible.
    is_wheel_chair_accessible: bool | None = Field(
        default=None,
        validation_alias=AliasChoices("isWheelChairAccessible", "isWheelchairAccessible"),
    )
    booking_type: str | None = None
    tags: list[str] = []
    audio_device_name: str | None = None
    video_device_name: str | None = None
    display_device_name: str | None = Field(
        default=None, validation_alias=AliasChoices("displayDeviceName", "displayDevice")
    )
    nickname: str | None = None


class RoomList(GraphModel):
    id: str
    email_address: str
    display_name: str = ""


class User(GraphModel):
    id: str
    display_name: str | None = None
    user_principal_name: str | None = None
    mail: str | None = None


class DateTimeTimeZone(GraphModel):
    date_time: str
    time_zone: str = "UTC"

    @property
    def utc(self) -> dt.datetime:
        """The moment in UTC. Graph writes seven fractional digits; seconds are enough here."""
        try:
            zone: dt.tzinfo = zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = dt.UTC
        wall = dt.datetime.fromisoformat(self.date_time[:19])
        return wall.replace(tzinfo=zone).astimezone(dt.UTC)


class Event(GraphModel):
    """A calendar event as calendarView and POST /events return it (the fields we select)."""

    id: str
    ical_uid: str = Field(default="", alias="iCalUId")
    transaction_id: str | None = None
    subject: str | None = None
    start: DateTimeTimeZone
    end: DateTimeTimeZone
    is_cancelled: bool = False
    show_as: str | None = None


class ResponseStatus(GraphModel):
    response: str | None = None


class Attendee(GraphModel):
    type: str | None = None
    status: ResponseStatus | None = None
    email_address: EmailAddress | None = None


class Recipient(GraphModel):
    email_address: EmailAddress | None = None


class CalendarItem(GraphModel):
    """An instance as calendarView/delta reports it, or its removal.

    Delta ignores `$select` (the contract, section 4), so Graph sends whole events: this model
    keeps only what the inbound sync needs and the raw JSON (body, attendees' other fields,
    location, online meeting links...) is dropped as soon as the page is parsed.
    """

    id: str
    removed: dict[str, Any] | None = Field(default=None, alias="@removed")
    ical_uid: str = Field(default="", alias="iCalUId")
    transaction_id: str | None = None
    subject: str | None = None
    start: DateTimeTimeZone | None = None
    end: DateTimeTimeZone | None = None
    is_cancelled: bool = False
    show_as: str | None = None
    sensitivity: str | None = None
    type: str | None = None
    series_master_id: str | None = None
    organizer: Recipient | None = None
    attendees: list[Attendee] = []

    @property
    def is_removed(self) -> bool:
        return self.removed is not None

    def response_of(self, mailbox: str) -> str | None:
        """What the attendee `mailbox` answered (accepted, declined, none...), if invited."""
        for attendee in self.attendees:
            address = (attendee.email_address.address or "") if attendee.email_address else ""
            if address.lower() == mailbox.lower():
                return attendee.status.response if attendee.status else None
        return None


@dataclass
class DeltaPage:
    items: list[CalendarItem]
    # On the last page of a round only: where the next round starts.
    delta_link: str | None


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
                self.sleep(self.backoff(attempt, response.headers.get("Retry-After")))
                continue
            if response.status_code >= 400:
                raise graph_failure(response)
            return response
        raise AssertionError("unreachable")  # the loop returns or raises

    def backoff(self, attempt: int, retry_after: str | None) -> float:
        """Retry-After when Graph gives it, else capped exponential backoff with jitter."""
        if retry_after is not None:
            try:
                return min(float(retry_after), self.max_wait_seconds)
            except ValueError:
                pass
        return min(self.max_wait_seconds, 2 ** (attempt - 1)) * (0.5 + random.random() / 2)

    def get(self, path: str, params: dict[str, Any] | None = None, *, mailbox: str | None = None,
            headers: dict[str, str] | None = None) -> dict[str, Any]:
        return self.request("GET", path, params=params, mailbox=mailbox, headers=headers).json()

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
            waits: list[str | None] = []
            for start in range(0, len(pending), BATCH_LIMIT):
                chunk = pending[start:start + BATCH_LIMIT]
                body = self.request("POST", "$batch", json_body={"requests": chunk}, retry=True)
                for answer in body.json().get("responses", []):
                    status = int(answer.get("status", 0))
                    original = next(r for r in chunk if r["id"] == answer["id"])
                    if status in RETRYABLE_STATUSES and attempt < self.max_attempts:
                        throttled.append(original)
                        waits.append((answer.get("headers") or {}).get("Retry-After"))
                    else:
                        answers[answer["id"]] = answer
            if not throttled:
                return answers
            self.sleep(max(self.backoff(attempt, wait) for wait in waits))
            pending = throttled
        return answers

    # --- the reads the product makes ------------------------------------------------------

    def rooms(self) -> list[Room]:
        return [Room.model_validate(item) for item in self.paginate("places/microsoft.graph.room")]

    def room_lists(self) -> list[RoomList]:
        return [
            RoomList.model_validate(item)
            for item in self.paginate("places/microsoft.graph.roomlist")
        ]

    def rooms_in_list(self, room_list_email: str) -> list[Room]:
        path = f"places/{room_list_email}/microsoft.graph.roomlist/rooms"
        return [Room.model_validate(item) for item in self.paginate(path)]

    def peek_calendar(self, mailbox: str, start: dt.datetime, end: dt.datetime) -> None:
        """Reads one item of a mailbox's calendar: proves the app may open it (or raises)."""
        self.request(
            "GET", f"users/{mailbox}/calendarView", mailbox=mailbox,
            params={
                "startDateTime": start.isoformat(), "endDateTime": end.isoformat(),
                "$select": "id", "$top": "1",
            },
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
        if delta_link:
            page = self.get(delta_link, mailbox=mailbox, headers=headers)
        else:
            if start is None or end is None:
                raise ValueError("A full sync needs its window.")
            params = {
                "startDateTime": start.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endDateTime": end.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            path = f"users/{quote(mailbox, safe='@')}/calendarView/delta"
            page = self.get(path, params, mailbox=mailbox, headers=headers)
        while True:
            items = [CalendarItem.model_validate(item) for item in page.get("value", [])]
            next_link = page.get("@odata.nextLink")
            yield DeltaPage(items, None if next_link else page.get("@odata.deltaLink"))
            if not next_link:
                return
            page = self.get(next_link, mailbox=mailbox, headers=headers)

    def event_attendees(self, mailbox: str, event_id: str) -> CalendarItem:
        """An event of `mailbox` with its attendees' answers (to learn a room's decision)."""
        path = f"users/{quote(mailbox, safe='@')}/events/{quote(event_id, safe='=-_')}"
        return CalendarItem.model_validate(
            self.get(path, {"$select": "id,iCalUId,attendees"}, mailbox=mailbox)
        )

    def first_user(self) -> User | None:
        page = self.get("users", {"$top": "1", "$select": "id,displayName,userPrincipalName"})
        users = page.get("value", [])
        return User.model_validate(users[0]) if users else None


def graph_failure(response: httpx.Response) -> GraphFailure:
    try:
        error = response.json().get("error", {})
    except (json.JSONDecodeError, AttributeError):
        error = {}
    code = error.get("code", "") if isinstance(error, dict) else ""
    message = error.get("message", "") if isinstance(error, dict) else ""
    retry_after = response.headers.get("Retry-After")
    return GraphFailure(
        message or f"Microsoft Graph answered {response.status_code}.",
        status=response.status_code,
        code=code,
        permanent=response.status_code in {400, 401, 403, 404, 410},
        retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
    )


def network_failure(url: str, error: httpx.TransportError) -> GraphFailure:
    host = urlsplit(url).netloc
    if isinstance(error, httpx.TimeoutException):
        reason = "did not answer in time"
    elif "CERTIFICATE" in str(error).upper():
        reason = "presented a certificate this server does not trust"
    else:
        reason = "could not be reached"
    return GraphFailure(f"{host} {reason} ({error.__class__.__name__}: {error}).")


def token_failure_from_discovery(message: str) -> GraphFailure:
    """The AADSTS error inside msal's 'OIDC Discovery failed' ValueError, if there is one."""
    start = message.find("{")
    try:
        body = json.loads(message[start:]) if start >= 0 else {}
    except json.JSONDecodeError:
        body = {}
    if not body.get("error"):
        return GraphFailure(message, permanent=True)
    return TokenFailure(
        body.get("error_description", message),
        error=body["error"],
        error_codes=list(body.get("error_codes", [])),
        status=400,
    )
