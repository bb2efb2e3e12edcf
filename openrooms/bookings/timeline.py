"""The day view's free/busy timeline: a row of 15-minute cells per space, in the office's zone.

Pure presentation of `bookings.availability`: the page draws each cell as an element of a
CSS grid with state classes, because the CSP forbids the inline styles a positioned bar
would need.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from openrooms.bookings.availability import SpaceAvailability, SpaceSummary
from openrooms.bookings.models import Booking
from openrooms.spaces.models import Office

FIRST_HOUR = 7
LAST_HOUR = 20
CELL = dt.timedelta(minutes=15)
CELLS = (LAST_HOUR - FIRST_HOUR) * 4


@dataclass(frozen=True)
class Busy:
    """A busy interval as the page writes it: times in the office's zone."""

    start: dt.datetime
    end: dt.datetime
    who: str
    title: str
    mine: bool
    booking_id: int

    @property
    def time_range(self) -> str:
        if self.start.date() != self.end.date():
            return f"{self.start:%d %b %H:%M}–{self.end:%d %b %H:%M}"
        return f"{self.start:%H:%M}–{self.end:%H:%M}"

    @property
    def label(self) -> str:
        who = "You" if self.mine else self.who
        return " · ".join(part for part in (self.time_range, who, self.title) if part)


@dataclass(frozen=True)
class Cell:
    start: dt.datetime  # in the office's zone
    state: str  # free, busy, mine or past
    busy: Busy | None = None
    first: bool = False  # the first cell of a booking
    last: bool = False  # its last cell (the two round the block's corners)

    @property
    def label(self) -> str:
        return f"{self.start:%H:%M}"

    @property
    def on_the_hour(self) -> bool:
        return self.start.minute == 0


@dataclass
class Row:
    space: SpaceSummary
    cells: list[Cell] = field(default_factory=list)
    busy: list[Busy] = field(default_factory=list)
    # Meetings booked in Outlook over a booking here (shown to admins and that booking's booker).
    conflicts: list[Booking] = field(default_factory=list)

    @property
    def free_now_or_later(self) -> bool:
        return any(cell.state == "free" for cell in self.cells)

    @property
    def first_free(self) -> Cell | None:
        return next((cell for cell in self.cells if cell.state == "free"), None)


def hours() -> list[str]:
    return [f"{hour:02d}" for hour in range(FIRST_HOUR, LAST_HOUR)]


def timeline_row(
    office: Office, day: dt.date, spaces: SpaceAvailability, *, viewer_id: int, now: dt.datetime
) -> Row:
    zone = office.zone
    first = dt.datetime.combine(day, dt.time(FIRST_HOUR), tzinfo=zone)
    # Aware arithmetic in one zone steps the wall clock: the cells stay 07:00..20:00 on a DST
    # change day, and comparisons with the UTC bookings convert as they should.
    starts = [first + CELL * n for n in range(CELLS)]
    row = Row(spaces.space)
    for interval in spaces.busy:
        row.busy.append(
            Busy(
                start=interval.start.astimezone(zone),
                end=interval.end.astimezone(zone),
                who=interval.organizer,
                title=interval.title,
                mine=interval.booker_id == viewer_id,
                booking_id=interval.booking_id,
            )
        )
    previous: Busy | None = None
    for n, start in enumerate(starts):
        end = start + CELL
        busy = next((b for b in row.busy if b.start < end and b.end > start), None)
        if busy is not None:
            state = "mine" if busy.mine else "busy"
            next_start = starts[n + 1] if n + 1 < CELLS else None
            is_last = next_start is None or busy.end <= next_start
            row.cells.append(
                Cell(start, state, busy, first=busy is not previous, last=is_last)
            )
        else:
            state = "past" if end <= now else "free"
            row.cells.append(Cell(start, state))
        previous = busy
    return row
