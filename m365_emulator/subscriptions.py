"""Change-notification subscriptions: their lifecycle, and the thread delivering notifications.

Create with the validation handshake, renew, delete, reauthorize, and a delivery thread posting
change and lifecycle notifications.

Follows "Receive change notifications through webhooks" and "Reduce missing subscriptions and
change notifications" (lifecycle events) on learn.microsoft.com/graph.
"""

from __future__ import annotations

import builtins
import ipaddress
import queue
import re
import secrets
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import httpx

from .errors import GraphError
from .fixture import Mailbox, Tenant
from .identity import Caller
from .messages import Request, Response

CHANGE_TYPES = ("created", "updated", "deleted")
_RESOURCE = re.compile(r"^/?users/([^/]+)(?:/calendar)?/events/?$", re.I)


@dataclass
class SubscriptionOptions:
    max_lifetime_minutes: int = 10080  # Outlook events, "subscription resource type" limits
    validation_timeout: float = 10.0
    delivery_timeout: float = 3.0
    delivery_retries: tuple[float, ...] = (1.0, 5.0, 30.0)
    allow_http_webhooks: bool = False  # loopback http only; Microsoft requires https
    verify: str | bool = True  # CA bundle used to trust the receiver's TLS certificate


@dataclass
class Subscription:
    id: str
    resource: str
    user_id: str
    change_type: str
    notification_url: str
    lifecycle_notification_url: str | None
    expiration: str
    client_state: str | None
    application_id: str
    creator_id: str

    def as_graph(self) -> dict[str, Any]:
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id, "resource": self.resource, "applicationId": self.application_id,
            "changeType": self.change_type, "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_notification_url,
            "expirationDateTime": self.expiration, "creatorId": self.creator_id,
            "includeResourceData": False, "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None, "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }

    def expires_at(self) -> datetime:
        return datetime.fromisoformat(self.expiration.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _invalid(message: str) -> GraphError:
    return GraphError(400, "InvalidRequest", message)


@dataclass
class _Delivery:
    url: str
    payload: dict[str, Any]
    subscription_id: str
    attempt: int = 0
    not_before: float = field(default_factory=time.monotonic)


class Subscriptions:
    def __init__(self, tenant: Tenant, options: SubscriptionOptions,
                 calendar_access: Callable[[Caller, str], Mailbox]) -> None:
        self.tenant = tenant
        self.options = options
        self.calendar_access = calendar_access
        self._lock = threading.Lock()
        self._subs: dict[str, Subscription] = {}
        self._queue: queue.Queue[_Delivery | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.delivered: int = 0
        self.failed: int = 0
        self.on_state_change: Callable[[], None] = lambda: None

    def routes(self) -> list[tuple[str, str, Callable]]:
        return [
            ("GET", r"/subscriptions", self.list),
            ("POST", r"/subscriptions", self.create),
            ("GET", r"/subscriptions/(?P<sub>[^/]+)", self.get),
            ("PATCH", r"/subscriptions/(?P<sub>[^/]+)", self.renew),
            ("DELETE", r"/subscriptions/(?P<sub>[^/]+)", self.delete),
            ("POST", r"/subscriptions/(?P<sub>[^/]+)/reauthorize", self.reauthorize),
        ]

    # -- HTTP handlers ------------------------------------------------------------------------
    def _check_url(self, url: Any, name: str) -> str:
        if not isinstance(url, str) or not url:
            raise _invalid(f"{name} is required.")
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return url
        if parts.scheme == "http" and self.options.allow_http_webhooks and _is_loopback(
                parts.hostname):
            return url
        # Graph's wording (microsoftgraph/microsoft-graph-docs#2751): https only.
        scheme = parts.scheme or "none"
        label = "NotificationUrl" if name == "notificationUrl" else "LifecycleNotificationUrl"
        raise _invalid(f"{label} scheme='{scheme}' is not supported.")

    def _expiration(self, raw: Any) -> str:
        try:
            moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise _invalid("expirationDateTime is required and must be a date-time.") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        now = datetime.now(UTC)
        if moment <= now:
            raise _invalid("Subscription expiration must be in the future.")
        cap = self.options.max_lifetime_minutes
        if moment > now + timedelta(minutes=cap):
            # Wording of Graph's answer for the cap (documented limit per resource type).
            raise GraphError(400, "ExtensionError",
                             f"Subscription expiration can only be {cap} minutes in the future.")
        return _iso(moment)

    def create(self, request: Request, caller: Caller, match: re.Match) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise _invalid("A subscription body is required.")
        resource = str(body.get("resource", ""))
        found = _RESOURCE.match(resource)
        if not found:
            raise _invalid(f"Resource '{resource}' is not supported for change notifications.")
        mailbox = self.calendar_access(caller, unquote(found[1]))
        change_types = [c.strip() for c in str(body.get("changeType", "")).split(",")]
        if not change_types or any(c not in CHANGE_TYPES for c in change_types):
            raise _invalid(f"Invalid changeType '{body.get('changeType')}'.")
        client_state = body.get("clientState")
        if client_state is not None and len(str(client_state)) > 128:
            raise _invalid("clientState must not exceed 128 characters.")
        notification_url = self._check_url(body.get("notificationUrl"), "notificationUrl")
        lifecycle_url = body.get("lifecycleNotificationUrl")
        if lifecycle_url is not None:
            lifecycle_url = self._check_url(lifecycle_url, "lifecycleNotificationUrl")
        expiration = self._expiration(body.get("expirationDateTime"))
        for url in filter(None, (notification_url, lifecycle_url)):
            self._validate_endpoint(url)
        sub = Subscription(
            id=str(uuid.uuid4()), resource=resource, user_id=mailbox.id,
            change_type=",".join(change_types), notification_url=notification_url,
            lifecycle_notification_url=lifecycle_url, expiration=expiration,
            client_state=client_state, application_id=caller.app.client_id,
            creator_id=str(uuid.uuid5(uuid.NAMESPACE_OID, caller.app.client_id)),
        )
        with self._lock:
            self._subs[sub.id] = sub
        self.on_state_change()
        return Response.json(201, sub.as_graph())

    def _verify(self) -> ssl.SSLContext | bool:
        if isinstance(self.options.verify, str):
            return ssl.create_default_context(cafile=self.options.verify)
        return self.options.verify

    def _validate_endpoint(self, url: str) -> None:
        """POST {url}?validationToken=...; the endpoint must echo it, text/plain, 200, in 10 s."""
        token = f"Validation: Testing client application reachability for subscription " \
                f"Request-Id: {uuid.uuid4()} {secrets.token_hex(4)}"
        sep = "&" if "?" in url else "?"
        try:
            with httpx.Client(verify=self._verify(),
                              timeout=self.options.validation_timeout) as client:
                answer = client.post(f"{url}{sep}{urlencode({'validationToken': token})}",
                                     headers={"Content-Type": "text/plain; charset=utf-8"})
        except httpx.TimeoutException:
            raise _invalid("Subscription validation request timed out.") from None
        except httpx.HTTPError as exc:
            raise _invalid("Subscription validation request failed. Notification endpoint must "
                           f"respond with 200 OK to validation request. ({exc})") from None
        if answer.status_code != 200:
            raise _invalid("Subscription validation request failed. Notification endpoint must "
                           "respond with 200 OK to validation request.")
        if answer.text != token:
            raise _invalid("Subscription validation request failed. Response must exactly match "
                           "validationToken query parameter.")

    def _owned(self, caller: Caller, sub_id: str) -> Subscription:
        with self._lock:
            sub = self._subs.get(sub_id)
        if sub is None or sub.application_id != caller.app.client_id:
            raise GraphError(404, "ResourceNotFound", f"Subscription '{sub_id}' was not found.")
        return sub

    def list(self, request: Request, caller: Caller, match: re.Match) -> Response:
        with self._lock:
            mine = [s.as_graph() for s in self._subs.values()
                    if s.application_id == caller.app.client_id]
        for item in mine:
            item.pop("@odata.context")
        return Response.json(200, {"@odata.context": "https://graph.microsoft.com/v1.0/"
                                                     "$metadata#subscriptions", "value": mine})

    def get(self, request: Request, caller: Caller, match: re.Match) -> Response:
        return Response.json(200, self._owned(caller, match["sub"]).as_graph())

    def renew(self, request: Request, caller: Caller, match: re.Match) -> Response:
        sub = self._owned(caller, match["sub"])
        body = request.json() or {}
        # Update changes the expiration and/or notificationUrl ("Update subscription"); a
        # lifecycleNotificationUrl can only be set at creation (webhooks-lifecycle).
        expiration = sub.expiration
        if "expirationDateTime" in body:
            expiration = self._expiration(body["expirationDateTime"])
        if "notificationUrl" in body:
            url = self._check_url(body["notificationUrl"], "notificationUrl")
            self._validate_endpoint(url)
            sub.notification_url = url
        sub.expiration = expiration
        self.on_state_change()
        return Response.json(200, sub.as_graph())

    def delete(self, request: Request, caller: Caller, match: re.Match) -> Response:
        sub = self._owned(caller, match["sub"])
        with self._lock:
            self._subs.pop(sub.id, None)
        self.on_state_change()
        return Response(204)

    def reauthorize(self, request: Request, caller: Caller, match: re.Match) -> Response:
        self._owned(caller, match["sub"])
        return Response(204)  # "subscription: reauthorize": 204 No Content

    # -- notifications ------------------------------------------------------------------------
    def notify_change(self, user_id: str, event_id: str, change_type: str) -> None:
        """Called by the calendar store for every change; only enqueues (never blocks)."""
        now = datetime.now(UTC)
        with self._lock:
            targets = [s for s in self._subs.values() if s.user_id == user_id
                       and change_type in s.change_type.split(",") and s.expires_at() > now]
        for sub in targets:
            resource = f"Users/{user_id}/Events/{event_id}"
            item = {
                "id": str(uuid.uuid4()), "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": sub.expiration,
                "changeType": change_type, "resource": resource,
                "resourceData": {"@odata.type": "#Microsoft.Graph.Event",
                                 "@odata.id": resource, "@odata.etag": f'W/"{uuid.uuid4().hex}"',
                                 "id": event_id},
                "clientState": sub.client_state, "tenantId": self.tenant.id,
            }
            self._queue.put(_Delivery(sub.notification_url, {"value": [item]}, sub.id))

    def lifecycle(self, sub_id: str, event: str) -> bool:
        """Send a lifecycle notification; subscriptionRemoved also deletes the subscription."""
        with self._lock:
            sub = self._subs.get(sub_id)
            if sub is not None and event == "subscriptionRemoved":
                del self._subs[sub_id]
        if sub is None:
            return False
        if sub.lifecycle_notification_url:
            item = {"subscriptionId": sub.id, "subscriptionExpirationDateTime": sub.expiration,
                    "tenantId": self.tenant.id, "clientState": sub.client_state,
                    "lifecycleEvent": event}
            self._queue.put(_Delivery(sub.lifecycle_notification_url, {"value": [item]}, sub.id))
        self.on_state_change()
        return True

    def expire_due(self) -> None:
        """Graph deletes subscriptions once they expire."""
        now = datetime.now(UTC)
        with self._lock:
            gone = [k for k, s in self._subs.items() if s.expires_at() <= now]
            for key in gone:
                del self._subs[key]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._deliver_forever, name="m365-notify",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread:
            self._queue.put(None)
            self._thread.join(timeout=5)

    def _deliver_forever(self) -> None:
        with httpx.Client(verify=self._verify(),
                          timeout=self.options.delivery_timeout) as client:
            while True:
                delivery = self._queue.get()
                if delivery is None:
                    return
                wait = delivery.not_before - time.monotonic()
                if wait > 0:
                    # Not yet due: put it back behind anything newer and look again shortly.
                    self._queue.put(delivery)
                    time.sleep(min(wait, 0.05))
                    continue
                self._deliver(client, delivery)

    def _deliver(self, client: httpx.Client, delivery: _Delivery) -> None:
        try:
            answer = client.post(delivery.url, json=delivery.payload)
            ok = 200 <= answer.status_code < 300
        except httpx.HTTPError:
            ok = False
        if ok:
            self.delivered += 1
            return
        if delivery.attempt < len(self.options.delivery_retries):
            delay = self.options.delivery_retries[delivery.attempt]
            delivery.attempt += 1
            delivery.not_before = time.monotonic() + delay
            self._queue.put(delivery)
            return
        self.failed += 1
        if "lifecycleEvent" not in delivery.payload["value"][0]:
            # Notifications were dropped: tell the subscriber to resync ("missed").
            self.lifecycle(delivery.subscription_id, "missed")

    # -- persistence --------------------------------------------------------------------------
    def to_json(self) -> builtins.list[dict[str, Any]]:
        with self._lock:
            return [asdict(s) for s in self._subs.values()]

    def load_json(self, items: builtins.list[dict[str, Any]]) -> None:
        with self._lock:
            self._subs = {i["id"]: Subscription(**i) for i in items}

    def all(self) -> builtins.list[Subscription]:
        with self._lock:
            return list(self._subs.values())


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False
