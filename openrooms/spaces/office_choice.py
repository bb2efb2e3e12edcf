"""Which office a page shows: the one asked for, else the one chosen last time, else the first."""

from __future__ import annotations

from django.http import HttpRequest

from openrooms.spaces.models import Office
from openrooms.spaces.services import access_office_by_id, offices_of

OFFICE_IN_SESSION = "chosen_office"


def chosen_office(request: HttpRequest, office_id: object = None) -> Office | None:
    """`office_id` (by default the `office` query parameter), else the office the person
    chose last on any page (kept in the session), else the organisation's first by name; an
    office id of another organisation is a 404."""
    organisation = request.user.organisation  # type: ignore[union-attr]  # signed-in views only
    office_id = office_id or request.GET.get("office")
    if office_id:
        office = access_office_by_id(organisation, office_id)
    else:
        offices = offices_of(organisation).order_by("name")
        office = offices.filter(pk=request.session.get(OFFICE_IN_SESSION)).first()
        office = office or offices.first()
    if office is not None:
        request.session[OFFICE_IN_SESSION] = office.pk
    return office
