"""Which office a page shows: the one asked for, else the one chosen last time, else the first."""

from __future__ import annotations

from openrooms.accounts.requests import SignedInRequest
from openrooms.spaces.models import Office
from openrooms.spaces.services import access_office_by_id, offices_of

OFFICE_IN_SESSION = "chosen_office"


def chosen_office(request: SignedInRequest, office_id: object = None) -> Office | None:
    """`office_id` (by default the `office` query parameter), else the office the person
    chose last on any page (kept in the session), else the organisation's first by name; an
    office id of another organisation is a 404."""
    organisation = request.user.organisation
    office_id = office_id or request.GET.get("office")
    office: Office | None
    if office_id:
        office = access_office_by_id(organisation, office_id)
    else:
        offices = offices_of(organisation).order_by("name")
        last_id = request.session.get(OFFICE_IN_SESSION)
        office = offices.filter(pk=last_id).first() if last_id is not None else None
        office = office or offices.first()
    if office is not None and request.session.get(OFFICE_IN_SESSION) != office.pk:
        request.session[OFFICE_IN_SESSION] = office.pk  # a GET that changes nothing writes nothing
    return office
