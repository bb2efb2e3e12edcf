"""Outlook to bookings: meetings booked, moved or cancelled in room calendars become bookings.

pull.py runs a room's `calendarView/delta` rounds and keeps where each room stands; meetings.py
says what is kept of each event and hands it to `bookings.outlook`."""
