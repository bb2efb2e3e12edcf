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
import re
import ssl
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
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
# The longest Retry-After we believe: Outlook's throttling windows are minutes long, so a
# larger value is a broken header and must not park a booking for days.
RETRY_AFTER_CAP_SECONDS = 3600.0


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
        if self.time_zone == "UTC":  # what we ask for (Prefer: outlook.timezone="UTC")
            return dt.datetime.fromisoformat(self.date_time[:19]).replace(tzinfo=dt.UTC)
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


class CalendarInstance(GraphModel):
    """An instance as calendarView/delta reports it, or its removal.

    Delta ignores `$select` (the contract, section 4), so Graph sends whole events: this model
    keeps only what the inbound sync needs and the raw JSON (body, attendees, location, online
    meeting links...) is dropped while the page is parsed.
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

    @property
    def is_removed(self) -> bool:
        return self.removed is not None


class CalendarItem(CalendarInstance):
    """An event with its attendees' answers (to learn what a room answered)."""

    attendees: list[Attendee] = []

    def response_of(self, mailbox: str) -> str | None:
        """What the attendee `mailbox` answered (accepted, declined, none...), if invited."""
        for attendee in self.attendees:
            address = (attendee.email_address.address or "") if attendee.email_address else ""
            if address.lower() == mailbox.lower():
                return attendee.status.response if attendee.status else None
        return None


class DeltaPageBody(GraphModel):
    """A calendarView/delta answer, parsed straight from its bytes: a page of a full sync holds
    hundreds of whole events, and most of their JSON is never turned into Python objects."""

    value: list[CalendarInstance] = []
    next_link: str | None = Field(default=None, alias="@odata.nextLink")
    delta_link: str | None = Field(default=None, alias="@odata.deltaLink")


@dataclass
class DeltaPage:
    items: list[CalendarInstance]
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
            waits: list[float | None] = []
            for start in range(0, len(pending), BATCH_LIMIT):
                chunk = pending[start:start + BATCH_LIMIT]
                body = self.request("POST", "$batch", json_body={"requests": chunk}, retry=True)
                for answer in body.json().get("responses", []):
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

    # --- the reads the product makes ------------------------------------------------------

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

    def peek_calendar(self, mailbox: str, start: dt.datetime, end: dt.datetime) -> None:
        """Reads one item of a mailbox's calendar: proves the app may open it (or raises)."""
        self.request(
            "GET", f"{user_path(mailbox)}/calendarView", mailbox=mailbox,
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

        def page_at(path: str, params: dict[str, Any] | None = None) -> DeltaPageBody:
            response = self.request("GET", path, params=params, mailbox=mailbox, headers=headers)
            return DeltaPageBody.model_validate_json(response.content)

        if delta_link:
            page = page_at(delta_link)
        else:
            if start is None or end is None:
                raise ValueError("A full sync needs its window.")
            params = {
                "startDateTime": start.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endDateTime": end.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            page = page_at(f"{user_path(mailbox)}/calendarView/delta", params)
        while True:
            yield DeltaPage(page.value, None if page.next_link else page.delta_link)
            if not page.next_link:
                return
            page = page_at(page.next_link)

    def event_attendees(self, mailbox: str, event_id: str) -> CalendarItem:
        """An event of `mailbox` with its attendees' answers (to learn a room's decision)."""
        params = {"$select": "id,iCalUId,attendees"}
        return CalendarItem.model_validate(
            self.get(event_path(mailbox, event_id), params, mailbox=mailbox)
        )

    def first_user(self) -> User | None:
        page = self.get("users", {"$top": "1", "$select": "id,displayName,userPrincipalName"})
        users = page.get("value", [])
        return User.model_validate(users[0]) if users else None

    # --- change notifications (webhooks.py) -----------------------------------------------

    def create_subscription(
        self, *, resource: str, notification_url: str, lifecycle_notification_url: str,
        expiration: dt.datetime, client_state: str,
        change_type: str = "created,updated,deleted",
    ) -> Subscription:
        """POST /subscriptions. Graph first checks both URLs answer its validation request,
        so this takes up to the receiver's answer time; it is not repeated (a second POST
        would make a second subscription)."""
        body = {
            "changeType": change_type, "resource": resource,
            "notificationUrl": notification_url,
            "lifecycleNotificationUrl": lifecycle_notification_url,
            "expirationDateTime": graph_time(expiration), "clientState": client_state,
        }
        return Subscription.model_validate(
            self.request("POST", "subscriptions", json_body=body).json()
        )

    def renew_subscription(self, subscription_id: str, expiration: dt.datetime) -> Subscription:
        """PATCH /subscriptions/{id} with a new expiry: renews and reauthorizes at once."""
        path = f"subscriptions/{quote(subscription_id, safe='')}"
        body = {"expirationDateTime": graph_time(expiration)}
        return Subscription.model_validate(
            self.request("PATCH", path, json_body=body).json()
        )

    def delete_subscription(self, subscription_id: str) -> None:
        self.request("DELETE", f"subscriptions/{quote(subscription_id, safe='')}")


class Subscription(GraphModel):
    """A change-notification subscription as POST and PATCH /subscriptions answer it."""

    id: str
    resource: str = ""
    expiration_date_time: dt.datetime
    client_state: str | None = None


def user_path(mailbox: str) -> str:
    # An address may hold "/", "?" or "#" (RFC 5322 allows them): never let one reshape the URL.
    return f"users/{quote(mailbox, safe='@')}"


def event_path(mailbox: str, event_id: str) -> str:
    return f"{user_path(mailbox)}/events/{quote(event_id, safe='=-_')}"


def graph_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def graph_failure(response: httpx.Response) -> GraphFailure:
    try:
        error = response.json().get("error", {})
    except (json.JSONDecodeError, AttributeError):
        error = {}
    code = error.get("code", "") if isinstance(error, dict) else ""
    message = error.get("message", "") if isinstance(error, dict) else ""
    return GraphFailure(
        message or f"Microsoft Graph answered {response.status_code}.",
        status=response.status_code,
        code=code,
        permanent=response.status_code in {400, 401, 403, 404, 410},
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


DELTA_SECONDS = re.compile(r"\d+(\.\d+)?")
# RFC 850's obsolete date form, with its two-digit year: "Sunday, 06-Nov-94 08:49:37 GMT".
RFC850_DATE = re.compile(r"[A-Za-z]+, \d{2}-[A-Za-z]{3}-(?P<year>\d{2}) ")


def parse_retry_after(value: object, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, or None when it says nothing usable.

    RFC 9110, section 10.2.3: delta-seconds or an HTTP-date (IMF-fixdate, and the obsolete
    RFC 850 and asctime forms, all in GMT). A date in the past means now (0). Negative, NaN
    and infinite values are not delta-seconds: None. Values past an hour are capped.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if DELTA_SECONDS.fullmatch(text):
        seconds = float(text)  # a long run of digits overflows to inf: that is "huge" too
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)  # asctime has no zone: HTTP-dates are GMT
        now = now or dt.datetime.now(dt.UTC)
        if (match := RFC850_DATE.match(text)) is not None:
            # A two-digit year more than 50 years ahead is the most recent such year past.
            year = now.year - now.year % 100 + int(match["year"])
            if year > now.year + 50:
                year -= 100
            try:
                when = when.replace(year=year)
            except ValueError:  # 29 February of a year that has none
                return None
        seconds = max(0.0, (when - now).total_seconds())
    return min(seconds, RETRY_AFTER_CAP_SECONDS)


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
