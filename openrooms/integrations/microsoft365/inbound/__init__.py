"""Outlook to bookings: meetings booked, moved or cancelled in a room's calendar become bookings
here. pull.py runs a room's `calendarView/delta` rounds and keeps where each room stands;
meetings.py says what is kept of each event and hands it to `bookings.outlook`."""
