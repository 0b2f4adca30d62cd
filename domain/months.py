"""Calendar months as the programme counts them (Europe/Paris days): the first day names a
month; French names for pages, documents and mails ("novembre 2026")."""

from __future__ import annotations

from datetime import date

MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def previous_month(day: date) -> date:
    """The first day of the month before `day`'s."""
    return date(day.year - (day.month == 1), (day.month - 2) % 12 + 1, 1)


def month_label(day: date) -> str:
    """'novembre 2026'."""
    return f"{MONTHS_FR[day.month - 1]} {day.year}"
