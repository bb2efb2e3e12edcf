"""The webhook views: where Microsoft Graph delivers change and lifecycle notifications.

No login and no CSRF token: Graph cannot have either. A notification is trusted only when it
names a subscription of ours and carries the clientState that subscription was given (compared
in constant time); otherwise 403 and nothing is queued. Graph wants an answer within 3 s and
throttles, then drops, endpoints slower than 2.9 s, so the views make no Graph call: they
queue the work (a pull of the room's calendar, a lifecycle task) and answer 202.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from openrooms.integrations.microsoft365.graph.replies import without_control_characters
from openrooms.integrations.microsoft365.inbound.pull import request_pull
from openrooms.integrations.microsoft365.subscriptions import (
    LIFECYCLE_EVENTS,
    handle_lifecycle_event,
    verified_rooms,
)

logger = logging.getLogger(__name__)


class Notification(BaseModel):
    """What the receiver needs of a change notification (`changeNotification`)."""

    model_config = ConfigDict(extra="ignore")

    subscription_id: str = Field(alias="subscriptionId", min_length=1, max_length=200)
    client_state: str | None = Field(default=None, alias="clientState", max_length=1000)


# Graph batches notifications into one POST; a real batch names at most the rooms we subscribed
# to. More is refused unread, and keeps the one query of verified_rooms small.
MOST_NOTIFICATIONS_PER_POST = 1000


class Notifications(BaseModel):
    value: list[Notification] = Field(min_length=1, max_length=MOST_NOTIFICATIONS_PER_POST)


class LifecycleNotification(Notification):
    lifecycle_event: str = Field(alias="lifecycleEvent", max_length=100)


class LifecycleNotifications(BaseModel):
    value: list[LifecycleNotification] = Field(
        min_length=1, max_length=MOST_NOTIFICATIONS_PER_POST
    )


Batch = TypeVar("Batch", Notifications, LifecycleNotifications)


@csrf_exempt
@require_POST
def notifications(request: HttpRequest) -> HttpResponse:
    """Changes to rooms' calendars: one pull queued per room named."""

    def queue_pulls(batch: Notifications, rooms: dict[str, int]) -> None:
        for link_id in dict.fromkeys(rooms[n.subscription_id] for n in batch.value):
            request_pull(link_id)

    return receive(request, Notifications, "change notification", queue_pulls)


@csrf_exempt
@require_POST
def lifecycle(request: HttpRequest) -> HttpResponse:
    """reauthorizationRequired, subscriptionRemoved, missed: a task does what each asks."""

    def queue_lifecycle_tasks(batch: LifecycleNotifications, rooms: dict[str, int]) -> None:
        for subscription_id, event in dict.fromkeys(
            (n.subscription_id, n.lifecycle_event) for n in batch.value
        ):
            if event not in LIFECYCLE_EVENTS:
                logger.info("Lifecycle event %r of subscription %s ignored", event,
                            subscription_id)
                continue
            handle_lifecycle_event.enqueue(rooms[subscription_id], subscription_id, event)

    return receive(request, LifecycleNotifications, "lifecycle notification",
                   queue_lifecycle_tasks)


def receive(
    request: HttpRequest, model: type[Batch], what: str,
    act: Callable[[Batch, dict[str, int]], None],
) -> HttpResponse:
    """The handshake, or a batch checked whole (every notification's subscription and
    clientState) before `act` queues its work with the rooms the subscriptions belong to."""
    if "validationToken" in request.GET:
        return validation_answer(request)
    batch = parse(request, model)
    if batch is None:
        return HttpResponse(f"Not a {what} collection.", status=400, content_type="text/plain")
    rooms = verified_rooms([(n.subscription_id, n.client_state) for n in batch.value])
    if rooms is None:
        return refused(request)
    act(batch, rooms)
    return HttpResponse(status=202)


def validation_answer(request: HttpRequest) -> HttpResponse:
    """Graph's check that the URL is ours, when it creates a subscription: the token back,
    URL-decoded and otherwise exactly as sent (an encoded token fails the validation), as
    text/plain within 10 s. text/plain with nosniff keeps a browser from reading markup in it."""
    return HttpResponse(request.GET["validationToken"], content_type="text/plain; charset=utf-8")


def parse(request: HttpRequest, model: type[Batch]) -> Batch | None:
    try:
        return model.model_validate_json(without_control_characters(request.body.decode()))
    except (ValidationError, ValueError, RequestDataTooBig):
        return None


def refused(request: HttpRequest) -> HttpResponse:
    # Microsoft: a wrong clientState may come from a rogue actor; worth investigating.
    logger.warning("Refused a notification naming an unknown subscription or a wrong "
                   "clientState (from %s)", request.META.get("REMOTE_ADDR"))
    return HttpResponse("Unknown subscription or wrong clientState.", status=403,
                        content_type="text/plain")
