"""Offices, floors and spaces: tenancy-scoped reads (`*_of`, `access_*`) and the writes."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from openrooms.accounts.models import Organisation
from openrooms.bookings.models import Booking
from openrooms.spaces.models import Floor, Office, Space
from openrooms.spaces.plans import PlanImage, check_plan_image

Place = TypeVar("Place", Office, Floor, Space)


def offices_of(organisation: Organisation) -> QuerySet[Office]:
    return Office.objects.filter(organisation=organisation)


def floors_of(organisation: Organisation) -> QuerySet[Floor]:
    return Floor.objects.filter(office__organisation=organisation)


def spaces_of(organisation: Organisation) -> QuerySet[Space]:
    return Space.objects.filter(office__organisation=organisation)


def access_office_by_id(organisation: Organisation, office_id: object) -> Office:
    """The office with this id in `organisation`; 404 for an office of another organisation."""
    return get_or_404(offices_of(organisation), office_id)


def access_floor_by_id(organisation: Organisation, floor_id: object) -> Floor:
    return get_or_404(floors_of(organisation).select_related("office"), floor_id)


def access_space_by_id(organisation: Organisation, space_id: object) -> Space:
    return get_or_404(spaces_of(organisation).select_related("office__organisation"), space_id)


def get_or_404(queryset: QuerySet[Any], pk: object) -> Any:
    try:
        return queryset.get(pk=int(str(pk)))
    except (ValueError, queryset.model.DoesNotExist):
        raise Http404(f"No such {queryset.model._meta.verbose_name}.") from None


@transaction.atomic
def do_save(instance: Place, **changes: object) -> Place:
    """Applies `changes`, validates the whole row (ValidationError on bad input) and saves it."""
    for field, value in changes.items():
        setattr(instance, field, value)
    instance.full_clean()
    instance.save()
    return instance


def do_create_office(organisation: Organisation, **fields: object) -> Office:
    return do_save(Office(organisation=organisation), **fields)


def do_create_floor(office: Office, **fields: object) -> Floor:
    return do_save(Floor(office=office), **fields)


def do_create_space(office: Office, **fields: object) -> Space:
    return do_save(Space(office=office), **fields)


def do_delete(instance: Office | Floor | Space) -> None:
    """Deletes an office, floor or space; refused while a space it holds has bookings ahead.

    Deleting would drop those bookings without cancelling them, so their bookers would not
    know and events already written to Outlook would stay in the room calendars.
    """
    if isinstance(instance, Space | Office):
        spaces = {"space": instance} if isinstance(instance, Space) else {"space__office": instance}
        upcoming = Booking.objects.filter(
            **spaces, status=Booking.Status.CONFIRMED, end__gt=timezone.now()
        ).count()
        if upcoming:
            raise ValidationError(
                f"“{instance}” has {upcoming} booking{'s' if upcoming != 1 else ''} ahead. "
                "Cancel them first, or make the space not bookable instead of deleting it."
            )
    instance.delete()


# Office plans: the plan image of a floor and the places of desks and rooms on it.


def do_replace_plan_image(floor: Floor, upload: UploadedFile) -> PlanImage:
    """Checks `upload` (PlanImageError if it may not be a plan) and makes it the floor's plan.

    Positions are fractions of the image, so every icon stays where it was on the new image.
    What is stored is the checked image encoded again (spaces.plans), never the upload's bytes.
    The file goes through the field's storage (object storage in some deployments); the old
    file is deleted only once the new one is committed.
    """
    assert upload.file is not None  # an upload always wraps an open file
    checked = check_plan_image(upload.file, size=upload.size)
    old_name = floor.plan_image.name if floor.plan_image else ""
    storage = floor.plan_image.storage
    with transaction.atomic():
        floor.plan_image.save(checked.storage_name(), ContentFile(checked.content), save=False)
        new_name = floor.plan_image.name
        floor.plan_width, floor.plan_height = checked.width, checked.height
        try:
            floor.save(update_fields=["plan_image", "plan_width", "plan_height"])
        except Exception:
            storage.delete(new_name)
            raise
        if old_name and old_name != new_name:
            transaction.on_commit(lambda: storage.delete(old_name))
    return checked


def do_place_space(space: Space, floor: Floor, x: float, y: float) -> Space:
    """Puts `space` at (x, y) on `floor`'s plan, as fractions of the image's width and height."""
    if floor.office_id != space.office_id:
        raise ValidationError({"floor": "That floor belongs to another office."})
    return do_save(space, floor=floor, plan_x=float(x), plan_y=float(y))


def do_remove_from_plan(space: Space) -> Space:
    """Takes `space` off its plan; it stays on its floor and can be placed again."""
    return do_save(space, plan_x=None, plan_y=None)
