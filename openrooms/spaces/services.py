"""Offices, floors and spaces: tenancy-scoped reads (`*_of`, `access_*`) and the writes."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404

from openrooms.accounts.models import Organisation
from openrooms.spaces.models import Floor, Office, Space


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
def do_save(instance: Office | Floor | Space, **changes: object) -> Office | Floor | Space:
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
    instance.delete()
